"""``rl-train [overrides] --help``: the groups and the config those overrides compose, each key
with its doc and allowed values (from the schema's ``knob`` metadata, see ``keys.annotated``).
"""
from __future__ import annotations

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
    if args.multirun:
        overrides = sweep_cells(overrides, args.config_name or composition.CONFIG_NAME)[0]
    with composition.session() as loader:
        cfg, preset = composition.compose_in(loader, overrides, args.config_name or
                                             composition.CONFIG_NAME)
        groups = [f"  {group}: {', '.join(loader.get_group_options(group))}"
                  for group in [*sorted(loader.list_groups("")), "hydra/launcher"]
                  if group != "hydra"]  # launchers with -m: local_parallel, slurm are ours
    tree = OmegaConf.to_container(cfg, resolve=False)
    del tree["hydra"]
    given = " ".join(args.overrides)
    source = (f"the first job of rl-train -m {given}" if args.multirun and given
              else f"rl-train {given}" if given else "rl-train (the defaults)")
    merged = f", the preset {preset} merged" if preset else ""
    return "\n".join([cfg.hydra.help.header.rstrip(), "",
                      "Groups (group=option):", *groups, "",
                      f"Keys (key=value) of {source}{merged}:",
                      *annotated(tree, indent="  "), "", cfg.hydra.help.footer.rstrip()])


def saved_help(run_dir: str) -> str:
    """``rl-train resume=<run_dir> --help``: the config the run continues with, documented."""
    import dataclasses

    from rl_runner.keys import annotated

    job.check_resumable(run_dir)
    tree = dataclasses.asdict(rundir.load_run_config(run_dir))
    return "\n".join([f"rl-train resume={run_dir} continues the run with its saved config; "
                      f"only {', '.join(RESUME_RUNTIME_KEYS)} may change:",
                      *annotated(tree, indent="  ")])
