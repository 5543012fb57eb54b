"""Sweeps (``rl-train -m``): a grid's jobs, a search's space, and the YAML resolvers and the
runtime that sweep jobs use. A grid is Hydra's basic sweeper; a search is a sweeper that draws
its own points as it goes (Optuna, ``hparams_search=<name>``)."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from rl_runner import composition
from rl_runner.config import Config, ConfigError


def _sqlite_url(path: str) -> str:
    """``${sqlite_url:<file>}`` in YAML: an SQLite URL for ``<file>``, creating its folder
    (an Optuna study stored in the sweep dir exists before Hydra creates that dir)."""
    file = Path(path).absolute()
    file.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{file}"


OmegaConf.register_new_resolver("sqlite_url", _sqlite_url, replace=True)

JOB_DIR_NAME_MAX = 200  # characters; file systems allow 255 bytes per name


def _job_subdir(override_dirname: str, num) -> str:
    """``${job_subdir:...}`` in YAML: a grid job's dir is named by its overrides
    (``algo.lr=0.001,seed=1``), or ``job<num>`` where there are none (``rl-train -m`` alone) or
    that name would be too long for the file system (its overrides are in
    ``.hydra/overrides.yaml``)."""
    if not override_dirname or len(override_dirname.encode()) > JOB_DIR_NAME_MAX:
        return f"job{num}"
    return override_dirname


def _trial_subdir(override_dirname: str, num) -> str:
    """``${trial_subdir:...}``: a search trial's dir, ``trial<num>_<its overrides>``, or
    ``trial<num>`` where too long (Optuna's sampled floats). A continued study numbers on
    (``hydra_plugins/rl_runner_sweeper``), so a trial never lands in an earlier one's dir, even
    where the sampler draws the same point again."""
    name = f"trial{num}_{override_dirname}"
    return name if len(name.encode()) <= JOB_DIR_NAME_MAX else f"trial{num}"


OmegaConf.register_new_resolver("job_subdir", _job_subdir, replace=True)
OmegaConf.register_new_resolver("trial_subdir", _trial_subdir, replace=True)


class SweepStopped(BaseException):
    """A signal (Ctrl-C, SIGTERM) stopped a job of a sweep that runs its jobs in this process:
    the sweep stops with it. A BaseException, because Hydra's job runner turns an Exception
    into a failed job and goes on to the next."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


class FailedJob:
    """What a failed sweep job returns (its ``failure.json`` says why): a grid goes on with its
    other jobs, and a search sweeper, reading it as the trial's objective (``float()``), records
    the trial as failed and goes on. A NaN had crashed hydra-optuna-sweeper 1.3's search: it
    tells Optuna the NaN together with the failed state, which Optuna refuses."""

    def __init__(self, message: str):
        self.message = message

    def __float__(self) -> float:
        raise ValueError(self.message)

    def __repr__(self) -> str:
        return f"the job failed: {self.message}"


class StoppedJob:
    """What a job of a stopped parallel sweep returns, whether it checkpointed or never
    started: a grid ends with its jobs, and a search sweeper reading it as the trial's
    objective stops in rl-train's process before it tells Optuna anything of the trial (as a
    sweep in one process does, ``SweepStopped``). See ``signals.SweepStop``."""

    def __float__(self) -> float:
        raise SweepStopped("the sweep stopped", 130)  # cli words it (SweepStop)


def job_processes(launcher: DictConfig) -> int:
    """How many jobs a launcher runs side by side in processes of this machine: joblib's
    ``n_jobs`` (-1: one per core, -2: all but one, ...); 1 under the default launcher, whose
    jobs run in rl-train's own process, as joblib's do with ``n_jobs`` 1; 0 where they run
    elsewhere (SLURM, Ray)."""
    target = str(launcher.get("_target_", ""))
    if "BasicLauncher" in target:
        return 1
    if "joblib" not in target:
        return 0
    n_jobs = launcher.get("n_jobs")
    if n_jobs == 0:
        raise ConfigError("hydra.launcher.n_jobs=0 is out of range: the jobs side by side, >= 1, "
                          "or -1 for one per core (-2: all but one, ...)")
    n_jobs = int(n_jobs or 1)  # None: one at a time
    return n_jobs if n_jobs > 0 else max((os.cpu_count() or 1) + 1 + n_jobs, 1)


def is_search(cfg: DictConfig) -> bool:
    """Whether ``cfg``'s sweeper draws its points as it goes (Optuna), not Hydra's grid."""
    return "BasicSweeper" not in str(cfg.hydra.sweeper.get("_target_"))


def is_sweep(override: str) -> bool:
    """Whether a (parseable) override sweeps: ``a,b``, ``choice()``, ``range()``,
    ``interval()``."""
    return _parse(override).is_sweep_override()


def sweep_cells(overrides: list[str], name: str = composition.CONFIG_NAME) -> list[list[str]]:
    """The jobs of a grid (Hydra's basic sweeper's own expansion). A search range
    (``interval(0,1)``) has no grid: a search sweeper (Optuna) gets one cell, the overrides
    without their sweeps, to check; a grid refuses it."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ValueType
    from hydra.errors import OverrideParseException

    from rl_runner.checks import explain

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except OverrideParseException as exc:
        raise ConfigError(explain(exc, overrides)) from None
    ranges = [p.input_line for p in parsed if p.value_type == ValueType.INTERVAL_SWEEP]
    if not ranges:
        return [cell for batch in BasicSweeper.split_arguments(parsed, None) for cell in batch]
    fixed = [p.input_line for p in parsed if not p.is_sweep_override()]
    if not is_search(composition.compose(fixed, name).cfg):
        raise ConfigError(f"{ranges[0]} is a search range: a -m grid takes values (a,b,c) or "
                          "range(start,stop,step); interval() needs a search, "
                          "hparams_search=<name> (Optuna)")
    return [fixed]


def check_search(overrides: list[str]) -> None:
    """What a search sweeper (Optuna) would take for a hyperparameter but is not one."""
    seeds = [o for o in overrides if o.partition("=")[0].lstrip("+") == "seed" and is_sweep(o)]
    if seeds:
        raise ConfigError(f"{seeds[0]} under a search would tune the seed like a "
                          "hyperparameter: a trial trains search.seeds seeds (seed, seed+1, "
                          "...), so set search.seeds=<n> instead")


def search_space(cfg: DictConfig, overrides: list[str]) -> dict[str, str]:
    """A search sweeper's space, key -> range as written: its ``params``, the command line's
    sweeps over them, less the keys the command line gives one value (that value wins)."""
    space = {str(k): str(v) for k, v in (cfg.hydra.sweeper.get("params") or {}).items()}
    for override in overrides:
        key, _, value = override.partition("=")
        if is_sweep(override):
            space[key] = value
        else:
            space.pop(key.lstrip("+"), None)
    return space


def drawn(key: str, spec: str) -> tuple[list[str], str]:
    """What a search draws for ``key=spec``: the values that bound it (a choice's options; a
    range's or an interval's two ends: Optuna draws a range's stop too, which a -m grid does
    not) and the spec as written, with that said where the syntax misleads (and ``tag(log,
    ...)``: log-uniform)."""
    parsed = _parse(f"{key}={spec}")
    if parsed.is_interval_sweep():
        low, high = parsed.value().start, parsed.value().end
        scale = "log-uniform" if "log" in parsed.value().tags else "uniform"
        return [str(low), str(high)], f"{spec} = {scale} in [{low}, {high}]"
    if parsed.is_range_sweep() and not parsed.value().shuffle:
        r = parsed.value()
        step = f", step {r.step}" if r.step not in (1, None) else ""
        return [str(r.start), str(r.stop)], f"{spec} = {r.start} to {r.stop}, both included{step}"
    if parsed.is_sweep_override():
        return [str(v) for v in parsed.sweep_string_iterator()], spec
    return [spec], spec


def search_points(space: dict[str, str]) -> list[list[str]]:
    """Overrides that each set every searched key to a value the search can draw: a choice's
    options in turn, a range's or an interval's two ends."""
    values = {key: drawn(key, spec)[0] for key, spec in space.items()}
    count = max((len(v) for v in values.values()), default=0)
    return [[f"{k}={v[min(i, len(v) - 1)]}" for k, v in values.items()] for i in range(count)]


def plain_optuna_logs() -> None:
    """Optuna 2 colours its log lines even where they go to a file or a pipe (a SLURM log,
    ``| tee``): there, and under ``NO_COLOR``, they are written plain."""
    if sys.stderr.isatty() and "NO_COLOR" not in os.environ:
        return
    import optuna

    optuna.logging.disable_default_handler()
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[%(levelname)1.1s %(asctime)s] %(message)s"))
    logging.getLogger("optuna").addHandler(handler)


def _parse(override: str):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_overrides([override])[0]


def sweep_runtime(typed: Config) -> None:
    """Side-by-side jobs (a multirun with a parallel launcher): no progress bars, console lines
    tagged with the job's number, TensorFlow threads split between the jobs unless ``threads``
    is set, and one GPU per job process where there are GPUs (``placement.py``)."""
    from rl_runner import console, placement

    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return
    typed.progress = False
    n_jobs = job_processes(hydra_cfg.launcher)
    console.tag_lines(f"[#{hydra_cfg.job.num}] " if n_jobs > 1 else "")
    if n_jobs <= 1:
        return
    if typed.threads == 0:
        typed.threads = max(1, (os.cpu_count() or 1) // n_jobs)
    if typed.device != "cpu":
        placed = placement.place(hydra_cfg.sweep.dir, typed.jobs_per_gpu)
        if placed is not None:
            placement.record(placed, hydra_cfg.runtime.output_dir)
