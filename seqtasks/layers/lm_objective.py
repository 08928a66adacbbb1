"""Auxiliary language-model objective on an encoder layer (Rei 2017)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="seqtasks")
class LanguageModelObjective(keras.layers.Layer):
    """Adds a next/previous-word prediction loss to training; passes its input through.

    Rei (2017, "Semi-supervised multitask learning for sequence labeling")
    trains the forward direction of a BiLSTM to also predict the next word
    and the backward direction the previous one. The extra signal comes from
    every token of the training text, not only the labelled spans, and
    teaches the encoder the contexts that words occur in (CoNLL-2003 NER
    86.26 -> 86.80 in the paper, with a loss weight of 0.1).

    Each direction goes through its own tanh layer (`hidden` units) and a
    softmax over the `vocabulary_size` most frequent token ids (vocabularies
    sorted by falling frequency; rarer words become the unknown id), as in the
    paper, which keeps the softmax affordable. The loss is the mean
    cross-entropy over the real target tokens of the batch, times `weight`,
    added with `add_loss` in training only; the layer's output is its input,
    unchanged, so prediction costs nothing.

    Apply it to the *first* layer of a stacked bidirectional encoder: from
    the second layer on, the forward state at a step has already seen the
    next word through the first layer's backward direction.

    Args:
        vocabulary_size: number of token ids predicted (ids 0 .. vocabulary_size - 1);
            larger ids count as `unknown_id`.
        weight: the loss weight (Rei: 0.1).
        hidden: width of the tanh layer of each direction (Rei: 50).
        bidirectional: the input is `[forward, backward]` concatenated on the
            last axis (a `Bidirectional` layer's output); otherwise forward only.
        unknown_id: the id that rarer tokens are mapped to.

    Call arguments:
        sequence: (batch, time, features) encoder output.
        token_ids: (batch, time) int ids of the tokens (before word dropout).
        mask: (batch, time) boolean padding mask.

    Returns:
        `sequence`, unchanged.

    Example:

    ```python
    h = keras.layers.Bidirectional(keras.layers.LSTM(64, return_sequences=True))(x, mask=mask)
    h = LanguageModelObjective(5000, weight=0.1)(h, token_ids, mask=mask)
    ```
    """

    def __init__(self, vocabulary_size, weight=0.1, hidden=50, bidirectional=True, unknown_id=1,
                 **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True  # the output is the input: its mask passes on
        if vocabulary_size < 2:
            raise ValueError(f"LanguageModelObjective vocabulary_size must be >= 2, "
                             f"received vocabulary_size={vocabulary_size}")
        self.vocabulary_size = int(vocabulary_size)
        self.weight = float(weight)
        self.hidden = int(hidden)
        self.bidirectional = bool(bidirectional)
        self.unknown_id = int(unknown_id)
        directions = ("forward", "backward") if self.bidirectional else ("forward",)
        self.hidden_layers = [keras.layers.Dense(self.hidden, activation="tanh", name=f"{d}_hidden")
                              for d in directions]
        self.logit_layers = [keras.layers.Dense(self.vocabulary_size, dtype="float32", name=f"{d}_logits")
                             for d in directions]
        self.cross_entropy = keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight", name="lm_loss")

    def build(self, sequence_shape, token_ids_shape=None, mask_shape=None):
        width = sequence_shape[-1] // len(self.hidden_layers)
        for hidden, logits in zip(self.hidden_layers, self.logit_layers):
            hidden.build((None, None, width))
            logits.build((None, None, self.hidden))

    def call(self, sequence, token_ids, mask=None, training=None):
        if training and self.weight:
            self.add_loss(self.weight * self._loss(sequence, token_ids, mask))
        return sequence

    def _loss(self, sequence, token_ids, mask):
        token_ids = ops.cast(token_ids, "int32")
        targets = ops.where(token_ids < self.vocabulary_size, token_ids, self.unknown_id)
        real = ops.ones_like(token_ids, dtype="bool") if mask is None else ops.cast(mask, "bool")
        width = ops.shape(sequence)[-1] // len(self.hidden_layers)
        # forward state at t -> word t + 1; backward state at t -> word t - 1.
        parts = [(sequence[:, :-1, :width], targets[:, 1:], real[:, :-1] & real[:, 1:])]
        if self.bidirectional:
            parts.append((sequence[:, 1:, width:], targets[:, :-1], real[:, 1:] & real[:, :-1]))
        total, count = 0.0, 0.0
        for (states, target, real_target), hidden, logits in zip(parts, self.hidden_layers, self.logit_layers):
            weight = ops.cast(real_target, "float32")
            n = ops.sum(weight)
            # Each direction's mean over its real targets, weighted by their number.
            total = total + n * self.cross_entropy(target, logits(hidden(states)), sample_weight=weight)
            count = count + n
        return total / ops.maximum(count, 1.0)

    def compute_output_shape(self, sequence_shape, token_ids_shape=None, mask_shape=None):
        return sequence_shape

    def get_config(self):
        config = super().get_config()
        config.update({"vocabulary_size": self.vocabulary_size, "weight": self.weight,
                       "hidden": self.hidden, "bidirectional": self.bidirectional,
                       "unknown_id": self.unknown_id})
        return config
