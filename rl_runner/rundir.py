"""Run dirs that belong to one process: claimed atomically before Hydra writes into them.

Hydra names a run dir by the time to the second and creates it with ``exist_ok``: two runs
started in the same second would share it. ``claim`` creates the dir with an exclusive
``mkdir`` and, when another process got there first, takes the next free name
(``<name>_2``, ``<name>_3``, ...). A dir given explicitly (``hydra.run.dir=...``) is claimed
through its ``.hydra`` subdir: a dir that already holds a run is refused.

``check_trained`` is the other side: a dir that must hold a trained run (rl-eval, resume=);
``load_run_config`` reads the config it was started with; ``set_aside_evaluation`` keeps what
rl-eval wrote before a resume under the name of the checkpoint it scored.
"""
from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path
from typing import NamedTuple

from rl_runner.config import ALGORITHMS, Config, ConfigError, validate

HYDRA_SUBDIR = ".hydra"


class Claim(NamedTuple):
    path: Path
    created: bool  # the dir itself was made by this claim (else only its .hydra)
    parents: tuple[Path, ...] = ()  # folders above it that the claim made, deepest first


def claim(path: str | Path, explicit: bool, key: str = "hydra.run.dir") -> Claim:
    """Make ``path`` this process's (see the module doc); returns the dir claimed."""
    path = Path(path).absolute()
    parents = tuple(p for p in path.parents if not p.exists())
    path.parent.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        candidate = path if n == 1 else path.with_name(f"{path.name}_{n}")
        try:
            candidate.mkdir()
            return Claim(candidate, True, parents)
        except FileExistsError:
            if not explicit:
                continue
        try:
            (candidate / HYDRA_SUBDIR).mkdir()
            return Claim(candidate, False, parents)
        except FileExistsError:
            if (candidate / "metrics.json").is_file():  # finished: nothing to continue
                raise ConfigError(f"{key}={path} already holds a finished run: choose another "
                                  "dir") from None
            raise ConfigError(f"{key}={path} already holds a run: choose another dir, or "
                              f"continue that run with rl-train resume={path}") from None
    raise AssertionError("unreachable")


def claim_sweep(path: str | Path) -> Path:
    """A fresh sweep dir (``hydra.sweep.dir`` by the time): never shared with another sweep."""
    return claim(path, explicit=False).path


def release(claimed: Claim) -> None:
    """Undo a claim whose run never started: nothing of it is left on disk."""
    if claimed.created:
        shutil.rmtree(claimed.path, ignore_errors=True)
    else:
        shutil.rmtree(claimed.path / HYDRA_SUBDIR, ignore_errors=True)
        for log in claimed.path.glob("*.log"):
            log.unlink(missing_ok=True)
    for parent in claimed.parents:  # ./outputs/<date>, unless another run is in it by now
        try:
            parent.rmdir()
        except OSError:
            break


def quoted(path: str | Path) -> str:
    """A path as a value in Hydra's override grammar (a sweep job's dir holds '=' and ',')."""
    return "'" + str(path).replace("\\", "\\\\").replace("'", "\\'") + "'"


def check_trained(path: Path, key: str | None = None) -> None:
    """ConfigError unless ``path`` holds one run that wrote a checkpoint: what ``rl-eval``
    loads and ``resume=`` continues. ``key`` is how the user named the dir (``resume``), for
    the message. Cheap: no TensorFlow."""
    def named(p: Path) -> str:
        return f"{key}={p}" if key else str(p)

    if not path.is_dir():
        raise ConfigError(f"{named(path)}: no such directory")
    if not (path / HYDRA_SUBDIR / "config.yaml").is_file():
        raise ConfigError(f"{named(path)}: not a run dir (no {HYDRA_SUBDIR}/config.yaml): give a "
                          "dir that rl-train wrote")
    checkpoints = path / "checkpoints"  # checkpoint.CHECKPOINT_DIR (that imports TensorFlow)
    seeds = sorted(p for p in path.glob("seed=*") if p.is_dir())
    if seeds and not checkpoints.exists():
        raise ConfigError(f"{named(path)} trained several seeds (search.seeds): give one of "
                          f"them, e.g. {named(seeds[0])}")
    if not (checkpoints / "checkpoint").is_file():
        raise ConfigError(f"{named(path)} holds no trained run (no checkpoint in checkpoints/): "
                          "it stopped before its first checkpoint")


# DDPG options removed with the variants that lost (git history keeps them), and the value that
# meant "off": a run saved with that value loads without them; one that used them does not.
REMOVED_KEYS = {"n_step": 1, "recent_fraction": 0.0, "recent_size": None, "lr_schedule":
                "constant", "num_critics": 0, "target_critics": 0, "normalize_obs": False,
                "crossq": False, "quantiles": 0, "drop_quantiles": 0, "value_bins": 0,
                "value_min": None, "value_max": None, "sale": False, "sale_dim": None,
                "sale_update_every": None, "adam_beta1": 0.9, "noise.ou_theta": None}


def _drop_removed(loaded, path) -> None:
    from omegaconf import OmegaConf, open_dict

    with open_dict(loaded):
        for key, off in REMOVED_KEYS.items():
            full = f"algo.{key}"
            value = OmegaConf.select(loaded, full, default="<absent>")
            if value == "<absent>":
                continue
            if off is not None and value != off:
                raise ConfigError(f"{path} was trained with {full}={value}, an option rl_runner "
                                  "no longer has (removed with the DDPG variants that did not "
                                  "win; git history keeps it)")
            parent, _, leaf = full.rpartition(".")
            del OmegaConf.select(loaded, parent)[leaf]
        noise = OmegaConf.select(loaded, "algo.noise.type")
        if noise in ("ou", "param"):
            raise ConfigError(f"{path} was trained with algo.noise.type={noise}, which rl_runner "
                              "no longer has (gaussian and pink remain)")


def load_run_config(run_dir) -> Config:
    """The typed config a run was started with (``<run_dir>/.hydra/config.yaml``), read with
    OmegaConf (plain YAML, nothing executed) and checked like a fresh one. Keys added since the
    run was saved take their defaults (``algo=<its algo>`` without a preset)."""
    from omegaconf import OmegaConf

    from rl_runner import composition

    path = Path(run_dir) / HYDRA_SUBDIR / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a run dir: {path} does not exist")
    loaded = OmegaConf.load(path)
    name = OmegaConf.select(loaded, "algo.name")
    if name not in ALGORITHMS:
        raise ConfigError(f"{path}: algo.name={name!r} is not one of {', '.join(ALGORITHMS)}")
    _drop_removed(loaded, path)
    defaults = composition.compose([f"algo={name}", "~preset"], hydra_config=False).cfg
    schema = OmegaConf.structured(Config)
    schema.algo = OmegaConf.structured(ALGORITHMS[name].schema)
    typed = OmegaConf.to_object(OmegaConf.merge(schema, defaults, loaded))
    validate(typed)
    return typed


def _free_name(folder: Path, stem: str, suffix: str) -> Path:
    """``<stem><suffix>`` in ``folder``, or ``<stem>_2<suffix>``, ... : never an existing file."""
    for n in itertools.count(1):
        candidate = folder / f"{stem}{'' if n == 1 else f'_{n}'}{suffix}"
        if not candidate.exists():
            return candidate
    raise AssertionError("unreachable")


def set_aside_evaluation(run_dir: str | Path) -> list[str]:
    """Before a resumed run trains on: rename ``eval.json`` (and the video it made) after the
    checkpoint it scored (``eval.ckpt-3.json``, ``rollout.ckpt-3.gif``; ``eval.best.ckpt-2.json``
    for the best policy), so that the run dir's ``eval.json`` is never older than its policy.
    Nothing is overwritten; a file that is not rl-eval's JSON becomes ``eval.unreadable.json``.
    Returns the new names."""
    folder = Path(run_dir)
    report_file = folder / "eval.json"
    if not report_file.is_file():
        return []
    try:
        report = json.loads(report_file.read_text())
        checkpoint = Path(str(report["checkpoint"]))
        video = (report.get("render") or {}).get("file")
    except (ValueError, KeyError, TypeError, AttributeError, OSError):
        kept = _free_name(folder, "eval.unreadable", ".json")
        report_file.rename(kept)
        return [kept.name]
    tag = f"best.{checkpoint.name}" if checkpoint.parent.name == "best" else checkpoint.name
    kept = [_free_name(folder, f"eval.{tag}", ".json")]
    if video and (folder / video).is_file():
        kept.append(_free_name(folder, f"{Path(video).stem}.{tag}", Path(video).suffix))
        report["render"]["file"] = kept[1].name
        (folder / video).rename(kept[1])
    kept[0].write_text(json.dumps(report, indent=2) + "\n")
    report_file.unlink()
    return [path.name for path in kept]
