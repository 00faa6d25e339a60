"""Vector environment construction and running normalisers.

Normalisers live outside the env wrappers on purpose: the sampler updates them step by step,
and nothing else does, so the statistics are frozen between a rollout and its update (a moved
normaliser makes KL(pi_old || pi_theta_old) non-zero and breaks Fisher products; rllab#24).
"""

from __future__ import annotations

import difflib
import functools
import importlib
import logging
import os
import warnings
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
import torch
from npgbench.harness.core.config import ConfigError

_log = logging.getLogger("npgbench.mujoco")
_seen_warnings: set[str] = set()


def _mujoco_warning(message: str) -> None:
    """MuJoCo prints each model-compiler deprecation once per env copy (16 per vector env);
    log each distinct message once instead, so progress bars stay readable. Deprecations of
    gymnasium's own model files are not the user's to fix (debug); anything else, such as
    "simulation is unstable", is a warning."""
    if message not in _seen_warnings:
        _seen_warnings.add(message)
        level = logging.DEBUG if "deprecated" in message else logging.WARNING
        _log.log(level, "MuJoCo: %s", message)


mujoco.set_mju_user_warning(_mujoco_warning)


ENV_MODULE_VARIABLE = "NPGBENCH_ALLOW_ENV_MODULE"
"""Set to 1 (by --allow-env-module) to accept `module:Env` ids; inherited by workers."""


def allow_env_modules() -> None:
    """Accept `module:Env` ids in this process and the workers it starts."""
    os.environ[ENV_MODULE_VARIABLE] = "1"


def check_env_id(env_id: str) -> None:
    """Raise ConfigError naming close matches when `env_id` is not registered.

    `module:EnvName-v0` ids are accepted as gymnasium.make accepts them, importing `module`
    to register the env (a package without an entry point, or a test's own env), but only
    when allowed (--allow-env-module): importing runs the module's code, and env ids also
    come from suite files that others share.
    """
    if ":" in env_id:
        module = env_id.split(":", 1)[0]
        if os.environ.get(ENV_MODULE_VARIABLE) != "1":
            raise ConfigError(
                f"env {env_id!r} imports module {module!r}, which runs its code: pass "
                "--allow-env-module to allow it"
            )
        try:
            importlib.import_module(module)
        except Exception as exc:  # any import failure of the user's module is bad input
            raise ConfigError(
                f"env {env_id!r}: cannot import module {module!r} ({type(exc).__name__}: "
                f"{_first_line(exc)})"
            ) from None
        env_id = env_id.split(":", 1)[1]
    if env_id in gym.registry:
        return
    near = difflib.get_close_matches(env_id, list(gym.registry), n=3, cutoff=0.6)
    mujoco = sorted(
        k for k, v in gym.registry.items() if "mujoco" in str(v.entry_point) and k.endswith("-v5")
    )
    hint = f"did you mean {', '.join(near)}?" if near else f"MuJoCo tasks: {', '.join(mujoco)}"
    raise ConfigError(f"unknown env {env_id!r}: {hint}")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]


def _make_checked(env_id: str) -> gym.Env:
    """gym.make, with a missing dependency (Box2D, mujoco-py for -v2/-v3, jax for phys2d/)
    or any other construction failure turned into one line naming the env."""
    try:
        with warnings.catch_warnings():  # e.g. -v2's deprecation warning: the error says it all
            warnings.simplefilter("ignore")
            return gym.make(env_id)
    except Exception as exc:
        missing = isinstance(exc, (ImportError, gym.error.DependencyNotInstalled))
        what = "needs a package that is not installed" if missing else "cannot be created"
        v5 = env_id.rsplit("-v", 1)[0] + "-v5"
        hint = (
            f"{v5} needs only gymnasium[mujoco]"
            if v5 in gym.registry
            else "the MuJoCo -v5 tasks need only gymnasium[mujoco]"
        )
        raise ConfigError(f"env {env_id!r} {what}: {_first_line(exc)} ({hint})") from None


@functools.cache
def check_env_spaces(env_id: str) -> tuple[int, int]:
    """(obs_dim, act_dim) of a continuous-control env; ConfigError for any other kind."""
    env = _make_checked(env_id)
    obs_space, act_space = env.observation_space, env.action_space
    env.close()
    box = gym.spaces.Box
    if not (
        isinstance(obs_space, box)
        and isinstance(act_space, box)
        and len(obs_space.shape) == 1
        and len(act_space.shape) == 1
    ):
        raise ConfigError(
            f"env {env_id!r} is not continuous control: need 1-D Box observation and "
            f"action spaces, got {obs_space} and {act_space}"
        )
    return obs_space.shape[0], act_space.shape[0]


def make_vector_env(
    env_id: str, num_envs: int, max_episode_steps: int = 0
) -> gym.vector.SyncVectorEnv:
    """SyncVectorEnv of `num_envs` copies; SAME_STEP autoreset puts the true final obs in info."""
    kwargs: dict[str, Any] = (
        {"max_episode_steps": max_episode_steps} if max_episode_steps > 0 else {}
    )
    fns = [lambda: gym.make(env_id, **kwargs) for _ in range(num_envs)]
    return gym.vector.SyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)


class RunningNorm:
    """Running mean/variance (Chan et al. parallel update), float64, shape [D]."""

    def __init__(self, shape: tuple[int, ...], clip: float = np.inf, eps: float = 1e-8):
        self.mean = np.zeros(shape)
        self.var = np.ones(shape)
        self.count = eps
        self.clip = clip
        self.eps = eps

    def update(self, x: np.ndarray) -> None:
        """Fold a batch x [B, D] into the statistics."""
        b_mean, b_var, b_count = x.mean(0), x.var(0), x.shape[0]
        delta = b_mean - self.mean
        total = self.count + b_count
        self.mean = self.mean + delta * b_count / total
        m2 = self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / total
        self.var = m2 / total
        self.count = total

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Normalise x [..., D] with the current (frozen) statistics, clipped to +-clip."""
        z = (x - self.mean) / np.sqrt(self.var + self.eps)
        return np.clip(z, -self.clip, self.clip).astype(np.float32)

    def state_dict(self) -> dict:
        return {
            "mean": self.mean.tolist(),
            "var": self.var.tolist(),
            "count": self.count,
            "clip": self.clip,
        }

    def load_state_dict(self, state: dict) -> None:
        self.mean = np.asarray(state["mean"], dtype=np.float64)
        self.var = np.asarray(state["var"], dtype=np.float64)
        self.count = float(state["count"])
        self.clip = float(state["clip"])


class IdentityNorm(RunningNorm):
    """Normaliser that never changes its input (normalize_obs=false)."""

    def update(self, x: np.ndarray) -> None:
        pass

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float32)


class RewardScaler:
    """Divide rewards by the running std of the discounted return (per env), then clip."""

    def __init__(self, num_envs: int, gamma: float, clip: float):
        self.stats = RunningNorm(())
        self.ret = np.zeros(num_envs)
        self.gamma = gamma
        self.clip = clip

    def __call__(self, reward: np.ndarray, done: np.ndarray) -> np.ndarray:
        """reward, done [N] -> scaled reward [N]; the return accumulator restarts at episode ends."""
        self.ret = self.ret * self.gamma + reward
        self.stats.update(self.ret)
        self.ret[done] = 0.0
        scaled = reward / np.sqrt(self.stats.var + 1e-8)
        return np.clip(scaled, -self.clip, self.clip)

    def state_dict(self) -> dict:
        return {"stats": self.stats.state_dict(), "ret": self.ret.tolist()}

    def load_state_dict(self, state: dict) -> None:
        self.stats.load_state_dict(state["stats"])
        self.ret = np.asarray(state["ret"], dtype=np.float64)


# ----------------------------------------------------------------------------- checkpoints

WRAPPER_FIELDS = ("_elapsed_steps", "_has_reset")
"""Mutable counters of gymnasium's wrappers: TimeLimit's steps into the episode, and
OrderEnforcing's reset flag."""


BIT_GENERATORS = ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64")
"""numpy's bit generators, the only names a checkpoint's np_random state may give."""


class StateUnsupported(RuntimeError):
    """An env whose state this harness cannot capture (not a MuJoCo env): no checkpoints."""


def _mujoco_base(env: gym.Env):
    base = env.unwrapped
    if not (isinstance(getattr(base, "model", None), mujoco.MjModel) and hasattr(base, "data")):
        raise StateUnsupported(f"{env.spec.id if env.spec else base} is not a MuJoCo env")
    return base


def env_state(env: gym.Env) -> dict:
    """Everything one wrapped MuJoCo env needs to continue bit-identically.

    The wrappers' counters (WRAPPER_FIELDS), the env's np_random (reset noise), MuJoCo's
    integration state (mj_getState with mjSTATE_INTEGRATION: time, qpos, qvel, act, warmstart,
    controls, applied forces, mocap, plugin state) and a copy of every MjData array: some tasks
    read derived quantities before stepping (Ant-v5 reads body xpos), and mj_step computes
    those before it integrates (MuJoCo docs, "Simulation pipeline"), so they belong to the last
    substep's start and mj_forward on the restored state would not reproduce them (Ant-v5's
    first reward then differs). Arrays are torch tensors: the checkpoint loads weights_only.
    """
    base = _mujoco_base(env)
    wrappers, layer = [], env
    while isinstance(layer, gym.Wrapper):
        wrappers.append({k: getattr(layer, k) for k in WRAPPER_FIELDS if hasattr(layer, k)})
        layer = layer.env
    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    integration = np.empty(mujoco.mj_stateSize(base.model, spec))
    mujoco.mj_getState(base.model, base.data, integration, spec)
    rng = base._np_random
    return {
        "wrappers": wrappers,
        "np_random": None if rng is None else rng.bit_generator.state,
        "integration": torch.from_numpy(integration),
        **_pack_arrays(base.data),
    }


def _pack_arrays(data: mujoco.MjData) -> dict:
    """Every non-empty MjData array as one byte tensor and its (name, dtype, shape) layout
    (one tensor instead of ~180 keeps the checkpoint small and fast to write)."""
    layout, chunks = [], []
    for name in dir(data):
        value = None if name.startswith("_") else getattr(data, name, None)
        if isinstance(value, np.ndarray) and value.size:
            layout.append((name, value.dtype.str, tuple(value.shape)))
            chunks.append(np.ascontiguousarray(value).view(np.uint8).ravel())
    return {"layout": layout, "arrays": torch.from_numpy(np.concatenate(chunks))}


def _unpack_arrays(data: mujoco.MjData, layout: list, blob: np.ndarray) -> None:
    """Write _pack_arrays' arrays back where the shapes agree (arrays sized by the contacts
    of the moment may differ; mj_step recomputes those)."""
    offset = 0
    for name, dtype, shape in layout:
        size = int(np.prod(shape)) * np.dtype(dtype).itemsize
        target = getattr(data, name, None)
        if isinstance(target, np.ndarray) and target.shape == tuple(shape):
            target[...] = blob[offset : offset + size].view(dtype).reshape(shape)
        offset += size


def load_env_state(env: gym.Env, state: dict) -> None:
    """Inverse of env_state on an env made the same way (same id and time limit)."""
    base = _mujoco_base(env)
    layer: Any = env  # each wrapper's .env, down to the base env
    for fields in state["wrappers"]:
        for key, value in fields.items():
            setattr(layer, key, value)
        layer = layer.env
    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    mujoco.mj_setState(base.model, base.data, state["integration"].numpy(), spec)
    _unpack_arrays(base.data, state["layout"], state["arrays"].numpy())
    if state["np_random"] is not None:
        name = state["np_random"]["bit_generator"]
        if name not in BIT_GENERATORS:
            raise ValueError(f"unknown bit generator {name!r}: valid: {', '.join(BIT_GENERATORS)}")
        bit_generator = getattr(np.random, name)()
        bit_generator.state = state["np_random"]
        base._np_random = np.random.Generator(bit_generator)


def vector_env_state(envs: gym.vector.SyncVectorEnv) -> dict:
    """Every sub-env's state and the vector env's pending autoreset flags (NEXT_STEP mode)."""
    return {
        "envs": [env_state(env) for env in envs.envs],
        "autoreset": torch.from_numpy(np.asarray(envs._autoreset_envs).copy()),
    }


def load_vector_env_state(envs: gym.vector.SyncVectorEnv, state: dict) -> None:
    if len(state["envs"]) != len(envs.envs):
        raise ValueError(f"checkpoint has {len(state['envs'])} envs, this run {len(envs.envs)}")
    for env, sub in zip(envs.envs, state["envs"], strict=True):
        load_env_state(env, sub)
    envs._autoreset_envs = state["autoreset"].numpy().copy()
