"""Keras MLP builders, and a numpy mirror of an MLP for cheap per-step acting.

Acting one observation at a time through TensorFlow costs ~0.1-2.7 ms a call on a 2-core CPU
(the Python -> TensorFlow crossing); the same small MLP in numpy costs ~15 us. On-policy
collection therefore acts through ``NumpyMLP``, a copy of the weights refreshed after each
update (benchmarks/RESULTS.md measures both).
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

ACTIVATIONS_NP = {
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "silu": lambda x: x / (1.0 + np.exp(-x)),
}


class BatchRenorm(keras.layers.Layer):
    """Batch renormalisation (Ioffe 2017), as CrossQ's critic uses it (Bhatt et al. 2024).

    Training calls normalise by the batch's statistics and move the running ones (``momentum``
    is the keep fraction). For the first ``warmup`` training calls that is plain batch norm;
    after it the result is corrected towards the running statistics, ``x_hat * r + d`` with
    ``r = std_batch / std_running`` clipped to [1/r_max, r_max] and ``d = (mean_batch -
    mean_running) / std_running`` clipped to [-d_max, d_max], both without gradient: an outlier
    batch then moves the output less. Inference calls use the running statistics alone."""

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3, warmup: int = 100_000,
                 r_max: float = 3.0, d_max: float = 5.0, **kwargs):
        super().__init__(**kwargs)
        self.momentum, self.epsilon, self.warmup = momentum, epsilon, warmup
        self.r_max, self.d_max = r_max, d_max

    def build(self, input_shape):
        dim = input_shape[-1]
        self.scale = self.add_weight(shape=(dim,), initializer="ones", name="scale")
        self.offset = self.add_weight(shape=(dim,), initializer="zeros", name="offset")
        self.moving_mean = self.add_weight(shape=(dim,), initializer="zeros", trainable=False,
                                           name="moving_mean")
        self.moving_var = self.add_weight(shape=(dim,), initializer="ones", trainable=False,
                                          name="moving_var")
        self.steps = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                     name="steps")  # training calls so far (float: exact < 2**24)

    def call(self, x, training=False):
        running_std = tf.sqrt(self.moving_var + self.epsilon)
        if not training:
            return (x - self.moving_mean) / running_std * self.scale + self.offset
        mean, var = tf.nn.moments(x, axes=[0])
        std = tf.sqrt(var + self.epsilon)
        renorm = self.steps >= self.warmup
        r = tf.where(renorm, tf.clip_by_value(std / running_std, 1.0 / self.r_max, self.r_max),
                     1.0)
        d = tf.where(renorm, tf.clip_by_value((mean - self.moving_mean) / running_std,
                                              -self.d_max, self.d_max), 0.0)
        x_hat = (x - mean) / std * tf.stop_gradient(r) + tf.stop_gradient(d)
        n = tf.cast(tf.shape(x)[0], x.dtype)
        keep = self.momentum
        self.moving_mean.assign(keep * self.moving_mean + (1.0 - keep) * mean)
        self.moving_var.assign(keep * self.moving_var
                               + (1.0 - keep) * var * n / tf.maximum(n - 1.0, 1.0))
        self.steps.assign_add(1.0)
        return x_hat * self.scale + self.offset

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon,
                "warmup": self.warmup, "r_max": self.r_max, "d_max": self.d_max}


def avg_l1_norm(x: tf.Tensor) -> tf.Tensor:
    """x scaled so that the mean of its absolute entries is 1 (per row): TD7's AvgL1Norm, which
    keeps an embedding on the scale of the inputs it is concatenated with."""
    return x / tf.maximum(tf.reduce_mean(tf.abs(x), axis=-1, keepdims=True), 1e-8)


class EmbeddingInput(keras.layers.Layer):
    """SALE's input layer (TD7, Fujimoto et al. 2023): a Dense of ``units`` on the first
    ``split`` columns (the raw state, or state and action), AvgL1Norm'd and without activation,
    then concatenated with the remaining columns (the learned embeddings)."""

    def __init__(self, units: int, split: int, **kwargs):
        super().__init__(**kwargs)
        self.units, self.split = units, split
        self.dense = keras.layers.Dense(
            units, name="dense", kernel_initializer=keras.initializers.Orthogonal(gain=1.0))

    def build(self, input_shape):
        self.dense.build((input_shape[0], self.split))

    def call(self, x):
        raw, embeddings = x[:, :self.split], x[:, self.split:]
        return tf.concat([avg_l1_norm(self.dense(raw)), embeddings], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units + input_shape[-1] - self.split)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "split": self.split}


def mlp(input_dim: int, hidden_sizes: list[int], output_dim: int, activation: str = "relu",
        output_activation: str | None = None, output_gain: float = 1.0,
        name: str = "mlp", layer_norm: bool = False,
        feature_norm: bool = False, batch_renorm: bool = False,
        embed_split: int | None = None) -> keras.Sequential:
    """A fully connected network: orthogonal init (gain sqrt 2 hidden, ``output_gain`` last),
    zero biases. A small output gain (0.01) starts a policy near uniform.

    ``layer_norm`` puts a LayerNorm between each hidden Dense and its activation;
    ``feature_norm`` scales the last hidden layer's output to unit L2 norm ("penultimate
    normalisation", Bjorck et al. 2022), which bounds what the output layer sees;
    ``batch_renorm`` puts a ``BatchRenorm`` before every Dense (on the input, and after each
    hidden activation), as CrossQ does; call the network with ``training=True`` to use and move
    its batch statistics. ``embed_split`` makes the first hidden layer an ``EmbeddingInput``
    (SALE): the inputs are [raw (embed_split columns) | embeddings]. ``NumpyMLP`` mirrors none
    of them."""
    layers = [keras.Input(shape=(input_dim,))]
    if embed_split is not None:
        layers.append(EmbeddingInput(hidden_sizes[0], embed_split, name="embedding_input"))
        hidden_sizes = hidden_sizes[1:]
    for i, units in enumerate(hidden_sizes):
        if batch_renorm:
            layers.append(BatchRenorm(name=f"batch_renorm_{i}"))
        layers.append(keras.layers.Dense(
            units, activation=None if layer_norm else activation, name=f"hidden_{i}",
            kernel_initializer=keras.initializers.Orthogonal(gain=np.sqrt(2.0))))
        if layer_norm:
            layers += [keras.layers.LayerNormalization(name=f"layer_norm_{i}"),
                       keras.layers.Activation(activation, name=f"activation_{i}")]
    if batch_renorm:
        layers.append(BatchRenorm(name=f"batch_renorm_{len(hidden_sizes)}"))
    if feature_norm:
        layers.append(keras.layers.UnitNormalization(name="feature_norm"))
    layers.append(keras.layers.Dense(
        output_dim, activation=output_activation, name="out",
        kernel_initializer=keras.initializers.Orthogonal(gain=output_gain)))
    return keras.Sequential(layers, name=name)


class NumpyMLP:
    """Forward pass of a ``mlp`` in numpy, from a snapshot of its weights."""

    def __init__(self, model: keras.Sequential, activation: str):
        self.model = model
        self.act = ACTIVATIONS_NP[activation]
        self.refresh()

    def refresh(self, weights: list[np.ndarray] | None = None) -> None:
        """Take new weights ([kernel, bias] per layer, as ``model.trainable_variables``);
        without them, read the model's (slower: a crossing per variable)."""
        if weights is None:
            weights = self.model.get_weights()
        self.layers = list(zip(weights[0::2], weights[1::2]))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        h = np.asarray(x, dtype=np.float32)
        for kernel, bias in self.layers[:-1]:
            h = self.act(h @ kernel + bias)
        kernel, bias = self.layers[-1]
        return h @ kernel + bias


class ObsNormalizer(tf.Module):
    """Running mean/std of observations (parallel-variance update), stored as variables so it
    is saved with the model. ``normalize`` clips to +-10 standard deviations."""

    def __init__(self, obs_dim: int, enabled: bool):
        super().__init__(name="obs_normalizer")
        self.enabled = enabled
        self.mean = tf.Variable(tf.zeros([obs_dim]), trainable=False, name="mean")
        self.var = tf.Variable(tf.ones([obs_dim]), trainable=False, name="var")
        self.count = tf.Variable(1e-4, trainable=False, name="count")

    def update(self, x: tf.Tensor) -> None:
        if not self.enabled:
            return
        batch_mean, batch_var = tf.nn.moments(x, axes=[0])
        n = tf.cast(tf.shape(x)[0], tf.float32)
        total = self.count + n
        delta = batch_mean - self.mean
        m2 = self.var * self.count + batch_var * n + tf.square(delta) * self.count * n / total
        self.mean.assign_add(delta * n / total)
        self.var.assign(m2 / total)
        self.count.assign(total)

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        if not self.enabled:
            return x
        return tf.clip_by_value((x - self.mean) / tf.sqrt(self.var + 1e-8), -10.0, 10.0)


def checked_gradients(grads: list[tf.Tensor], loss_name: str) -> list[tf.Tensor]:
    """``grads``, each checked for NaN/Inf under the name ``<loss_name>_gradient``.

    A finite loss does not prove finite weights: oneDNN's fused ReLU on the CPU (and cuDNN's on
    a GPU) maps NaN to 0, so NaN weights feeding a ReLU leave the loss finite while they make
    the gradients NaN through the layers behind them. Checking the gradients catches it in the
    same update."""
    return [tf.debugging.check_numerics(g, f"{loss_name}_gradient") for g in grads]
