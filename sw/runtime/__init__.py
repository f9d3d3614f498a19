"""Runtime: the :class:`~sw.runtime.driver.Chip` API on every backend
(:mod:`.driver`, its transports in :mod:`.transports`), input encodings
(:mod:`.inputs`), run metrics (:mod:`.metrics`) and the energy model (:mod:`.energy`)."""
