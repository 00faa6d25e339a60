"""Statistics over the tidy frame: per-run metrics, aggregates, tests and intervals, estimators, timing."""
