"""Word features computed from characters (Lample et al. 2016; Ma and Hovy 2016).

Both layers take `char_ids` of shape `(batch, time, chars)` (0 = padding char,
1 = unknown char; words and their characters right padded) and return
`(batch, time, dim)`. A padding word (all its chars are 0) always gives a zero
vector, and the padding chars of a word never change its features, so adding
more padding (longer sentences, longer char axis) changes nothing.
"""

import keras
from keras import ops

from seqtasks.layers import recurrent, tf_context


def _check_positive_int(layer, name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"{layer}: `{name}` must be a positive integer. Received: {name}={value!r}"
        )


def _check_rate(layer, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(
            f"{layer}: `dropout` must be a number in [0, 1). Received: dropout={value!r}"
        )


def _large_negative(dtype):
    # -1e9 overflows float16 to -inf; -3e4 is still far below any activation.
    return -3e4 if keras.backend.standardize_dtype(dtype) == "float16" else -1e9


def _flatten_words(char_ids):
    """(batch, time, chars) -> (batch * time, chars), plus the sizes to undo it."""
    shape = ops.shape(char_ids)
    return ops.reshape(char_ids, (-1, shape[2])), shape[0], shape[1]


def _distinct_rows(words):
    """`(distinct, index)` with `distinct[index] == words`, or `(words, None)`.

    A batch repeats most of its words (the, punctuation, padding words): 40
    EWT batches of 32 sentences hold 26,624 word slots and 13,828 distinct
    char rows, and the char CNN's cost is per row. Rows are compared exactly
    (`UniqueV2`), TensorFlow only outside XLA (JAX would need a static count).
    """
    if not tf_context.plain_tensorflow():
        return words, None
    import tensorflow as tf

    distinct, index = tf.raw_ops.UniqueV2(x=words, axis=tf.constant([0], "int64"))
    return distinct, index


def _window_ids(words, size, vocab):
    """Row ids into the stacked tables `(size * vocab, filters)`: `(words, chars, size)`.

    Window offset `j` of char `t` reads char `t + j - left` in table `j` (char 0,
    the padding, beyond the word: the zeros of Conv1D's "same" padding, whose
    extra zero for an even `size` goes on the right).
    """
    left = (size - 1) // 2
    width = ops.shape(words)[1]
    # An id beyond the vocabulary would read another offset's table: it is the unknown char (1).
    words = ops.where(ops.less(words, vocab), words, ops.ones_like(words))
    padded = ops.pad(words, [[0, 0], [left, size - 1 - left]])
    return ops.stack([padded[:, j:j + width] + j * vocab for j in range(size)], axis=-1)


def _window_scores(tables, ids):
    """`(words, chars, filters)`: each window's sum of table rows."""
    if tf_context.plain_tensorflow():  # SparseSegmentSum has no XLA kernel (jit_compile on a GPU)
        import tensorflow as tf

        # One fused gather-and-sum (SparseSegmentSum) instead of a gather and an add per offset.
        size = ids.shape[-1]
        rows = tf.reshape(ids, [-1])
        x = tf.sparse.segment_sum(tables, rows, tf.range(tf.size(rows)) // size)
        return tf.reshape(x, tf.concat([tf.shape(ids)[:2], tf.shape(tables)[1:]], axis=0))
    return ops.sum(ops.take(tables, ids, axis=0), axis=2)  # XLA fuses the gather into the sum


def _max_over_windows(tables, bias, ids, has_chars):
    """Max over each word's chars of `bias + window score`; zeros for words without chars.

    Args:
        tables: `(size * vocab, filters)` stacked tables; the padding char's row is
            zero, except in the centre table, where it is a large negative (so a
            padding position never wins the max).
        bias: `(filters,)`, added after the max (it is the same at every position).
        ids: `(words, chars, size)` from `_window_ids`.
        has_chars: `(words, 1)` bool.

    Returns:
        `(words, filters)`.
    """
    best = ops.max(_window_scores(tables, ids), axis=1) + bias
    return ops.where(has_chars, best, ops.zeros_like(best))


@ops.custom_gradient
def _max_over_windows_sparse_gradient(tables, bias, ids, has_chars):
    """`_max_over_windows` whose gradient reaches the tables at the argmax positions only.

    The default gradient of a max and of the lookups passes every position of
    every word (`(words, chars, filters)` several times); this one scatters
    `(words, filters)` values once per window offset. Where windows tie it takes
    the first (the convolution's max splits evenly; both are gradients of the
    max): in float32 ties come from windows of the same chars, for which the
    two agree; in float16 distinct windows can tie too.
    """
    x = _window_scores(tables, ids)
    best = ops.max(x, axis=1)  # (words, filters)
    # The first position of the max (argmax over a middle axis measured 2x slower on TensorFlow).
    width = ops.shape(x)[1]
    position = ops.min(ops.where(ops.equal(x, best[:, None, :]),
                                 ops.arange(width, dtype="int32")[None, :, None], width), axis=1)
    output = ops.where(has_chars, best + bias, ops.zeros_like(best))

    def grad(*args, upstream=None):
        upstream = args[0] if upstream is None else upstream
        upstream = ops.where(has_chars, upstream, ops.zeros_like(upstream))  # (words, filters)
        rows, filters = tables.shape
        size = ids.shape[-1]
        words = ops.shape(ids)[0]
        # The table rows each (word, filter) read at its max, one per window offset: (words, filters, size).
        read = ops.take(ops.reshape(ids, (-1, size)),
                        ops.arange(words, dtype="int32")[:, None] * width + position, axis=0)
        entries = read * filters + ops.arange(filters, dtype="int32")[None, :, None]
        table_grad = ops.segment_sum(ops.reshape(ops.repeat(upstream[..., None], size, axis=-1), (-1,)),
                                     ops.reshape(entries, (-1,)), num_segments=rows * filters)
        return ops.reshape(table_grad, (rows, filters)), ops.sum(upstream, axis=0), None, None

    return output, grad


@keras.saving.register_keras_serializable(package="seqtasks")
class CharCNN(keras.layers.Layer):
    """Char embedding, a 1-D convolution over the chars, max over the real chars.

    Padding chars are zeroed before the convolution (so a word that fills the
    char axis and a word followed by padding see the same zeros) and excluded
    from the max; a word with no real chars gives zeros.

    Args:
        vocab_size: number of char ids (including 0 = padding, 1 = unknown).
        embedding_dim: size of the char embedding.
        filters: number of convolution filters, the output size.
        kernel_size: width of the convolution window, in chars.
        dropout: dropout rate on the char embeddings during training.

    Example:

    >>> layer = CharCNN(vocab_size=40, filters=8)
    >>> layer(np.ones((2, 5, 7), "int32")).shape
    (2, 5, 8)
    """

    @classmethod
    def from_block(cls, vocabulary_size, embedding_dim=30, dim=50, kernel_size=3, **kwargs):
        """Built from the recipe's `model.char_features` block (`dim` = filters)."""
        return cls(vocabulary_size, embedding_dim=embedding_dim, filters=dim, kernel_size=kernel_size, **kwargs)

    def __init__(self, vocab_size, embedding_dim=30, filters=50, kernel_size=3,
                 dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("vocab_size", vocab_size), ("embedding_dim", embedding_dim),
                            ("filters", filters), ("kernel_size", kernel_size)):
            _check_positive_int("CharCNN", name, value)
        _check_rate("CharCNN", dropout)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.filters = filters
        self.kernel_size = kernel_size
        self.dropout = dropout
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="char_embedding")
        self.dropout_layer = keras.layers.Dropout(dropout, name="char_dropout")
        # "same" padding: the zeros it adds look exactly like masked padding chars.
        self.conv = keras.layers.Conv1D(filters, kernel_size, padding="same", name="char_conv")

    def build(self, input_shape):
        chars = input_shape[-1]
        self.embedding.build((None, chars))
        self.conv.build((None, chars, self.embedding_dim))
        self.built = True

    def call(self, char_ids, training=None):
        words, batch, time = _flatten_words(char_ids)  # (batch * time, chars)
        if self._uses_lookup(training):
            distinct, index = _distinct_rows(words)
            x = self._lookup_call(distinct, training)
            if index is not None:
                x = ops.take(x, index, axis=0)
        else:
            x = self._conv_call(words, training)
        return ops.reshape(x, (batch, time, self.filters))

    def _uses_lookup(self, training):
        # Dropout on the char embeddings differs per char position, which the tables cannot hold.
        return not (training and self.dropout > 0)

    def _lookup_call(self, words, training=None):
        """The same features from tables, `(words, chars) -> (words, filters)`.

        A convolution over embedded chars is a sum over the window of
        `embedding[char] @ kernel[offset]`: `kernel_size` tables `(chars, filters)`
        (small: the char vocabulary) turn it into lookups and adds, and in
        training the gradient needs the argmax positions only
        (`_max_over_windows_sparse_gradient`). Same weights as the convolution
        (docs/EXPERIMENTS.md, session 33, has the speed).
        """
        dtype = self.compute_dtype
        size, vocab = self.kernel_size, self.vocab_size
        tables = ops.einsum("ve,kef->kvf", ops.cast(self.embedding.embeddings, dtype),
                            ops.cast(self.conv.kernel, dtype))  # (size, vocab, filters)
        # The padding char: zero (a masked embedding), but a large negative in the centre table.
        padding = ops.where(ops.arange(size) == (size - 1) // 2, _large_negative(dtype), 0.0)
        tables = ops.where((ops.arange(vocab) > 0)[None, :, None], tables,
                           ops.cast(padding, dtype)[:, None, None])
        tables = ops.reshape(tables, (size * vocab, self.filters))
        ids = _window_ids(words, size, vocab)
        has_chars = ops.any(ops.not_equal(words, 0), axis=1)[:, None]
        bias = ops.cast(self.conv.bias, dtype)
        if training:
            return _max_over_windows_sparse_gradient(tables, bias, ids, has_chars)
        return _max_over_windows(tables, bias, ids, has_chars)

    def _conv_call(self, words, training):
        real = ops.not_equal(words, 0)  # (batch * time, chars)
        x = self.embedding(words)  # (batch * time, chars, emb)
        x = x * ops.cast(real, x.dtype)[..., None]
        x = self.dropout_layer(x, training=training)
        x = self.conv(x)  # (batch * time, chars, filters)
        x = ops.where(real[..., None], x, _large_negative(x.dtype))
        x = ops.max(x, axis=1)  # (batch * time, filters)
        return ops.where(ops.any(real, axis=1)[:, None], x, ops.zeros_like(x))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:2]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(vocab_size=self.vocab_size, embedding_dim=self.embedding_dim,
                      filters=self.filters, kernel_size=self.kernel_size,
                      dropout=self.dropout)
        return config


@keras.saving.register_keras_serializable(package="seqtasks")
class CharBiLSTM(keras.layers.Layer):
    """Char embedding and a bidirectional LSTM over the chars of each word.

    The output is the concatenation of the final forward and backward states
    (`2 * units`). The LSTM keeps its defaults so it stays eligible for cuDNN;
    cuDNN raises on a mask row with no true value, so the first char of every
    word counts as real and padding words are zeroed afterwards.

    Args:
        vocab_size: number of char ids (including 0 = padding, 1 = unknown).
        embedding_dim: size of the char embedding.
        units: LSTM units per direction; the output has `2 * units`.

    Example:

    >>> layer = CharBiLSTM(vocab_size=40, units=4)
    >>> layer(np.ones((2, 5, 7), "int32")).shape
    (2, 5, 8)
    """

    @classmethod
    def from_block(cls, vocabulary_size, embedding_dim=25, dim=25, kernel_size=None, **kwargs):
        """Built from the recipe's `model.char_features` block (`dim` = units per direction)."""
        return cls(vocabulary_size, embedding_dim=embedding_dim, units=dim, **kwargs)

    def __init__(self, vocab_size, embedding_dim=25, units=25, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("vocab_size", vocab_size), ("embedding_dim", embedding_dim),
                            ("units", units)):
            _check_positive_int("CharBiLSTM", name, value)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="char_embedding")
        self.bilstm = keras.layers.Bidirectional(recurrent.LSTM(units), name="char_bilstm")

    def build(self, input_shape):
        chars = input_shape[-1]
        self.embedding.build((None, chars))
        self.bilstm.build((None, chars, self.embedding_dim))
        self.built = True

    def call(self, char_ids, training=None):
        words, batch, time = _flatten_words(char_ids)  # (batch * time, chars)
        real = ops.not_equal(words, 0)
        first = ops.equal(ops.arange(ops.shape(words)[1]), 0)[None, :]
        mask = ops.logical_or(real, first)  # never an all-false row (cuDNN)
        x = self.embedding(words)  # (batch * time, chars, emb)
        x = self.bilstm(x, mask=mask, training=training)  # (batch * time, 2 * units)
        x = ops.where(ops.any(real, axis=1)[:, None], x, ops.zeros_like(x))
        return ops.reshape(x, (batch, time, 2 * self.units))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:2]) + (2 * self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(vocab_size=self.vocab_size, embedding_dim=self.embedding_dim,
                      units=self.units)
        return config
