import keras
import numpy as np
import pytest

from seqtasks.layers.pooling import SequencePooling

RNG = np.random.default_rng(0)
# (batch=3, time=4, dim=4); row 2 is full, row 0 has 2 real steps, row 1 has 1.
SEQ = RNG.normal(size=(3, 4, 4)).astype("float32")
MASK = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]], bool)

CONFIGS = [
    dict(mode="last"),
    dict(mode="last", bidirectional=True),
    dict(mode="mean"),
    dict(mode="max"),
    dict(mode="attention"),
    dict(mode="attention", attention_units=3),
]


def _np(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_padding_values_and_extra_padding_change_nothing(config):
    keras.utils.set_random_seed(0)
    pool = SequencePooling(**config)
    expected = _np(pool(SEQ, mask=MASK))
    noisy = SEQ.copy()
    noisy[~MASK] = 1e4
    noisy[0, 3, 1] = np.nan
    np.testing.assert_allclose(_np(pool(noisy, mask=MASK)), expected, atol=1e-6)
    longer = np.concatenate([SEQ, RNG.normal(size=(3, 3, 4)).astype("float32")], axis=1)
    longer_mask = np.concatenate([MASK, np.zeros((3, 3), bool)], axis=1)
    np.testing.assert_allclose(_np(pool(longer, mask=longer_mask)), expected, atol=1e-6)
    assert expected.shape == (3, 4)


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_all_padding_row_gives_zeros(config):
    pool = SequencePooling(**config)
    out = _np(pool(SEQ, mask=np.zeros((3, 4), bool)))
    np.testing.assert_array_equal(out, 0.0)


def test_last_picks_last_real_step():
    out = _np(SequencePooling("last")(SEQ, mask=MASK))
    np.testing.assert_allclose(out, np.stack([SEQ[0, 1], SEQ[1, 0], SEQ[2, 3]]))


def test_last_bidirectional_takes_final_state_of_each_direction():
    # forward half = [f, f], backward half = [b, b]; step t holds t + 1.
    steps = np.arange(1, 5, dtype="float32")[None, :, None]
    seq = np.concatenate([steps * 1, steps * 1, steps * 10, steps * 10], axis=-1)  # (1, 4, 4)
    mask = np.array([[1, 1, 1, 0]], bool)
    out = _np(SequencePooling("last", bidirectional=True)(seq, mask=mask))
    np.testing.assert_allclose(out, [[3.0, 3.0, 10.0, 10.0]])


def test_mean_and_max_match_numpy():
    mean = _np(SequencePooling("mean")(SEQ, mask=MASK))
    maximum = _np(SequencePooling("max")(SEQ, mask=MASK))
    for row in range(3):
        real = SEQ[row][MASK[row]]
        np.testing.assert_allclose(mean[row], real.mean(axis=0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(maximum[row], real.max(axis=0))


def test_attention_matches_numpy_softmax():
    pool = SequencePooling("attention")
    out = _np(pool(SEQ, mask=MASK))
    query = _np(pool.query)
    for row in range(3):
        real = SEQ[row][MASK[row]]
        scores = real @ query
        weights = np.exp(scores - scores.max())
        weights /= weights.sum()
        np.testing.assert_allclose(out[row], weights @ real, rtol=1e-5, atol=1e-6)


def test_no_mask_means_all_real():
    pool = SequencePooling("mean")
    np.testing.assert_allclose(_np(pool(SEQ)), SEQ.mean(axis=1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_serialisation_round_trip(config, tmp_path):
    keras.utils.set_random_seed(0)
    sequence = keras.Input((None, 4), name="sequence")
    mask = keras.Input((None,), dtype="bool", name="padding_mask")
    model = keras.Model([sequence, mask], SequencePooling(**config)(sequence, mask=mask))
    expected = _np(model([SEQ, MASK]))
    path = tmp_path / "pool.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(_np(loaded([SEQ, MASK])), expected, atol=1e-6)
    layer = SequencePooling(**config)
    assert SequencePooling.from_config(layer.get_config()).get_config() == layer.get_config()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(mode="sum"), "mode='sum'"),
        (dict(bidirectional="yes"), "bidirectional='yes'"),
        (dict(mode="attention", attention_units=0), "attention_units=0"),
        (dict(mode="mean", attention_units=4), "attention_units=4"),
    ],
)
def test_bad_arguments_say_what_was_received(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SequencePooling(**kwargs)


def test_odd_bidirectional_size_is_rejected():
    with pytest.raises(ValueError, match="even"):
        SequencePooling("last", bidirectional=True)(np.zeros((1, 2, 3), "float32"))
