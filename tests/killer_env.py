"""A test-only env whose process SIGKILLs itself: stands in for a worker killed by the OOM
killer or a segfault. Importing this module registers `KillerPendulum-v0`; a sweep names it
as `killer_env:KillerPendulum-v0`, so gymnasium.make imports this module in each worker.

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


if "KillerPendulum-v0" not in gym.registry:
    gym.register("KillerPendulum-v0", entry_point=KillerPendulum, max_episode_steps=1000)
