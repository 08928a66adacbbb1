"""Greedy and beam search: toy step models, a pure-Python reference, exhaustive search, tracing."""

import itertools

import keras
import numpy as np
import pytest
from keras import ops

from seqtasks.generation.search import beam_search, greedy_search

BOS, EOS = 1, 2


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _log_softmax(x):
    x = x - x.max()
    return x - np.log(np.exp(x).sum())


def _lp(length, alpha):
    return ((5.0 + length) / 6.0) ** alpha


# ---- toy step models -----------------------------------------------------------

class ToyRNN:
    """A random recurrent "decoder": logits depend on the token, a hidden state and a step counter.

    `step` is the `keras.ops` step function (state `{"h": (n, H), "aux": ((n,) counter,)}`:
    a nested state whose reordering across beams matters); `np_step` is the
    same maths for one prefix in numpy, for the references.
    """

    def __init__(self, seed, vocab=6, hidden=4, batch=3, eos_bias=0.0):
        rng = np.random.default_rng(seed)
        self.vocab, self.batch = vocab, batch
        self.table = (rng.normal(size=(vocab, vocab)) * 1.5).astype("float32")
        self.table[:, EOS] += eos_bias
        self.embedding = rng.normal(size=(vocab, hidden)).astype("float32")
        self.recurrent = (rng.normal(size=(hidden, hidden)) * 0.7).astype("float32")
        self.output = rng.normal(size=(hidden, vocab)).astype("float32")
        self.position = rng.normal(size=(8, vocab)).astype("float32")
        self.h0 = rng.normal(size=(batch, hidden)).astype("float32")

    def initial_state(self, rows=None):
        h0 = self.h0 if rows is None else self.h0[rows]
        return {"h": ops.convert_to_tensor(h0), "aux": (ops.zeros((len(h0),), dtype="int32"),)}

    def step(self, tokens, state):
        (counter,) = state["aux"]
        h = ops.tanh(ops.matmul(state["h"], self.recurrent) + ops.take(self.embedding, tokens, axis=0))
        logits = (ops.take(self.table, tokens, axis=0) + ops.matmul(h, self.output)
                  + ops.take(self.position, ops.minimum(counter, 7), axis=0))
        return logits, {"h": h, "aux": (counter + 1,)}

    def np_step(self, token, h, counter):
        h = np.tanh(h @ self.recurrent + self.embedding[token])
        logits = self.table[token] + h @ self.output + self.position[min(counter, 7)]
        return _log_softmax(logits.astype("float64")), h, counter + 1


class TableModel:
    """Next-token probabilities that depend only on the previous token (a hand-built table)."""

    def __init__(self, probs, vocab):
        table = np.full((vocab, vocab), 1e-9)
        for token, row in probs.items():
            for nxt, p in row.items():
                table[token, nxt] = p
        self.log_probs = np.log(table / table.sum(axis=1, keepdims=True)).astype("float32")

    def step(self, tokens, state):
        return ops.take(self.log_probs, tokens, axis=0), state

    def score(self, sequence):
        return sum(self.log_probs[a, b] for a, b in zip([BOS] + sequence[:-1], sequence))


# ---- references ----------------------------------------------------------------

def reference_beam(model, row, max_length, beam_size, alpha, num_return):
    """Beam search for one sentence, one hypothesis at a time (the algorithm of the module docstring)."""
    beams = [dict(tokens=[], score=0.0, length=0, finished=False, ended=False,
                  h=model.h0[row], counter=0, last=BOS)]
    for t in range(max_length):
        if all(b["finished"] for b in beams):
            break
        candidates = []
        for b in beams:
            if b["finished"]:
                candidates.append((b["score"] / _lp(b["length"], alpha), dict(b, tokens=b["tokens"] + [None])))
                continue
            log_probs, h, counter = model.np_step(b["last"], b["h"], b["counter"])
            for token in range(model.vocab):
                score, length = b["score"] + log_probs[token], b["length"] + 1
                ended = token == EOS
                candidates.append((score / _lp(length, alpha), dict(
                    tokens=b["tokens"] + [token], score=score, length=length, ended=ended,
                    finished=ended or t + 1 >= max_length, h=h, counter=counter, last=token)))
        candidates.sort(key=lambda c: -c[0])
        beams = [c[1] for c in candidates[:beam_size]]
    beams.sort(key=lambda b: -b["score"] / _lp(b["length"], alpha))
    return [(b["tokens"], b["score"] / _lp(b["length"], alpha), b["length"] - b["ended"])
            for b in beams[:num_return]]


def reference_greedy(model, row, max_length):
    h, counter, last, tokens = model.h0[row], 0, BOS, []
    for _ in range(max_length):
        log_probs, h, counter = model.np_step(last, h, counter)
        last = int(np.argmax(log_probs))
        tokens.append(last)
        if last == EOS:
            break
    return tokens


def exhaustive_best(model, row, max_length, alpha):
    """The best hypothesis of all: any prefix without EOS then EOS, or max_length tokens without EOS."""
    words = [v for v in range(model.vocab) if v != EOS]
    hypotheses = [list(p) + [EOS] for k in range(max_length) for p in itertools.product(words, repeat=k)]
    hypotheses += [list(p) for p in itertools.product(words, repeat=max_length)]
    best, best_score = None, -np.inf
    for hypothesis in hypotheses:
        h, counter, last, score = model.h0[row], 0, BOS, 0.0
        for token in hypothesis:
            log_probs, h, counter = model.np_step(last, h, counter)
            score += log_probs[token]
            last = token
        score /= _lp(len(hypothesis), alpha)
        if score > best_score:
            best, best_score = hypothesis, score
    return best, best_score


def _unpad(row, length, pad=0):
    """The tokens of one output row up to and including EOS (padding checked)."""
    row = list(row)
    end = length + 1 if length < len(row) and row[length] == EOS else length
    assert all(x == pad for x in row[end:]), row
    return row[:end]


# ---- tests -----------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("alpha", [0.0, 0.7])
def test_beam_size_one_equals_greedy(seed, alpha):
    model = ToyRNN(seed, batch=4)
    limits = np.array([3, 6, 5, 1])
    tokens, lengths = (_np(x) for x in greedy_search(model.step, model.initial_state(), 4, BOS, EOS, limits))
    beam_tokens, _, beam_lengths = (_np(x) for x in beam_search(
        model.step, model.initial_state(), 4, BOS, EOS, limits, beam_size=1, length_penalty=alpha))
    np.testing.assert_array_equal(beam_tokens[:, 0], tokens)
    np.testing.assert_array_equal(beam_lengths[:, 0], lengths)
    for row in range(4):
        assert _unpad(tokens[row], lengths[row]) == reference_greedy(model, row, limits[row])


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("alpha", [0.0, 0.7])
def test_beam_matches_python_reference(seed, alpha):
    model = ToyRNN(seed, vocab=6, batch=3, eos_bias=1.0)  # EOS likely enough to end some hypotheses early
    limits = np.array([4, 6, 2])
    tokens, scores, lengths = (_np(x) for x in beam_search(
        model.step, model.initial_state(), 3, BOS, EOS, limits, beam_size=4, length_penalty=alpha, num_return=4))
    assert tokens.shape == (3, 4, 6) and scores.shape == (3, 4) and lengths.shape == (3, 4)
    for row in range(3):
        want = reference_beam(model, row, limits[row], 4, alpha, 4)
        for k, (want_tokens, want_score, want_length) in enumerate(want):
            assert _unpad(tokens[row, k], lengths[row, k]) == [x for x in want_tokens if x is not None]
            assert lengths[row, k] == want_length
            np.testing.assert_allclose(scores[row, k], want_score, rtol=1e-4)


@pytest.mark.parametrize("vocab, max_length, beam_size", [(3, 4, 32), (4, 3, 40)])
@pytest.mark.parametrize("alpha", [0.0, 0.8])
def test_wide_beam_finds_the_exhaustive_argmax(vocab, max_length, beam_size, alpha):
    # The beam is wider than the number of hypotheses, so nothing is pruned.
    model = ToyRNN(7, vocab=vocab, batch=3)
    tokens, scores, lengths = (_np(x) for x in beam_search(
        model.step, model.initial_state(), 3, BOS, EOS, max_length, beam_size=beam_size, length_penalty=alpha))
    for row in range(3):
        best, best_score = exhaustive_best(model, row, max_length, alpha)
        assert _unpad(tokens[row, 0], lengths[row, 0]) == best
        np.testing.assert_allclose(scores[row, 0], best_score, rtol=1e-4)


def test_beam_finds_the_best_sequence_that_greedy_misses():
    # A (0.55) beats B (0.45) at the first step, but A is followed by a flat
    # distribution while B is almost surely followed by EOS:
    # P(A EOS) = 0.55 * 0.35 = 0.19 < P(B EOS) = 0.45 * 0.9 = 0.41.
    model = TableModel({BOS: {3: 0.55, 4: 0.45}, 3: {EOS: 0.35, 3: 0.33, 4: 0.32}, 4: {EOS: 0.9, 3: 0.1},
                        EOS: {EOS: 1.0}}, vocab=5)
    greedy, _ = greedy_search(model.step, (), 1, BOS, EOS, 5)
    assert list(_np(greedy)[0]) == [3, EOS, 0, 0, 0]
    tokens, scores, lengths = (_np(x) for x in beam_search(model.step, (), 1, BOS, EOS, 5, beam_size=2))
    assert list(tokens[0, 0]) == [4, EOS, 0, 0, 0] and lengths[0, 0] == 1
    np.testing.assert_allclose(scores[0, 0], model.score([4, EOS]), rtol=1e-5)
    assert model.score([4, EOS]) > model.score([3, EOS])


@pytest.mark.parametrize("alpha, best", [(0.0, [EOS]), (1.0, [3, EOS])])
def test_length_penalty_favours_the_longer_hypothesis(alpha, best):
    # [EOS]: 0.51, length 1; [A EOS]: 0.49 * 0.99 = 0.485, length 2. Without a
    # penalty the short one wins; with alpha=1, log(0.485) / (7/6) = -0.62 beats
    # log(0.51) / 1 = -0.67.
    model = TableModel({BOS: {EOS: 0.51, 3: 0.49}, 3: {EOS: 0.99, 3: 0.01}, EOS: {EOS: 1.0}}, vocab=4)
    tokens, scores, lengths = (_np(x) for x in beam_search(
        model.step, (), 1, BOS, EOS, 4, beam_size=2, length_penalty=alpha, num_return=2))
    assert _unpad(tokens[0, 0], lengths[0, 0]) == best
    np.testing.assert_allclose(scores[0, 0], model.score(best) / _lp(len(best), alpha), rtol=1e-5)
    assert scores[0, 0] >= scores[0, 1]


@pytest.mark.parametrize("search", ["greedy", "beam"])
def test_batched_equals_one_sentence_at_a_time(search):
    model = ToyRNN(3, vocab=7, batch=5, eos_bias=0.5)
    limits = np.array([2, 7, 4, 1, 6])

    def run(rows, max_length):
        batch = len(rows)
        if search == "greedy":
            return greedy_search(model.step, model.initial_state(rows), batch, BOS, EOS, max_length, max_steps=7)
        return beam_search(model.step, model.initial_state(rows), batch, BOS, EOS, max_length, beam_size=3,
                           length_penalty=0.6, num_return=2, max_steps=7)

    together = [_np(x) for x in run(list(range(5)), limits)]
    for row in range(5):
        alone = [_np(x) for x in run([row], limits[row:row + 1])]
        for got, want in zip(alone, together):
            np.testing.assert_allclose(got[0], want[row], rtol=1e-5)


def test_finished_hypotheses_are_frozen_and_padded():
    # EOS first is the single best hypothesis (0.6); the others go on to max_length.
    model = TableModel({BOS: {EOS: 0.6, 3: 0.25, 4: 0.15}, 3: {3: 0.5, 4: 0.5}, 4: {3: 0.5, 4: 0.5},
                        EOS: {EOS: 1.0}}, vocab=5)
    tokens, scores, lengths = (_np(x) for x in beam_search(
        model.step, (), 1, BOS, EOS, 4, beam_size=3, num_return=3, pad_id=-1))
    assert list(tokens[0, 0]) == [EOS, -1, -1, -1] and lengths[0, 0] == 0
    # Its score is the one it had when it emitted EOS, three steps earlier.
    np.testing.assert_allclose(scores[0, 0], model.log_probs[BOS, EOS], rtol=1e-6)
    # The live ones ran to the limit without EOS: 4 tokens, none padding.
    assert list(lengths[0, 1:]) == [4, 4] and np.all(tokens[0, 1:] >= 3)
    for k in (1, 2):
        np.testing.assert_allclose(scores[0, k], model.score(list(tokens[0, k])), rtol=1e-5)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="counts Python calls of an eager while loop")
def test_search_stops_when_every_sentence_is_finished():
    model = TableModel({BOS: {3: 0.7, EOS: 0.3}, 3: {EOS: 0.9, 3: 0.1}, EOS: {EOS: 1.0}}, vocab=4)
    calls = []

    def step(tokens, state):
        calls.append(1)
        return model.step(tokens, state)

    tokens, _ = greedy_search(step, (), 2, BOS, EOS, 10)
    assert len(calls) == 2 and tokens.shape == (2, 10)
    calls.clear()
    # Beam 2: after two steps the beam is [3 EOS] and [EOS], both finished.
    beam_search(step, (), 2, BOS, EOS, 10, beam_size=2)
    assert len(calls) == 2


@pytest.mark.parametrize("search", ["greedy", "beam"])
def test_per_sentence_max_length_is_respected(search):
    never_ends = TableModel({v: {3: 0.5, 4: 0.5} for v in range(5)}, vocab=5)
    limits = np.array([2, 5, 3, 0])  # 0 counts as 1
    if search == "greedy":
        tokens, lengths = (_np(x) for x in greedy_search(never_ends.step, (), 4, BOS, EOS, limits))
    else:
        tokens, _, lengths = (_np(x) for x in beam_search(
            never_ends.step, (), 4, BOS, EOS, limits, beam_size=3, num_return=3))
        tokens, lengths = tokens[:, 1], lengths[:, 1]  # any of the beams
    assert tokens.shape == (4, 5)
    np.testing.assert_array_equal(lengths, [2, 5, 3, 1])
    for row, length in enumerate([2, 5, 3, 1]):
        assert np.all(tokens[row, :length] >= 3) and np.all(tokens[row, length:] == 0)


def test_max_steps_sets_the_width_and_cuts_the_limits():
    model = ToyRNN(1, batch=2, eos_bias=-10.0)  # EOS (almost) never
    tokens, lengths = (_np(x) for x in greedy_search(model.step, model.initial_state(), 2, BOS, EOS,
                                                     np.array([2, 9]), max_steps=4))
    assert tokens.shape == (2, 4)
    np.testing.assert_array_equal(lengths, [2, 4])


def _compile(fn, jit_compile):
    """`fn` traced by the back end (tf.function, with XLA or not; jax.jit) and a count of its traces."""
    traces = []

    def counted(*args):
        traces.append(1)
        return fn(*args)

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(counted, jit_compile=jit_compile), traces
    if backend == "jax":
        import jax

        return jax.jit(counted), traces
    pytest.skip(f"no tracing test for the {backend} back end")


@pytest.mark.parametrize("jit_compile", [False, True])
def test_traced_search_matches_eager(jit_compile):
    if keras.backend.backend() == "jax" and not jit_compile:
        pytest.skip("jax.jit always compiles")
    model = ToyRNN(5, vocab=6, batch=3, eos_bias=1.0)
    limits = np.array([3, 6, 5], "int32")

    def search(h0, max_length):
        state = {"h": h0, "aux": (ops.zeros((3,), dtype="int32"),)}
        greedy = greedy_search(model.step, state, 3, BOS, EOS, max_length, max_steps=6)
        beam = beam_search(model.step, state, 3, BOS, EOS, max_length, beam_size=3, length_penalty=0.6,
                           num_return=2, max_steps=6)
        return greedy + beam

    run, traces = _compile(search, jit_compile)
    traced = run(model.h0, limits)
    eager = greedy_search(model.step, model.initial_state(), 3, BOS, EOS, limits) + beam_search(
        model.step, model.initial_state(), 3, BOS, EOS, limits, beam_size=3, length_penalty=0.6, num_return=2)
    for got, want in zip(traced, eager):
        np.testing.assert_allclose(_np(got), _np(want), rtol=1e-5)
    run(model.h0, np.array([1, 2, 6], "int32"))  # new limits, same trace
    assert len(traces) == 1


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="a batch size known only at run time")
def test_batch_size_known_only_at_run_time():
    import tensorflow as tf

    model = ToyRNN(5, vocab=6, batch=3, eos_bias=1.0)
    limits = np.array([3, 6, 5], "int32")

    @tf.function(input_signature=[tf.TensorSpec([None, 4]), tf.TensorSpec([None], tf.int32)])
    def run(h0, max_length):
        batch = ops.shape(h0)[0]  # a scalar tensor here
        state = {"h": h0, "aux": (ops.zeros((batch,), dtype="int32"),)}
        return greedy_search(model.step, state, batch, BOS, EOS, max_length, max_steps=6) + beam_search(
            model.step, state, batch, BOS, EOS, max_length, beam_size=3, num_return=2, max_steps=6)

    eager = greedy_search(model.step, model.initial_state(), 3, BOS, EOS, limits) + beam_search(
        model.step, model.initial_state(), 3, BOS, EOS, limits, beam_size=3, num_return=2)
    for got, want in zip(run(model.h0, limits), eager):
        np.testing.assert_allclose(_np(got), _np(want), rtol=1e-5)
    for got, want in zip(run(model.h0[:2], limits[:2]), eager):
        np.testing.assert_allclose(_np(got), _np(want)[:2], rtol=1e-5)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.function tracing")
def test_traced_per_sentence_limit_without_max_steps_is_rejected():
    import tensorflow as tf

    model = ToyRNN(0, batch=2)

    @tf.function
    def run(max_length):
        return greedy_search(model.step, model.initial_state(), 2, BOS, EOS, max_length)

    with pytest.raises(ValueError) as error:
        run(np.array([2, 3], "int32"))
    # tf.function puts the traceback of the user code before the message.
    assert str(error.value).strip().endswith(
        "greedy_search: a per-sentence `max_length` that is not a concrete value (inside a traced function) "
        "needs `max_steps`, the static output width. Received: max_steps=None")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(beam_size=0), "beam_search: `beam_size` must be a positive integer. Received: beam_size=0"),
        (dict(beam_size=2, num_return=3),
         "beam_search: `num_return` must be an integer from 1 to beam_size=2. Received: num_return=3"),
        (dict(length_penalty=-0.5),
         "beam_search: `length_penalty` must be a number >= 0. Received: length_penalty=-0.5"),
        (dict(max_length=0), "beam_search: `max_length` must be a positive integer. Received: max_length=0"),
        (dict(max_length=2.5), "beam_search: `max_length` must be a positive integer. Received: max_length=2.5"),
        (dict(max_steps=0), "beam_search: `max_steps` must be a positive integer. Received: max_steps=0"),
        (dict(eos_id=-1), "beam_search: `eos_id` must be an integer >= 0. Received: eos_id=-1"),
        (dict(batch_size=0), "beam_search: `batch_size` must be a positive integer. Received: batch_size=0"),
        (dict(pad_id=None), "beam_search: `pad_id` must be an integer. Received: pad_id=None"),
        (dict(max_length=np.ones((2, 2), "int32")),
         "beam_search: `max_length` must be an int or an int tensor of shape (batch_size,). "
         "Received: max_length with shape (2, 2)"),
    ],
)
def test_bad_arguments_say_what_was_received(kwargs, message):
    arguments = dict(step_fn=None, initial_state=(), batch_size=2, bos_id=BOS, eos_id=EOS, max_length=4)
    arguments.update(kwargs)
    with pytest.raises(ValueError) as error:
        beam_search(**arguments)
    assert str(error.value) == message


def test_greedy_bad_arguments_name_greedy_search():
    with pytest.raises(ValueError) as error:
        greedy_search(None, (), 2, BOS, EOS, max_length=True)
    assert str(error.value) == "greedy_search: `max_length` must be a positive integer. Received: max_length=True"
