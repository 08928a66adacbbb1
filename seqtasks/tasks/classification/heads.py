"""Classification heads (registry.HEADS["classification"])."""

import keras

from seqtasks.registry import POOLING, resolve
from seqtasks.tasks.model import Head


class PooledClassifierHead(Head):
    """Pools the sequence into one vector (padding ignored) and returns class logits.

    Args:
        num_labels, hidden, dropout, bidirectional: as in `Head`.
        pooling: a name in `registry.POOLING` ("last", "mean", "max", "attention").
    """

    def __init__(self, num_labels, hidden=0, dropout=0.0, bidirectional=True, pooling="last", **unused):
        super().__init__(num_labels, hidden, dropout, bidirectional)
        self.pooling = pooling

    def __call__(self, sequence, mask):
        pool = resolve(POOLING, self.pooling, "model.head.pooling")
        pooled = pool(bidirectional=self.bidirectional, name="pooling")(sequence, mask=mask)  # (batch, features)
        x = self.hidden_layers(pooled, "label")
        return keras.layers.Dense(self.num_labels, dtype="float32", name="label")(x)  # (batch, labels)

    def get_config(self):
        return {**super().get_config(), "pooling": self.pooling}
