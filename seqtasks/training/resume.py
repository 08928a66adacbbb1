"""Saving and restoring everything a resumed run needs (`TrainingState`)."""

import json
import os
import time
from pathlib import Path

import keras
import numpy as np

from seqtasks.errors import SeqtasksError
from seqtasks.run_dir import write_json

# The attributes of Keras' EarlyStopping / ReduceLROnPlateau and of the EMA swap that a
# resumed run must carry on from.
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
        for callback in self.callbacks:  # a time budget counts the interrupted run's seconds too
            if hasattr(callback, "seconds_before"):
                callback.seconds_before = self.train_seconds
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
