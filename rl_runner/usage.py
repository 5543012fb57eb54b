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
    from rl_runner.sweeps import check_search, sweep_cells

    args = get_args_parser().parse_args(argv)
    overrides = composition.normalise(args.overrides)
    resume = [o.partition("=")[2] for o in overrides if o.startswith("resume=")]
    if resume and not args.multirun:
        return saved_help(resume[-1])
    given = overrides
    if args.multirun:  # sweep_cells parses them first: a bad one gives its one line
        overrides = sweep_cells(given, args.config_name or composition.CONFIG_NAME)[0]
    with composition.session() as loader:
        cfg, preset = composition.compose_in(loader, overrides, args.config_name or
                                             composition.CONFIG_NAME)
        groups = [f"  {group}: {', '.join(loader.get_group_options(group))}"
                  for group in [*sorted(loader.list_groups("")), "hydra/launcher"]
                  if group != "hydra"]  # launchers with -m: local_parallel, slurm are ours
    tree = OmegaConf.to_container(cfg, resolve=False)
    del tree["hydra"]
    search = _search_space(cfg, given) if args.multirun else []
    if search:
        check_search(given)
    line = " ".join(args.overrides)
    source = (f"rl-train -m {line}" if search
              else f"the first job of rl-train -m {line}" if args.multirun and line
              else f"rl-train {line}" if line else "rl-train (the defaults)")
    merged = f", the preset {preset} merged" if preset else ""
    merged += ", before the search draws the keys below" if search else ""
    title = textwrap.wrap(f"Keys (key=value) of {source}{merged}:", 100, break_on_hyphens=False)
    return "\n".join([cfg.hydra.help.header.rstrip(), "",
                      "Groups (group=option):", *groups, "",
                      *title, *annotated(tree, indent="  "), *search, "",
                      cfg.hydra.help.footer.rstrip()])


def _search_space(cfg, overrides: list[str]) -> list[str]:
    """A search sweeper's (Optuna's) space: its ``params`` with the command line's ranges over
    them, less the keys the command line fixes, each key documented; [] under the grid
    sweeper, whose jobs the keys above show."""
    from rl_runner.keys import annotated
    from rl_runner.sweeps import drawn, is_search, search_space

    if not is_search(cfg):
        return []
    sweeper = cfg.hydra.sweeper
    space = search_space(cfg, overrides)
    name = str(sweeper._target_).rpartition(".")[2].removesuffix("Sweeper")
    rules = ", ".join(f"{k} {sweeper[k]}" for k in ("n_trials", "direction") if k in sweeper)
    return ["", f"Searched by {name} ({rules}), each trial the keys above with these drawn:",
            *annotated({key: drawn(key, str(spec))[1] for key, spec in space.items()},
                       indent="  ", algo=cfg.algo.name)]


def saved_help(run_dir: str) -> str:
    """``rl-train resume=<run_dir> --help``: the config the run continues with, documented."""
    import dataclasses

    from rl_runner.keys import annotated

    job.check_resumable(run_dir)
    tree = dataclasses.asdict(rundir.load_run_config(run_dir))
    return "\n".join([f"rl-train resume={run_dir} continues the run with its saved config; "
                      f"only {', '.join(RESUME_RUNTIME_KEYS)} may change:",
                      *annotated(tree, indent="  ")])
