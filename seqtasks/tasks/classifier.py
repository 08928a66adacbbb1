"""Classifier: a backbone, a pooling of its states and a softmax over classes."""

import keras

from seqtasks.models.heads import classifier_head
from seqtasks.tasks.task import Task


@keras.saving.register_keras_serializable(package="seqtasks")
class Classifier(Task):
    """Sentence (or name) classification model.

    Args:
        backbone: a `seqtasks.models.backbone.Backbone`.
        num_labels: number of classes (2 for binary tasks: a 2-way softmax).
        pooling: "last", "mean", "max" or "attention" (all respect the padding mask).
        hidden: width of a tanh layer after pooling (0 = none).
        dropout: dropout before the output layer.

    Example:

    ```python
    model = Classifier(Backbone(vocabulary_size=100), num_labels=2, pooling="max")
    model.compile()
    probabilities = model.predict_on_batch(inputs)   # (batch, num_labels)
    ```
    """

    config_keys = ("num_labels", "pooling", "hidden", "dropout")

    def __init__(self, backbone, num_labels, pooling="last", hidden=0, dropout=0.0, **kwargs):
        inputs = dict(backbone.input)
        sequence = backbone(inputs)  # (batch, time, features)
        outputs = classifier_head(sequence, inputs["padding_mask"], num_labels, pooling,
                                  backbone.bidirectional, hidden, dropout)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.backbone = backbone
        self.num_labels = num_labels
        self.pooling = pooling
        self.hidden = hidden
        self.dropout = dropout
