"""CRF layer: brute force agreement, gradients, constraints, training and saving.

`ToyTagger`, `toy_arrays` and `toy_dataset` are also used by
test_crf_distributed.py (imported in its subprocess).
"""

import itertools

import keras
import numpy as np
import pytest

from seqtasks.data import schemes
from seqtasks.layers.crf import CRF, crf_loss

LABELS = ["B-LOC", "B-PER", "I-LOC", "I-PER", "O"]


# ---- brute force ------------------------------------------------------------

def _path_score(path, emissions, start, trans, end):
    score = start[path[0]] + end[path[-1]] + sum(emissions[t, k] for t, k in enumerate(path))
    return score + sum(trans[a, b] for a, b in zip(path[:-1], path[1:]))


def _brute_force(emissions, lengths, start, trans, end, legal=None):
    """Log partition and best path of each row, by enumerating every path."""
    log_z, best = [], []
    for row, length in zip(emissions, lengths):
        paths = list(itertools.product(range(len(start)), repeat=int(length)))
        if legal is not None:
            paths = [p for p in paths if legal(p)]
        scores = np.array([_path_score(p, row, start, trans, end) for p in paths])
        log_z.append(np.logaddexp.reduce(scores))
        best.append(list(paths[int(np.argmax(scores))]))
    return np.array(log_z), best


def _random_case(seed, num_tags, batch=5, max_len=5):
    rng = np.random.default_rng(seed)
    lengths = rng.permutation(np.arange(1, batch + 1) % max_len + 1)  # 1..5, shuffled
    emissions = rng.normal(size=(batch, max_len, num_tags)).astype("float32")
    mask = np.arange(max_len)[None, :] < lengths[:, None]
    weights = [rng.normal(size=s).astype("float32") for s in [(num_tags, num_tags), (num_tags,), (num_tags,)]]
    tags = rng.integers(0, num_tags, size=(batch, max_len))
    return emissions, mask, lengths, weights, tags


def _crf_with(weights, **kwargs):
    crf = CRF(len(weights[1]), **kwargs)
    crf.build((None, None, len(weights[1])))
    crf.set_weights(weights)
    return crf


def _graph_fn(crf, num_tags):
    """The CRF methods traced once with a dynamic time dimension (TensorFlow),
    or compiled per shape by `jax.jit` (JAX)."""
    def run(emissions, mask):
        return crf.log_partition(emissions, mask), crf.decode(emissions, mask)

    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(run)
    import tensorflow as tf

    spec = (tf.TensorSpec([None, None, num_tags]), tf.TensorSpec([None, None], tf.bool))
    return tf.function(run, input_signature=spec)


def _gradients(fn, emissions, crf):
    """`(d fn / d emissions, [d fn / d weight for each CRF weight])` on either back end."""
    if keras.backend.backend() == "jax":
        import jax

        def stateless(emissions, values):
            with keras.StatelessScope(state_mapping=list(zip(crf.trainable_weights, values))):
                return fn(emissions)

        values = [w.value for w in crf.trainable_weights]
        d_emissions, d_weights = jax.grad(stateless, argnums=(0, 1))(emissions, values)
        return np.asarray(d_emissions), [np.asarray(g) for g in d_weights]
    import tensorflow as tf

    emissions = tf.constant(emissions)
    with tf.GradientTape() as tape:
        tape.watch(emissions)
        value = fn(emissions)
    d_emissions, *d_weights = tape.gradient(value, [emissions] + crf.trainable_weights)
    return d_emissions.numpy(), [np.asarray(g) for g in d_weights]


@pytest.mark.parametrize("seed, num_tags", [(0, 3), (1, 4), (2, 3), (3, 4)])
def test_matches_brute_force(seed, num_tags):
    emissions, mask, lengths, weights, tags = _random_case(seed, num_tags)
    crf = _crf_with(weights)
    trans, start, end = weights
    want_z, _ = _brute_force(emissions, lengths, start, trans, end)
    graph = _graph_fn(crf, num_tags)
    for log_z, decoded in [
        (crf.log_partition(emissions, mask), crf.decode(emissions, mask)),
        graph(emissions, mask),
        graph(emissions[:, :3], mask[:, :3]),  # another length, same trace
    ]:
        time = decoded.shape[1]
        short = np.minimum(lengths, time)
        z, paths = _brute_force(emissions[:, :time], short, start, trans, end)
        np.testing.assert_allclose(log_z, z, rtol=1e-5, atol=1e-5)
        decoded = np.asarray(decoded)
        assert decoded.dtype == np.int32
        for row, length, path in zip(decoded, short, paths):
            assert list(row[:length]) == path and not row[length:].any()
    scores = crf.sequence_score(emissions, tags, mask)
    want = [_path_score(list(t[:n]), e, start, trans, end) for t, e, n in zip(tags, emissions, lengths)]
    np.testing.assert_allclose(scores, want, rtol=1e-5, atol=1e-5)
    log_lik = crf.log_likelihood(emissions, tags, mask)
    np.testing.assert_allclose(log_lik, np.array(want) - want_z, rtol=1e-5, atol=1e-5)


def test_constraints_match_brute_force_over_legal_paths():
    start_ok, trans_ok, end_ok = schemes.allowed_transitions(LABELS, "IOB2")
    emissions, mask, lengths, weights, tags = _random_case(7, len(LABELS))
    crf = _crf_with(weights, allowed_start=start_ok, allowed_transitions=trans_ok, allowed_end=end_ok)

    def legal(path):
        return schemes.find_illegal([LABELS[k] for k in path], "IOB2") is None

    want_z, want_paths = _brute_force(emissions, lengths, weights[1], weights[0], weights[2], legal)
    np.testing.assert_allclose(crf.log_partition(emissions, mask), want_z, rtol=1e-5, atol=1e-5)
    decoded = np.asarray(crf.decode(emissions, mask))
    assert [list(r[:n]) for r, n in zip(decoded, lengths)] == want_paths


def test_padding_tags_are_ignored():
    emissions, mask, lengths, weights, tags = _random_case(4, 3)
    crf = _crf_with(weights)
    padded = np.where(mask, tags, -100)  # e.g. an ignore index in the labels
    np.testing.assert_allclose(
        crf.log_likelihood(emissions, padded, mask), crf.log_likelihood(emissions, tags, mask), rtol=1e-6
    )


def test_gradients_flow_and_are_marginals():
    emissions, mask, lengths, weights, tags = _random_case(5, 4)
    crf = _crf_with(weights)
    ops = keras.ops
    _, grads = _gradients(lambda e: -ops.mean(crf.log_likelihood(e, tags, mask)), emissions, crf)
    for grad in grads:
        assert np.isfinite(grad).all() and np.abs(grad).sum() > 0
    # d log Z / d emissions are the tag marginals: they sum to 1 at real steps, 0 at padding.
    marginals, _ = _gradients(lambda e: ops.sum(crf.log_partition(e, mask)), emissions, crf)
    assert (marginals >= -1e-6).all()
    np.testing.assert_allclose(marginals.sum(axis=-1), mask.astype("float32"), atol=1e-5)


@pytest.mark.tf_only(reason="compares TensorFlow's eager ops with XLA; on JAX every step is XLA-compiled "
                            "(jax.jit), as in test_matches_brute_force")
def test_xla_compiles_loss_gradient_and_decoding():
    import tensorflow as tf

    # jit_compile="auto" means XLA on GPU: the loss gradient must compile there.
    emissions, mask, lengths, weights, tags = _random_case(6, 4)
    crf = _crf_with(weights)

    def grads(emissions, tags, mask):
        with tf.GradientTape() as tape:
            tape.watch(emissions)
            loss = crf_loss(crf, emissions, tags, mask)
        return tape.gradient(loss, [emissions] + crf.trainable_weights), crf.decode(emissions, mask)

    args = (tf.constant(emissions), tf.constant(tags, tf.int32), tf.constant(mask))
    (eager_grads, eager_tags), (xla_grads, xla_tags) = grads(*args), tf.function(grads, jit_compile=True)(*args)
    for eager, xla in zip(eager_grads, xla_grads):
        np.testing.assert_allclose(xla, eager, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(xla_tags, eager_tags)


def test_float16_emissions_stay_float32():
    emissions, mask, lengths, weights, tags = _random_case(8, 3)
    crf = _crf_with(weights)
    half = emissions.astype("float16")
    assert crf(half).dtype == "float32" and crf.log_partition(half, mask).dtype == "float32"
    np.testing.assert_allclose(
        crf.log_partition(half, mask), crf.log_partition(half.astype("float32"), mask), rtol=1e-6
    )


def test_crf_loss_weights():
    emissions, mask, lengths, weights, tags = _random_case(9, 3)
    crf = _crf_with(weights)
    nll = -np.asarray(crf.log_likelihood(emissions, tags, mask))
    np.testing.assert_allclose(crf_loss(crf, emissions, tags, mask), nll.mean(), rtol=1e-6)
    per_sequence = np.array([1.0, 0.0, 2.0, 1.0, 0.5], "float32")
    np.testing.assert_allclose(
        crf_loss(crf, emissions, tags, mask, per_sequence), (nll * per_sequence).mean(), rtol=1e-6
    )
    # per-token weights (a softmax head's padding weights) -> one weight per sequence
    per_token = mask.astype("float32") * per_sequence[:, None]
    np.testing.assert_allclose(
        crf_loss(crf, emissions, tags, mask, per_token), (nll * per_sequence).mean(), rtol=1e-6
    )


def test_constrained_decoding_is_always_legal():
    rng = np.random.default_rng(11)
    start_ok, trans_ok, end_ok = schemes.allowed_transitions(LABELS, "IOB2")
    batch, time = 64, 8
    emissions = (5 * rng.normal(size=(batch, time, len(LABELS)))).astype("float32")
    lengths = rng.integers(1, time + 1, size=batch)
    mask = np.arange(time)[None, :] < lengths[:, None]

    def illegal_rows(crf):
        decoded = np.asarray(crf.decode(emissions, mask))
        return sum(
            schemes.find_illegal([LABELS[k] for k in row[:n]], "IOB2") is not None
            for row, n in zip(decoded, lengths)
        )

    free = CRF(len(LABELS))
    assert illegal_rows(free) > 0  # the emissions alone do produce illegal paths
    constrained = CRF(len(LABELS), allowed_start=start_ok, allowed_transitions=trans_ok, allowed_end=end_ok)
    assert illegal_rows(constrained) == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_tags": 0}, "positive integer. Received: num_tags=0"),
        ({"num_tags": "5"}, "Received: num_tags='5'"),
        ({"num_tags": 3, "allowed_start": [True, False]}, "shape \\(3,\\).*Received: allowed_start with shape \\(2,\\)"),
        ({"num_tags": 2, "allowed_transitions": [[1, 2], [0, 1]]}, "booleans. Received: allowed_transitions"),
        ({"num_tags": 2, "allowed_end": [False, False]}, "`allowed_end` allows nothing"),
    ],
)
def test_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CRF(**kwargs)


def test_emission_width_is_checked():
    with pytest.raises(ValueError, match="expects emissions of shape \\(batch, time, 3\\). Received"):
        CRF(3)(np.zeros((1, 2, 4), "float32"))


# ---- a tiny tagger trained with model.fit -------------------------------------

@keras.saving.register_keras_serializable(package="seqtasks_tests")
class ToyTagger(keras.Model):
    """Embedding -> Dense(num_tags) -> CRF, with the CRF loss and Viterbi predict."""

    def __init__(self, vocab_size, num_tags, constraints=None, **kwargs):
        token_ids = keras.Input((None,), dtype="int32", name="token_ids")
        padding_mask = keras.Input((None,), dtype="bool", name="padding_mask")
        x = keras.layers.Embedding(vocab_size, 8, name="embedding")(token_ids)
        x = keras.layers.Dense(num_tags, name="emissions")(x)  # (batch, time, num_tags)
        start, trans, end = constraints if constraints is not None else (None, None, None)
        crf = CRF(num_tags, allowed_start=start, allowed_transitions=trans, allowed_end=end, name="crf")
        emissions = crf(x, mask=padding_mask)
        super().__init__(
            inputs={"token_ids": token_ids, "padding_mask": padding_mask}, outputs=emissions, **kwargs
        )
        self.crf = crf
        self.vocab_size, self.num_tags = vocab_size, num_tags
        self.constraints = None if constraints is None else [np.asarray(c).tolist() for c in constraints]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return crf_loss(self.crf, y_pred, y, x["padding_mask"], sample_weight)

    def predict_step(self, *args):
        # Keras calls predict_step(data) on TensorFlow, predict_step(state, data) on JAX
        # (as seqtasks.tasks.model.TaskModel.predict_step).
        data = args[-1]
        x = data[0] if isinstance(data, tuple) else data
        if len(args) == 1:
            return self.crf.decode(self(x, training=False), x["padding_mask"])
        (trainable, non_trainable) = args[0]
        mapping = [*zip(self.trainable_variables, trainable), *zip(self.non_trainable_variables, non_trainable)]
        with keras.StatelessScope(state_mapping=mapping):
            decoded = self.crf.decode(self(x, training=False), x["padding_mask"])
        return decoded, non_trainable

    def get_config(self):
        return {"vocab_size": self.vocab_size, "num_tags": self.num_tags,
                "constraints": self.constraints, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def toy_arrays(seed, count, max_len=8):
    """Legal IOB2 tag paths; each tag emits words from its own range of 3 ids."""
    rng = np.random.default_rng(seed)
    start_ok, trans_ok, _ = schemes.allowed_transitions(LABELS, "IOB2")
    ids = np.zeros((count, max_len), "int32")
    tags = np.zeros((count, max_len), "int32")
    lengths = rng.integers(2, max_len + 1, size=count)
    for row, length in enumerate(lengths):
        tag = rng.choice(np.flatnonzero(start_ok))
        for t in range(length):
            if t:
                tag = rng.choice(np.flatnonzero(trans_ok[tag]))
            tags[row, t], ids[row, t] = tag, 1 + 3 * tag + rng.integers(3)
    mask = np.arange(max_len)[None, :] < lengths[:, None]
    return {"token_ids": ids, "padding_mask": mask}, tags


def toy_dataset(x, y=None, batch_size=16):
    """tf.data pipeline with autotune off (it stalls on small machines); on
    other back ends a `keras.utils.PyDataset` of the same batches."""
    data = (x,) if y is None else (x, y)
    if keras.backend.backend() != "tensorflow":
        return _ToyBatches(data, batch_size)
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(data).batch(batch_size).prefetch(4)
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def test_tagger_trains_saves_and_reloads(tmp_path):
    keras.utils.set_random_seed(0)
    constraints = schemes.allowed_transitions(LABELS, "IOB2")
    model = ToyTagger(vocab_size=1 + 3 * len(LABELS), num_tags=len(LABELS), constraints=constraints)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    x, y = toy_arrays(seed=0, count=256)
    history = model.fit(toy_dataset(x, y, 32), epochs=6, shuffle=False, verbose=0)
    losses = history.history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < 0.5 * losses[0]

    x_test, y_test = toy_arrays(seed=1, count=64)
    decoded = model.predict(toy_dataset(x_test), verbose=0)
    mask = x_test["padding_mask"]
    assert decoded.shape == y_test.shape and not decoded[~mask].any()
    assert (decoded[mask] == y_test[mask]).mean() > 0.95

    path = tmp_path / "tagger.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, ToyTagger) and loaded.crf.allowed_transitions == model.crf.allowed_transitions
    np.testing.assert_array_equal(loaded.predict(toy_dataset(x_test), verbose=0), decoded)


class _ToyBatches(keras.utils.PyDataset):
    """`toy_dataset`'s batches for back ends without tf.data."""

    def __init__(self, data, batch_size):
        super().__init__()
        self.data, self.batch_size = data, batch_size

    def __len__(self):
        rows = len(self.data[0]["token_ids"])  # data = (x,) or (x, y), x a dict of arrays
        return -(-rows // self.batch_size)

    def __getitem__(self, i):
        part = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return tuple({k: v[part] for k, v in d.items()} if isinstance(d, dict) else d[part] for d in self.data)
