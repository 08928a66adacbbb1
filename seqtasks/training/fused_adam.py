"""Adam and AdamW whose update (and weight average) is one fused kernel per variable on TensorFlow.

Keras' Adam updates a variable with about a dozen element-wise ops (each a
pass over the variable's memory, most with a temporary); TensorFlow's
`ResourceApplyAdam` does the same arithmetic in one pass that updates the
weight and both moments in place. For the POS tagger's 1.7 million weights
that is 1.4 against 4.0 ms a step on one core (docs/EXPERIMENTS.md, session
37), about 5% of a training step. The formula is Keras' own (epsilon added to
the square root of `v`, the bias correction folded into the rate), so the
results agree to float rounding (a test compares the two), with one
correction: an embedding's gradient is summed over repeated tokens before it
is squared, for the clipping norm and for the second moment, as in Adam's
definition, PyTorch and Keras on JAX (Keras 3.15 on TensorFlow squares each
occurrence; see `_clip_gradients`). Every row's moments decay every step, as
in Keras' dense update.

Elsewhere Keras' own step runs (on the summed gradient too): on JAX and
PyTorch, inside XLA, under a `tf.distribute` strategy (whose variables are
per-device copies updated through the strategy; there the clipping norm stays
Keras'), with `amsgrad`, and for non-float weights.

Example:

```python
model.compile(optimizer=Adam(learning_rate=1e-3, clipnorm=5.0), loss=...)
```
"""

import keras

from seqtasks.layers import tf_context
from seqtasks.training.distribution import dense_gradient, in_strategy


class _FusedAdamStep:
    """`update_step` through `ResourceApplyAdam` where it may run."""

    def _clip_gradients(self, grads):
        # An embedding's gradient on TensorFlow comes as IndexedSlices: one row
        # per looked-up token, repeated tokens not yet summed. Keras squares
        # those rows before summing them, both for the clipping norm and for
        # Adam's second moment (a token seen twice gets g1^2 + g2^2, not
        # (g1 + g2)^2). Made dense here, the gradient is the one Adam,
        # PyTorch and Keras on JAX use, on every path of the step below.
        # Under a `tf.distribute` strategy the gradients are all-reduced after
        # clipping, and dense ones there fail TF 2.21's collectives ("expected
        # shape [1888] but another member ... expected [1800]"): there only the
        # update (after the all-reduce) sees the summed gradient.
        if not in_strategy():
            grads = [dense_gradient(g) for g in grads]
        return super()._clip_gradients(grads)

    def update_step(self, gradient, variable, learning_rate):
        # Under a strategy `_clip_gradients` left IndexedSlices for the
        # all-reduce; summed here, after it.
        gradient = dense_gradient(gradient)
        if not self._fusable(variable):
            return super().update_step(gradient, variable, learning_rate)
        import tensorflow as tf

        index = self._get_variable_index(variable)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.constant(self.beta_1, dtype), tf.constant(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=self._momentums[index].value.handle,
            v=self._velocities[index].value.handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
            epsilon=tf.constant(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype))

    def _update_model_variables_moving_average(self, trainable_variables):
        # The weights' moving average (`use_ema`): Keras' four element-wise ops
        # and a copy a variable become one in-place kernel, average -= (1 -
        # momentum) * (average - weight) (1.0 against 1.9 ms a step for the
        # POS tagger, one core; the same values to float rounding).
        if not all(self._fusable(v.value) for v in trainable_variables):
            return super()._update_model_variables_moving_average(trainable_variables)
        import tensorflow as tf

        # Momentum 0 on the first step: the average starts as the weights.
        keep = tf.cast(tf.not_equal(self.iterations, 0), "float32") * self.ema_momentum
        for variable, average in zip(trainable_variables, self._model_variables_moving_average):
            if average is not None:
                tf.raw_ops.ResourceApplyGradientDescent(
                    var=average.value.handle, alpha=tf.cast(1 - keep, variable.dtype),
                    delta=average.value - variable.value)

    def _fusable(self, variable):
        if self.amsgrad or not tf_context.plain_tensorflow():
            return False
        import tensorflow as tf

        return (not in_strategy() and isinstance(variable, tf.Variable)
                and variable.dtype in (tf.float16, tf.float32, tf.float64))


@keras.saving.register_keras_serializable(package="seqtasks")
class Adam(_FusedAdamStep, keras.optimizers.Adam):
    """`keras.optimizers.Adam` (same arguments and results), fused on TensorFlow."""


@keras.saving.register_keras_serializable(package="seqtasks")
class AdamW(_FusedAdamStep, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` (same arguments and results), fused on TensorFlow."""
