"""TensorFlow's fused CPU LSTM kernel (`BlockLSTMV2`) for `seqtasks.layers.recurrent.LSTM`.

The kernel runs the whole loop in one op (no per-step graph ops). Its
gradient is hand-written (`_gradient`): TensorFlow's `BlockLSTMGrad`
multiplies `[x, h]` by the weights at every step with Eigen, slower than
autodiff of the lean loop at wide inputs (docs/EXPERIMENTS.md, sessions
32-33), and TensorFlow registers `BlockLSTMV2` with `BlockLSTM`'s gradient,
which reads the gates in V1's order (i, c, f, o), so V2's weight gradients
would come out permuted.

V2 takes the weights in Keras' gate order (i, f, c, o), so no permuted copy
of them is made per call (V1 needed one; V2 measured 1.00-1.03x V1 in an
A/B, session 34). Keras' LSTM has no forget bias added at run time and no
cell clipping, as V2.

Example:

```python
if fused_lstm.applies(cell, sequences):
    last, outputs, final = fused_lstm.run(cell, sequences, states, steps)
```
"""

import keras

from seqtasks.layers import tf_context


def applies(cell, sequences):
    """Whether the kernel computes this cell: Keras' activations, float32, and TensorFlow
    outside an XLA cluster (the kernel has no XLA version)."""
    if cell.activation is not keras.activations.tanh or cell.recurrent_activation is not keras.activations.sigmoid:
        return False
    return sequences.dtype == "float32" and tf_context.plain_tensorflow()


def _weights(cell):
    """`(kernel, recurrent_kernel, bias)` of the cell as float32 tensors (a zero bias without one)."""
    import tensorflow as tf

    bias = cell.bias if cell.use_bias else tf.zeros([4 * cell.units])
    return tuple(tf.cast(w, "float32") for w in (cell.kernel, cell.recurrent_kernel, bias))


def _kernel(x, h0, c0, kernel, recurrent_kernel, bias, steps):
    """`BlockLSTMV2` over time-major `x` for `steps` steps (outputs beyond: `h`, `cs` zero, gates unwritten).

    V2 reads the weights in Keras' gate order (no permuted copy of them per call);
    its registered gradient is wrong (see the module), so every caller differentiates
    it with `_gradient`.
    """
    import tensorflow as tf

    no_peephole = tf.zeros([recurrent_kernel.shape[0]])
    return tf.raw_ops.BlockLSTMV2(
        seq_len_max=tf.cast(steps, "int64"), x=x, cs_prev=c0, h_prev=h0,
        w=tf.concat([kernel, recurrent_kernel], axis=0), wci=no_peephole, wcf=no_peephole,
        wco=no_peephole, b=bias, cell_clip=-1.0, use_peephole=False)


def _batch_major(h, cs):
    """As `keras_backend.rnn` with `return_all_outputs=True`: `(last output, outputs, final states)`."""
    import tensorflow as tf

    outputs = tf.transpose(h, [1, 0, 2])
    return outputs[:, -1], outputs, [h[-1], cs[-1]]


def run(cell, sequences, states, steps):
    """The LSTM over `steps` steps of `sequences` (batch, time, features), differentiated
    by `_gradient` (inference and training alike). Returns as `keras_backend.rnn` with
    `return_all_outputs=True`."""
    import tensorflow as tf

    # One step at least: the kernel leaves its gate outputs beyond `seq_len_max` unwritten, and
    # the gradient reads the gates of every step that ran. In a batch of padding only the one
    # extra step reads padding, whose outputs are masked later.
    ran = tf.minimum(tf.maximum(tf.cast(steps, "int32"), 1), tf.shape(sequences)[1])

    @tf.custom_gradient
    def lstm(x, h0, c0, kernel, recurrent_kernel, bias):  # tensors, not variables, enter it
        out = _kernel(x, h0, c0, kernel, recurrent_kernel, bias, ran)

        def grad(dh, dcs):
            return _gradient(out, x, h0, c0, kernel, recurrent_kernel, ran,
                             tf.zeros_like(out.h) if dh is None else dh,
                             tf.zeros_like(out.cs) if dcs is None else dcs)

        return (out.h, out.cs), grad

    h, cs = lstm(tf.transpose(sequences, [1, 0, 2]), states[0], states[1], *_weights(cell))
    return _batch_major(h, cs)


def _gradient(out, x, h0, c0, kernel, recurrent_kernel, steps, dh, dcs):
    """Gradients of `_kernel`'s `(h, cs)` for `steps` steps, given theirs (`dh`, `dcs`).

    The gate derivatives that do not depend on the recurrence are computed for
    all steps at once; the loop keeps one product per step (`dgates @
    recurrent_kernel^T`); the input and weight gradients are then a few large
    products over all steps.

    Returns:
        `(dx, dh0, dc0, dkernel, drecurrent_kernel, dbias)`.
    """
    import tensorflow as tf

    units = recurrent_kernel.shape[0]
    i, f, o, ci, co = (g[:steps] for g in (out.i, out.f, out.o, out.ci, out.co))
    cs_prev = tf.concat([c0[None], out.cs[:steps - 1]], axis=0)
    h_prev = tf.concat([h0[None], out.h[:steps - 1]], axis=0)
    dh, dcs = dh[:steps], dcs[:steps]
    # d gates = [dc, dc, dc, dh] * factor, in Keras' gate order (i, f, c, o); dc += dh * through.
    factor = tf.concat([ci * i * (1 - i), cs_prev * f * (1 - f), i * (1 - ci * ci), co * o * (1 - o)], axis=-1)
    through = o * (1 - co * co)
    recurrent_t = tf.transpose(recurrent_kernel)

    def body(t, dh_next, dc_next, gates):
        dh_t = dh[t] + dh_next
        dc_t = dh_t * through[t] + dcs[t] + dc_next
        dgates = tf.concat([dc_t, dc_t, dc_t, dh_t], axis=-1) * factor[t]
        return t - 1, tf.matmul(dgates, recurrent_t), dc_t * f[t], gates.write(t, dgates)

    gates = tf.TensorArray(x.dtype, size=steps, element_shape=factor.shape[1:])
    _, dh0, dc0, gates = tf.while_loop(
        lambda t, *_: t >= 0, body, (steps - 1, tf.zeros_like(h0), tf.zeros_like(c0), gates))
    dgates = gates.stack()  # (steps, batch, 4 units)
    flat = tf.reshape(dgates, [-1, 4 * units])
    dx = tf.pad(tf.matmul(dgates, kernel, transpose_b=True), [[0, tf.shape(x)[0] - steps], [0, 0], [0, 0]])
    dkernel = tf.matmul(tf.reshape(x[:steps], [-1, tf.shape(x)[-1]]), flat, transpose_a=True)
    drecurrent = tf.matmul(tf.reshape(h_prev, [-1, units]), flat, transpose_a=True)
    return dx, dh0, dc0, dkernel, drecurrent, tf.reduce_sum(flat, axis=0)
