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


def mlp(input_dim: int, hidden_sizes: list[int], output_dim: int, activation: str = "relu",
        output_activation: str | None = None, output_gain: float = 1.0,
        name: str = "mlp", layer_norm: bool = False,
        feature_norm: bool = False) -> keras.Sequential:
    """A fully connected network: orthogonal init (gain sqrt 2 hidden, ``output_gain`` last),
    zero biases. A small output gain (0.01) starts a policy near uniform.

    ``layer_norm`` puts a LayerNorm between each hidden Dense and its activation;
    ``feature_norm`` scales the last hidden layer's output to unit L2 norm ("penultimate
    normalisation", Bjorck et al. 2022), which bounds what the output layer sees.
    ``NumpyMLP`` mirrors neither."""
    layers = [keras.Input(shape=(input_dim,))]
    for i, units in enumerate(hidden_sizes):
        layers.append(keras.layers.Dense(
            units, activation=None if layer_norm else activation, name=f"hidden_{i}",
            kernel_initializer=keras.initializers.Orthogonal(gain=np.sqrt(2.0))))
        if layer_norm:
            layers += [keras.layers.LayerNormalization(name=f"layer_norm_{i}"),
                       keras.layers.Activation(activation, name=f"activation_{i}")]
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


def checked_gradients(grads: list[tf.Tensor], loss_name: str) -> list[tf.Tensor]:
    """``grads``, each checked for NaN/Inf under the name ``<loss_name>_gradient``.

    A finite loss does not prove finite weights: oneDNN's fused ReLU on the CPU (and cuDNN's on
    a GPU) maps NaN to 0, so NaN weights feeding a ReLU leave the loss finite while they make
    the gradients NaN through the layers behind them. Checking the gradients catches it in the
    same update."""
    return [tf.debugging.check_numerics(g, f"{loss_name}_gradient") for g in grads]
