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
