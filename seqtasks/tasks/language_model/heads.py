"""The language-model head (registry.HEADS["language_model"]): next-token logits."""

import keras
from keras import ops

# A logit that gives a probability of exactly 0 in float32 (finite, unlike -inf).
NEG = -1e9


@keras.saving.register_keras_serializable(package="seqtasks")
class NextTokenHead(keras.layers.Layer):
    """Encoder states -> logits over the vocabulary, optionally tied to the embedding.

    With `tie_weights` the output matrix is the input embedding, transposed
    (Press & Wolf 2017; Inan et al. 2017), plus a bias; when the encoder is
    wider than the embedding, a linear projection to the embedding width
    comes first. Tokens that are never a target (`<pad>`, `<bos>`) get a
    logit of -1e9, so that the model spends no probability on them.

    Args:
        vocabulary_size: number of token ids.
        embedding_dim: width of the input embedding (tied weights).
        tie_weights: use the embedding as the output matrix.
        dropout: dropout on the states before the output.
        never_targets: token ids that are never predicted.

    Call arguments:
        states: float `(batch, time, units)`.
        embeddings: the embedding matrix `(vocabulary_size, embedding_dim)`, needed when tied.

    Returns:
        Float32 logits `(batch, time, vocabulary_size)`.

    Example:

    ```python
    head = NextTokenHead(30, embedding_dim=64, tie_weights=True)
    logits = head(states, embeddings=embedding.embeddings)
    ```
    """

    def __init__(self, vocabulary_size, embedding_dim=None, tie_weights=False, dropout=0.0,
                 never_targets=(0, 2), **kwargs):
        super().__init__(**kwargs)
        if tie_weights and not embedding_dim:
            raise ValueError(f"NextTokenHead: tie_weights needs embedding_dim, received {embedding_dim!r}")
        self.vocabulary_size = int(vocabulary_size)
        self.embedding_dim = embedding_dim
        self.tie_weights = bool(tie_weights)
        self.dropout = float(dropout)
        self.never_targets = [int(i) for i in never_targets]
        self.drop = keras.layers.Dropout(self.dropout) if self.dropout else None
        self.projection = None
        self.output_layer = None
        # The encoder's time mask stops here: the loss is weighted by
        # sample_weight, which a mask on the logits would reweigh again.
        self.supports_masking = True

    def build(self, input_shape):
        units = int(input_shape[-1])
        if self.tie_weights:
            if units != self.embedding_dim:
                self.projection = keras.layers.Dense(self.embedding_dim, name="tied_projection")
                self.projection.build(input_shape)
            self.bias = self.add_weight(shape=(self.vocabulary_size,), initializer="zeros", name="bias")
        else:
            self.output_layer = keras.layers.Dense(self.vocabulary_size, dtype="float32", name="logits")
            self.output_layer.build(input_shape)
        offsets = [0.0] * self.vocabulary_size
        for i in self.never_targets:
            if i < self.vocabulary_size:
                offsets[i] = NEG
        self._offsets = offsets

    def call(self, states, embeddings=None, training=False):
        if self.drop is not None:
            states = self.drop(states, training=training)
        if self.tie_weights:
            if self.projection is not None:
                states = self.projection(states)
            logits = ops.matmul(ops.cast(states, "float32"), ops.transpose(ops.cast(embeddings, "float32")))
            logits = logits + ops.cast(self.bias, "float32")  # autocast to float16 under mixed precision
        else:
            logits = ops.cast(self.output_layer(states), "float32")
        return logits + ops.convert_to_tensor(self._offsets, dtype="float32")

    def compute_mask(self, states, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.vocabulary_size)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "embedding_dim": self.embedding_dim, "tie_weights": self.tie_weights,
                "dropout": self.dropout, "never_targets": self.never_targets}
