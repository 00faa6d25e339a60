"""Analysis of run directories: load -> metrics -> aggregate -> tables / plots -> report.

Reads run directories only (config.json, meta.json, metrics.parquet) with pandas, numpy,
scipy and seaborn; it never imports torch or gymnasium, so a report can be built on a
machine without the training stack.
"""

from analysis.load import RunSet, load_runs

__all__ = ["RunSet", "load_runs"]
