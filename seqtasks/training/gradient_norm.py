"""The global gradient norm of every training step, logged and plotted
(`train.log_gradient_norm`): how exploding gradients show themselves, and
what clipping (`train.clipnorm`) does about them.

The norm is taken where the optimizer clips (before clipping), so it is the
norm of the gradients the step computed, on every back end: the optimizer
writes it into one of its own variables, which Keras updates like its other
state (also inside `jax.jit`), and a callback reads it after each batch.

Example:

```python
optimizer = with_gradient_norm(keras.optimizers.Adam)(learning_rate=1e-3)
model.compile(optimizer=optimizer, loss=...)
log = GradientNormLog(run_dir)
model.fit(data, callbacks=[log])        # run_dir/gradient_norm.json, plots/gradient_norm.png
```
"""

import json
import math

import keras
from keras import ops

from seqtasks.training.distribution import dense_gradient

_CLASSES = {}


def with_gradient_norm(optimizer_class):
    """A subclass of `optimizer_class` that keeps the global norm of each step's
    gradients (before clipping) in its variable `gradient_norm`.

    Args:
        optimizer_class: a `keras.optimizers.Optimizer` subclass.

    Returns:
        The subclass (made once per class, registered for saving).
    """
    if optimizer_class in _CLASSES:
        return _CLASSES[optimizer_class]

    class GradientNormRecording(optimizer_class):
        def build(self, variables):
            super().build(variables)
            # Built with the optimizer's other state, so that the JAX trainer's
            # stateless step carries it like the moments.
            self.gradient_norm = self.add_variable((), initializer="zeros", name="gradient_norm")

        def _clip_gradients(self, grads):
            squares = [ops.sum(ops.square(ops.cast(dense_gradient(g), "float32"))) for g in grads if g is not None]
            self.gradient_norm.assign(ops.sqrt(ops.sum(ops.stack(squares))) if squares else 0.0)
            return super()._clip_gradients(grads)

    name = f"GradientNorm{optimizer_class.__name__}"
    GradientNormRecording.__name__ = GradientNormRecording.__qualname__ = name
    _CLASSES[optimizer_class] = keras.saving.register_keras_serializable(package="seqtasks", name=name)(
        GradientNormRecording)
    return _CLASSES[optimizer_class]


class GradientNormLog(keras.callbacks.Callback):
    """Reads the optimizer's `gradient_norm` after each batch; at the end of
    training writes `gradient_norm.json` (`{"steps": [...], "epochs": [...],
    "clipnorm": ...}`) and, with `plots`, `plots/gradient_norm.png`.

    Args:
        directory: the run directory.
        plots: also draw the plot.
    """

    every_step = True  # reads each step's norm: `fit_and_evaluate` runs one step per call

    def __init__(self, directory, plots=True):
        super().__init__()
        self.directory, self.plots = directory, plots
        self.norms, self.epoch_ends = [], []

    def on_train_batch_end(self, batch, logs=None):
        self.norms.append(float(ops.convert_to_numpy(self.model.optimizer.gradient_norm)))

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_ends.append(len(self.norms))
        if self.norms and logs is not None:
            # The epoch's largest norm beside the loss in history.json.
            start = self.epoch_ends[-2] if len(self.epoch_ends) > 1 else 0
            logs["max_gradient_norm"] = max(self.norms[start:] or [0.0])

    def on_train_end(self, logs=None):
        from seqtasks.run_dir import write_json

        optimizer = self.model.optimizer
        clipnorm = getattr(optimizer, "global_clipnorm", None) or getattr(optimizer, "clipnorm", None)
        finite = [n if math.isfinite(n) else None for n in self.norms]  # JSON has no inf / nan
        write_json(self.directory / "gradient_norm.json",
                   {"steps": finite, "epoch_ends": self.epoch_ends, "clipnorm": clipnorm})
        if self.plots and self.norms:
            from seqtasks.reporting.plots import plot_gradient_norm

            plot_gradient_norm(self.norms, self.epoch_ends, clipnorm, self.directory / "plots" / "gradient_norm.png")


def load_gradient_norms(directory):
    """The per-step norms of a run directory (`None` for a step whose norm was not finite)."""
    with open(directory / "gradient_norm.json", encoding="utf-8") as f:
        return json.load(f)
