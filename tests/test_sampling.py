"""Sampling (seqtasks.generation.sampling): filters, argmax at temperature 0, seeds, EOS, tracing."""

import keras
import numpy as np
import pytest
from keras import ops

from seqtasks.generation.sampling import NEG, choose, draw_uniforms, filter_logits, sample

EOS = 3


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _settings(n, temperature=1.0, top_k=0, top_p=1.0):
    return (ops.full((n,), temperature, dtype="float32"), ops.full((n,), top_k, dtype="int32"),
            ops.full((n,), top_p, dtype="float32"))


def _logits(n, vocab, seed=0):
    return np.random.default_rng(seed).normal(size=(n, vocab)).astype(np.float32) * 2


def test_uniforms_are_in_the_open_closed_unit_interval_and_seeded():
    u = draw_uniforms(5, 100, 7)
    assert u.shape == (100, 7) and u.dtype == np.float32
    assert (u > 0).all() and (u <= 1).all()
    np.testing.assert_array_equal(u, draw_uniforms(5, 100, 7))
    assert not np.array_equal(u, draw_uniforms(6, 100, 7))


def test_temperature_zero_is_the_argmax_whatever_the_filters_and_draws():
    logits = _logits(64, 11)
    for top_k, top_p in [(0, 1.0), (3, 1.0), (0, 0.5), (2, 0.3)]:
        for u in (1e-6, 0.5, 1.0):
            tokens = _np(choose(logits, np.full(64, u, np.float32), *_settings(64, 0.0, top_k, top_p)))
            np.testing.assert_array_equal(tokens, logits.argmax(-1))


def test_top_k_never_samples_outside_the_k_best():
    logits = _logits(500, 20, seed=1)
    best3 = np.argsort(-logits, axis=-1)[:, :3]
    for seed in range(5):
        tokens = _np(choose(logits, draw_uniforms(seed, 1, 500)[0], *_settings(500, 1.5, top_k=3)))
        assert all(t in row for t, row in zip(tokens, best3))


def test_top_p_keeps_the_smallest_nucleus():
    # probabilities 0.5, 0.3, 0.15, 0.05: top_p 0.7 keeps the first two (0.5 < 0.7 <= 0.8).
    probs = np.array([[0.05, 0.5, 0.15, 0.3]], np.float32)
    filtered = _np(filter_logits(np.log(probs), *_settings(1, 1.0, 0, 0.7)))
    assert (filtered[0, [1, 3]] > NEG / 2).all() and (filtered[0, [0, 2]] == NEG).all()
    # A top_p below the largest probability keeps the best token alone.
    filtered = _np(filter_logits(np.log(probs), *_settings(1, 1.0, 0, 0.1)))
    assert (filtered[0] > NEG / 2).tolist() == [False, True, False, False]
    logits = _logits(300, 9, seed=2)
    for u in (0.01, 0.5, 1.0):
        tokens = _np(choose(logits, np.full(300, u, np.float32), *_settings(300, 1.0, 0, 1e-4)))
        np.testing.assert_array_equal(tokens, logits.argmax(-1))


def test_no_filter_leaves_the_scaled_logits():
    logits = _logits(4, 6)
    np.testing.assert_allclose(_np(filter_logits(logits, *_settings(4, 2.0))), logits / 2.0, rtol=1e-6)


def test_draws_follow_the_softmax():
    rows, vocab = 20000, 5
    logits = np.tile(np.array([[1.0, 0.0, -1.0, 2.0, 0.5]], np.float32), (rows, 1))
    tokens = _np(choose(logits, draw_uniforms(3, 1, rows)[0], *_settings(rows, 1.0)))
    expected = np.exp(logits[0]) / np.exp(logits[0]).sum()
    observed = np.bincount(tokens, minlength=vocab) / rows
    np.testing.assert_allclose(observed, expected, atol=0.015)


class CountingModel:
    """Logits from a fixed table of the last token; EOS forced once the state counter reaches `stop`."""

    def __init__(self, vocab=8, stop=None, seed=0):
        self.table = np.random.default_rng(seed).normal(size=(vocab, vocab)).astype(np.float32)
        self.table[:, EOS] = -5.0
        self.stop = stop

    def step(self, tokens, state):
        logits = ops.take(self.table, tokens, axis=0)
        counter = state["n"] + 1
        if self.stop is not None:
            force = ops.cast(counter >= self.stop, "float32")[:, None] * 100.0
            logits = logits + force * ops.one_hot(EOS, self.table.shape[0])[None, :]
        return logits, {"n": counter}


def _sample(model, rows=6, steps=10, seed=0, **settings):
    first = ops.take(model.table, ops.zeros((rows,), "int32"), axis=0)
    return [_np(x) for x in sample(model.step, {"n": ops.zeros((rows,), "int32")}, first,
                                   draw_uniforms(seed, steps, rows), EOS, *_settings(rows, **settings))]


def test_same_seed_same_samples_other_seed_other_samples():
    model = CountingModel()
    a, b, c = _sample(model, seed=4), _sample(model, seed=4), _sample(model, seed=5)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


def test_eos_ends_a_row_then_padding():
    tokens, lengths = _sample(CountingModel(stop=3), rows=5, steps=8)
    # Step t samples from the logits after t calls of step: EOS is forced at the fourth token.
    np.testing.assert_array_equal(lengths, np.full(5, 3))
    assert (tokens[:, 3] == EOS).all() and (tokens[:, 4:] == 0).all() and (tokens[:, :3] != EOS).all()


def test_greedy_sampling_follows_the_table():
    model = CountingModel(seed=3)
    tokens, lengths = _sample(model, rows=2, steps=5, temperature=0.0)
    expected, last = [], 0
    for _ in range(5):
        last = int(model.table[last].argmax())
        expected.append(last)
    np.testing.assert_array_equal(tokens[0], expected)
    np.testing.assert_array_equal(lengths, [5, 5])


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.function tracing")
def test_sampling_traces_once_for_any_settings():
    import tensorflow as tf

    model = CountingModel(stop=4)
    traces = []

    @tf.function(reduce_retracing=True)
    def run(uniforms, temperature, top_k, top_p):
        traces.append(1)
        first = ops.take(model.table, ops.zeros((3,), "int32"), axis=0)
        return sample(model.step, {"n": ops.zeros((3,), "int32")}, first, uniforms, EOS, temperature, top_k, top_p)

    eager = _sample(model, rows=3, steps=6, seed=1, temperature=0.7, top_k=2)
    traced = run(draw_uniforms(1, 6, 3), *_settings(3, 0.7, 2))
    run(draw_uniforms(2, 6, 3), *_settings(3, 0.0, 0, 0.5))
    np.testing.assert_array_equal(eager[0], _np(traced[0]))
    assert len(traces) == 1
