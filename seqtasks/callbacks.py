"""Keras callbacks of the toolkit (training itself is plain `model.fit`)."""

import json
import time
from pathlib import Path

import keras

from seqtasks import evaluation
from seqtasks.run_dir import write_json


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


class RunHistory(keras.callbacks.Callback):
    """Keeps the logs of every epoch in `path` (JSON), across `--resume`.

    `model.fit(...).history` only holds the epochs of one `fit` call, so after
    a resume the epochs before the interruption would be missing from
    `history.json`, `epochs_run` and `best_epoch`. This callback reloads the
    file and appends to it instead.

    Args:
        path: the history file in the (partial) run directory.
    """

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)
        self.history = {}
        self.epochs_this_run = 0
        self._first = True

    def on_train_begin(self, logs=None):
        self.history = json.loads(self.path.read_text(encoding="utf-8")) if self.path.exists() else {}
        self._first = True

    def on_epoch_begin(self, epoch, logs=None):
        if self._first:
            # A resumed fit starts at `epoch`: drop logs of epochs that run again.
            self.history = {k: v[:epoch] for k, v in self.history.items()}
            self._first = False

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.epochs_this_run += 1
        write_json(self.path, self.history)


class TimeLimit(keras.callbacks.Callback):
    """Stops training after the epoch during which `minutes` have passed.

    For fixed compute budgets (a benchmark on a small machine): the epoch in
    progress completes, and `EarlyStopping(restore_best_weights=True)` still
    restores the best epoch's weights at the end.

    Args:
        minutes: wall-clock budget of this `fit` call.
    """

    def __init__(self, minutes):
        super().__init__()
        self.minutes = minutes
        self.stopped_epoch = None
        self._start = None

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if (time.perf_counter() - self._start) / 60 >= self.minutes:
            self.stopped_epoch = epoch + 1
            self.model.stop_training = True
