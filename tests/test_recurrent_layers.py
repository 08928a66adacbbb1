"""seqtasks' SimpleRNN / LSTM / GRU: Keras' numbers, with the lean loop actually taken."""

import numpy as np
import pytest

import keras
from keras import ops

from seqtasks.layers import recurrent

PAIRS = [(keras.layers.LSTM, recurrent.LSTM), (keras.layers.GRU, recurrent.GRU),
         (keras.layers.SimpleRNN, recurrent.SimpleRNN)]
OPTIONS = [{}, {"go_backwards": True}, {"return_state": True}, {"return_sequences": False},
           {"zero_output_for_mask": True}, {"go_backwards": True, "return_state": True}]


def _inputs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 7, 4)).astype("float32")
    mask = np.ones((5, 7), bool)
    mask[1, 5:] = False
    mask[2, 2:] = False
    mask[4, :] = False  # a row of padding only
    return x, mask


def _flat(y):
    return [ops.convert_to_numpy(t) for t in (y if isinstance(y, (list, tuple)) else [y])]


def _twins(keras_class, seqtasks_class, **options):
    x, mask = _inputs()
    options = dict(options)
    return_sequences = options.pop("return_sequences", True)
    theirs = keras_class(6, return_sequences=return_sequences, **options)
    ours = seqtasks_class(6, return_sequences=return_sequences, **options)
    theirs(x, mask=mask)
    ours(x, mask=mask)
    ours.set_weights(theirs.get_weights())
    return theirs, ours


@pytest.mark.parametrize("keras_class,seqtasks_class", PAIRS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(o) or "default")
def test_outputs_and_states_equal_keras(keras_class, seqtasks_class, options):
    x, mask = _inputs()
    theirs, ours = _twins(keras_class, seqtasks_class, **options)
    for m in (mask, None):
        for a, b in zip(_flat(theirs(x, mask=m)), _flat(ours(x, mask=m)), strict=True):
            np.testing.assert_allclose(b, a, atol=1e-5)


@pytest.mark.parametrize("keras_class,seqtasks_class", PAIRS, ids=lambda c: c.__name__)
def test_bidirectional_outputs_and_gradients_equal_keras(keras_class, seqtasks_class):
    x, mask = _inputs()
    theirs = keras.layers.Bidirectional(keras_class(6, return_sequences=True))
    ours = keras.layers.Bidirectional(seqtasks_class(6, return_sequences=True))
    theirs(x, mask=mask)
    ours(x, mask=mask)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(_flat(ours(x, mask=mask))[0], _flat(theirs(x, mask=mask))[0], atol=1e-5)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        grads = []
        for layer in (theirs, ours):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(layer(x, mask=mask) ** 2)
            grads.append(tape.gradient(loss, layer.trainable_variables))
        for a, b in zip(*grads, strict=True):
            np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-4)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the lean loop runs on TensorFlow only")
def test_sequence_layers_loop_without_the_mask_and_state_layers_with_it(monkeypatch):
    """The lean loop is taken where it may be (a regression to Keras' masked loop fails here);
    an LSTM in inference runs TensorFlow's fused kernel instead of a loop of graph ops."""
    import tensorflow as tf

    masks, fused = [], []
    real_rnn, real_block = recurrent.keras_backend.rnn, tf.raw_ops.BlockLSTMV2

    def recording_rnn(step, inputs, states, **kwargs):
        masks.append(kwargs.get("mask") is not None)
        return real_rnn(step, inputs, states, **kwargs)

    def recording_block(**kwargs):
        fused.append(int(kwargs["seq_len_max"]))
        return real_block(**kwargs)

    monkeypatch.setattr(recurrent.keras_backend, "rnn", recording_rnn)
    monkeypatch.setattr(tf.raw_ops, "BlockLSTMV2", recording_block)
    x, mask = _inputs()
    keras.layers.Bidirectional(recurrent.GRU(3, return_sequences=True))(x, mask=mask)
    assert masks == [False, False]
    recurrent.GRU(3, return_sequences=True, return_state=True)(x, mask=mask)
    assert masks[2:] == [True]
    keras.layers.Bidirectional(recurrent.LSTM(3, return_sequences=True))(x[:, :6], mask=mask[:, :6])
    assert masks[3:] == [] and fused == [6, 6]  # both directions fused, no graph loop
    recurrent.LSTM(3, return_sequences=True, activation="relu")(x, mask=mask)
    assert masks[3:] == [False] and len(fused) == 2  # not Keras' default activations: the lean loop
    keras.layers.Bidirectional(recurrent.LSTM(3, return_sequences=True))(x, mask=mask, training=True)
    assert masks[4:] == [] and len(fused) == 4  # training: fused too (with seqtasks' gradient)
    keras.layers.Bidirectional(recurrent.LSTM(3, return_sequences=True, dropout=0.1))(x, mask=mask, training=True)
    assert masks[4:] == [True, True] and len(fused) == 4  # input dropout in training: Keras' loop


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the fused kernel runs on TensorFlow only")
@pytest.mark.parametrize("training", [False, True], ids=["tf_gradient", "seqtasks_gradient"])
@pytest.mark.parametrize("options", [{}, {"go_backwards": True}, {"zero_output_for_mask": True}],
                         ids=lambda o: "-".join(o) or "default")
def test_fused_lstm_stops_at_the_longest_row_and_carries_an_initial_state(options, training):
    """Every row shorter than the padded width (the kernel stops early), a given initial state:
    outputs and the gradients of the weights, the inputs and the initial state equal Keras',
    with TensorFlow's fused gradient (inference calls) and seqtasks' own (training calls)."""
    import tensorflow as tf

    x, mask = _inputs()
    mask[0, 6:] = False  # the longest row: 6 of 7 steps
    rng = np.random.default_rng(1)
    state = [tf.constant(rng.normal(size=(5, 6)).astype("float32")) for _ in range(2)]
    x = tf.constant(x)
    weights = tf.constant(rng.normal(size=(6,)).astype("float32"))  # unequal output gradients
    theirs, ours = _twins(keras.layers.LSTM, recurrent.LSTM, **options)
    results = []
    for layer in (theirs, ours):
        with tf.GradientTape() as tape:
            tape.watch([x, *state])
            y = layer(x, mask=mask, initial_state=state, training=training)
            loss = tf.reduce_sum(y ** 2 * weights)
        results.append([y, *tape.gradient(loss, [*layer.trainable_variables, x, *state])])
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-5)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the fused kernel runs on TensorFlow only")
def test_fused_training_of_a_batch_of_padding_only_has_keras_gradients():
    """A batch whose rows are all padding: the kernel runs no real step, and the gates it
    leaves unwritten must not reach the gradient (they did: NaN weight gradients)."""
    import tensorflow as tf

    x, mask = _inputs()
    mask[:] = False
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(6, return_sequences=True))
    ours = keras.layers.Bidirectional(recurrent.LSTM(6, return_sequences=True))
    theirs(x, mask=mask)
    ours(x, mask=mask)
    ours.set_weights(theirs.get_weights())
    results = []
    for layer in (theirs, ours):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x, mask=mask, training=True) ** 2) + tf.add_n(
                [tf.reduce_sum(w) for w in layer.trainable_weights])  # nonzero weight gradients
        results.append([g.numpy() for g in tape.gradient(loss, layer.trainable_weights)])
    for a, b in zip(*results, strict=True):
        assert np.all(np.isfinite(b))
        np.testing.assert_allclose(b, a, atol=1e-5)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the fused kernel runs on TensorFlow only")
def test_an_xla_compiled_call_keeps_the_lean_loop():
    """`BlockLSTM` has no XLA kernel: inside `jit_compile` the layer must not emit it."""
    import tensorflow as tf

    x, mask = _inputs()
    theirs, ours = _twins(keras.layers.LSTM, recurrent.LSTM)
    compiled = tf.function(lambda a, m: ours(a, mask=m), jit_compile=True)
    np.testing.assert_allclose(compiled(x, mask).numpy(), _flat(theirs(x, mask=mask))[0], atol=1e-5)
    ops_used = {op.type for op in compiled.get_concrete_function(x, mask).graph.get_operations()}
    assert not {"BlockLSTM", "BlockLSTMV2"} & ops_used


def test_a_saved_model_loads_with_these_layers(tmp_path):
    x, mask = _inputs()
    inputs = keras.Input((None, 4))
    y = keras.layers.Bidirectional(recurrent.LSTM(3, return_sequences=True))(inputs)
    y = recurrent.GRU(2, return_sequences=True)(y)
    model = keras.Model(inputs, y)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert [type(layer).__name__ for layer in loaded.layers[1:]] == ["Bidirectional", "GRU"]
    assert isinstance(loaded.layers[2], recurrent.GRU)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)

