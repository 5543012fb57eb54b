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
    from rl_runner.train import sweep_cells

    args = get_args_parser().parse_args(argv)
    overrides = composition.normalise(args.overrides)
    resume = [o.partition("=")[2] for o in overrides if o.startswith("resume=")]
    if resume and not args.multirun:
        return saved_help(resume[-1])
    swept = []
    if args.multirun:  # sweep_cells parses them first: a bad one gives its one line
        cells = sweep_cells(overrides, args.config_name or composition.CONFIG_NAME)
        swept = [o for o in overrides if _is_sweep(o)]
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
    search = _search_space(cfg, swept) if args.multirun else []
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


def _is_sweep(override: str) -> bool:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_overrides([override])[0].is_sweep_override()


def _search_space(cfg, swept: list[str]) -> list[str]:
    """A search sweeper's (Optuna's) space: its ``params`` with the command line's ranges over
    them, each key documented; [] under the grid sweeper, whose jobs the keys above show."""
    from rl_runner.keys import annotated

    sweeper = cfg.hydra.sweeper
    if "BasicSweeper" in str(sweeper.get("_target_")):
        return []
    space = dict(OmegaConf.to_container(sweeper.get("params") or {}))
    space.update(o.partition("=")[::2] for o in swept)
    name = str(sweeper._target_).rpartition(".")[2].removesuffix("Sweeper")
    rules = ", ".join(f"{k} {sweeper[k]}" for k in ("n_trials", "direction") if k in sweeper)
    return ["", f"Searched by {name} ({rules}), each trial the keys above with these drawn:",
            *annotated({key: str(value) for key, value in space.items()}, indent="  ",
                       algo=cfg.algo.name)]


def saved_help(run_dir: str) -> str:
    """``rl-train resume=<run_dir> --help``: the config the run continues with, documented."""
    import dataclasses

    from rl_runner.keys import annotated

    job.check_resumable(run_dir)
    tree = dataclasses.asdict(rundir.load_run_config(run_dir))
    return "\n".join([f"rl-train resume={run_dir} continues the run with its saved config; "
                      f"only {', '.join(RESUME_RUNTIME_KEYS)} may change:",
                      *annotated(tree, indent="  ")])
