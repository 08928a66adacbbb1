"""Encoded examples -> right-padded, length-bucketed `tf.data` batches.

Each batch is `(inputs, labels, sample_weight)` with
`inputs = {"token_ids": (b, t), "padding_mask": (b, t), ["char_ids": (b, t, w)],
["feature_ids": (b, t, f)]}`.
For tagging the padding becomes `sample_weight` (never a fake label).

Bucketing: each epoch the examples are shuffled, cut into chunks of
`bucket_batches * batch_size`, each chunk is sorted by length and cut into
batches, and the batch order is shuffled. Padding is then only up to the
longest example of a batch of similar lengths.

The pipeline is built by hand with tf.data autotune off and a fixed prefetch:
on 2-core machines autotune stalls whole epochs (DESIGN.md section 5).

Fixed widths (`fixed_widths=True`, used for prediction on JAX): the time and char
axes are padded up to the next of a few widths (8, 12, 16, 24, 32, 48, ...:
powers of two and 1.5 times them) instead of each batch's own longest
example, so that a compiled predict function (a `tf.function`, a JAX `jit`)
is traced for a handful of shapes rather than once per batch length. Padding
is masked everywhere, so the predictions do not change.
"""

import numpy as np


def fixed_width(length, smallest=8):
    """The smallest of 8, 12, 16, 24, 32, 48, 64, ... (2**k and 1.5 * 2**k) that
    holds `length` (at most 1.5x the padding of `length` itself)."""
    width = smallest
    while width < length:
        width = width * 3 // 2 if (width & (width - 1)) == 0 else width * 4 // 3
    return width


def _pad(rows, idx, lengths, width):
    """Right-pads `rows[i]` for `i` in `idx` (first axis = time) to `width` steps with 0."""
    first = rows[idx[0]]
    out = np.zeros((len(idx), width, *np.shape(first)[1:]), dtype=np.int32)
    for row, i in enumerate(idx):
        out[row, : lengths[row]] = rows[i]
    return out


class Batches:
    """Batches of one encoded split.

    Args:
        encoded: the dict from `Preprocessor.encode_split`.
        batch_size: examples per batch.
        shuffle: shuffle (training) or keep a fixed length-sorted order (evaluation).
        seed: seed of the shuffling; epoch `e` uses `seed + e`.
        bucket_batches: batches per length-sorted chunk when shuffling.
        example_weights: optional per-example weights (class weights), multiplied
            into `sample_weight`.
        per_token: labels per token (True) or per example (False); by default
            inferred from `encoded["labels"]` (needed when there are no labels).
        fixed_widths: pad the time and char axes up to `fixed_width(...)` of the
            longest example (few distinct shapes, so few graph tracings)
            rather than to the longest example itself.

    Example:

    ```python
    train = Batches(encoded, batch_size=32, shuffle=True)
    model.fit(train.dataset(), epochs=3)
    print(train.padding_fraction())
    ```
    """

    def __init__(self, encoded, batch_size=32, shuffle=False, seed=0, bucket_batches=50,
                 example_weights=None, per_token=None, fixed_widths=False):
        self.token_ids = encoded["token_ids"]
        self.char_ids = encoded.get("char_ids")
        self.feature_ids = encoded.get("feature_ids")
        self.labels = encoded.get("labels")
        self.lengths = np.fromiter((len(t) for t in self.token_ids), dtype=np.int64,
                                   count=len(self.token_ids))
        if len(self.lengths) == 0:
            raise ValueError("Batches needs at least one example")
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.bucket_batches = bucket_batches
        self.example_weights = example_weights
        self.per_token = (per_token if per_token is not None
                        else self.labels is not None and not isinstance(self.labels, np.ndarray))
        self.fixed_widths = fixed_widths
        self._epoch = 0

    @property
    def num_tokens(self):
        return int(self.lengths.sum())

    def __len__(self):
        return -(-len(self.lengths) // self.batch_size)

    # -- batch order --------------------------------------------------------------
    def batch_indices(self, epoch=0):
        """The list of index arrays, one per batch, for one epoch."""
        n = len(self.lengths)
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            return [order[i: i + self.batch_size] for i in range(0, n, self.batch_size)]
        rng = np.random.default_rng(self.seed + epoch)
        order = rng.permutation(n)
        chunk = self.batch_size * self.bucket_batches
        batches = []
        for start in range(0, n, chunk):
            part = order[start: start + chunk]
            part = part[np.argsort(self.lengths[part], kind="stable")]
            batches.extend(part[i: i + self.batch_size] for i in range(0, len(part), self.batch_size))
        rng.shuffle(batches)
        return batches

    def padding_fraction(self, epoch=0):
        """Fraction of padded positions over one epoch of batches."""
        real = padded = 0
        for idx in self.batch_indices(epoch):
            lengths = self.lengths[idx]
            real += lengths.sum()
            width = fixed_width(lengths.max()) if self.fixed_widths else lengths.max()
            padded += width * len(idx)
        return float(1.0 - real / padded)

    # -- batch contents -----------------------------------------------------------
    def make_batch(self, idx, multiple=1):
        """Pads the examples `idx` into one batch `(inputs, labels, sample_weight)`.

        `multiple` rounds the padded width (time steps, and characters per
        word) up to a multiple of it: JAX compiles the step once per input
        shape, so a few widths instead of every length save most compilations.
        """
        lengths = self.lengths[idx]
        width = int(lengths.max())
        width = fixed_width(width) if self.fixed_widths else _round_up(width, multiple)
        token_ids = _pad(self.token_ids, idx, lengths, width)
        mask = np.arange(width)[None, :] < lengths[:, None]  # (batch, time), right-padded
        # 0/1 int32 rather than bool: under MirroredStrategy Keras sums the first
        # batch across replicas to learn its shapes, which fails on bool tensors.
        # The model's boolean `padding_mask` input casts it back.
        inputs = {"token_ids": token_ids, "padding_mask": mask.astype(np.int32)}
        if self.char_ids is not None:
            chars = [self.char_ids[i] for i in idx]
            word_width = max(1, max(int((c != 0).sum(axis=1).max()) for c in chars))
            word_width = fixed_width(word_width) if self.fixed_widths else _round_up(word_width, multiple)
            char_ids = np.zeros((len(idx), width, word_width), dtype=np.int32)
            for row, c in enumerate(chars):
                kept = min(word_width, c.shape[1])  # stored words may be narrower than the width
                char_ids[row, : len(c), :kept] = c[:, :kept]
            inputs["char_ids"] = char_ids
        if self.feature_ids is not None:
            inputs["feature_ids"] = _pad(self.feature_ids, idx, lengths, width)
        if self.labels is None:
            return inputs, None, None
        if self.per_token:
            labels = _pad(self.labels, idx, lengths, width)
            weight = mask.astype(np.float32)
            if self.example_weights is not None:
                weight *= self.example_weights[idx][:, None]
        else:
            labels = self.labels[idx]
            weight = (self.example_weights[idx].astype(np.float32) if self.example_weights is not None
                      else np.ones(len(idx), dtype=np.float32))
        return inputs, labels, weight

    def __iter__(self):
        """Yields `(indices, inputs)` in evaluation order (for prediction)."""
        multiple = shape_multiple()
        for idx in self.batch_indices(0):
            yield idx, self.make_batch(idx, multiple)[0]

    def dataset(self, prefetch=4):
        """The batches as `fit` / `predict` input for the active Keras back end:
        a `tf.data.Dataset` on TensorFlow, a `keras.utils.PyDataset` elsewhere
        (so that other back ends never import TensorFlow).

        Each yields `(inputs, labels, sample_weight)` NumPy batches; a fresh
        shuffle is drawn each epoch.
        """
        import keras

        if keras.backend.backend() == "tensorflow":
            return self._tf_dataset(prefetch)
        return _NumpyBatches(self)

    def _tf_dataset(self, prefetch=4):
        """A `tf.data.Dataset` of the batches, built by hand: autotune off and a
        fixed prefetch (autotune stalls whole epochs on 2-core machines)."""
        import tensorflow as tf

        from seqtasks.data.generator_dataset import generator_dataset

        def generate():
            epoch = self._epoch
            self._epoch += 1
            for idx in self.batch_indices(epoch):
                yield self.make_batch(idx)

        per_token = self.per_token
        inputs_spec = {
            "token_ids": tf.TensorSpec((None, None), tf.int32),
            "padding_mask": tf.TensorSpec((None, None), tf.int32),
        }
        if self.char_ids is not None:
            inputs_spec["char_ids"] = tf.TensorSpec((None, None, None), tf.int32)
        if self.feature_ids is not None:
            inputs_spec["feature_ids"] = tf.TensorSpec((None, None, None), tf.int32)
        label_shape = (None, None) if per_token else (None,)
        signature = (inputs_spec, tf.TensorSpec(label_shape, tf.int32),
                     tf.TensorSpec(label_shape, tf.float32))
        return generator_dataset(generate, signature, len(self), prefetch)


def _numpy_batches_class():
    """`keras.utils.PyDataset` over `Batches` (defined lazily: importing Keras
    is left to the caller)."""
    import keras

    from seqtasks.training.distribution import batch_multiple

    class NumpyBatches(keras.utils.PyDataset):
        """The batches of a `Batches`, one epoch's order drawn at its first batch."""

        def __init__(self, batches):
            super().__init__()
            self.batches = batches
            self.order = None

        def __len__(self):
            return len(self.batches)

        def __getitem__(self, index):
            if self.order is None:
                self.order = self.batches.batch_indices(self.batches._epoch)
            idx = _even_rows(self.order[index], batch_multiple())
            inputs, labels, weights = self.batches.make_batch(idx, shape_multiple())
            return (inputs,) if labels is None else (inputs, labels, weights)

        def on_epoch_end(self):
            self.batches._epoch += 1
            self.order = None

    return NumpyBatches


def _NumpyBatches(batches):
    return _numpy_batches_class()(batches)


def _even_rows(idx, multiple):
    """`idx` cut to a multiple of `multiple` rows (the devices of a JAX
    `DataParallel` distribution, which splits a batch evenly; 1 elsewhere).

    The few examples cut from a partial batch sit out that epoch's step only
    (the shuffle differs every epoch); a batch with fewer rows than devices
    is repeated instead. Rows are cut rather than padded because the CRF loss
    has no per-row weight that could switch a padding row off.
    """
    if multiple <= 1 or len(idx) % multiple == 0:
        return idx
    keep = len(idx) - len(idx) % multiple
    return idx[:keep] if keep else np.resize(idx, multiple)


# JAX compiles a step per input shape: widths rounded up to a multiple of this
# give a few shapes (a sentence of 1-64 tokens: 8 widths, not 64).
JAX_SHAPE_MULTIPLE = 8


def shape_multiple():
    """The multiple that batch widths are rounded up to on the active back end
    (TensorFlow traces with unknown widths once: 1, no extra padding)."""
    import sys

    keras = sys.modules.get("keras")
    return JAX_SHAPE_MULTIPLE if keras is not None and keras.backend.backend() == "jax" else 1


def _round_up(value, multiple):
    return -(-value // multiple) * multiple
