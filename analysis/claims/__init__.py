"""The method's claims and the planned experiments, tested as docs/analysis-plan.md fixes."""
