"""Keras callbacks of the toolkit (training itself is plain `model.fit`)."""

import time

import keras

from seqtasks import evaluation


class DevMetric(keras.callbacks.Callback):
    """Computes the task's dev metric after each epoch and logs it as `val_<name>`.

    It runs before `EarlyStopping` and `ModelCheckpoint` in the callback list,
    so both can monitor the metric that the field reports (span F1 for NER,
    accuracy for POS and classification) rather than the loss.

    Args:
        batches: validation `Batches` (no shuffling).
        gold: encoded gold labels of the split.
        labels: label names.
        task: "tagging" or "classification".
        scheme: span scheme or None.

    Example:

    ```python
    dev = DevMetric(dev_batches, encoded["labels"], labels, "tagging", "IOB2")
    model.fit(train, callbacks=[dev, keras.callbacks.EarlyStopping("val_f1", mode="max")])
    ```
    """

    def __init__(self, batches, gold, labels, task, scheme=None):
        super().__init__()
        self.batches = batches
        self.gold = gold
        self.labels = labels
        self.task = task
        self.scheme = scheme
        self.name = "val_" + evaluation.main_metric(task, scheme)
        self.seconds = 0.0

    def on_epoch_end(self, epoch, logs=None):
        start = time.perf_counter()
        predictions = evaluation.predict_batches(self.model, self.batches)
        scores = evaluation.score(self.task, predictions, self.gold, self.labels, self.scheme)
        if logs is not None:
            logs[self.name] = scores[self.name[len("val_"):]]
        self.seconds += time.perf_counter() - start
