"""The Python API (``import rl_runner``): the same runs as ``rl-train``, from a script or a
notebook.

    run = rl_runner.train(["algo=ddpg", "env=pusher", "total_env_steps=20000"])
    run.metrics.final_eval_return, run.run_dir
    policy = rl_runner.load_policy(run.run_dir)          # numpy in, numpy out
    rl_runner.evaluate(run.run_dir, episodes=10, render="gif").video

``train`` composes, checks and claims a run dir exactly as ``rl-train`` does (a bad override
raises ``ConfigError`` whose message is rl-train's one line, and leaves nothing on disk), then
runs the job through Hydra's own ``run_job``, so the run dir holds the same ``.hydra/``,
``train.log``, events, checkpoints and ``metrics.json``. It can be called any number of times
in one process.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rl_runner import composition, console, evaluation, job, rundir
from rl_runner import metrics as run_metrics
from rl_runner.config import Config, ConfigError
from rl_runner.errors import RunStopped
from rl_runner.evaluation import Evaluation, Policy
from rl_runner.metrics import RunMetrics, SeedsMetrics

__all__ = ["Run", "train", "compose", "load_policy", "evaluate"]


@dataclass(frozen=True, repr=False)
class Run:
    """A run dir and what it holds: the config it ran with and its ``metrics.json``."""

    run_dir: Path
    config: Config
    metrics: RunMetrics | SeedsMetrics | None  # SeedsMetrics for search.seeds > 1; None: unfinished

    @classmethod
    def load(cls, run_dir: str | Path) -> Run:
        """The run in ``run_dir`` (written by rl-train or ``train``)."""
        run_dir = Path(run_dir)
        config = rundir.load_run_config(run_dir)
        return cls(run_dir, config, run_metrics.read(run_dir))

    def __repr__(self) -> str:
        if self.metrics is None:
            result = "unfinished"
        elif getattr(self.metrics, "heldout", None) is not None:
            result = f"heldout={self.metrics.heldout.mean:.2f}"
        else:  # several seeds, or a run saved before held-out scoring
            result = f"final_eval_return={self.metrics.final_eval_return:.2f}"
        return (f"Run({self.config.algo.name} on {self.config.env.id}, {result}, "
                f"run_dir='{self.run_dir}')")

    @property
    def seeds(self) -> list[Run]:
        """The runs of the seeds of a ``search.seeds`` job (``<run_dir>/seed=<s>``)."""
        if not isinstance(self.metrics, SeedsMetrics):
            return []
        return [Run.load(self.run_dir / f"seed={s}") for s in self.metrics.seeds]

    def policy(self, checkpoint: str = "latest") -> Policy:
        return load_policy(self.run_dir, checkpoint)

    def evaluate(self, **options) -> Evaluation:
        return evaluate(self.run_dir, **options)


# ---------------------------------------------------------------------------------------------
# Overrides from Python values
# ---------------------------------------------------------------------------------------------
_PLAIN = re.compile(r"^[\w\-+./:@%~*]+$")


def _value(value) -> str:
    """A Python value in Hydra's override grammar."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "[" + ",".join(_value(v) for v in value) + "]"
    text = str(value)
    return text if _PLAIN.match(text) else "'" + text.replace("'", "\\'") + "'"


def _flatten(mapping: Mapping, prefix: str = "") -> list[str]:
    out = []
    for key, value in mapping.items():
        if f"{prefix}{key}" == "resume" and value is not None:  # a path, as rl-train takes it
            out.append(f"resume={value}")
        elif isinstance(value, Mapping):
            out.extend(_flatten(value, f"{prefix}{key}."))
        else:
            out.append(f"{prefix}{key}={_value(value)}")
    return out


def as_overrides(overrides: Sequence[str] | Mapping | None, keys: Mapping) -> list[str]:
    """``["algo=ddpg", ...]``, ``{"algo": "ddpg", "env": "pusher", "algo.actor_lr": 1e-3}``
    (nested dicts too) and keyword arguments, as rl-train's command-line overrides."""
    if isinstance(overrides, str):
        raise TypeError("overrides: give a list of 'key=value' strings (or a dict), not one "
                        f"string: [{', '.join(repr(o) for o in overrides.split())}]")
    if overrides is None:
        argv = []
    elif isinstance(overrides, Mapping):
        argv = _flatten(overrides)
    else:
        argv = [str(o) for o in overrides]
    argv += _flatten(keys)
    flags = [a for a in argv if a.startswith("-")]
    if flags:
        raise ConfigError(f"{' '.join(flags)}: rl_runner.train takes overrides only; run "
                          "sweeps with rl-train -m (or a Python loop over train)")
    return argv


# ---------------------------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------------------------
def compose(overrides: Sequence[str] | Mapping | None = None, /, **keys) -> Config:
    """The typed, checked config that ``train`` (and ``rl-train``) would run with; trains
    nothing and writes nothing."""
    argv = composition.normalise(as_overrides(overrides, keys))
    return job.prepare(composition.compose(argv).cfg)[0]


def train(overrides: Sequence[str] | Mapping | None = None, /, **keys) -> Run:
    """Train as ``rl-train <overrides>`` does and return the finished ``Run``.

    ``overrides``: rl-train's overrides as a list (``["algo=ddpg", "seed=1"]``) or a dict
    (``{"algo": "ddpg", "env": "pusher", "algo.actor_lr": 1e-3}``); keyword arguments add
    top-level keys (``total_env_steps=20000``). ``resume=<run_dir>`` continues a run;
    ``search.seeds=3`` trains three seeds (``Run.seeds``). Raises ``ConfigError`` (bad input,
    nothing written) or ``RunStopped`` (interrupted or a NaN; the checkpoint is kept)."""
    from rl_runner import train as train_module

    argv = as_overrides(overrides, keys)
    console.set_verbose(any(a.lstrip("+") in ("verbose=true", "verbose=True") for a in argv))
    try:
        checked = train_module.check_arguments(argv)
    except ConfigError as exc:
        raise ConfigError(str(exc)) from None  # the line, without composition's frames
    try:
        return _run_job(checked.argv)
    except ConfigError as exc:
        if checked.claim is not None and not (checked.claim.path / "checkpoints").exists():
            rundir.release(checked.claim)
        raise ConfigError(str(exc)) from None
    except RunStopped as exc:  # resumed from Python with a call, not a command
        exc.resume_with = f"rl_runner.train(resume={exc.run_dir!r})"
        raise exc.with_traceback(None) from None


def _run_job(argv: list[str]) -> Run:
    """Hydra's ``run_job`` on the composed config, as ``@hydra.main`` runs a single job."""
    from hydra._internal.callbacks import Callbacks
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.utils import run_job
    from hydra.types import HydraContext

    with composition.session() as loader:
        composed = composition.compose_in(loader, argv)

        def task(cfg):
            try:
                return job.execute(cfg, HydraConfig.get().runtime.output_dir, composed.preset)
            except Exception as exc:  # noqa: BLE001 - raised below, once Hydra is done
                return exc

        context = HydraContext(config_loader=loader, callbacks=Callbacks(composed.cfg))
        result = run_job(task, composed.cfg, "hydra.run.dir", None, context)
    metrics = result.return_value
    if isinstance(metrics, Exception):
        raise metrics
    run_dir = Path(composed.cfg.resume or result.hydra_cfg.hydra.runtime.output_dir)
    if not isinstance(metrics, SeedsMetrics):
        job.print_summary(metrics, str(run_dir))
    return dataclasses.replace(Run.load(run_dir), metrics=metrics)


# rl-eval's library, as it is: one signature and one set of defaults.
load_policy = evaluation.load_policy
evaluate = evaluation.evaluate_run
