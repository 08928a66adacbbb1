"""Keras callbacks of the toolkit (training itself is plain `model.fit`)."""

import json
import time
from pathlib import Path

import keras
import numpy as np

from seqtasks.run_dir import write_json
from seqtasks.scoring import score_split


class DevMetric(keras.callbacks.Callback):
    """Computes the task's dev metric after each epoch and logs it as `val_<name>`.

    It runs before `EarlyStopping` and `ModelCheckpoint` in the callback list,
    so both can monitor the metric that the field reports (span F1 for NER,
    accuracy for POS and classification) rather than the loss.

    Args:
        kind: the `TaskKind`.
        encoded: the encoded validation split (with its gold `labels`).
        labels: label names.
        scheme: span scheme or None.
        batch_size: examples per prediction batch.

    Example:

    ```python
    dev = DevMetric(kind, encoded["validation"], labels, "IOB2")
    model.fit(train, callbacks=[dev, keras.callbacks.EarlyStopping("val_f1", mode="max")])
    ```
    """

    def __init__(self, kind, encoded, labels, scheme=None, batch_size=64):
        super().__init__()
        self.kind = kind
        self.encoded = encoded
        self.labels = labels
        self.scheme = scheme
        self.batch_size = batch_size
        self.name = "val_" + kind.main_metric(scheme)
        self.seconds = 0.0

    def on_epoch_end(self, epoch, logs=None):
        start = time.perf_counter()
        scores, _, _ = score_split(self.kind, lambda b: self.kind.predict(self.model, b), self.encoded,
                                   self.labels, self.scheme, self.batch_size)
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


class ResumeState(keras.callbacks.Callback):
    """Carries the monitored-metric state of an interrupted run into `--resume`.

    `BackupAndRestore` brings back the weights, the optimizer and the epoch,
    but a new process starts `EarlyStopping`, `ModelCheckpoint` and
    `ReduceLROnPlateau` from scratch: patience would restart, the best-weights
    checkpoint would be overwritten by the first resumed epoch even when it
    is worse, and a best epoch before the interruption could never be
    restored. At the first resumed epoch this callback rebuilds their state
    from the run's history (best value, best epoch, epochs since the best or
    since the last LR cut) and the best-weights checkpoint, and sets the
    training batches to the shuffle order of that epoch.

    It must come after `RunHistory` and `BackupAndRestore` in the callback list.

    Args:
        run_history: the `RunHistory` of the run (holds the earlier epochs).
        monitor: the monitored log key (e.g. `val_f1`).
        mode: "max" or "min".
        checkpoint_path: the best-weights file written by `ModelCheckpoint`.
        batches: the training `Batches` (its epoch counter drives shuffling).
        callbacks: the callbacks whose state is rebuilt.
    """

    def __init__(self, run_history, monitor, mode, checkpoint_path, batches, callbacks):
        super().__init__()
        self.run_history = run_history
        self.monitor = monitor
        self.mode = mode
        self.checkpoint_path = Path(checkpoint_path)
        self.batches = batches
        self.callbacks = callbacks
        self.resumed_at = None
        self._first = True

    def on_train_begin(self, logs=None):
        self._first = True

    def on_epoch_begin(self, epoch, logs=None):
        if not self._first:
            return
        self._first = False
        if epoch == 0:
            return
        self.resumed_at = epoch
        self.batches._epoch = epoch  # the shuffle this epoch would have had without the interruption
        values = self.run_history.history.get(self.monitor, [])[:epoch]
        if not values:
            return
        best_index = int(np.argmax(values) if self.mode == "max" else np.argmin(values))
        best, since_best = values[best_index], epoch - 1 - best_index
        rates = self.run_history.history.get("learning_rate", [])[:epoch]
        cuts = [i for i in range(1, len(rates)) if rates[i] != rates[i - 1]]
        since_cut = epoch - cuts[-1] if cuts else epoch
        for callback in self.callbacks:
            if isinstance(callback, keras.callbacks.EarlyStopping):
                callback.best, callback.best_epoch, callback.wait = best, best_index, since_best
                callback.best_weights = self._best_weights()
            elif isinstance(callback, keras.callbacks.ModelCheckpoint):
                callback.best = best
            elif isinstance(callback, keras.callbacks.ReduceLROnPlateau):
                callback.best, callback.wait = best, min(since_best, since_cut)

    def _best_weights(self):
        if not self.checkpoint_path.exists():
            return None
        current = self.model.get_weights()
        # The checkpoint also holds the best epoch's optimizer variables (step,
        # moments, EMA averages); the resumed run keeps its own.
        self.model.load_weights(self.checkpoint_path, objects_to_skip=[self.model.optimizer])
        best = self.model.get_weights()
        self.model.set_weights(current)
        return best


def make_callbacks(recipe, kind, train, dev_encoded, labels, scheme, directory, monitor, mode,
                   schedule_callbacks=()):
    """The training callbacks, in order; returns `(callbacks, dev_metric, run_history)`.

    `DevMetric` comes before `RunHistory`, early stopping and checkpoints, so
    the dev metric is in the logs they read; with `train.ema_momentum` a
    `SwapEMAWeights` before it makes all of them see the averaged weights.
    `ResumeState` comes last: on `--resume` it restores the state of the
    callbacks before it (best value, patience, best weights) and the shuffle
    order of the training batches `train`.

    Args:
        recipe: the `Recipe`.
        kind: the `TaskKind`.
        train: the training `Batches`.
        dev_encoded: the encoded validation split.
        labels: label names.
        scheme: span scheme or None.
        directory: the run's working directory.
        monitor, mode: the monitored log key and "max"/"min".
        schedule_callbacks: the learning-rate schedule's callbacks (plateau).
    """
    t = recipe.train
    dev_metric = DevMetric(kind, dev_encoded, labels, scheme, max(t.batch_size, 64))
    run_history = RunHistory(directory / "history.json")  # epochs before a resume included
    best_path = directory / "checkpoints" / "best.weights.h5"
    # BackupAndRestore first: it backs up the weights being trained, before an
    # EMA swap puts the averaged weights in the model for everything after it
    # (dev metric, early stopping's best weights, the best checkpoint).
    callbacks = [keras.callbacks.BackupAndRestore(str(directory / "backup"))]
    if t.ema_momentum:
        callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    callbacks += [dev_metric, run_history, keras.callbacks.TerminateOnNaN(),
                  *_selection_callbacks(t, monitor, mode, best_path, schedule_callbacks)]
    if t.time_limit_minutes:
        callbacks.append(TimeLimit(t.time_limit_minutes))
    callbacks.append(ResumeState(run_history, monitor, mode, best_path, train, list(callbacks)))
    return callbacks, dev_metric, run_history


def _selection_callbacks(t, monitor, mode, best_path, schedule_callbacks):
    """The callbacks that read the dev metric: early stopping, the best
    checkpoint and the plateau schedule. With `train_with_dev` dev is training
    data, so none of them runs; the last epoch's weights are checkpointed."""
    if t.train_with_dev:
        return [keras.callbacks.ModelCheckpoint(str(best_path.with_name("last.weights.h5")),
                                                save_weights_only=True)]
    return [
        keras.callbacks.EarlyStopping(monitor, mode=mode, patience=t.early_stopping_patience,
                                      restore_best_weights=True, verbose=1),
        keras.callbacks.ModelCheckpoint(str(best_path), monitor=monitor, mode=mode, save_best_only=True,
                                        save_weights_only=True),
        *schedule_callbacks,
    ]
