"""``rl-train [overrides] --help``: the groups and the config those overrides compose, each key
with its doc and allowed values (from the schema's ``knob`` metadata, see ``keys.annotated``).
"""
from __future__ import annotations

import textwrap

from omegaconf import OmegaConf

from rl_runner import composition, job, rundir
from rl_runner.job import RESUME_RUNTIME_KEYS


def help_text(argv: list[str]) -> str:
    """``rl-train [overrides] --help``: how to call it, the groups and their options, and the
    config these overrides compose, each key with its doc and allowed values."""
    from hydra._internal.utils import get_args_parser

    from rl_runner.keys import annotated
    from rl_runner.train import check_search, is_sweep, sweep_cells

    args = get_args_parser().parse_args(argv)
    overrides = composition.normalise(args.overrides)
    resume = [o.partition("=")[2] for o in overrides if o.startswith("resume=")]
    if resume and not args.multirun:
        return saved_help(resume[-1])
    swept, fixed = [], overrides
    if args.multirun:  # sweep_cells parses them first: a bad one gives its one line
        cells = sweep_cells(overrides, args.config_name or composition.CONFIG_NAME)
        swept = [o for o in overrides if is_sweep(o)]
        fixed = [o for o in overrides if o not in swept]
        overrides = cells[0]
    with composition.session() as loader:
        cfg, preset = composition.compose_in(loader, overrides, args.config_name or
                                             composition.CONFIG_NAME)
        groups = [f"  {group}: {', '.join(loader.get_group_options(group))}"
                  for group in [*sorted(loader.list_groups("")), "hydra/launcher"]
                  if group != "hydra"]  # launchers with -m: local_parallel, slurm are ours
    tree = OmegaConf.to_container(cfg, resolve=False)
    del tree["hydra"]
    given = " ".join(args.overrides)
    search = _search_space(cfg, swept, fixed) if args.multirun else []
    if search:
        check_search(swept)
    source = (f"rl-train -m {given}" if search
              else f"the first job of rl-train -m {given}" if args.multirun and given
              else f"rl-train {given}" if given else "rl-train (the defaults)")
    merged = f", the preset {preset} merged" if preset else ""
    merged += ", before the search draws the keys below" if search else ""
    title = textwrap.wrap(f"Keys (key=value) of {source}{merged}:", 100, break_on_hyphens=False)
    return "\n".join([cfg.hydra.help.header.rstrip(), "",
                      "Groups (group=option):", *groups, "",
                      *title, *annotated(tree, indent="  "), *search, "",
                      cfg.hydra.help.footer.rstrip()])


def _search_space(cfg, swept: list[str], fixed: list[str]) -> list[str]:
    """A search sweeper's (Optuna's) space: its ``params`` with the command line's ranges over
    them, less the keys the command line fixes, each key documented; [] under the grid
    sweeper, whose jobs the keys above show."""
    from rl_runner.keys import annotated
    from rl_runner.train import search_space

    sweeper = cfg.hydra.sweeper
    if "BasicSweeper" in str(sweeper.get("_target_")):
        return []
    space = search_space(cfg, [*swept, *fixed])
    name = str(sweeper._target_).rpartition(".")[2].removesuffix("Sweeper")
    rules = ", ".join(f"{k} {sweeper[k]}" for k in ("n_trials", "direction") if k in sweeper)
    return ["", f"Searched by {name} ({rules}), each trial the keys above with these drawn:",
            *annotated({key: _drawn(key, str(value)) for key, value in space.items()},
                       indent="  ", algo=cfg.algo.name)]


def _drawn(key: str, value: str) -> str:
    """A search range as written, with what Optuna draws from it where the syntax misleads:
    a ``range``'s stop is drawn too (Hydra's grid stops before it); ``log``: log-uniform."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    sweep = OverridesParser.create().parse_overrides([f"{key}={value}"])[0]
    if sweep.is_range_sweep() and not sweep.value().shuffle:
        r = sweep.value()
        return f"{value} = {r.start} to {r.stop}, both included" + (
            f", step {r.step}" if r.step not in (1, None) else "")
    if sweep.is_interval_sweep():
        scale = "log-uniform" if "log" in sweep.value().tags else "uniform"
        return f"{value} = {scale} in [{sweep.value().start}, {sweep.value().end}]"
    return value


def saved_help(run_dir: str) -> str:
    """``rl-train resume=<run_dir> --help``: the config the run continues with, documented."""
    import dataclasses

    from rl_runner.keys import annotated

    job.check_resumable(run_dir)
    tree = dataclasses.asdict(rundir.load_run_config(run_dir))
    return "\n".join([f"rl-train resume={run_dir} continues the run with its saved config; "
                      f"only {', '.join(RESUME_RUNTIME_KEYS)} may change:",
                      *annotated(tree, indent="  ")])
