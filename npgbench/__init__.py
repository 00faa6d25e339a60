"""npg-bench: natural policy gradient variants benchmarked on MuJoCo.

The project's four folders install as one namespace, so a researcher's own top-level
`analysis` or `harness` (or a PyPI package named `algorithms`) neither shadows nor is
shadowed by them:

- `npgbench.harness.core`: config, policy, envs, sampler, value fit (the core layer);
- `npgbench.algorithms`: the variants and their registry (imports only the core);
- `npgbench.harness`: runner, sweep, dispatch, tracking, W&B mirror, CLI, bench;
- `npgbench.suites`: suite files and their parser (core only);
- `npgbench.analysis`: tables, figures, report and notebook API over run directories.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("npg-bench")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
