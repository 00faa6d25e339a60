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
import warnings

import gymnasium as gym
import mujoco
import numpy as np

from harness.config import ConfigError

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


def check_env_id(env_id: str) -> None:
    """Raise ConfigError naming close matches when `env_id` is not registered.

    `module:EnvName-v0` ids are accepted as gymnasium.make accepts them: importing `module`
    registers the env (a package without an entry point, or a test's own env).
    """
    if ":" in env_id:
        module = env_id.split(":", 1)[0]
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
    kwargs = {"max_episode_steps": max_episode_steps} if max_episode_steps > 0 else {}
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
