"""Pooling a sequence of states into one vector, respecting the padding mask.

Every mode looks only at the real steps: the values at padding positions, and
how much padding there is, never change the result. A row with no real step
gives zeros.
"""

import keras
from keras import ops

MODES = ("last", "mean", "max", "attention")


def _large_negative(dtype):
    # -1e9 overflows float16 to -inf; -3e4 is still far below any score.
    return -3e4 if keras.backend.standardize_dtype(dtype) == "float16" else -1e9


def _zero_padding(sequence, mask):
    # `where`, not a product: padding may hold inf/nan and nan * 0 is nan.
    return ops.where(mask[..., None], sequence, ops.zeros_like(sequence))


def _take_step(sequence, index):
    """sequence (batch, time, dim), index (batch,) -> (batch, dim)."""
    index = ops.cast(index, "int32")[:, None, None]
    return ops.take_along_axis(sequence, index, axis=1)[:, 0, :]


@keras.saving.register_keras_serializable(package="seqtasks")
class SequencePooling(keras.layers.Layer):
    """Pools `(batch, time, dim)` states into `(batch, dim)` over the real steps.

    Modes:
        - `"last"`: the state at the last real step. With `bidirectional=True`
          the input is `[forward, backward]` concatenated on the last axis and
          the result is the final state of each direction: the forward half at
          the last real step and the backward half at the first real step.
        - `"mean"`: average over the real steps.
        - `"max"`: element-wise maximum over the real steps.
        - `"attention"`: softmax (over the real steps only) of the scores of a
          learned query vector, optionally after a tanh projection of size
          `attention_units`; returns the weighted sum of the states.

    Args:
        mode: one of `"last"`, `"mean"`, `"max"`, `"attention"`.
        bidirectional: whether the input is `[forward, backward]` states
            (only changes `"last"`).
        attention_units: size of the tanh projection before the query in
            `"attention"` mode; `None` scores the states directly.

    Call arguments:
        sequence: float tensor `(batch, time, dim)`.
        mask: bool tensor `(batch, time)`, True at real steps; `None` means
            every step is real.

    Example:

    >>> pool = SequencePooling("mean")
    >>> pool(np.ones((2, 5, 3)), mask=np.array([[1, 1, 0, 0, 0]] * 2, bool)).shape
    (2, 3)
    """

    def __init__(self, mode="last", bidirectional=False, attention_units=None, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"SequencePooling: `mode` must be one of {MODES}. Received: mode={mode!r}")
        if not isinstance(bidirectional, bool):
            raise ValueError(
                f"SequencePooling: `bidirectional` must be True or False. Received: bidirectional={bidirectional!r}"
            )
        if attention_units is not None and (
            isinstance(attention_units, bool) or not isinstance(attention_units, int) or attention_units < 1
        ):
            raise ValueError(
                "SequencePooling: `attention_units` must be a positive integer or None. "
                f"Received: attention_units={attention_units!r}"
            )
        if attention_units is not None and mode != "attention":
            raise ValueError(
                "SequencePooling: `attention_units` is only used with mode='attention'. "
                f"Received: mode={mode!r}, attention_units={attention_units!r}"
            )
        self.mode = mode
        self.bidirectional = bidirectional
        self.attention_units = attention_units

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim is None:
            raise ValueError(f"SequencePooling: the last axis must be known. Received: input_shape={input_shape}")
        if self.bidirectional and self.mode == "last" and dim % 2:
            raise ValueError(
                "SequencePooling: bidirectional input must have an even size (forward + backward). "
                f"Received: input_shape={input_shape}"
            )
        if self.mode == "attention":
            query_dim = dim
            if self.attention_units is not None:
                query_dim = self.attention_units
                self.projection_kernel = self.add_weight(
                    name="projection_kernel", shape=(dim, query_dim), initializer="glorot_uniform")
                self.projection_bias = self.add_weight(
                    name="projection_bias", shape=(query_dim,), initializer="zeros")
            self.query = self.add_weight(name="query", shape=(query_dim,), initializer="glorot_uniform")
        self.built = True

    def call(self, sequence, mask=None):
        if mask is None:
            mask = ops.ones(ops.shape(sequence)[:2], dtype="bool")
        mask = ops.cast(mask, "bool")  # (batch, time)
        any_real = ops.any(mask, axis=1)[:, None]  # (batch, 1)
        pooled = getattr(self, f"_{self.mode}")(sequence, mask)  # (batch, dim)
        return ops.where(any_real, pooled, ops.zeros_like(pooled))

    def _last(self, sequence, mask):
        positions = ops.arange(ops.shape(sequence)[1])[None, :]  # (1, time)
        last = ops.max(ops.where(mask, positions, 0), axis=1)  # (batch,)
        if not self.bidirectional:
            return _take_step(sequence, last)
        first = ops.argmax(ops.cast(mask, "int32"), axis=1)  # (batch,)
        half = sequence.shape[-1] // 2
        forward = _take_step(sequence[..., :half], last)
        backward = _take_step(sequence[..., half:], first)
        return ops.concatenate([forward, backward], axis=-1)

    def _mean(self, sequence, mask):
        total = ops.sum(_zero_padding(sequence, mask), axis=1)  # (batch, dim)
        count = ops.sum(ops.cast(mask, sequence.dtype), axis=1)[:, None]  # (batch, 1)
        return total / ops.maximum(count, 1.0)

    def _max(self, sequence, mask):
        masked = ops.where(mask[..., None], sequence, _large_negative(sequence.dtype))
        return ops.max(masked, axis=1)

    def _attention(self, sequence, mask):
        values = _zero_padding(sequence, mask)  # (batch, time, dim)
        keys = values
        if self.attention_units is not None:  # (batch, time, units)
            keys = ops.tanh(ops.matmul(values, ops.cast(self.projection_kernel, values.dtype))
                            + ops.cast(self.projection_bias, values.dtype))
        scores = ops.matmul(keys, ops.cast(self.query, keys.dtype))  # (batch, time)
        scores = ops.where(mask, scores, _large_negative(scores.dtype))
        weights = ops.softmax(scores, axis=1) * ops.cast(mask, scores.dtype)
        return ops.sum(values * weights[..., None], axis=1)

    def compute_mask(self, inputs, mask=None):
        # The time axis is pooled away, so there is no mask to pass on; defining
        # this also stops Keras warning that an explicit `mask` gets dropped.
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode, bidirectional=self.bidirectional,
                      attention_units=self.attention_units)
        return config
