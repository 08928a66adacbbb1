"""Keras callbacks of the toolkit (training itself is plain `model.fit`)."""

import json
import os
import signal
import time
from pathlib import Path

import keras
import numpy as np

from seqtasks.errors import SeqtasksError
from seqtasks.run_dir import write_json
from seqtasks.scoring import score_split
from seqtasks.training.ema import SwapEMAWeights


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


# Callback attributes that make up its state between epochs (EarlyStopping,
# ReduceLROnPlateau, SwapEMAWeights); `on_train_begin` resets them, so a
# resumed `fit` needs them back.
_CALLBACK_STATE = ("wait", "best", "best_epoch", "stopped_epoch", "cooldown_counter",
                   "_ema_weights_in_model")


class TrainingState(keras.callbacks.Callback):
    """Saves everything a resumed run needs after each epoch, and restores it.

    After each epoch it writes `<run>/resume/`: `variables-<epoch>.npz` (the
    model's weights, the optimizer's variables including its step counter,
    moments, learning rate and EMA averages, and every layer's random seed
    generator state, so dropout draws the same numbers), `best-<epoch>.npz`
    (early stopping's best weights) and, last, `state.json` naming them with
    the epoch, the state of the callbacks (best value, patience counters,
    plateau cooldown, EMA swap) and the training seconds so far. `state.json`
    is replaced atomically, so a kill at any moment leaves the state of the
    last completed epoch. The data order needs no file: epoch `e` is shuffled
    with `seed + e` (`Batches`).

    `finish()` records a completed `fit` (the final weights, after early
    stopping restored the best epoch): a run killed while evaluating or
    saving resumes straight to evaluation.

    It must come last in the callback list, after the callbacks whose state it
    saves (their `on_epoch_end` has run when it writes).

    Args:
        directory: the run's working directory (`<run>.partial`).
        batches: the training batches (their epoch counter drives shuffling).
        callbacks: the callbacks whose state is saved and restored.

    Example:

    ```python
    state = TrainingState(partial, train, callbacks)
    epoch = state.restore(model)        # 0 on a fresh run
    model.fit(data, initial_epoch=epoch, epochs=10, callbacks=[*callbacks, state])
    state.finish(seconds)
    ```
    """

    def __init__(self, directory, batches, callbacks):
        super().__init__()
        self.directory = Path(directory) / "resume"
        self.batches = batches
        self.callbacks = list(callbacks)
        self.state = None
        self.train_seconds = 0.0
        self._fit_start = None

    # -- the state on disk ------------------------------------------------------------------------

    def load(self):
        """The saved state dict, or None when there is none (a fresh run)."""
        path = self.directory / "state.json"
        if not path.exists():
            return None
        self.state = json.loads(path.read_text(encoding="utf-8"))
        self.train_seconds = self.state.get("train_seconds", 0.0)
        return self.state

    def restore(self, model):
        """Puts the saved variables into `model` (built and compiled).

        Returns:
            The number of completed epochs (`initial_epoch` for `fit`), 0 on a
            fresh run; the interrupted `fit` had stopped (early stopping, time
            limit) when `self.state["stopped"]`.
        """
        self.set_model(model)
        if self.state is None and self.load() is None:
            return 0
        optimizer = model.optimizer
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        saved = np.load(self.directory / self.state["variables"])
        variables = self._variables()
        count = len([name for name in saved.files if name.startswith("v")])
        if count != len(variables):
            raise SeqtasksError(f"{self.directory}: saved state holds {count} variables, "
                                f"the recipe's model {len(variables)}; it was not written by this recipe")
        for i, variable in enumerate(variables):
            variable.assign(saved[f"v{i}"])
        if "global_seed" in saved.files:  # keras.random calls without their own generator
            from keras.src.random.seed_generator import global_seed_generator

            global_seed_generator().state.assign(saved["global_seed"])
        self.batches._epoch = self.state["epoch"]  # the shuffle of the next epoch
        return self.state["epoch"]

    def _variables(self):
        """Every variable whose value a resumed run needs, in a fixed order."""
        model = self.model
        variables = list(model.weights) + list(model.optimizer.variables)
        for layer in model._flatten_layers(include_self=True, recursive=True):
            variables += [generator.state for generator in getattr(layer, "_seed_generators", [])]
        return variables

    @staticmethod
    def _global_seed():
        """The state of Keras' global seed generator, or None before its first use."""
        from keras.src.backend.common import global_state

        generator = global_state.get_global_attribute("global_seed_generator")
        return None if generator is None else keras.ops.convert_to_numpy(generator.state)

    def _write(self, epoch, finished=False, seconds=None):
        self.directory.mkdir(parents=True, exist_ok=True)
        tag = "final" if finished else str(epoch)
        names = {"variables": f"variables-{tag}.npz"}
        _save_npz(self.directory / names["variables"],
                  [keras.ops.convert_to_numpy(v) for v in self._variables()], global_seed=self._global_seed())
        callbacks = {}
        for index, callback in enumerate(self.callbacks):
            values = {key: _plain(getattr(callback, key)) for key in _CALLBACK_STATE
                      if hasattr(callback, key)}
            best_weights = getattr(callback, "best_weights", None)
            if best_weights is not None and not finished:
                names[f"best_weights_{index}"] = f"best-{index}-{tag}.npz"
                _save_npz(self.directory / names[f"best_weights_{index}"], best_weights)
            if values:
                callbacks[str(index)] = values
        state = {"epoch": epoch, "finished": finished,
                 "stopped": bool(getattr(self.model, "stop_training", False)),  # early stopping, time limit
                 "train_seconds": self.train_seconds if seconds is None else seconds,
                 "callbacks": callbacks, **names}
        write_json(self.directory / "state.json", state)
        keep = set(names.values()) | {"state.json"}
        for path in self.directory.iterdir():  # the files of the state before
            if path.name not in keep:
                path.unlink(missing_ok=True)
        self.state = state

    def finish(self, train_seconds):
        """Records a completed `fit` with the model's final weights."""
        self.train_seconds = train_seconds
        self._write(self.state["epoch"] if self.state else 0, finished=True)

    @property
    def finished(self):
        """True when the saved state is that of a completed `fit`."""
        return bool(self.state and self.state.get("finished"))

    # -- callback hooks -------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        # The callbacks before this one have just reset themselves.
        self._fit_start = time.perf_counter()
        if not self.state:
            return
        for index, values in self.state.get("callbacks", {}).items():
            callback = self.callbacks[int(index)]
            for key, value in values.items():
                setattr(callback, key, value)
            name = self.state.get(f"best_weights_{index}")
            if name:
                saved = np.load(self.directory / name)
                callback.best_weights = [saved[f"v{i}"] for i in range(len(saved.files))]

    def on_epoch_end(self, epoch, logs=None):
        self._write(epoch + 1, seconds=self.train_seconds + time.perf_counter() - self._fit_start)


def _plain(value):
    """A JSON value of a callback attribute (NumPy scalars become floats)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return float(value)


def _save_npz(path, arrays, **named):
    """Writes arrays `v0, v1, ...` (and the `named` ones that are not None) to `path` atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    values = {f"v{i}": np.asarray(a) for i, a in enumerate(arrays)}
    values.update({key: np.asarray(a) for key, a in named.items() if a is not None})
    with open(tmp, "wb") as f:
        np.savez(f, **values)
    os.replace(tmp, path)


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
