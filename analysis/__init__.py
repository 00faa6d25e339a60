"""Analysis of run directories: load -> metrics -> aggregate -> tables / plots -> report.

Reads run directories only (config.json, meta.json, metrics.parquet) with pandas, numpy,
scipy and seaborn; it never imports torch or gymnasium, so a report can be built on a
machine without the training stack. The notebook API is `analysis.api`
(`from npgbench.analysis import api`); importing it has no global side effects.
"""

from npgbench.analysis import api
from npgbench.analysis.data.load import RunSet, load_runs

# The API's functions are reached as analysis.api.*: re-exported bare, `aggregate` and
# `load` would shadow the analysis.aggregate and analysis.load submodules.
__all__ = ["RunSet", "api", "load_runs"]
