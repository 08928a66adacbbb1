"""Tagger: a backbone plus a per-token head (softmax or CRF)."""

import keras
import numpy as np

from seqtasks.layers.crf import crf_loss
from seqtasks.models.heads import crf_head, token_softmax_head
from seqtasks.tasks.replicas import replica_count, replica_sum
from seqtasks.tasks.task import Task


@keras.saving.register_keras_serializable(package="seqtasks")
class Tagger(Task):
    """Sequence labelling model (POS, NER, chunking).

    Trained with plain `model.fit` on `(inputs, tags, sample_weight)` batches
    where the padding becomes a zero `sample_weight`. With the CRF head the loss
    is the CRF negative log-likelihood (see `compute_loss`); `predict_step`
    returns the best tag ids for both heads (Viterbi for the CRF).

    Args:
        backbone: a `seqtasks.models.backbone.Backbone`.
        num_labels: number of tags.
        head: "softmax" or "crf".
        hidden: width of a tanh layer before the output (0 = none).
        dropout: dropout before the output layer.
        constraints: CRF only: `(allowed_start, allowed_transitions, allowed_end)`.

    Example:

    ```python
    tagger = Tagger(Backbone(vocabulary_size=100), num_labels=17)
    tagger.compile()
    tagger.fit(train_batches.dataset(), epochs=2)
    tags = tagger.predict_on_batch(inputs)   # (batch, time) int32
    ```
    """

    config_keys = ("num_labels", "head", "hidden", "dropout", "constraints")

    def __init__(self, backbone, num_labels, head="softmax", hidden=0, dropout=0.0,
                 constraints=None, **kwargs):
        inputs = dict(backbone.input)
        sequence = backbone(inputs)  # (batch, time, features)
        if head == "crf":
            outputs = crf_head(sequence, inputs["padding_mask"], num_labels, hidden, dropout,
                               constraints)
        elif head == "softmax":
            outputs = token_softmax_head(sequence, num_labels, hidden, dropout)
        else:
            raise ValueError(f"Tagger head must be 'softmax' or 'crf', received head={head!r}")
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.backbone = backbone
        self.num_labels = num_labels
        self.head = head
        self.hidden = hidden
        self.dropout = dropout
        # Plain nested lists of bools, so that the config is JSON.
        self.constraints = (None if constraints is None
                            else [np.asarray(part, dtype=bool).tolist() for part in constraints])

    # -- training -----------------------------------------------------------------
    def default_loss(self):
        # The CRF head has no Keras loss: `compute_loss` uses its likelihood.
        return None if self.head == "crf" else super().default_loss()

    def default_metrics(self):
        return None if self.head == "crf" else super().default_metrics()

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if self.head != "crf":
            y_pred, sample_weight = _per_real_token(y_pred, x["padding_mask"], sample_weight)
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        # crf_loss goes through Keras' loss reduction, so under a tf.distribute
        # strategy each replica's loss is scaled like a compiled Keras loss.
        loss = crf_loss(self.get_layer("crf"), y_pred, y, x["padding_mask"])
        if self.losses:
            loss = loss + keras.ops.sum(self.losses)
        return loss

    # -- prediction ---------------------------------------------------------------
    def predict_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        y_pred = self(x, training=False)
        if self.head == "crf":
            return self.get_layer("crf").decode(y_pred, x["padding_mask"])
        return keras.ops.cast(keras.ops.argmax(y_pred, axis=-1), "int32")


def _per_real_token(y_pred, padding_mask, sample_weight):
    """`(y_pred, sample_weight)` for Keras' loss, so that it averages over the
    real tokens of the whole batch.

    Keras divides the loss of a masked output by the real tokens of what it
    sees: under a `tf.distribute` strategy, each replica's part of the batch.
    Parts with different numbers of real tokens would then weigh a token
    differently from a single-device step. Here the output goes unmasked and
    the weights carry the padding and the batch-wide count instead (Keras'
    own `total / valid` weighting, with `valid` summed over replicas), so the
    replicas' summed gradients equal the single-device step's.
    """
    mask = keras.ops.cast(padding_mask, "float32")
    weights = mask if sample_weight is None else mask * keras.ops.cast(sample_weight, "float32")
    size = keras.ops.cast(keras.ops.size(mask), "float32")
    scale = size * replica_count() / keras.ops.maximum(replica_sum(keras.ops.sum(mask)), 1.0)
    # a copy of the tensor, without the Keras mask that the tensor carries
    return keras.ops.copy(y_pred), weights * scale
