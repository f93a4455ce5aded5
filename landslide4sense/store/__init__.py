"""Everything about one output folder: claiming and guarding it (:mod:`.output`), its lock
(:mod:`.lock`), its published versions (:mod:`.versions`), the stage caches a re-run resumes
from (:mod:`.cache`) and the provenance it records (:mod:`.provenance`)."""
