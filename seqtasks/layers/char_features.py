"""Word features computed from characters (Lample et al. 2016; Ma and Hovy 2016).

Both layers take `char_ids` of shape `(batch, time, chars)` (0 = padding char,
1 = unknown char; words and their characters right padded) and return
`(batch, time, dim)`. A padding word (all its chars are 0) always gives a zero
vector, and the padding chars of a word never change its features, so adding
more padding (longer sentences, longer char axis) changes nothing.
"""

import keras
from keras import ops

from seqtasks.layers import recurrent


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
        real = ops.not_equal(words, 0)  # (batch * time, chars)
        x = self.embedding(words)  # (batch * time, chars, emb)
        x = x * ops.cast(real, x.dtype)[..., None]
        x = self.dropout_layer(x, training=training)
        x = self.conv(x)  # (batch * time, chars, filters)
        x = ops.where(real[..., None], x, _large_negative(x.dtype))
        x = ops.max(x, axis=1)  # (batch * time, filters)
        x = ops.where(ops.any(real, axis=1)[:, None], x, ops.zeros_like(x))
        return ops.reshape(x, (batch, time, self.filters))

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
