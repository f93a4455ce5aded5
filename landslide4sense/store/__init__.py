"""Everything about one output folder, entered through :func:`.benchmark.open_benchmark`: it
claims the folder (:mod:`.output`), takes its lock once for the run (:mod:`.lock`) and hands
back a :class:`.benchmark.Benchmark`, through which the run publishes and restores versions
(:mod:`.versions`) and reads the current one; the stage caches a re-run resumes from
(:mod:`.cache`) and the provenance a version records (:mod:`.provenance`) complete the room.

Nothing is imported here: the command line reads :mod:`.output` before anything heavy loads,
and :mod:`.benchmark` imports the records (and with them the geo stack).
"""
