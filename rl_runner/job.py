"""One training job, the same from ``rl-train`` (Hydra's ``main``) and from Python
(``rl_runner.train``): the composed config becomes typed dataclasses and is checked (no
TensorFlow yet), then the trainer is built, resumed if asked, and trained.

Errors are raised, not printed: ``ConfigError`` for bad input (one line), ``RunStopped`` for a
run stopped on the way (a signal, a NaN). The callers decide what the user sees.
"""
from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import MissingMandatoryValue

from rl_runner import metrics as run_metrics
from rl_runner import rundir
from rl_runner.config import Config, ConfigError, run_warnings, validate
from rl_runner.console import say, tag_lines
from rl_runner.metrics import METRICS_FILE, SeedsMetrics

FAILURE_FILE = "failure.json"
# Keys a resumed run may change: they do not affect what it computes.
RESUME_RUNTIME_KEYS = ("progress", "device", "threads", "verbose")


def run_config(cfg: DictConfig) -> DictConfig:
    """The run's keys without the ``hydra`` node (which compose's result carries)."""
    if "hydra" not in cfg:
        return cfg
    cfg = cfg.copy()
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def prepare(cfg: DictConfig, memory: bool = True):
    """Typed config and env description of a new run, or ConfigError: cheap, no TensorFlow.
    ``memory``: check that the replay buffer fits this machine's free memory (the run's)."""
    from rl_runner.envs import check_versioned

    cfg = run_config(cfg)
    try:
        typed: Config = OmegaConf.to_object(cfg)
    except MissingMandatoryValue as exc:
        raise ConfigError(f"{exc.full_key} is required and has no value (set it on the "
                          f"command line: {exc.full_key}=...)") from None
    validate(typed)
    check_versioned(typed.env.id)
    return typed, described(typed, memory)


def described(typed: Config, memory: bool = True):
    """The env's description, checked against the algorithm and (``memory``) the memory its
    replay buffer would take."""
    from rl_runner.envs import describe
    from rl_runner.memory import check_fits

    spec = describe(typed.env, typed.algo.name)
    capacity = getattr(typed.algo, "buffer_size", None)
    if capacity is not None and memory:
        check_fits(capacity, spec.obs_dim, spec.num_actions, spec.id)
    return spec


def check_resumable(run_dir: str) -> None:
    """Cheap checks of a run dir to resume, before Hydra touches it (no TensorFlow)."""
    path = Path(run_dir)
    rundir.check_trained(path, "resume")
    if (path / METRICS_FILE).is_file():
        raise ConfigError(f"resume={run_dir}: the run already finished (metrics.json); start "
                          "a new run, e.g. with a larger total_env_steps")


def prepare_resume(cfg: DictConfig):
    """The saved config of the run to resume (runtime keys from the command line) and its
    env description."""

    check_resumable(cfg.resume)
    typed = rundir.load_run_config(cfg.resume)
    for key in RESUME_RUNTIME_KEYS:
        setattr(typed, key, cfg[key])
    typed.resume = cfg.resume
    return typed, described(typed)


def build_trainer(typed: Config, spec, run_dir: str):
    """Set TensorFlow up for this run and build its trainer (not trained yet); returns the
    trainer and the device it uses. Tests and benchmarks build trainers through here too."""
    from rl_runner import device
    from rl_runner.algos import trainer_class

    used = device.setup(typed.device, typed.threads, typed.seed, typed.deterministic)
    return trainer_class(typed.algo.name)(typed, spec, run_dir), used


def run(typed: Config, spec, run_dir: str, preset: str | None = None):
    """Build the trainer, resume it if asked, and train; returns RunMetrics."""
    trainer, used = build_trainer(typed, spec, run_dir)
    try:
        if typed.resume:
            path = trainer.resume()
            say(f"resuming {run_dir} from {os.path.basename(path)} at env step "
                f"{trainer.env_steps:,} ({used})")
            kept = rundir.set_aside_evaluation(run_dir)
            if kept:
                say(f"rl-eval's eval.json scored a policy from before this resume: kept as "
                    f"{' and '.join(kept)}")
        else:
            applied = f"preset {preset}" if preset else "no preset"
            say(f"{typed.algo.name} on {spec.id} ({applied}, {used}), run dir {run_dir}")
            for warning in run_warnings(typed):
                say(f"warning: {warning}")
        return trainer.train()
    finally:
        trainer.close()


def train_seeds(typed: Config, spec, run_dir: str, preset: str | None) -> SeedsMetrics:
    """Train ``search.seeds`` seeds (seed, seed+1, ...) one after another, each in
    ``<run_dir>/seed=<s>/`` with its own config; writes their summary to ``metrics.json``."""
    finals, heldout = {}, {}
    for seed in range(typed.seed, typed.seed + typed.search.seeds):
        one = dataclasses.replace(typed, seed=seed, search=dataclasses.replace(typed.search,
                                                                              seeds=1))
        seed_dir = Path(run_dir) / f"seed={seed}"
        (seed_dir / ".hydra").mkdir(parents=True, exist_ok=True)
        OmegaConf.save(OmegaConf.structured(one), seed_dir / ".hydra" / "config.yaml")
        metrics = run(one, spec, str(seed_dir), preset)
        finals[seed], held = metrics.final_eval_return, metrics.heldout
        heldout[seed] = held.mean
        say(f"seed {seed}: final eval return {finals[seed]:.2f}; held-out return "
            f"{held.mean:.2f} ± {held.std:.2f}, 95 % CI [{held.ci95[0]:.2f}, {held.ci95[1]:.2f}] "
            f"over {held.episodes} episodes")
    summary = SeedsMetrics(sum(finals.values()) / len(finals), list(finals),
                           list(finals.values()), list(heldout.values()))
    run_metrics.write(run_dir, summary)
    say(f"seeds {summary.seeds}: mean final eval return {summary.final_eval_return:.2f} (what "
        f"a search maximises); mean held-out return {sum(heldout.values()) / len(heldout):.2f}")
    return summary


def execute(cfg: DictConfig, run_dir: str, preset: str | None,
            adjust: Callable[[Config], None] | None = None):
    """The job: a fresh or resumed run (``cfg.resume``), or ``search.seeds`` runs. ``adjust``
    may change runtime keys of the typed config first (a sweep job's threads). Returns the run's
    RunMetrics, or SeedsMetrics."""
    typed, spec = prepare_resume(cfg) if cfg.resume else prepare(cfg)
    tag_lines("")  # a sweep's adjust tags the lines of a job beside others
    if adjust is not None:
        adjust(typed)
    if typed.search.seeds > 1:
        return train_seeds(typed, spec, run_dir, preset)
    return run(typed, spec, typed.resume or run_dir, preset)


def print_summary(metrics, run_dir: str) -> None:
    """Why the run stopped, its final and best eval, where it is and how to look at it."""
    if metrics.stop_reason == "threshold":
        why = (f"reached the threshold {metrics.stop_at_return:g} at env step "
               f"{metrics.env_steps_to_solve:,}")
    else:
        why = f"total_env_steps reached ({metrics.env_steps:,} env steps)"
        if metrics.solved:
            why += f" (threshold {metrics.stop_at_return:g} first reached at env step " \
                   f"{metrics.env_steps_to_solve:,})"
    final, best = metrics.heldout, metrics.heldout_best
    say(f"stopped: {why}",
        f"held-out return {final.mean:.2f} ± {final.std:.2f}, 95 % CI [{final.ci95[0]:.2f}, "
        f"{final.ci95[1]:.2f}] over {final.episodes} episodes; best checkpoint "
        f"{best.mean:.2f} ± {best.std:.2f}",
        f"run dir {run_dir}",
        f"tensorboard --logdir {os.path.dirname(run_dir)} --host 127.0.0.1")


def record_failure(run_dir: str, message: str, exit_code: int) -> None:
    """``failure.json`` in a sweep job's dir, so a report lists the failed job."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    (Path(run_dir) / FAILURE_FILE).write_text(
        json.dumps({"error": message, "exit_code": exit_code}) + "\n")


def check_job_dir(run_dir: str) -> None:
    """A sweep job never writes into a dir that holds an earlier run (a reused sweep dir)."""
    if (Path(run_dir) / "checkpoints").exists() or (Path(run_dir) / METRICS_FILE).exists():
        raise ConfigError(f"{run_dir} already holds a run from an earlier sweep: choose a new "
                          "hydra.sweep.dir, or continue that run with rl-train resume=<its dir>")
