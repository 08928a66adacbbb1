"""SimpleRNN, LSTM and GRU layers with a leaner loop on TensorFlow where no fused (cuDNN) kernel runs.

Where no fused kernel runs (TensorFlow on a CPU), Keras' recurrent
layers do per time step: one product of the step's input with the input
kernel, one with the recurrent kernel, the gates, and, with a padding mask,
a read of the mask and three `where`s that hold the state over padding.
These layers, on TensorFlow where no fused kernel runs:

1. multiply the whole sequence by the input kernel in one large product
   before the loop (as PyTorch's CPU LSTM does), leaving only the recurrent
   product in the loop;
2. for a layer that returns its output sequence only (every encoder layer of
   a tagger, a classifier, ...), run the loop without the mask. The padding
   is on the right (seqtasks' batches always are), so a forward loop meets it
   after the last real token, where it changes nothing that is returned; a
   backward layer reverses each sequence within its own length (as cuDNN's
   `reverse_sequence` does) instead of the padded block, so it meets the
   padding last too. The outputs over the padding are then set as Keras sets
   them (zeros, or the last real output when `zero_output_for_mask=False`);
3. run that mask-free LSTM loop as TensorFlow's fused CPU kernel
   (`BlockLSTMV2`, `seqtasks.layers.fused_lstm`), stopping at the longest real
   length of the batch, differentiated by seqtasks' own gradient.

The weights (names, shapes), the configuration and the outputs are Keras'
own, up to float round-off: run directories saved with `keras.layers.LSTM`
etc. load into these and back. With a GPU they are Keras' layers, so GPUs
keep cuDNN. Cases not covered (input dropout
in training, recurrent dropout, `unroll`, `stateful`, GRU with
`reset_after=False`) run Keras' own loop; a layer that returns its state
keeps the mask in the loop (the state must stop at the last real token).
A mask must be right padding (as cuDNN requires): one with holes is read as
its number of true steps. On JAX these are Keras' layers: XLA fuses the
masked loop already, and the lean loop measured slower there.

Example:

```python
layer = LSTM(64, return_sequences=True)
y = layer(x, mask=mask)            # same result as keras.layers.LSTM(64, ...)
```
"""

import keras
from keras import ops

from seqtasks.layers import fused_lstm

try:  # Keras' own loop and fused kernels (private API): without them the layers are Keras' own
    from keras.src import backend as keras_backend

    _KERAS_INTERNALS = hasattr(keras_backend, "rnn")
except ImportError:  # pragma: no cover (a Keras that moved its internals)
    keras_backend, _KERAS_INTERNALS = None, False

def _reverse_within_lengths(x, lengths, training=False):
    """`x` (batch, time, features) with each row's first `lengths[row]` steps reversed, the rest in place.

    One gather of whole rows of the flattened `(batch * time, features)`
    (2-3x faster than `tf.reverse_sequence` on the CPU, docs/EXPERIMENTS.md,
    session 33). In training its gradient is the same gather (the reversal is
    its own inverse), not the scatter of a gather's gradient; in inference the
    plain gather (a custom gradient made tracing a new batch shape slower).
    """
    import tensorflow as tf  # the lean loop runs on TensorFlow only (see `_LeanLoop._lean`)

    shape = tf.shape(x)
    batch, time = shape[0], shape[1]
    step = tf.range(time)[None, :]
    lengths = tf.cast(lengths, "int32")[:, None]
    rows = tf.reshape(tf.where(step < lengths, lengths - 1 - step, step) + tf.range(batch)[:, None] * time, [-1])

    def permute(values):
        out = tf.reshape(tf.gather(tf.reshape(values, [batch * time, -1]), rows), shape)
        out.set_shape(x.shape)  # the reshape to a dynamic shape loses the static one
        return out

    if not training:
        return permute(x)

    @tf.custom_gradient
    def reverse(x):
        return permute(x), permute

    return reverse(x)


def _first(nested):
    return nested[0] if isinstance(nested, (list, tuple)) else nested


class _LeanLoop:
    """The loop shared by the layers below; a subclass gives `_gates` (its cell's step) and
    `_input_projection` / `_recurrent_bias` where they differ."""

    def _lean(self, training):
        if keras.backend.backend() != "tensorflow" or not _KERAS_INTERNALS:
            # XLA (JAX) already fuses the masked loop's `where`s into the step, and the lean
            # loop measured slower there (docs/EXPERIMENTS.md, session 30); a Keras whose
            # internals moved gets its own loop.
            return False
        import tensorflow as tf

        if tf.config.list_logical_devices("GPU"):
            return False  # Keras' own path: cuDNN (TensorFlow's fused kernels need a GPU)
        cell = self.cell
        dropout_in_use = training and 0.0 < cell.dropout < 1.0
        return not (dropout_in_use or cell.recurrent_dropout or self.unroll or self.stateful
                    or getattr(self, "use_cudnn", "auto") is True)

    def _input_projection(self, sequences):
        """The inputs times the input kernel (plus the input bias), all steps at once: (batch, time, gates)."""
        cell = self.cell
        projected = ops.matmul(sequences, cell.kernel)
        return projected if cell.bias is None else projected + cell.bias

    def _recurrent_bias(self):
        """A bias added to the recurrent product (GRU with `reset_after`), or None."""
        return None

    def _gates(self, x_projected, inner, states):
        """`(output, new_states)` from a step's projected input, `h @ recurrent_kernel (+ bias)` and the states."""
        raise NotImplementedError

    def _projection(self, sequences):
        """`(projected inputs, step(projected_t, states) -> (output, states))` for one direction."""
        kernel, bias = self.cell.recurrent_kernel, self._recurrent_bias()

        def step(x_projected, states):
            inner = ops.matmul(states[0], kernel)
            return self._gates(x_projected, inner if bias is None else inner + bias, states)

        return self._input_projection(sequences), step

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if not self._lean(training):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        mask = _first(mask)
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        if mask is not None and self.return_sequences and not self.return_state:
            return self._loop_without_mask(sequences, states, mask, training)
        projected, step = self._projection(sequences)
        return keras_backend.rnn(step, projected, states, go_backwards=self.go_backwards, mask=mask,
                                 unroll=False, input_length=sequences.shape[1],
                                 zero_output_for_mask=self.zero_output_for_mask,
                                 return_all_outputs=self.return_sequences)

    def _loop_without_mask(self, sequences, states, mask, training=False):
        """The loop over right-padded sequences without reading the mask (see the module)."""
        lengths = ops.sum(ops.cast(mask, "int32"), axis=1)
        if self.go_backwards:
            sequences = _reverse_within_lengths(sequences, lengths, training)
        last, outputs, final = self._unmasked_loop(sequences, states, ops.max(lengths), training)
        keep = ops.expand_dims(ops.cast(mask, "bool"), -1)  # (batch, time, 1)
        if self.go_backwards:
            # Keras' order for go_backwards: the padded block reversed, padding first (zeros there:
            # a reversed loop starts on the padding with zero output).
            outputs = ops.flip(ops.where(keep, _reverse_within_lengths(outputs, lengths, training), 0.0), axis=1)
        elif self.zero_output_for_mask:
            outputs = ops.where(keep, outputs, 0.0)
        else:  # Keras repeats the last real output over the padding (zeros in a row of padding only)
            last_real = ops.take_along_axis(outputs, ops.maximum(lengths - 1, 0)[:, None, None], axis=1)
            outputs = ops.where(keep, outputs, ops.where(lengths[:, None, None] > 0, last_real, 0.0))
        # `last` and `final` ran over the padding; the layer does not return them (no return_state,
        # return_sequences), Keras' RNN.call only casts them.
        return last, outputs, final

    def _unmasked_loop(self, sequences, states, steps, training=False):
        """`(last output, outputs, final states)` of the loop over every step, no mask read;
        `steps`, the longest real length, lets a fused kernel stop early (outputs beyond: zeros)."""
        projected, step = self._projection(sequences)
        return keras_backend.rnn(step, projected, states, unroll=False, input_length=sequences.shape[1],
                                 return_all_outputs=True)


@keras.saving.register_keras_serializable(package="seqtasks")
class LSTM(_LeanLoop, keras.layers.LSTM):
    """`keras.layers.LSTM` with the lean loop where no fused kernel runs (see the module).

    Args:
        *args, **kwargs: as `keras.layers.LSTM`.
    """

    def _lean(self, training):
        return hasattr(self.cell, "_compute_carry_and_output_fused") and super()._lean(training)

    def _unmasked_loop(self, sequences, states, steps, training=False):
        # The fused kernel: its forward pass measured 1.03-1.15x the lean loop at every size
        # tried, its own backward pass (Eigen matmuls) 0.78-0.82x at 300-400 wide inputs
        # (docs/EXPERIMENTS.md, session 32), hence a hand-written gradient.
        if not fused_lstm.applies(self.cell, sequences):
            return super()._unmasked_loop(sequences, states, steps, training)
        return fused_lstm.run(self.cell, sequences, states, steps)

    def _gates(self, x_projected, inner, states):
        cell = self.cell
        c, o = cell._compute_carry_and_output_fused(ops.split(x_projected + inner, 4, axis=-1), states[1])
        h = o * cell.activation(c)
        return h, [h, c]


@keras.saving.register_keras_serializable(package="seqtasks")
class GRU(_LeanLoop, keras.layers.GRU):
    """`keras.layers.GRU` with the lean loop where no fused kernel runs (see the module).

    Args:
        *args, **kwargs: as `keras.layers.GRU`.
    """

    def _lean(self, training):
        return self.cell.reset_after and super()._lean(training)

    # reset_after: the bias is (2, 3 * units), a row for the input and one for the recurrent product.
    def _input_projection(self, sequences):
        cell = self.cell
        projected = ops.matmul(sequences, cell.kernel)  # (batch, time, 3 * units)
        return projected if cell.bias is None else projected + cell.bias[0]

    def _recurrent_bias(self):
        return None if self.cell.bias is None else self.cell.bias[1]

    def _gates(self, x_projected, inner, states):
        cell = self.cell
        h = states[0]
        x_z, x_r, x_h = ops.split(x_projected, 3, axis=-1)
        r_z, r_r, r_h = ops.split(inner, 3, axis=-1)
        z = cell.recurrent_activation(x_z + r_z)
        r = cell.recurrent_activation(x_r + r_r)
        hh = cell.activation(x_h + r * r_h)
        h = z * h + (1 - z) * hh
        return h, [h]


@keras.saving.register_keras_serializable(package="seqtasks")
class SimpleRNN(_LeanLoop, keras.layers.SimpleRNN):
    """`keras.layers.SimpleRNN` with the lean loop (see the module; it has no fused kernel).

    Args:
        *args, **kwargs: as `keras.layers.SimpleRNN`.
    """

    def _gates(self, x_projected, inner, states):
        h = x_projected + inner
        if self.cell.activation is not None:
            h = self.cell.activation(h)
        return h, [h]
