"""Run directories read into one tidy frame, with the suite context and the arms that match across suites."""
