"""Environments: construction, seeding, space checks.

Training uses a gymnasium ``SyncVectorEnv`` in SAME_STEP autoreset mode: when a sub-env's
episode ends, ``step`` already returns the first observation of the next episode and puts the
last one in ``info["final_obs"]``, so every returned transition is real and there are no
dummy reset steps to skip. Episode returns and lengths come from gymnasium's
``RecordEpisodeStatistics`` wrapper.
"""
from __future__ import annotations

import inspect
import re
import warnings
from typing import NamedTuple

import gymnasium as gym
import numpy as np

from rl_runner.config import ALGORITHMS, ConfigError, EnvConfig
from rl_runner.console import native_stderr_silenced


class EnvSpec(NamedTuple):
    """What the trainers need to know about an env, without holding it."""

    id: str
    obs_dim: int
    discrete: bool
    num_actions: int            # Discrete: number of actions; Box: action dimension
    action_low: np.ndarray      # Box only (empty for Discrete)
    action_high: np.ndarray
    reward_threshold: float | None
    max_episode_steps: int | None


def _make_kwargs(cfg: EnvConfig) -> dict:
    kwargs = dict(cfg.kwargs)
    if cfg.max_episode_steps is not None:
        kwargs["max_episode_steps"] = cfg.max_episode_steps
    return kwargs


def make_env(cfg: EnvConfig, **extra) -> gym.Env:
    """One env, with a clear message for an unknown id, a keyword the env does not take or the
    legacy Pusher-v4. Gymnasium's warnings are shown only when the env is made (an env that
    cannot be made gets the one line)."""
    try:  # MuJoCo prints notices on gymnasium's own model files (mujoco 4: "settotalmass is
        # deprecated", 7 times for HalfCheetah): not the user's to act on; verbose=true shows them
        with warnings.catch_warnings(record=True) as caught, native_stderr_silenced():
            env = gym.make(cfg.id, **_make_kwargs(cfg), **extra)
    except gym.error.Error as exc:  # NameNotFound, VersionNotFound, DeprecatedEnv, ...
        raise ConfigError(f"env.id={cfg.id!r}: {exc}") from None
    except TypeError as exc:
        bad = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if not bad or bad.group(1) not in cfg.kwargs:
            raise
        key = bad.group(1)
        raise ConfigError(f"env.kwargs.{key}={cfg.kwargs[key]}: {cfg.id} takes no keyword "
                          f"argument {key}{_keywords(cfg.id)}") from None
    except ImportError as exc:
        if cfg.id.startswith("Pusher-v4") or "mujoco" in str(exc).lower():
            raise ConfigError(
                f"env.id={cfg.id!r} needs mujoco<3 (installed: mujoco {_mujoco_version()}): "
                "pip install -e '.[legacy-mujoco]' in its own venv, or use env=pusher "
                "(Pusher-v5)") from None
        raise
    for w in caught:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return env


def _keywords(env_id: str) -> str:
    """' (it takes: a, b)': the keyword arguments of an env's constructor, where known."""
    from gymnasium.envs.registration import load_env_creator

    try:
        creator = load_env_creator(gym.spec(env_id).entry_point)
        names = [n for n, p in inspect.signature(creator).parameters.items()
                 if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    except Exception:  # noqa: BLE001 - a hint only
        return ""
    return f" (it takes: {', '.join(names)})" if names else ""


def check_versioned(env_id: str) -> None:
    """A new run's id names its version: ``Pusher`` would be gymnasium's latest Pusher, with
    a warning, and the run would record an id that says not which env it trained on. (Runs
    saved with such an id still load: this is checked where a run starts, not in
    ``make_env``.)"""
    import importlib

    from gymnasium.envs.registration import find_highest_version, parse_env_id

    module, _, name_id = env_id.rpartition(":")
    if module:  # "package.module:Env-v0": gymnasium imports the module, which registers it
        try:
            importlib.import_module(module)
        except ImportError:
            return  # make_env says what is wrong with it
    if name_id in gym.registry:
        return
    try:
        namespace, name, version = parse_env_id(name_id)
    except gym.error.Error:
        return
    latest = find_highest_version(namespace, name) if version is None else None
    if latest is not None:
        full = f"{namespace}/{name}" if namespace else name
        raise ConfigError(f"env.id={env_id!r} names no version: write env.id="
                          f"{module + ':' if module else ''}{full}-v{latest} (the latest), so "
                          "the run records the env it trained on")


def _mujoco_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mujoco")
    except PackageNotFoundError:
        return "none"


def describe(cfg: EnvConfig, algo: str) -> EnvSpec:
    """Build the env once, check its spaces against the algorithm, and describe it.

    Runs before any network is built, so a mismatch costs nothing but this message.
    """
    env = make_env(cfg)
    try:
        obs_space, act_space = env.observation_space, env.action_space
        continuous = ALGORITHMS[algo].continuous
        allowed = (gym.spaces.Box,) if continuous else (gym.spaces.Discrete, gym.spaces.Box)
        if not isinstance(act_space, allowed):
            kind = "a continuous (Box)" if continuous else "a Discrete or Box"
            others = [n for n, a in ALGORITHMS.items() if not a.continuous]
            hint = (f" - use algo={others[0]}, or an env with Box actions: env=pusher, or "
                    "env=gym env.id=Pendulum-v1" if continuous and others else "")
            raise ConfigError(f"{algo} needs {kind} action space; {cfg.id} has {act_space}"
                              f"{hint}")
        if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
            raise ConfigError(f"{algo} needs flat Box observations; {cfg.id} has {obs_space} "
                              "(register the env wrapped in gymnasium's FlattenObservation in a "
                              "module of your own, then env.id=<module>:<its id>)")
        discrete = isinstance(act_space, gym.spaces.Discrete)
        if not discrete:
            if len(act_space.shape) != 1:
                raise ConfigError(f"{algo} needs a 1-D Box action space; {cfg.id} has "
                                  f"{act_space}")
            if not (np.all(np.isfinite(act_space.low)) and np.all(np.isfinite(act_space.high))):
                if continuous:
                    raise ConfigError(f"{algo} needs finite action bounds; {cfg.id} has "
                                      f"{act_space}")
        if cfg.kwargs:
            _try_kwargs(env, cfg)
        spec = env.spec
        return EnvSpec(
            id=cfg.id,
            obs_dim=int(obs_space.shape[0]),
            discrete=discrete,
            num_actions=int(act_space.n) if discrete else int(act_space.shape[0]),
            action_low=np.empty(0) if discrete else act_space.low.astype(np.float32),
            action_high=np.empty(0) if discrete else act_space.high.astype(np.float32),
            reward_threshold=spec.reward_threshold if spec else None,
            max_episode_steps=spec.max_episode_steps if spec else None,
        )
    finally:
        env.close()


def _try_kwargs(env: gym.Env, cfg: EnvConfig) -> None:
    """An env takes keyword values of any type and may only fail on them when it runs
    (``+env.kwargs.g=abc``): one reset and one step here, so that such a value is refused
    before a run dir exists."""
    try:
        env.reset(seed=0)
        env.action_space.seed(0)
        env.step(env.action_space.sample())
    except Exception as exc:  # noqa: BLE001 - the env's own error, on the user's values
        given = ", ".join(f"env.kwargs.{k}={v}" for k, v in cfg.kwargs.items())
        reason = (str(exc).splitlines() or [""])[0]
        raise ConfigError(f"{given}: {cfg.id} fails on its first step with these values: "
                          f"{type(exc).__name__}: {reason}") from None


TRAIN_STATES, EVAL_STATES, HELDOUT_STATES = 0, 1, 2  # a run's streams of reset seeds


def start_seeds(seed: int, stream: int, envs: int) -> list[int]:
    """The reset seeds of ``envs`` sub-envs: the run seed's own ``stream`` (training, periodic
    evaluation, held-out evaluation), independent of every other (seed, stream), so two runs
    or two uses never share an episode's start state. Each sub-env then seeds its episodes
    from its reset seed (``SeedEachEpisode``)."""
    sequence = np.random.SeedSequence(seed, spawn_key=(stream,))
    return [int(s) for s in sequence.generate_state(envs)]


class SeedEachEpisode(gym.Wrapper):
    """Reset every episode from its own seed, derived from (base seed, episode index).

    A sub-env's state is then a function of where it is, (episode index, actions taken since
    the reset): a run can be resumed exactly by replaying those actions, with no simulator
    state saved and nothing unpickled. Autoresets inside the vector env go through here too.
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.base_seed = 0
        self.episode = -1

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self.base_seed, self.episode = int(seed), -1
        self.episode += 1
        episode_seed = np.random.SeedSequence([self.base_seed, self.episode]).generate_state(1)
        return self.env.reset(seed=int(episode_seed[0]), options=options)


def make_vector_env(cfg: EnvConfig, num_envs: int, seed: int) -> gym.vector.VectorEnv:
    """A SyncVectorEnv (SAME_STEP autoreset) with episode statistics and its action space
    seeded with ``seed``; each sub-env seeds each of its episodes (``SeedEachEpisode``). Reset
    it with ``start_seeds(...)`` to start."""
    vec = gym.vector.SyncVectorEnv(
        [lambda: SeedEachEpisode(make_env(cfg)) for _ in range(num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    vec = gym.wrappers.vector.RecordEpisodeStatistics(vec)
    vec.action_space.seed(seed)
    return vec


class EnvPosition(NamedTuple):
    """Where one sub-env is: enough to rebuild its state exactly (see SeedEachEpisode)."""

    base_seed: int
    episode: int
    actions: list  # env actions taken since the episode's reset


def positions(vec, actions: list[list]) -> list[EnvPosition]:
    """The position of every sub-env of a ``make_vector_env`` env."""
    return [EnvPosition(sub.base_seed, sub.episode, [np.asarray(a).tolist() for a in acts])
            for sub, acts in zip(vec.unwrapped.envs, actions)]


def restore_positions(vec, saved: list[EnvPosition]) -> np.ndarray:
    """Put every sub-env back where it was: reset into the saved episode, replay its actions.
    Restores the episode-statistics accumulators too; returns the current observations."""
    observations = []
    for i, (sub, pos) in enumerate(zip(vec.unwrapped.envs, saved)):
        sub.base_seed, sub.episode = pos.base_seed, pos.episode - 1
        obs, _ = sub.reset()
        total = 0.0
        for action in pos.actions:
            action = np.asarray(action, dtype=sub.action_space.dtype)
            obs, reward, terminated, truncated, _ = sub.step(action)
            total += float(reward)
            if terminated or truncated:
                raise ConfigError(f"resume: replaying sub-env {i}, its episode ended early: "
                                  f"{sub.spec.id if sub.spec else 'the env'} is not "
                                  "deterministic given its reset seed and actions")
        vec.episode_returns[i] = total  # vec: RecordEpisodeStatistics over the SyncVectorEnv
        vec.episode_lengths[i] = len(pos.actions)
        observations.append(obs)
    return np.stack(observations)


def final_observations(next_obs: np.ndarray, infos: dict, done: np.ndarray) -> np.ndarray:
    """The true next observations: for sub-envs whose episode just ended, the final one."""
    if not done.any():
        return next_obs
    real = next_obs.copy()
    for i in np.flatnonzero(done):
        real[i] = infos["final_obs"][i]
    return real
