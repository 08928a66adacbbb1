"""Tagging heads: a per-token softmax, or a linear-chain CRF (registry.HEADS["tagging"])."""

import keras
import numpy as np

from seqtasks.layers.crf import CRF, crf_loss
from seqtasks.tasks.model import Head
from seqtasks.training.distribution import replica_count, replica_sum


class SoftmaxHead(Head):
    """Per-token logits over the tags; trained with cross-entropy on real tokens.

    A plain `Dense` on the 3-D tensor, not `TimeDistributed` (which returns a
    wrong shape when the sequence length changes between calls).

    Args:
        num_labels, hidden, dropout: as in `Head`.
    """

    def __init__(self, num_labels, hidden=0, dropout=0.0, bidirectional=True, **unused):
        super().__init__(num_labels, hidden, dropout, bidirectional)

    def __call__(self, sequence, mask):
        x = self.hidden_layers(sequence, "tags")
        return keras.layers.Dense(self.num_labels, dtype="float32", name="tags")(x)  # (batch, time, labels)

    def compute_loss(self, model, x, y, y_pred, sample_weight, training=True):
        y_pred, sample_weight = _per_real_token(y_pred, x["padding_mask"], sample_weight)
        return model.keras_compute_loss(x, y, y_pred, sample_weight, training)

    def decode(self, model, outputs, mask):
        return keras.ops.cast(keras.ops.argmax(outputs, axis=-1), "int32")  # (batch, time)


class CRFHead(Head):
    """Emission scores followed by a linear-chain CRF (the loss is its likelihood,
    decoding is Viterbi).

    Args:
        num_labels, hidden, dropout: as in `Head`.
        constraints: None or `(allowed_start, allowed_transitions, allowed_end)`
            boolean arrays from `seqtasks.data.schemes.allowed_transitions`.
    """

    def __init__(self, num_labels, hidden=0, dropout=0.0, bidirectional=True, constraints=None, **unused):
        super().__init__(num_labels, hidden, dropout, bidirectional)
        # Plain nested lists of bools, so that the config is JSON.
        self.constraints = (None if constraints is None
                            else [np.asarray(part, dtype=bool).tolist() for part in constraints])

    def __call__(self, sequence, mask):
        x = self.hidden_layers(sequence, "crf")
        emissions = keras.layers.Dense(self.num_labels, dtype="float32", name="crf_emissions")(x)
        kwargs = {}
        if self.constraints is not None:
            start, trans, end = self.constraints
            kwargs = {"allowed_start": start, "allowed_transitions": trans, "allowed_end": end}
        return CRF(self.num_labels, name="crf", **kwargs)(emissions, mask=mask)  # (batch, time, labels)

    def loss(self):
        return None  # the CRF likelihood, in `compute_loss`

    def metrics(self):
        return None

    def compute_loss(self, model, x, y, y_pred, sample_weight, training=True):
        # crf_loss goes through Keras' loss reduction, so under a tf.distribute
        # strategy each replica's loss is scaled like a compiled Keras loss.
        loss = crf_loss(model.get_layer("crf"), y_pred, y, x["padding_mask"])
        if model.losses:
            loss = loss + keras.ops.sum(model.losses)
        return loss

    def decode(self, model, outputs, mask):
        return model.get_layer("crf").decode(outputs, mask)  # (batch, time) int32

    def get_config(self):
        return {**super().get_config(), "constraints": self.constraints}


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
