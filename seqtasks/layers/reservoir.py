"""Echo state network encoder: a fixed random recurrent reservoir (only the readout trains)."""

import keras
import numpy as np

# Redraws of the sparse recurrent matrix before giving up on a nonzero spectral
# radius (small, very sparse matrices can be nilpotent: all eigenvalues zero).
_MAX_DRAWS = 100


def _time_loop(step, state, xs, drive, collect=True, use_scan=None):
    """Runs `step(h, x_t) -> (h, y_t)` over the leading (time) axis of `xs`.

    Returns the final state and the stacked outputs, time-major like `drive`
    (the (time, batch, units) input projection, also the outputs' shape), or
    None for the outputs when `collect` is False on the TensorFlow path.

    `use_scan=None` picks by back end. The gradient of Keras' TF `scan` (and
    `fori_loop`) cannot be XLA-compiled (jit_compile is "auto", hence on, with
    a GPU) as its loop has no `maximum_iterations`; so TensorFlow gets a
    `while_loop` with one (as seqtasks' CRF does), writing each output with
    `scatter_update`. Outside XLA that write copies the (time, batch, units)
    buffer, a cost that stays small next to the (units x units) recurrent
    matmul while time << units. JAX's `while_loop` has no reverse-mode
    gradient, so the other back ends scan.
    """
    ops = keras.ops
    if use_scan is None:
        use_scan = keras.backend.backend() != "tensorflow"
    if use_scan:
        return ops.scan(step, state, xs)
    steps = ops.shape(drive)[0]

    def step_at(t, h):
        return step(h, keras.tree.map_structure(lambda x: x[t], xs))

    if not collect:
        _, final = ops.while_loop(lambda t, h: t < steps, lambda t, h: (t + 1, step_at(t, h)[0]), (0, state),
                                  maximum_iterations=steps)
        return final, None

    def body(t, h, outputs):
        h, y = step_at(t, h)
        # scatter_update (TensorScatterUpdate) has a gradient; slice_update
        # (XlaDynamicUpdateSlice) has none in TensorFlow.
        return t + 1, h, ops.scatter_update(outputs, ops.reshape(t, (1, 1)), ops.expand_dims(y, 0))

    _, final, outputs = ops.while_loop(lambda t, h, outputs: t < steps, body, (0, state, ops.zeros_like(drive)),
                                       maximum_iterations=steps)
    return final, outputs


@keras.saving.register_keras_serializable(package="seqtasks")
class Reservoir(keras.layers.Layer):
    """Leaky echo state network (Jaeger 2001; Lukosevicius 2012) over a sequence.

    The state follows

        h_t = (1 - a) h_{t-1} + a tanh(W_in x_t + W h_{t-1} + b)

    with `a` the leak rate. `W_in` and `b` are drawn uniformly in
    [-input_scaling, input_scaling] (the bias is the weight of a constant
    input of 1, scaled with the other inputs); `W` is drawn uniformly in
    [-1, 1], a `sparsity` fraction of its entries (exactly
    `round(sparsity * units**2)`) set to zero, then rescaled so that its
    largest absolute eigenvalue is `spectral_radius`. All three are drawn at
    build time with a NumPy generator seeded by `(seed, go_backwards)` (the
    same weights on every back end; a backward layer gets a reservoir of its
    own) and are non-trainable: a model trains only the layers around the
    reservoir (the embedding and the readout).

    Padded steps (`mask` False, right padding) leave the state unchanged, so
    the final state of a padded sequence is that of its last real token;
    their outputs are zeros (as `keras.layers.RNN` inside `Bidirectional`).

    The layer works inside `keras.layers.Bidirectional` (it has the
    `go_backwards`, `return_sequences`, `return_state`, `stateful` and
    `input_spec` attributes the wrapper reads). As with `keras.layers.RNN`,
    `go_backwards=True` reads the sequence from its end and returns the
    outputs in that reversed order. Written in `keras.ops` only; on
    TensorFlow the time loop is a `while_loop` that XLA can compile with its
    gradient (`jit_compile=True`, the "auto" choice with a GPU).

    Args:
        units: size of the reservoir state, a positive integer.
        spectral_radius: largest absolute eigenvalue of `W`, > 0 (below 1
            usually gives the echo state property: the state forgets its start).
        leak_rate: `a` in (0, 1]; smaller values give slower dynamics.
        input_scaling: scale of `W_in` and `b`, > 0.
        sparsity: fraction of zero weights in `W`, in [0, 1).
        seed: non-negative integer seed of the NumPy generator that draws
            the weights (with `go_backwards`).
        return_sequences: return the state at every step (else the final one).
        go_backwards: read the sequence backwards (outputs in reversed order).
        return_state: also return the final state, shape `(batch, units)`
            (to carry it into the next window of a long text).

    Call arguments:
        inputs: float tensor `(batch, time, features)`.
        mask: optional bool tensor `(batch, time)`, True on real steps.
        initial_state: optional `(batch, units)` tensor (or a list holding
            one, as `Bidirectional` passes it); zeros by default.

    Returns:
        `(batch, time, units)` if `return_sequences` else `(batch, units)`;
        with `return_state`, the tuple `(outputs, final_state)`.

    Example:

    ```python
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(10000, 64, mask_zero=True)(ids)
    x = Reservoir(512, spectral_radius=0.9, leak_rate=0.5)(x)
    logits = keras.layers.Dense(10000)(x)  # the readout: the only trained part
    # both directions, (batch, time, 2 * 512)
    y = keras.layers.Bidirectional(Reservoir(512))(x)
    ```
    """

    def __init__(self, units, spectral_radius=0.9, leak_rate=1.0, input_scaling=1.0, sparsity=0.9, seed=0,
                 return_sequences=True, go_backwards=False, return_state=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"Reservoir units must be a positive integer, received units={units!r}")
        if not spectral_radius > 0:
            raise ValueError(f"Reservoir spectral_radius must be > 0, received spectral_radius={spectral_radius}")
        if not 0.0 < leak_rate <= 1.0:
            raise ValueError(f"Reservoir leak_rate must be in (0, 1], received leak_rate={leak_rate}")
        if not input_scaling > 0:
            raise ValueError(f"Reservoir input_scaling must be > 0, received input_scaling={input_scaling}")
        if not 0.0 <= sparsity < 1.0:
            raise ValueError(f"Reservoir sparsity must be in [0, 1), received sparsity={sparsity}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"Reservoir seed must be a non-negative integer, received seed={seed!r}")
        self.units = int(units)
        self.spectral_radius = float(spectral_radius)
        self.leak_rate = float(leak_rate)
        self.input_scaling = float(input_scaling)
        self.sparsity = float(sparsity)
        self.seed = int(seed)
        self.return_sequences = return_sequences
        self.go_backwards = go_backwards
        self.return_state = return_state
        # Read by keras.layers.Bidirectional, as on keras.layers.RNN: the
        # reservoir keeps no state between calls (carry it with return_state).
        self.stateful = False
        self.states = None
        self.state_size = self.units
        self.input_spec = keras.layers.InputSpec(ndim=3)
        self.supports_masking = True

    def _draw_weights(self, features):
        """The float64 (W_in, W, b) drawn from (seed, go_backwards); W rescaled to the spectral radius."""
        # The direction is part of the seed: Bidirectional builds its backward
        # copy from the same config, and two different reservoirs give the
        # readout more diverse features than one reservoir read both ways.
        rng = np.random.default_rng([self.seed, int(self.go_backwards)])
        w_in = rng.uniform(-self.input_scaling, self.input_scaling, size=(features, self.units))
        bias = rng.uniform(-self.input_scaling, self.input_scaling, size=(self.units,))
        size = self.units * self.units
        # An exact count of zeros (not a Bernoulli draw per entry) so that
        # `sparsity` is what the matrix has, also for small reservoirs.
        nonzero = max(1, size - int(round(self.sparsity * size)))
        for _ in range(_MAX_DRAWS):
            flat = np.zeros(size)
            flat[rng.permutation(size)[:nonzero]] = rng.uniform(-1.0, 1.0, size=nonzero)
            recurrent = flat.reshape(self.units, self.units)
            radius = np.max(np.abs(np.linalg.eigvals(recurrent)))
            if radius > 1e-8:
                return w_in, recurrent * (self.spectral_radius / radius), bias
        raise ValueError(
            f"Reservoir could not draw a recurrent matrix with a nonzero spectral radius in {_MAX_DRAWS} draws "
            f"(units={self.units}, sparsity={self.sparsity}, seed={self.seed}); use more units or a lower sparsity"
        )

    def build(self, input_shape):
        features = input_shape[-1]
        if features is None:
            raise ValueError(f"Reservoir needs a known feature size (last axis), received input_shape={input_shape}")
        w_in, recurrent, bias = self._draw_weights(int(features))
        # trainable=False: an echo state network trains only its readout. The
        # values are saved with the model, so loading does not depend on the RNG.
        self.input_kernel = self.add_weight(shape=w_in.shape, initializer="zeros", trainable=False,
                                            name="input_kernel")
        self.recurrent_kernel = self.add_weight(shape=recurrent.shape, initializer="zeros", trainable=False,
                                                name="recurrent_kernel")
        self.bias = self.add_weight(shape=bias.shape, initializer="zeros", trainable=False, name="bias")
        self.input_kernel.assign(w_in.astype(self.variable_dtype))
        self.recurrent_kernel.assign(recurrent.astype(self.variable_dtype))
        self.bias.assign(bias.astype(self.variable_dtype))

    def call(self, inputs, mask=None, initial_state=None):
        ops = keras.ops
        dtype = self.compute_dtype
        inputs = ops.cast(inputs, dtype)
        w_in = ops.cast(self.input_kernel, dtype)
        recurrent = ops.cast(self.recurrent_kernel, dtype)
        bias = ops.cast(self.bias, dtype)
        if isinstance(initial_state, (list, tuple)):  # Bidirectional passes a list of one state
            initial_state = initial_state[0] if initial_state else None
        if initial_state is None:
            state = ops.zeros((ops.shape(inputs)[0], self.units), dtype=dtype)
        else:
            state = ops.cast(initial_state, dtype)

        # The input projection does not depend on the state: one matmul for all
        # steps, time-major for the time loop.
        drive = ops.transpose(ops.matmul(inputs, w_in) + bias, (1, 0, 2))
        if self.go_backwards:
            drive = ops.flip(drive, axis=0)
        a = self.leak_rate

        def update(h, u):
            return (1.0 - a) * h + a * ops.tanh(u + ops.matmul(h, recurrent))

        if mask is None:
            def step(h, u):
                h = update(h, u)
                return h, h
            xs = drive
        else:
            keep = ops.expand_dims(ops.transpose(ops.cast(mask, "bool"), (1, 0)), -1)  # (time, batch, 1)
            if self.go_backwards:
                keep = ops.flip(keep, axis=0)

            def step(h, step_inputs):
                u, real = step_inputs
                # A padded step keeps the state (so padding never reaches the
                # final state) and outputs zeros.
                h = ops.where(real, update(h, u), h)
                return h, ops.where(real, h, ops.zeros_like(h))
            xs = (drive, keep)
        final, outputs = _time_loop(step, state, xs, drive, collect=self.return_sequences)

        outputs = ops.transpose(outputs, (1, 0, 2)) if self.return_sequences else final
        if self.return_state:
            return outputs, final
        return outputs

    def compute_output_shape(self, inputs_shape, initial_state_shape=None):
        # Argument names follow call() (Keras matches them for several-argument calls).
        batch = inputs_shape[0]
        output = (batch, inputs_shape[1], self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return output, (batch, self.units)
        return output

    def compute_mask(self, inputs, mask=None):
        # As keras.layers.RNN: the time mask goes on with the sequence output;
        # a final state has no time axis, hence no mask.
        output_mask = mask if (mask is not None and self.return_sequences) else None
        if self.return_state:
            return [output_mask, None]
        return output_mask

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "spectral_radius": self.spectral_radius, "leak_rate": self.leak_rate,
                       "input_scaling": self.input_scaling, "sparsity": self.sparsity, "seed": self.seed,
                       "return_sequences": self.return_sequences, "go_backwards": self.go_backwards,
                       "return_state": self.return_state})
        return config
