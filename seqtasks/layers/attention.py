"""Encoder-decoder attention for sequence-to-sequence models, in `keras.ops` only.

Two classic scorers of a decoder query against the encoder states (keys):

- `BahdanauAttention` (additive, Bahdanau et al. 2015):
  `score(q, k) = v^T tanh(W_q q + W_k k)`.
- `LuongAttention` (multiplicative, Luong et al. 2015): `mode="dot"` scores
  `q . k`; `mode="general"` scores `q^T W k`.

Both layers are called as `layer(query, keys, values=None, mask=None)` and
return `(context, weights)`. The query is either one decoder step,
`(batch, units_q)` (step-by-step decoding, e.g. inside a beam search), or every
decoder step at once, `(batch, tq, units_q)` (teacher-forced training); the two
give the same numbers, step for step. `keys` and `values` are
`(batch, ts, d)`; `values` defaults to `keys`. `mask` is the boolean source
padding mask `(batch, ts)`, True at real tokens: padding positions get exactly
zero weight, and padding values (even inf/nan) never reach the context. A row
whose mask is all False gets all-zero weights and a zero context.

The mask is never taken implicitly from a Keras mask on the inputs (with two
tensor arguments Keras only fills a `mask` argument from the first one, which
here is the decoder query): pass the source mask explicitly.

Scores are computed in the layer's compute dtype; the padding fill value is
`-3e4` in float16 (where `-1e9` would overflow to `-inf`) and `-1e9` otherwise.
"""

import keras
from keras import ops

LUONG_MODES = ("dot", "general")


def _large_negative(dtype):
    # -1e9 overflows float16 to -inf (and -inf - -inf is nan in the softmax);
    # -3e4 is still far below any real score.
    return -3e4 if keras.backend.standardize_dtype(dtype) == "float16" else -1e9


def _check_units(layer, units):
    if isinstance(units, bool) or not isinstance(units, int) or units < 1:
        raise ValueError(f"{layer}: `units` must be a positive integer. Received: units={units!r}")


def _last_dim(layer, name, shape):
    """The known last axis of `shape`, or a ValueError naming the argument."""
    if shape is None or len(shape) < 2 or shape[-1] is None:
        raise ValueError(f"{layer}: the last axis of `{name}` must be known. Received: {name}_shape={shape}")
    return shape[-1]


def _check_ranks(layer, query_shape, keys_shape, values_shape):
    if len(query_shape) not in (2, 3):
        raise ValueError(
            f"{layer}: `query` must be (batch, units) or (batch, tq, units). Received: query_shape={query_shape}"
        )
    if len(keys_shape) != 3:
        raise ValueError(f"{layer}: `keys` must be (batch, ts, d). Received: keys_shape={keys_shape}")
    if values_shape is not None and len(values_shape) != 3:
        raise ValueError(f"{layer}: `values` must be (batch, ts, d). Received: values_shape={values_shape}")


class _Attention(keras.layers.Layer):
    """Shared masking, softmax and weighted sum; subclasses define `_scores`."""

    def project_keys(self, keys):
        """The part of the scorer that depends on the keys only, `(batch, ts, k)`.

        A decoder that attends step by step over the same keys computes it
        once and passes it as `projected_keys` to every step (otherwise each
        step projects all the keys again).
        """
        return keys

    def call(self, query, keys, values=None, mask=None, projected_keys=None):
        if values is None:
            values = keys
        single_step = len(query.shape) == 2  # the rank is static in every back end
        if single_step:
            query = query[:, None, :]  # (batch, 1, units_q): one code path for both
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        scores = self._scores(query, projected_keys)  # (batch, tq, ts)
        if mask is not None:
            mask = ops.cast(mask, "bool")[:, None, :]  # (batch, 1, ts)
            # `where`, not an addition: padding keys may hold inf/nan.
            scores = ops.where(mask, scores, _large_negative(scores.dtype))
        weights = ops.softmax(scores, axis=-1)
        if mask is not None:
            # After the fill, padding already has weight exp(-1e9) == 0; this
            # only matters for a row with no real token, whose softmax is uniform
            # over padding: it becomes all zeros instead.
            weights = ops.where(mask, weights, ops.zeros_like(weights))
            # `where`, not a product: padding values may be inf/nan and 0 * nan is nan.
            values = ops.where(ops.transpose(mask, (0, 2, 1)), values, ops.zeros_like(values))
        context = ops.matmul(weights, ops.cast(values, weights.dtype))  # (batch, tq, d)
        if single_step:
            return context[:, 0, :], weights[:, 0, :]
        return context, weights

    def compute_mask(self, *args, **kwargs):
        # The outputs carry no Keras mask: the decoder passes its own masks on
        # explicitly. Defining this also stops the "destroys the mask" warning
        # when the query comes from a masked embedding.
        return None

    def compute_output_shape(self, query_shape, keys_shape, values_shape=None, projected_keys_shape=None):
        values_shape = keys_shape if values_shape is None else values_shape
        leading = tuple(query_shape[:-1])
        return leading + (values_shape[-1],), leading + (keys_shape[1],)


@keras.saving.register_keras_serializable(package="seqtasks")
class BahdanauAttention(_Attention):
    """Additive attention: `score(q, k) = v^T tanh(W_q q + W_k k)`.

    Args:
        units: size of the hidden layer of the scorer (the width of `W_q q`,
            `W_k k` and `v`).
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        query: float tensor `(batch, units_q)` for one decoder step, or
            `(batch, tq, units_q)` for `tq` decoder steps at once.
        keys: float tensor `(batch, ts, d_k)`, the encoder states.
        values: float tensor `(batch, ts, d)` averaged into the context;
            `None` uses `keys`.
        mask: bool tensor `(batch, ts)`, True at real source tokens; `None`
            means every position is real.

    Returns:
        `(context, weights)`: context `(batch, d)` and weights `(batch, ts)`
        for a 2-D query; `(batch, tq, d)` and `(batch, tq, ts)` for a 3-D one.
        The weights of each query sum to 1 over the real source positions and
        are exactly 0 at padding.

    Example:

    >>> attention = BahdanauAttention(8)
    >>> context, weights = attention(np.ones((2, 6)), np.ones((2, 5, 4)),
    ...                              mask=np.array([[1, 1, 1, 0, 0]] * 2, bool))
    >>> context.shape, weights.shape
    ((2, 4), (2, 5))
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        _check_units("BahdanauAttention", units)
        self.units = units

    def build(self, query_shape, keys_shape, values_shape=None, projected_keys_shape=None):
        _check_ranks("BahdanauAttention", query_shape, keys_shape, values_shape)
        query_dim = _last_dim("BahdanauAttention", "query", query_shape)
        key_dim = _last_dim("BahdanauAttention", "keys", keys_shape)
        self.query_kernel = self.add_weight(
            name="query_kernel", shape=(query_dim, self.units), initializer="glorot_uniform")
        self.key_kernel = self.add_weight(
            name="key_kernel", shape=(key_dim, self.units), initializer="glorot_uniform")
        self.score_vector = self.add_weight(
            name="score_vector", shape=(self.units,), initializer="glorot_uniform")
        self.built = True

    def project_keys(self, keys):
        return ops.matmul(keys, ops.cast(self.key_kernel, keys.dtype))  # (batch, ts, units)

    def _scores(self, query, projected_keys):
        dtype = query.dtype
        projected_query = ops.matmul(query, ops.cast(self.query_kernel, dtype))  # (batch, tq, units)
        projected_keys = ops.cast(projected_keys, dtype)
        hidden = ops.tanh(projected_query[:, :, None, :] + projected_keys[:, None, :, :])  # (batch, tq, ts, units)
        return ops.matmul(hidden, ops.cast(self.score_vector, dtype))  # (batch, tq, ts)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units)
        return config


@keras.saving.register_keras_serializable(package="seqtasks")
class LuongAttention(_Attention):
    """Multiplicative attention: `q . k` (`"dot"`) or `q^T W k` (`"general"`).

    Args:
        mode: `"dot"` (no weights; the query and the keys must have the same
            size) or `"general"` (a learned `(units_q, d_k)` matrix `W`).
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        query: float tensor `(batch, units_q)` for one decoder step, or
            `(batch, tq, units_q)` for `tq` decoder steps at once.
        keys: float tensor `(batch, ts, d_k)`, the encoder states.
        values: float tensor `(batch, ts, d)` averaged into the context;
            `None` uses `keys`.
        mask: bool tensor `(batch, ts)`, True at real source tokens; `None`
            means every position is real.

    Returns:
        `(context, weights)`: context `(batch, d)` and weights `(batch, ts)`
        for a 2-D query; `(batch, tq, d)` and `(batch, tq, ts)` for a 3-D one.
        The weights of each query sum to 1 over the real source positions and
        are exactly 0 at padding.

    Example:

    >>> attention = LuongAttention("general")
    >>> context, weights = attention(np.ones((2, 3, 6)), np.ones((2, 5, 4)))
    >>> context.shape, weights.shape
    ((2, 3, 4), (2, 3, 5))
    """

    def __init__(self, mode="dot", **kwargs):
        super().__init__(**kwargs)
        if mode not in LUONG_MODES:
            raise ValueError(f"LuongAttention: `mode` must be one of {LUONG_MODES}. Received: mode={mode!r}")
        self.mode = mode

    def build(self, query_shape, keys_shape, values_shape=None, projected_keys_shape=None):
        _check_ranks("LuongAttention", query_shape, keys_shape, values_shape)
        query_dim = _last_dim("LuongAttention", "query", query_shape)
        key_dim = _last_dim("LuongAttention", "keys", keys_shape)
        if self.mode == "dot" and query_dim != key_dim:
            raise ValueError(
                "LuongAttention: mode='dot' needs the query and the keys to have the same size "
                f"(use mode='general' otherwise). Received: query_shape={query_shape}, keys_shape={keys_shape}"
            )
        if self.mode == "general":
            self.kernel = self.add_weight(name="kernel", shape=(query_dim, key_dim), initializer="glorot_uniform")
        self.built = True

    def _scores(self, query, keys):
        # `keys` are the keys themselves: "general" applies W to the query,
        # which costs less than projecting every key.
        dtype = query.dtype
        if self.mode == "general":
            query = ops.matmul(query, ops.cast(self.kernel, dtype))  # (batch, tq, d_k)
        return ops.matmul(query, ops.transpose(ops.cast(keys, dtype), (0, 2, 1)))  # (batch, tq, ts)

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode)
        return config
