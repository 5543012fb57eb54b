"""Online actor against target (Polyak-averaged) actor, on a DDPG run's kept checkpoints.

    python -m benchmarks.eval_actors benchmarks/learning/ddpg_g098_d3_twinmean_s1 [...]

For each full checkpoint a run keeps (``checkpoint.keep``: the last three, 280k-300k in the
learning runs), this evaluates both actors on the trainer's own eval start states (``eval.
episodes`` episodes reset from ``seed + EVAL_SEED_OFFSET``), so the online actor's figure is
the run's logged eval at that step, exactly, and the target actor's is what
``algo.eval_actor=target`` would have logged there. The two share the observation normaliser
(and SALE's fixed encoder). One line per run: ``step: online / target``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def compare(run_dir: Path) -> list[tuple[int, float, float]]:
    """[(env step, online actor's eval mean, target actor's eval mean)] per kept checkpoint."""
    import tensorflow as tf

    from rl_runner import device
    from rl_runner.algos.ddpg import DDPGTrainer, DeterministicPolicy, actor_net
    from rl_runner.checkpoint import CHECKPOINT_DIR
    from rl_runner.config import load_run_config
    from rl_runner.envs import describe
    from rl_runner.evaluation import EVAL_SEED_OFFSET, Evaluator

    cfg = load_run_config(run_dir)
    spec = describe(cfg.env, cfg.algo.name)
    device.setup("cpu", 1, cfg.seed, False)
    online = DDPGTrainer.build_policy(spec, cfg.algo)
    target = DeterministicPolicy(spec, cfg.algo, actor=actor_net(spec, cfg.algo, "actor_target"),
                                 like=online)
    # The checkpoint's "policy" holds the run's eval actor; the other actor sits beside it.
    if cfg.algo.eval_actor == "target":
        slots = {"policy": target, "actor": online.actor}
    else:
        slots = {"policy": online, "actor_target": target.actor}
    evaluator = Evaluator(cfg.env, cfg.eval.episodes, cfg.seed + EVAL_SEED_OFFSET)
    obs_spec = [tf.TensorSpec([None, spec.obs_dim], tf.float32)]
    acts = [tf.function(p.greedy, input_signature=obs_spec) for p in (online, target)]
    rows = []
    state = tf.train.get_checkpoint_state(str(run_dir / CHECKPOINT_DIR))
    for path in state.all_model_checkpoint_paths if state else []:
        checkpoint = tf.train.Checkpoint(**slots)
        checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
        reader = tf.train.load_checkpoint(path)
        steps = next(k for k in reader.get_variable_to_shape_map() if k.startswith("state/"))
        step = json.loads(reader.get_tensor(steps))["env_steps"]
        means = [evaluator(lambda obs, act=act: act(tf.constant(obs, tf.float32)).numpy()).mean
                 for act in acts]
        rows.append((step, *means))
    evaluator.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", type=Path, nargs="+")
    args = parser.parse_args()
    for run_dir in args.run_dirs:
        rows = compare(run_dir)
        print(f"{run_dir.name}: " + " | ".join(
            f"{step // 1000}k: {a:.2f} / {b:.2f}" for step, a, b in rows), flush=True)


if __name__ == "__main__":
    main()
