"""Every config option composes; bad values fail early with a message naming key and range."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from conftest import CONF, ROOT, compose, rl_train
from rl_runner.config import ConfigError, EnvConfig, ReinforceConfig, validate
from rl_runner.envs import describe
from rl_runner.job import prepare

PRESETS = sorted(p.stem for p in (CONF / "preset").glob("*.yaml"))


@pytest.mark.parametrize("env", ["cartpole", "pusher"])
def test_reinforce_composes_with_each_env(env):
    typed, spec = prepare(compose([f"env={env}"]))
    assert typed.algo.name == "reinforce"
    assert isinstance(typed.algo, ReinforceConfig)
    assert spec.obs_dim == {"cartpole": 4, "pusher": 23}[env]


def test_gym_env_takes_any_id():
    typed, spec = prepare(compose(["env=gym", "env.id=Pendulum-v1", "env.max_episode_steps=50"]))
    assert spec.id == "Pendulum-v1" and not spec.discrete and spec.num_actions == 1
    assert spec.max_episode_steps == 50


# The algo/env each preset is written for (a new preset must be added here).
PRESET_CONTEXT = {
    "reinforce_cartpole": [], "reinforce_seed": [],
    "ddpg_pusher": ["algo=ddpg", "env=pusher"], "ddpg_pusher_v4": ["algo=ddpg", "env=pusher_v4"],
    "ddpg_seed": ["algo=ddpg", "env=pusher"], "td3_pusher": ["algo=td3", "env=pusher"],
}


def test_every_preset_is_covered():
    assert sorted(PRESET_CONTEXT) == PRESETS


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_composes_and_validates(preset):
    cfg = compose([*PRESET_CONTEXT[preset], f"preset={preset}"])
    validate(OmegaConf.to_object(cfg))  # no env built: pusher_v4 needs the legacy extra


def test_default_preset_is_the_tuned_one_and_seed_preset_is_the_notebook():
    tuned = compose([]).algo
    seed = compose(["preset=reinforce_seed"])
    assert tuned.normalize_returns is True
    assert (seed.algo.hidden_sizes, seed.algo.lr, seed.algo.episodes_per_update,
            seed.algo.normalize_returns, seed.stop_at_return) == ([32, 32], 1e-3, 1, False, 500)


def test_ddpg_pusher_has_three_layers_and_td3_pusher_keeps_two():
    # TD3 was only ever measured with two 256 layers.
    assert compose(["algo=ddpg", "env=pusher"]).algo.hidden_sizes == [256, 256, 256]
    td3 = compose(["algo=td3", "env=pusher"])
    assert td3.algo.hidden_sizes == [256, 256]


def test_ddpg_pusher_has_twin_critics_under_a_mean_and_td3_pusher_climbs_the_first():
    ddpg = compose(["algo=ddpg", "env=pusher"]).algo
    td3 = compose(["algo=td3", "env=pusher"]).algo
    assert (ddpg.twin_critics, ddpg.actor_q, ddpg.policy_delay) == (True, "mean", 1)
    assert (td3.twin_critics, td3.actor_q, td3.policy_delay) == (True, "first", 2)


def test_ddpg_pusher_evaluates_the_target_actor_and_td3_pusher_the_online_one():
    assert compose(["algo=ddpg", "env=pusher"]).algo.eval_actor == "target"
    assert compose(["algo=td3", "env=pusher"]).algo.eval_actor == "online"
    assert compose(["algo=ddpg", "env=gym", "env.id=Pendulum-v1"]).algo.eval_actor == "online"


def test_ddpg_pusher_makes_two_updates_per_env_step_and_td3_pusher_one():
    assert compose(["algo=ddpg", "env=pusher"]).algo.updates_per_step == 2
    assert compose(["algo=ddpg", "env=pusher_v4"]).algo.updates_per_step == 2
    assert compose(["algo=td3", "env=pusher"]).algo.updates_per_step == 1
    assert compose(["algo=ddpg", "env=pusher", "preset=ddpg_seed"]).algo.updates_per_step == 1


def test_preset_overrides_run_level_keys():
    # _self_ comes first in the defaults list, so a preset's total_env_steps wins.
    assert compose(["preset=reinforce_seed"]).total_env_steps == 1_000_000


def test_overrides_reach_the_typed_config():
    typed, _ = prepare(compose(["algo.lr=3e-4", "algo.hidden_sizes=[64,64]", "seed=3",
                                "total_env_steps=200000", "eval.every_env_steps=5000",
                                "eval.episodes=10"]))
    assert (typed.algo.lr, typed.algo.hidden_sizes, typed.seed, typed.total_env_steps,
            typed.eval.every_env_steps, typed.eval.episodes) == (3e-4, [64, 64], 3, 200000,
                                                                 5000, 10)


def test_unknown_key_fails_at_composition():
    with pytest.raises(ConfigError, match=r"^algo\.lrr is not a key of algo=reinforce \("):
        compose(["algo.lrr=1"])


def test_wrong_type_fails_at_composition():
    with pytest.raises(ConfigError, match=r"^algo\.lr=fast: algo\.lr takes a number"):
        compose(["algo.lr=fast"])


@pytest.mark.parametrize("override, message", [
    ("algo.lr=0", "algo.lr=0 is out of range: must be > 0 and <= 1"),
    ("algo.lr=-1e-3", "algo.lr=-0.001 is out of range: must be > 0"),
    ("algo.gamma=1.5", "algo.gamma=1.5 is out of range: must be > 0 and <= 1"),
    ("algo.gamma=0", "algo.gamma=0 is out of range"),
    ("algo.episodes_per_update=0", "algo.episodes_per_update=0 is out of range: must be >= 1"),
    ("algo.hidden_sizes=[64,0]", "algo.hidden_sizes=[64, 0] is out of range: every item must "
                                 "be >= 1"),
    ("algo.hidden_sizes=[]", "algo.hidden_sizes=[] is empty"),
    ("algo.activation=sigmoidish", "algo.activation='sigmoidish' is not allowed: choose one of"),
    ("num_envs=0", "num_envs=0 is out of range: must be >= 1"),
    ("total_env_steps=0", "total_env_steps=0 is out of range"),
    ("eval.episodes=0", "eval.episodes=0 is out of range: must be >= 2"),
    ("algo.entropy_coef=-0.1", "algo.entropy_coef=-0.1 is out of range: must be >= 0"),
    ("device=tpu", "device='tpu' is not allowed: choose one of auto, cpu, gpu"),
])
def test_out_of_range_values_name_key_value_and_range(override, message):
    with pytest.raises(ConfigError) as err:
        prepare(compose([override]))
    assert message in str(err.value)


def test_missing_env_id_is_named():
    with pytest.raises(ConfigError, match=r"env.id is required"):
        prepare(compose(["env=gym"]))


def test_unknown_env_id_is_named():
    with pytest.raises(ConfigError, match=r"env.id='NoSuchEnv-v0'"):
        prepare(compose(["env=gym", "env.id=NoSuchEnv-v0"]))


def test_ddpg_on_a_discrete_env_says_so():
    with pytest.raises(ConfigError) as err:
        describe(EnvConfig(id="CartPole-v1"), "ddpg")
    assert str(err.value) == ("ddpg needs a continuous (Box) action space; CartPole-v1 has "
                              "Discrete(2) - use algo=reinforce, or an env with Box "
                              "actions: env=pusher, or env=gym env.id=Pendulum-v1")


def test_cli_bad_value_is_one_line_without_traceback_and_before_tensorflow(tmp_path):
    proc = rl_train("algo.lr=-1", f"hydra.run.dir={tmp_path}", cwd=tmp_path, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines == ["rl-train: error: algo.lr=-1 is out of range: must be > 0 and <= 1 "
                     "(Adam learning rate)"]


def test_checks_run_without_importing_tensorflow():
    code = ("import sys; sys.path.insert(0, 'tests'); from conftest import compose; "
            "from rl_runner.job import prepare; prepare(compose(['env=pusher'])); "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_console_script_prints_the_resolved_config(tmp_path):
    script = Path(sys.executable).parent / "rl-train"
    proc = subprocess.run([str(script), "--cfg", "job", "algo.lr=0.02"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "lr: 0.02" in proc.stdout and "id: CartPole-v1" in proc.stdout


# One source of defaults: the YAML
# --------------------------------------------------------------------------------------------
def yaml_defaults(path: Path) -> dict:
    """A config file's own keys, after the configs its defaults list names in its group."""
    raw = OmegaConf.to_container(OmegaConf.load(path))
    merged: dict = {}
    for entry in raw.pop("defaults", []):
        same_group = path.parent / f"{entry}.yaml" if isinstance(entry, str) else None
        if same_group is not None and same_group.is_file():  # not _self_ or a schema
            merged.update(yaml_defaults(same_group))
    return {**merged, **raw}


@pytest.mark.parametrize("algo, env", [("reinforce", "cartpole"), ("reinforce", "pusher"),
                                       ("ddpg", "pusher"), ("td3", "pusher")])
def test_the_trainer_gets_the_yamls_defaults(algo, env):
    """Without a preset, every key of what the trainer is built with is what algo/<algo>.yaml
    and config.yaml write (the schema holds no defaults of its own but env's optional ones)."""
    typed, spec = prepare(compose([f"algo={algo}", f"env={env}", "~preset"]))
    algo_yaml = yaml_defaults(CONF / "algo" / f"{algo}.yaml")
    assert OmegaConf.to_container(OmegaConf.structured(typed.algo)) == algo_yaml
    run_yaml = yaml_defaults(CONF / "config.yaml")
    run_yaml.pop("hydra")
    typed_run = OmegaConf.to_container(OmegaConf.structured(typed))
    assert {key: typed_run[key] for key in run_yaml} == run_yaml
    assert set(typed_run) - set(run_yaml) == {"algo", "env"}
    assert typed_run["env"] == {"id": spec.id, "kwargs": {}, "max_episode_steps": None}


def test_the_schema_writes_no_default_the_yaml_has():
    import dataclasses

    from rl_runner.config import ALGORITHMS, Config

    for schema in {Config, *(a.schema for a in ALGORITHMS.values())}:
        for f in dataclasses.fields(schema):
            if f.default is not dataclasses.MISSING:
                assert f.default == "???", (schema.__name__, f.name, f.default)


def test_a_run_saved_before_the_ddpg_variants_went_still_loads(tmp_path):
    from rl_runner.rundir import load_run_config

    saved = OmegaConf.to_container(compose(["algo=td3", "env=pusher"]))
    saved["algo"].update(n_step=1, crossq=False, sale=False, sale_dim=256, adam_beta1=0.9)
    saved["algo"]["noise"]["ou_theta"] = 0.15
    del saved["jobs_per_gpu"]  # a key added since: its default
    (tmp_path / ".hydra").mkdir()
    OmegaConf.save(OmegaConf.create(saved), tmp_path / ".hydra" / "config.yaml")
    loaded = load_run_config(tmp_path)
    assert loaded.algo.policy_delay == 2 and loaded.jobs_per_gpu == 1
    saved["algo"]["sale"] = True
    OmegaConf.save(OmegaConf.create(saved), tmp_path / ".hydra" / "config.yaml")
    with pytest.raises(ConfigError, match=r"was trained with algo.sale=True, an option "
                                          r"rl_runner no longer has"):
        load_run_config(tmp_path)
