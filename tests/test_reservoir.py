"""Reservoir (echo state network) layer: fixed weights, masking, Bidirectional, saving, arguments."""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import jax_env

from seqtasks.layers import reservoir as reservoir_module
from seqtasks.layers.reservoir import Reservoir

VOCAB, UNITS = 12, 8


def _token_model(reservoir, vocab=VOCAB):
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(vocab, 4, mask_zero=True)(ids)
    x = reservoir(x)
    return keras.Model(ids, keras.layers.Dense(vocab)(x))


def test_spectral_radius_and_sparsity_as_set():
    for radius, sparsity, units in [(0.9, 0.9, 50), (1.25, 0.5, 20), (0.3, 0.0, 7)]:
        layer = Reservoir(units, spectral_radius=radius, sparsity=sparsity, seed=3)
        layer.build((None, None, 5))
        w = keras.ops.convert_to_numpy(layer.recurrent_kernel)
        assert w.shape == (units, units)
        assert abs(np.max(np.abs(np.linalg.eigvals(w))) - radius) < 1e-4
        assert abs((w == 0).mean() - sparsity) <= 1.0 / units**2  # an exact count of zeros, up to rounding
        assert keras.ops.convert_to_numpy(layer.input_kernel).shape == (5, units)
    # The seed (and direction) alone fix the weights.
    first, second, backward = Reservoir(10, seed=4), Reservoir(10, seed=4), Reservoir(10, seed=4, go_backwards=True)
    for layer in (first, second, backward):
        layer.build((None, None, 3))
    values = [keras.ops.convert_to_numpy(layer.recurrent_kernel) for layer in (first, second, backward)]
    np.testing.assert_array_equal(values[0], values[1])
    assert not np.array_equal(values[0], values[2])


def test_only_the_readout_trains():
    reservoir = Reservoir(UNITS, sparsity=0.5, seed=1)
    model = _token_model(reservoir)
    assert len(reservoir.weights) == 3 and not reservoir.trainable_weights
    readout = model.layers[-1]
    before = [keras.ops.convert_to_numpy(w).copy() for w in reservoir.weights]
    readout_before = keras.ops.convert_to_numpy(readout.kernel).copy()
    rng = np.random.default_rng(0)
    ids = rng.integers(1, VOCAB, size=(16, 6))
    model.compile(optimizer=keras.optimizers.Adam(0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(ids[:, :-1], ids[:, 1:], epochs=2, batch_size=8, verbose=0)
    for old, weight in zip(before, reservoir.weights):
        np.testing.assert_array_equal(old, keras.ops.convert_to_numpy(weight))
    assert not np.allclose(readout_before, keras.ops.convert_to_numpy(readout.kernel))


def test_padded_steps_leave_the_state_unchanged():
    rng = np.random.default_rng(2)
    layer = Reservoir(UNITS, leak_rate=0.6, sparsity=0.5, return_sequences=False, return_state=True, seed=5)
    short = rng.normal(size=(1, 4, 3)).astype("float32")
    padded = np.concatenate([short, rng.normal(size=(1, 3, 3)).astype("float32")], axis=1)  # junk in the padding
    mask = np.array([[True] * 4 + [False] * 3])
    last, final = layer(short)
    last_padded, final_padded = layer(padded, mask=mask)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(final_padded), keras.ops.convert_to_numpy(final), atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(last_padded), keras.ops.convert_to_numpy(last), atol=1e-6)
    # Sequence outputs: the real steps as without padding, zeros on the padded steps.
    sequences = Reservoir(UNITS, leak_rate=0.6, sparsity=0.5, seed=5)
    out = keras.ops.convert_to_numpy(sequences(padded, mask=mask))
    np.testing.assert_allclose(out[:, :4], keras.ops.convert_to_numpy(sequences(short)), atol=1e-6)
    assert not out[:, 4:].any()
    # The leak: with leak_rate a, h_1 = a tanh(W_in x_1 + b) from a zero state.
    w_in, b = (keras.ops.convert_to_numpy(w) for w in (sequences.input_kernel, sequences.bias))
    np.testing.assert_allclose(out[0, 0], 0.6 * np.tanh(short[0, 0] @ w_in + b), atol=1e-6)


def test_state_carried_across_windows():
    # return_state + initial_state: two windows give the states of the whole sequence.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 6, 3)).astype("float32")
    layer = Reservoir(UNITS, leak_rate=0.5, return_state=True, seed=6)
    whole, whole_state = layer(x)
    first, state = layer(x[:, :3])
    second, second_state = layer(x[:, 3:], initial_state=state)
    joined = np.concatenate([keras.ops.convert_to_numpy(first), keras.ops.convert_to_numpy(second)], axis=1)
    np.testing.assert_allclose(joined, keras.ops.convert_to_numpy(whole), atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(second_state), keras.ops.convert_to_numpy(whole_state),
                               atol=1e-6)


def test_inside_bidirectional():
    ids = np.array([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5]])
    model = _token_model(keras.layers.Bidirectional(Reservoir(UNITS, sparsity=0.5, seed=2)))
    bidirectional = model.layers[2]
    hidden = keras.Model(model.input, bidirectional.output)
    out = keras.ops.convert_to_numpy(hidden(ids))
    assert out.shape == (2, 5, 2 * UNITS)
    assert bidirectional.backward_layer.go_backwards and not bidirectional.forward_layer.go_backwards
    # The backward half at step t has read the sequence from its end back to t:
    # on the full row, its first step equals a backward layer's final state.
    embedded = model.layers[1](ids)
    backward = bidirectional.backward_layer
    final = keras.ops.convert_to_numpy(backward(embedded, mask=ids > 0))[:, -1]
    np.testing.assert_allclose(out[1, 0, UNITS:], final[1], atol=1e-6)
    assert not out[0, 3:].any()  # padding: zeros in both halves
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(ids, ids, epochs=1, verbose=0)
    # With return_state: (outputs, forward final state, backward final state).
    with_states = keras.layers.Bidirectional(Reservoir(UNITS, sparsity=0.5, seed=2, return_state=True))
    outputs, forward_state, backward_state = with_states(embedded, mask=ids > 0)
    assert tuple(outputs.shape) == (2, 5, 2 * UNITS)
    assert tuple(forward_state.shape) == tuple(backward_state.shape) == (2, UNITS)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(backward_state)[1], final[1], atol=1e-6)
    assert len(model.trainable_weights) == 3  # the embedding, the readout's kernel and bias
    assert len(model.non_trainable_weights) == 6  # (W_in, W, b) of each direction


def test_while_loop_and_scan_agree(monkeypatch):
    # TensorFlow runs a while_loop (XLA-compilable gradient), the other back
    # ends keras.ops.scan: the same numbers either way.
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 6, 3)).astype("float32")
    mask = np.array([[True] * 6, [True] * 4 + [False] * 2, [True] + [False] * 5])
    layers = [Reservoir(UNITS, leak_rate=0.7, sparsity=0.5, go_backwards=backwards, return_sequences=sequences,
                        return_state=True, seed=8) for backwards in (False, True) for sequences in (True, False)]
    default = [[keras.ops.convert_to_numpy(v) for v in layer(x, mask=m)] for layer in layers for m in (None, mask)]
    loop = reservoir_module._time_loop
    monkeypatch.setattr(reservoir_module, "_time_loop", lambda *args, **kwargs: loop(*args, **kwargs, use_scan=True))
    scanned = [[keras.ops.convert_to_numpy(v) for v in layer(x, mask=m)] for layer in layers for m in (None, mask)]
    for ours, theirs in zip(default, scanned):
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.fixture
def without_op_determinism():
    """Keras turns XLA off while TensorFlow's op determinism is on, which an
    earlier training in this process (`fit.configure`, on CPU) switched on."""
    if keras.backend.backend() != "tensorflow":
        yield
        return
    from tensorflow.python.framework import config

    was = config.is_op_determinism_enabled()
    config.disable_op_determinism()
    yield
    if was:
        config.enable_op_determinism()


def test_trains_under_xla(without_op_determinism):
    # jit_compile is "auto" in fit, hence XLA with a GPU on TensorFlow: the
    # gradient through the time loop (to the embedding) must compile.
    model = _token_model(keras.layers.Bidirectional(Reservoir(UNITS, sparsity=0.5, seed=2)))
    model.compile(optimizer=keras.optimizers.Adam(0.05), jit_compile=True,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert model.jit_compile
    ids = np.random.default_rng(5).integers(1, VOCAB, size=(8, 6))
    ids[:4, 4:] = 0
    embedding = keras.ops.convert_to_numpy(model.layers[1].embeddings).copy()
    history = model.fit(ids[:, :-1], ids[:, 1:], epochs=2, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert not np.allclose(embedding, keras.ops.convert_to_numpy(model.layers[1].embeddings))


def test_save_and_load(tmp_path):
    model = _token_model(Reservoir(UNITS, spectral_radius=0.8, leak_rate=0.7, input_scaling=0.5, seed=9))
    ids = np.array([[3, 4, 5, 0], [1, 2, 3, 4]])
    expected = keras.ops.convert_to_numpy(model(ids))
    model.save(tmp_path / "esn.keras")
    loaded = keras.saving.load_model(tmp_path / "esn.keras")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(ids)), expected)
    layer = loaded.layers[2]
    assert isinstance(layer, Reservoir)
    config = layer.get_config()
    assert {k: config[k] for k in ("units", "spectral_radius", "leak_rate", "input_scaling", "sparsity", "seed",
                                   "return_sequences", "go_backwards", "return_state")} == {
        "units": UNITS, "spectral_radius": 0.8, "leak_rate": 0.7, "input_scaling": 0.5, "sparsity": 0.9,
        "seed": 9, "return_sequences": True, "go_backwards": False, "return_state": False}


def test_bad_arguments():
    cases = [
        ({"spectral_radius": 0}, "Reservoir spectral_radius must be > 0, received spectral_radius=0"),
        ({"spectral_radius": -0.5}, "Reservoir spectral_radius must be > 0, received spectral_radius=-0.5"),
        ({"leak_rate": 0.0}, "Reservoir leak_rate must be in (0, 1], received leak_rate=0.0"),
        ({"leak_rate": 1.5}, "Reservoir leak_rate must be in (0, 1], received leak_rate=1.5"),
        ({"sparsity": 1.0}, "Reservoir sparsity must be in [0, 1), received sparsity=1.0"),
        ({"sparsity": -0.1}, "Reservoir sparsity must be in [0, 1), received sparsity=-0.1"),
        ({"input_scaling": 0}, "Reservoir input_scaling must be > 0, received input_scaling=0"),
        ({"seed": None}, "Reservoir seed must be a non-negative integer, received seed=None"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError) as error:
            Reservoir(UNITS, **kwargs)
        assert str(error.value) == message
    with pytest.raises(ValueError) as error:
        Reservoir(0)
    assert str(error.value) == "Reservoir units must be a positive integer, received units=0"


_JAX_CHECK = """
import json
import numpy as np, keras
from seqtasks.layers.reservoir import Reservoir
x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
mask = np.array([[True] * 3 + [False] * 2, [True] * 5])
layer = keras.layers.Bidirectional(Reservoir(8, leak_rate=0.5, seed=1))
print(keras.backend.backend(), json.dumps(keras.ops.convert_to_numpy(layer(x, mask=mask)).tolist()))
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="the JAX back end is not installed")
def test_same_outputs_on_the_jax_back_end():
    env = jax_env(TF_CPP_MIN_LOG_LEVEL="3",
                  PYTHONPATH=os.pathsep.join(p for p in sys.path if p))  # the child imports what this process does
    result = subprocess.run([sys.executable, "-c", _JAX_CHECK], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    backend, values = result.stdout.strip().splitlines()[-1].split(" ", 1)
    assert backend == "jax"
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    mask = np.array([[True] * 3 + [False] * 2, [True] * 5])
    here = keras.ops.convert_to_numpy(keras.layers.Bidirectional(Reservoir(8, leak_rate=0.5, seed=1))(x, mask=mask))
    np.testing.assert_allclose(np.array(json.loads(values)), here, atol=1e-5)
