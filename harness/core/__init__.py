"""The core layer: config schema, policy and value networks, envs, sampler and batch, value fit.

It imports nothing above it (no algorithm, no orchestration, no suite, no analysis):
`npgbench.algorithms` builds on it, and `npgbench.harness`'s orchestration modules (runner,
sweep, dispatch, tracking, W&B mirror, CLI, bench) build on both. tests/test_layers.py walks
the import graph and fails on any import against that direction.
"""
