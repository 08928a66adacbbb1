"""The weights' moving average (`train.ema_momentum`) swapped in and out safely on every back end."""

import keras
import numpy as np


class SwapEMAWeights(keras.callbacks.SwapEMAWeights):
    """`keras.callbacks.SwapEMAWeights` whose variables never share an array.

    Keras' JAX path ends the last epoch with `average.assign(variable)` and
    `fit` ends with `optimizer.finalize_variable_values`, which does
    `variable.assign(average)`. On JAX `assign` stores the very array it is
    given, so the model's variable and the optimizer's average then hold one
    `jax.Array`; the next JAX step (`predict`, `evaluate`, `fit`) donates the
    model's arrays to XLA (`donate_argnums=0`), which deletes that array under
    the average too, and reading the optimizer's variables afterwards (the
    resume state, `model.save`) fails with "Array has been deleted". Here
    every copy between a variable and its average goes through a NumPy copy,
    so each variable owns its array; on TensorFlow (`assign` copies) Keras'
    own path runs unchanged.

    Args:
        swap_on_epoch: as in `keras.callbacks.SwapEMAWeights`: the averaged
            weights are in the model between epochs, for the callbacks after
            this one (dev metric, early stopping).

    Example:

    ```python
    model.compile(keras.optimizers.Adam(use_ema=True), loss)
    model.fit(data, epochs=3, callbacks=[SwapEMAWeights(swap_on_epoch=True), DevMetric(...)])
    model.save("model.keras")   # the optimizer's averages are still readable on JAX
    ```
    """

    def _backend_swap_variables(self, optimizer):
        for variable, average in zip(optimizer._trainable_variables, optimizer._model_variables_moving_average):
            mine, theirs = _copy(variable), _copy(average)
            variable.assign(theirs)
            average.assign(mine)

    def _backend_finalize_ema_values(self, optimizer):
        for variable, average in zip(optimizer._trainable_variables, optimizer._model_variables_moving_average):
            average.assign(_copy(variable))

    def on_train_end(self, logs=None):
        # `fit` has just run `optimizer.finalize_variable_values` (model
        # variables := averages, by reference on JAX); give each average its
        # own copy again. (On TensorFlow the values are equal already.)
        if keras.backend.backend() != "tensorflow":
            self._apply_to_ema_optimizers(None, self._backend_finalize_ema_values)
        super().on_train_end(logs)


def _copy(variable):
    """A NumPy copy of `variable`'s value (never a view of the backend's buffer)."""
    return np.array(keras.ops.convert_to_numpy(variable), copy=True)
