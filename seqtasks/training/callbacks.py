"""Keras callbacks of the toolkit (training itself is plain `model.fit`)."""

import json
import os
import signal
import time
from pathlib import Path

import keras

from seqtasks.run_dir import write_json
from seqtasks.scoring import score_split
from seqtasks.training.ema import SwapEMAWeights
from seqtasks.training.resume import TrainingState


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
        self.completed = None  # epochs of the saved training state (set on resume)
        self._first = True

    def on_train_begin(self, logs=None):
        self.history = json.loads(self.path.read_text(encoding="utf-8")) if self.path.exists() else {}
        if self.completed is not None:  # a kill between this file and the state: drop the extra epoch
            self.history = {k: v[:self.completed] for k, v in self.history.items()}
        self._first = True

    def on_epoch_begin(self, epoch, logs=None):
        if self._first:
            # A resumed fit starts at `epoch`: drop logs of epochs that run again.
            self.history = {k: v[:epoch] for k, v in self.history.items()}
            self._first = False

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        # The rate this epoch trained with (a schedule's, or the plateau's before its cut).
        logs.setdefault("learning_rate", float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        self.epochs_this_run += 1
        write_json(self.path, self.history)


class TimeLimit(keras.callbacks.Callback):
    """Stops training after the epoch during which `minutes` have passed.

    For fixed compute budgets (a benchmark on a small machine): the epoch in
    progress completes, and `EarlyStopping(restore_best_weights=True)` still
    restores the best epoch's weights at the end. The budget is the run's, not
    the `fit` call's: a resumed run starts with `seconds_before` (the training
    seconds of the interrupted run, set by `TrainingState`) already spent.

    Args:
        minutes: wall-clock training budget of the run.

    Example:

    ```python
    limit = TimeLimit(105)
    model.fit(data, epochs=25, callbacks=[limit])
    limit.stopped_epoch  # None when the budget was not reached
    ```
    """

    def __init__(self, minutes):
        super().__init__()
        self.minutes = minutes
        self.seconds_before = 0.0
        self.stopped_epoch = None
        self._start = None

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if (self.seconds_before + time.perf_counter() - self._start) / 60 >= self.minutes:
            self.stopped_epoch = epoch + 1
            self.model.stop_training = True


class KillSwitch(keras.callbacks.Callback):
    """A test hook: kills the process with SIGKILL at a chosen point.

    `SEQTASKS_TEST_KILL` says where: `batch:N` after the N-th training batch
    of this process (counted across epochs), `epoch:E` after the second batch
    of epoch E (0-based: in the middle of it), or `evaluate` after training
    was recorded as finished, as the final evaluation starts (`kill_point`).
    The resume tests use it to interrupt a training subprocess as a power
    cut would.

    Args:
        spec: the point, as above.
    """

    every_step = True  # counts batches: `fit_and_evaluate` runs one step per call

    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        self.count = 0
        self.epoch = None
        self.in_epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.in_epoch = epoch, 0

    def on_train_batch_end(self, batch, logs=None):
        self.count += 1
        self.in_epoch += 1
        if self.spec == f"batch:{self.count}" or (self.spec == f"epoch:{self.epoch}" and self.in_epoch == 2):
            os.kill(os.getpid(), signal.SIGKILL)


def kill_point(name):
    """Kills the process here when `SEQTASKS_TEST_KILL` is `name` (see `KillSwitch`)."""
    if os.environ.get("SEQTASKS_TEST_KILL") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def make_callbacks(recipe, kind, train, dev_encoded, labels, scheme, directory, monitor, mode,
                   schedule_callbacks=()):
    """The training callbacks, in order; returns `(callbacks, dev_metric, run_history, state)`.

    `DevMetric` comes before `RunHistory`, early stopping and the schedule, so
    the dev metric is in the logs they read; with `train.ema_momentum` a
    `SwapEMAWeights` before it makes all of them see the averaged weights.
    `TrainingState` comes last: it saves their state after each epoch and
    restores it on `--resume`.

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
    callbacks = []
    if t.ema_momentum:
        callbacks.append(SwapEMAWeights(swap_on_epoch=True))
    callbacks += [dev_metric, run_history, keras.callbacks.TerminateOnNaN(),
                  *_selection_callbacks(t, monitor, mode, schedule_callbacks)]
    if t.time_limit_minutes:
        callbacks.append(TimeLimit(t.time_limit_minutes))
    if os.environ.get("SEQTASKS_TEST_KILL"):
        callbacks.append(KillSwitch(os.environ["SEQTASKS_TEST_KILL"]))
    state = TrainingState(directory, train, list(callbacks))
    callbacks.append(state)
    return callbacks, dev_metric, run_history, state


def _selection_callbacks(t, monitor, mode, schedule_callbacks):
    """The callbacks that read the dev metric: early stopping (which keeps the
    best epoch's weights; `TrainingState` saves them for a resume) and the
    plateau schedule. With `train_with_dev` dev is training data, so none of
    them runs and the last epoch's weights are kept."""
    if t.train_with_dev:
        return []
    return [
        keras.callbacks.EarlyStopping(monitor, mode=mode, patience=t.early_stopping_patience,
                                      restore_best_weights=True, verbose=1),
        *schedule_callbacks,
    ]
