"""TensorFlow start-up: device choice, GPU memory growth, threads, seeds and determinism.

Imported only once the config has passed its checks, because importing TensorFlow takes
seconds. Nothing here depends on whether a GPU exists: ``device=auto`` uses one when
TensorFlow sees it.
"""
from __future__ import annotations

from rl_runner.config import ConfigError
from rl_runner.console import native_stderr_silenced

with native_stderr_silenced():  # TensorFlow's native start-up notices
    import tensorflow as tf

_configured: str | None = None


def setup(device: str, threads: int, seed: int, deterministic: bool) -> str:
    """Configure TensorFlow for one run; returns the device name used ('GPU:0' or 'CPU:0').

    Devices and threads can be set once per process (TensorFlow refuses later changes); seeds
    and determinism are set on every call, so several runs can share a process."""
    global _configured
    tf.keras.utils.set_random_seed(seed)  # python, numpy and TensorFlow
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    if _configured is not None:
        if (device == "cpu") != (_configured == "CPU:0") and device != "auto":
            raise ConfigError(f"device={device}: this process already runs TensorFlow on "
                              f"{_configured} (devices are set once per process); restart "
                              "the process (or the notebook's kernel) to change it")
        return _configured
    tf.get_logger().setLevel("ERROR")  # not "Assets written to ..." in every job log
    with native_stderr_silenced():  # "failed call to cuInit" where there is no GPU
        gpus = tf.config.list_physical_devices("GPU")
    if device == "cpu":
        tf.config.set_visible_devices([], "GPU")
        gpus = []
    elif device == "gpu" and not gpus:
        raise ConfigError("device=gpu but TensorFlow sees no GPU (check the CUDA install with "
                          "`python -c 'import tensorflow as tf; print(tf.config."
                          "list_physical_devices())'`); use device=auto or device=cpu")
    for gpu in gpus:
        # Parallel runs (a multirun on one card) must not each grab the whole memory.
        tf.config.experimental.set_memory_growth(gpu, True)
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    _configured = "GPU:0" if gpus else "CPU:0"
    return _configured
