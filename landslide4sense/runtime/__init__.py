"""Running the work: spawned worker processes (:mod:`.processes`) and the one console for
progress bars and log lines (:mod:`.console`)."""
