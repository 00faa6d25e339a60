"""Test-only envs that fail inside a run. `KillerPendulum-v0`'s process SIGKILLs itself: it
stands in for a worker killed by the OOM killer or a segfault. `FailingPendulum-v0` raises
instead: an error inside the run, which the sweep must record as that run's failure. Importing
this module registers both; a sweep names them as `killer_env:KillerPendulum-v0`, so
gymnasium.make imports this module in each worker.

It is InvertedPendulum-v5 except that the reset seeded with KILL_SEED (the first env of the
run with seed 0, harness.runner.seed_streams) kills the process: exactly one run of a
sweep over seeds dies, at its first reset.
"""

from __future__ import annotations

import os
import signal

import gymnasium as gym
from gymnasium.envs.mujoco.inverted_pendulum_v5 import InvertedPendulumEnv
from npgbench.harness.runner import seed_streams

KILL_SEED = seed_streams(0)["env"] % 2**31
"""The env-reset seed of run seed 0's first env (the Sampler seeds env i with base + i)."""


class KillerPendulum(InvertedPendulumEnv):
    def reset(self, *, seed=None, options=None):
        if seed == KILL_SEED:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().reset(seed=seed, options=options)


class FailingPendulum(InvertedPendulumEnv):
    def reset(self, *, seed=None, options=None):
        if seed == KILL_SEED:
            raise RuntimeError("FailingPendulum: injected failure at the first reset of seed 0")
        return super().reset(seed=seed, options=options)


if "FailingPendulum-v0" not in gym.registry:
    gym.register("FailingPendulum-v0", entry_point=FailingPendulum, max_episode_steps=1000)
if "KillerPendulum-v0" not in gym.registry:
    gym.register("KillerPendulum-v0", entry_point=KillerPendulum, max_episode_steps=1000)
