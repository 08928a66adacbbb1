"""Classifier: a backbone, a pooling of its states and class logits."""

import keras

from seqtasks.tasks.model import TaskModel


@keras.saving.register_keras_serializable(package="seqtasks")
class Classifier(TaskModel):
    """Sentence (or name) classification model.

    Args:
        backbone: a `seqtasks.encoders.backbone.Backbone`.
        num_labels: number of classes (2 for binary tasks: two logits).
        head: `{"kind": "classifier", "pooling": "last" | "mean" | "max" |
            "attention", "hidden": 0, "dropout": 0.0}` (pooling respects the
            padding mask).

    Example:

    ```python
    model = Classifier(Backbone(vocabulary_size=100), num_labels=2, head={"pooling": "max"})
    model.compile()
    logits = model.predict_on_batch(inputs)   # (batch, num_labels)
    ```
    """

    kind_name = "classification"
