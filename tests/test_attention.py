"""Bahdanau and Luong attention: numpy references, masking, 2-D/3-D queries, saving, arguments."""

import keras
import numpy as np
import pytest

from seqtasks.layers.attention import BahdanauAttention, LuongAttention

RNG = np.random.default_rng(0)
BATCH, TQ, TS, UNITS_Q, D = 3, 4, 5, 6, 7
QUERY = RNG.normal(size=(BATCH, TQ, UNITS_Q)).astype("float32")
KEYS = RNG.normal(size=(BATCH, TS, D)).astype("float32")
VALUES = RNG.normal(size=(BATCH, TS, 2)).astype("float32")  # a different size from the keys
# Row 0 has 3 real source tokens, row 1 has 1, row 2 is full.
MASK = np.arange(TS)[None, :] < np.array([3, 1, TS])[:, None]

LAYERS = {
    "bahdanau": lambda: BahdanauAttention(8),
    "luong_dot": lambda: LuongAttention("dot"),
    "luong_general": lambda: LuongAttention("general"),
}


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _keys_for(name):
    # "dot" needs keys of the query's size.
    return KEYS[..., :UNITS_Q] if name == "luong_dot" else KEYS


def _reference(layer, query, keys, values, mask):
    """numpy attention for a 3-D query: (context (b, tq, d), weights (b, tq, ts))."""
    if isinstance(layer, BahdanauAttention):
        w_q, w_k, v = (_np(w) for w in (layer.query_kernel, layer.key_kernel, layer.score_vector))
        hidden = np.tanh((query @ w_q)[:, :, None, :] + (keys @ w_k)[:, None, :, :])
        scores = hidden @ v
    elif layer.mode == "general":
        scores = query @ _np(layer.kernel) @ keys.transpose(0, 2, 1)
    else:
        scores = query @ keys.transpose(0, 2, 1)
    weights = np.zeros_like(scores)
    for b in range(len(query)):
        real = scores[b][:, mask[b]]
        e = np.exp(real - real.max(axis=-1, keepdims=True))
        weights[b][:, mask[b]] = e / e.sum(axis=-1, keepdims=True)
    return weights @ values, weights


@pytest.mark.parametrize("name", LAYERS)
def test_matches_numpy_reference(name):
    keras.utils.set_random_seed(0)
    layer = LAYERS[name]()
    keys = _keys_for(name)
    context, weights = layer(QUERY, keys, VALUES, mask=MASK)
    want_context, want_weights = _reference(layer, QUERY, keys, VALUES, MASK)
    np.testing.assert_allclose(_np(weights), want_weights, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(context), want_context, rtol=1e-5, atol=1e-5)
    assert context.shape == (BATCH, TQ, 2) and weights.shape == (BATCH, TQ, TS)


@pytest.mark.parametrize("name", ["bahdanau", "luong_general"])
def test_set_weights_are_used(name):
    """Weights set by hand (not the initialiser's) drive the scores."""
    layer = LAYERS[name]()
    keys = _keys_for(name)
    layer(QUERY, keys)  # builds
    layer.set_weights([RNG.normal(size=w.shape).astype("float32") for w in layer.get_weights()])
    _, want_weights = _reference(layer, QUERY, keys, keys, np.ones((BATCH, TS), bool))
    np.testing.assert_allclose(_np(layer(QUERY, keys)[1]), want_weights, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", LAYERS)
def test_values_default_to_keys_and_no_mask_means_all_real(name):
    layer = LAYERS[name]()
    keys = _keys_for(name)
    context, weights = layer(QUERY, keys)
    want_context, want_weights = _reference(layer, QUERY, keys, keys, np.ones((BATCH, TS), bool))
    np.testing.assert_allclose(_np(weights), want_weights, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(context), want_context, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", LAYERS)
def test_padding_gets_exactly_zero_weight_and_cannot_leak(name):
    layer = LAYERS[name]()
    keys = _keys_for(name)
    context, weights = (_np(x) for x in layer(QUERY, keys, VALUES, mask=MASK))
    assert np.all(weights[np.broadcast_to(~MASK[:, None, :], weights.shape)] == 0.0)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-6)
    # Garbage (huge, inf, nan) in padding keys and values changes nothing.
    noisy_keys, noisy_values = keys.copy(), VALUES.copy()
    noisy_keys[~MASK] = 1e4
    noisy_keys[0, 4, 0] = np.nan
    noisy_values[~MASK] = np.inf
    noisy_values[1, 2, 1] = np.nan
    noisy_context, noisy_weights = (_np(x) for x in layer(QUERY, noisy_keys, noisy_values, mask=MASK))
    np.testing.assert_array_equal(noisy_weights, weights)
    np.testing.assert_allclose(noisy_context, context, rtol=1e-6, atol=1e-6)
    # Extra padding at the end changes nothing either.
    longer_keys = np.concatenate([keys, RNG.normal(size=(BATCH, 2, keys.shape[-1])).astype("float32")], axis=1)
    longer_values = np.concatenate([VALUES, RNG.normal(size=(BATCH, 2, 2)).astype("float32")], axis=1)
    longer_mask = np.concatenate([MASK, np.zeros((BATCH, 2), bool)], axis=1)
    longer_context, longer_weights = (_np(x) for x in layer(QUERY, longer_keys, longer_values, mask=longer_mask))
    np.testing.assert_allclose(longer_context, context, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(longer_weights[..., :TS], weights, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", LAYERS)
def test_all_padding_row_gives_zero_weights_and_context(name):
    layer = LAYERS[name]()
    mask = MASK.copy()
    mask[1] = False
    context, weights = (_np(x) for x in layer(QUERY, _keys_for(name), VALUES, mask=mask))
    np.testing.assert_array_equal(weights[1], 0.0)
    np.testing.assert_array_equal(context[1], 0.0)
    np.testing.assert_allclose(weights[[0, 2]].sum(axis=-1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("name", LAYERS)
def test_one_step_query_equals_the_same_row_of_all_steps(name):
    layer = LAYERS[name]()
    keys = _keys_for(name)
    context, weights = (_np(x) for x in layer(QUERY, keys, VALUES, mask=MASK))
    for t in range(TQ):
        step_context, step_weights = layer(QUERY[:, t], keys, VALUES, mask=MASK)
        assert step_context.shape == (BATCH, 2) and step_weights.shape == (BATCH, TS)
        np.testing.assert_allclose(_np(step_context), context[:, t], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(_np(step_weights), weights[:, t], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("one_step", [False, True], ids=["all_steps", "one_step"])
def test_serialisation_round_trip(name, one_step, tmp_path):
    keras.utils.set_random_seed(0)
    keys = _keys_for(name)
    query_np = QUERY[:, 0] if one_step else QUERY
    query = keras.Input(query_np.shape[1:], name="query")
    key_input = keras.Input((None, keys.shape[-1]), name="keys")
    value_input = keras.Input((None, 2), name="values")
    mask = keras.Input((None,), dtype="bool", name="source_mask")
    outputs = LAYERS[name]()(query, key_input, value_input, mask=mask)
    model = keras.Model([query, key_input, value_input, mask], outputs)
    inputs = [query_np, keys, VALUES, MASK]
    expected = [_np(x) for x in model(inputs)]
    path = tmp_path / "attention.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    for got, want in zip(loaded(inputs), expected):
        np.testing.assert_array_equal(_np(got), want)
    layer = LAYERS[name]()
    assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()


def test_symbolic_output_shapes():
    query = keras.Input((None, UNITS_Q))
    keys = keras.Input((None, D))
    context, weights = BahdanauAttention(4)(query, keys)
    assert context.shape == (None, None, D) and weights.shape == (None, None, None)
    context, weights = LuongAttention("general")(keras.Input((UNITS_Q,)), keras.Input((TS, D)))
    assert context.shape == (None, D) and weights.shape == (None, TS)


def test_get_config_returns_constructor_arguments():
    assert BahdanauAttention(5, name="a").get_config()["units"] == 5
    assert LuongAttention("general").get_config()["mode"] == "general"


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: BahdanauAttention(0), "BahdanauAttention: `units` must be a positive integer. Received: units=0"),
        (lambda: BahdanauAttention(True),
         "BahdanauAttention: `units` must be a positive integer. Received: units=True"),
        (lambda: BahdanauAttention(2.0), "BahdanauAttention: `units` must be a positive integer. Received: units=2.0"),
        (lambda: LuongAttention("concat"),
         "LuongAttention: `mode` must be one of ('dot', 'general'). Received: mode='concat'"),
    ],
)
def test_bad_arguments_say_what_was_received(make, message):
    with pytest.raises(ValueError) as error:
        make()
    assert str(error.value) == message


def test_dot_mode_with_different_sizes_is_rejected():
    with pytest.raises(ValueError) as error:
        LuongAttention("dot")(QUERY, KEYS)
    assert str(error.value) == (
        "LuongAttention: mode='dot' needs the query and the keys to have the same size "
        "(use mode='general' otherwise). Received: query_shape=(3, 4, 6), keys_shape=(3, 5, 7)"
    )


def test_bad_key_rank_is_rejected():
    with pytest.raises(ValueError) as error:
        BahdanauAttention(4)(QUERY, KEYS[:, 0])
    assert str(error.value) == "BahdanauAttention: `keys` must be (batch, ts, d). Received: keys_shape=(3, 7)"
