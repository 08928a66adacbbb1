import keras
import numpy as np
import pytest

from seqtasks.layers.char_features import CharBiLSTM, CharCNN

VOCAB = 12

# (batch=2, time=3, chars=4); sentence 0 has a padding word at the end.
CHAR_IDS = np.array(
    [
        [[2, 3, 4, 0], [5, 1, 0, 0], [0, 0, 0, 0]],
        [[6, 7, 8, 9], [3, 0, 0, 0], [2, 2, 0, 0]],
    ],
    dtype="int32",
)

LAYERS = {
    "cnn": lambda: CharCNN(VOCAB, embedding_dim=5, filters=6, kernel_size=3),
    "bilstm": lambda: CharBiLSTM(VOCAB, embedding_dim=5, units=3),
}


@pytest.fixture(params=sorted(LAYERS))
def layer(request):
    keras.utils.set_random_seed(1)
    return LAYERS[request.param]()


def _dim(layer):
    return layer.filters if isinstance(layer, CharCNN) else 2 * layer.units


def test_output_shape(layer):
    out = layer(CHAR_IDS)
    assert tuple(out.shape) == (2, 3, _dim(layer))
    assert layer.compute_output_shape((2, 3, 4)) == (2, 3, _dim(layer))


def test_padding_words_are_zero_and_real_words_are_not(layer):
    out = keras.ops.convert_to_numpy(layer(CHAR_IDS))
    np.testing.assert_array_equal(out[0, 2], 0.0)
    assert np.all(np.isfinite(out))
    assert np.abs(out[0, 0]).sum() > 0 and np.abs(out[1, 1]).sum() > 0


def test_extra_padding_changes_nothing(layer):
    out = keras.ops.convert_to_numpy(layer(CHAR_IDS))
    # Longer char axis and one more padding word per sentence.
    wider = np.zeros((2, 4, 7), "int32")
    wider[:, :3, :4] = CHAR_IDS
    out_wider = keras.ops.convert_to_numpy(layer(wider))
    np.testing.assert_allclose(out_wider[:, :3], out, atol=1e-6)
    np.testing.assert_array_equal(out_wider[:, 3], 0.0)


def test_word_features_do_not_depend_on_neighbours(layer):
    out = keras.ops.convert_to_numpy(layer(CHAR_IDS))
    alone = keras.ops.convert_to_numpy(layer(CHAR_IDS[1:, 1:2, :2]))
    np.testing.assert_allclose(alone[0, 0], out[1, 1], atol=1e-6)


def test_get_config_round_trip(layer):
    layer(CHAR_IDS)
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_save_and_load_in_functional_model(layer, tmp_path):
    inputs = keras.Input((None, None), dtype="int32", name="char_ids")
    model = keras.Model(inputs, layer(inputs))
    expected = keras.ops.convert_to_numpy(model(CHAR_IDS))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(CHAR_IDS)), expected, atol=1e-6)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: CharCNN(0), "vocab_size=0"),
        (lambda: CharCNN(10, filters=2.5), "filters=2.5"),
        (lambda: CharCNN(10, dropout=1.0), "dropout=1.0"),
        (lambda: CharBiLSTM(10, units=-1), "units=-1"),
    ],
)
def test_bad_arguments_say_what_was_received(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def _gradients(loss_fn, variables):
    """Gradients of `loss_fn()` with respect to `variables`, on the running back end."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn()
        return [keras.ops.convert_to_numpy(g) for g in tape.gradient(loss, variables)]
    import jax

    grad = jax.grad(lambda values: _stateless(loss_fn, variables, values))
    return [np.asarray(g) for g in grad([v.value for v in variables])]


def _stateless(loss_fn, variables, values):
    from keras import StatelessScope

    with StatelessScope(state_mapping=list(zip(variables, values))):
        return loss_fn()


@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4])
def test_cnn_lookup_tables_equal_the_convolution(kernel_size):
    """The table path (no char dropout) gives the convolution's features and gradients,
    in training (argmax-only gradient) and inference (the ops' own gradient), including
    repeated chars (tied windows), a word that fills the char axis and padding words."""
    keras.utils.set_random_seed(3)
    layer = CharCNN(VOCAB, embedding_dim=5, filters=6, kernel_size=kernel_size)
    ids = np.concatenate([CHAR_IDS.reshape(-1, 4),
                          np.array([[4, 4, 4, 4], [7, 7, 0, 0], [0, 0, 0, 0]], "int32")])
    layer(ids[None])
    weights = np.random.default_rng(kernel_size).normal(size=(len(ids), 6)).astype("float32")
    paths = {
        "conv": lambda: layer._conv_call(ids, False),
        "tables, training": lambda: layer._lookup_call(ids, training=True),
        "tables, inference": lambda: layer._lookup_call(ids, training=False),
    }
    by_path = {
        name: [keras.ops.convert_to_numpy(call()),
               *_gradients(lambda call=call: keras.ops.sum(call() * weights), layer.trainable_variables)]
        for name, call in paths.items()
    }
    for name in ("tables, training", "tables, inference"):
        for tables, conv in zip(by_path[name], by_path["conv"], strict=True):
            np.testing.assert_allclose(tables, conv, rtol=1e-5, atol=1e-5, err_msg=name)
        np.testing.assert_array_equal(by_path[name][0][[2, -1]], 0.0)  # padding words


@pytest.mark.parametrize("training", [False, True])
def test_cnn_computes_each_distinct_word_once_with_the_same_features_and_gradients(training):
    """A batch that repeats words (and padding words): the layer's call, which computes
    each distinct char row once on TensorFlow and gathers it back, equals the
    convolution on every word, features and gradients."""
    keras.utils.set_random_seed(5)
    layer = CharCNN(VOCAB, embedding_dim=5, filters=6, kernel_size=3)
    words = np.array([[4, 5, 0, 0], [7, 7, 7, 0], [4, 5, 0, 0], [0, 0, 0, 0], [7, 7, 7, 0], [4, 5, 6, 0]], "int32")
    ids = words[[0, 1, 2, 3, 4, 5, 0, 1, 3, 3]].reshape(2, 5, 4)
    layer(ids)
    weights = np.random.default_rng(6).normal(size=(2, 5, 6)).astype("float32")
    results = []
    for call in (lambda: layer(ids, training=training),
                 lambda: keras.ops.reshape(layer._conv_call(ids.reshape(-1, 4), False), (2, 5, 6))):
        results.append([keras.ops.convert_to_numpy(call()),
                        *_gradients(lambda call=call: keras.ops.sum(call() * weights), layer.trainable_variables)])
    for ours, conv in zip(*results, strict=True):
        np.testing.assert_allclose(ours, conv, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(results[0][0][0, 0], results[0][0][0, 2])  # a repeated word


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the distinct rows are taken on TensorFlow only")
def test_cnn_graph_takes_the_distinct_rows_outside_xla_only():
    import tensorflow as tf

    layer = CharCNN(VOCAB, embedding_dim=5, filters=6, kernel_size=3)
    layer(CHAR_IDS)
    for jit, expected in ((False, True), (True, False)):
        traced = tf.function(lambda ids: layer(ids, training=True), jit_compile=jit)
        graph = traced.get_concrete_function(tf.constant(CHAR_IDS)).graph
        assert ("UniqueV2" in {op.type for op in graph.get_operations()}) is expected
        np.testing.assert_allclose(traced(tf.constant(CHAR_IDS)).numpy(), layer(CHAR_IDS).numpy(), atol=1e-5)


def test_cnn_uses_the_tables_unless_char_dropout_trains():
    assert CharCNN(VOCAB)._uses_lookup(training=True)
    assert CharCNN(VOCAB, dropout=0.2)._uses_lookup(training=False)
    assert not CharCNN(VOCAB, dropout=0.2)._uses_lookup(training=True)


def test_cnn_reads_a_char_id_beyond_the_vocabulary_as_unknown():
    keras.utils.set_random_seed(4)
    layer = CharCNN(VOCAB, embedding_dim=5, filters=6, kernel_size=3)
    beyond = CHAR_IDS.copy()
    beyond[1, 0, 2] = VOCAB + 3
    unknown = CHAR_IDS.copy()
    unknown[1, 0, 2] = 1
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(beyond)),
                               keras.ops.convert_to_numpy(layer(unknown)), atol=1e-6)
