"""Linear-chain conditional random field (CRF) for Keras 3, in `keras.ops` only.

The layer holds the transition scores; the model computes the per-token
emission scores (e.g. `Dense(num_tags)` on an encoder). Training maximises
`log_likelihood`, prediction uses `decode` (Viterbi). Optional boolean
constraints (see `seqtasks.data.schemes.allowed_transitions`) forbid illegal
tag sequences such as `O -> I-PER` in IOB2, in training and in decoding alike.

All CRF maths runs in float32 (emissions are cast), so the layer is safe under
mixed precision. Time loops run on time-major tensors (`keras.ops.while_loop`
for the forward algorithm, `keras.ops.scan` for Viterbi), so the time dimension
may be dynamic (graph mode, `model.fit`, `tf.distribute`, XLA).
"""

import keras
import numpy as np
from keras import ops

# Added to the score of a forbidden start, transition or end: large enough that
# such paths carry no probability mass (exp(-1e4) == 0 in float32) and are
# never the Viterbi path, small enough to stay finite in float32 sums.
FORBIDDEN_SCORE = -1e4


def _as_bool_list(value, shape, name):
    """Checks a constraint against `shape` and returns it as nested lists of bools."""
    if value is None:
        return None
    array = np.asarray(value)
    if array.shape != shape:
        raise ValueError(
            f"`{name}` must have shape {shape} (num_tags={shape[0]}). "
            f"Received: {name} with shape {array.shape}"
        )
    if array.dtype != np.bool_:
        if not np.isin(array, (0, 1)).all():
            raise ValueError(
                f"`{name}` must hold booleans. Received: {name}={value!r}"
            )
        array = array.astype(bool)
    if not array.any():
        raise ValueError(f"`{name}` allows nothing: no tag path would be legal.")
    return array.tolist()


def _penalty(allowed, shape):
    """0 where allowed, FORBIDDEN_SCORE where not (all zeros when unconstrained)."""
    if allowed is None:
        return np.zeros(shape, "float32")
    return np.where(np.asarray(allowed), 0.0, FORBIDDEN_SCORE).astype("float32")


@keras.saving.register_keras_serializable(package="seqtasks")
class CRF(keras.layers.Layer):
    """Linear-chain CRF over per-token emission scores.

    Calling the layer returns the emissions (as float32) unchanged: it only
    places the CRF weights in the model graph. The loss and the decoding are
    methods that take the emissions and the boolean padding mask
    (right-padded, every row with at least one real token).

    Args:
        num_tags: number of tags `n`.
        allowed_start: optional booleans `(n,)`: tags a sentence may start with.
        allowed_transitions: optional booleans `(n, n)`, `[from, to]`.
        allowed_end: optional booleans `(n,)`: tags a sentence may end with.
        **kwargs: base layer arguments (`name`, ...). `dtype` defaults to
            "float32" so that the layer stays float32 under mixed precision.

    Example (a tagger whose loss is the CRF negative log-likelihood):

    ```python
    class Tagger(keras.Model):
        def __init__(self, vocab_size, num_tags, **kwargs):
            token_ids = keras.Input((None,), dtype="int32", name="token_ids")
            padding_mask = keras.Input((None,), dtype="bool", name="padding_mask")
            x = keras.layers.Embedding(vocab_size, 32)(token_ids)
            x = keras.layers.Dense(num_tags)(x)              # (batch, time, n)
            crf = CRF(num_tags, name="crf")
            emissions = crf(x, mask=padding_mask)
            super().__init__(
                inputs={"token_ids": token_ids, "padding_mask": padding_mask},
                outputs=emissions, **kwargs)
            self.crf = crf

        def compute_loss(self, x=None, y=None, y_pred=None,
                         sample_weight=None, training=True):
            loss = crf_loss(self.crf, y_pred, y, x["padding_mask"], sample_weight)
            if self.losses:  # weight regularisers (compile() without a loss)
                loss = loss + super().compute_loss(x=x, training=training)
            return loss

        def predict_step(self, data):
            x = data[0] if isinstance(data, tuple) else data
            return self.crf.decode(self(x, training=False), x["padding_mask"])

    model = Tagger(vocab_size=100, num_tags=5)
    model.compile(optimizer="adam")          # no `loss`: compute_loss gives it
    model.fit(dataset)                       # ({token_ids, padding_mask}, tags)
    tags = model.predict(inputs)             # int32 (batch, time), padding = 0
    ```
    """

    def __init__(
        self,
        num_tags,
        allowed_start=None,
        allowed_transitions=None,
        allowed_end=None,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        # The output is the emissions, so a padding mask attached to them is
        # still right for whatever reads them next.
        self.supports_masking = True
        if isinstance(num_tags, bool) or not isinstance(num_tags, (int, np.integer)):
            raise ValueError(
                f"`num_tags` must be a positive integer. Received: num_tags={num_tags!r}"
            )
        if num_tags < 1:
            raise ValueError(
                f"`num_tags` must be a positive integer. Received: num_tags={num_tags}"
            )
        self.num_tags = int(num_tags)
        n = self.num_tags
        self.allowed_start = _as_bool_list(allowed_start, (n,), "allowed_start")
        self.allowed_transitions = _as_bool_list(
            allowed_transitions, (n, n), "allowed_transitions"
        )
        self.allowed_end = _as_bool_list(allowed_end, (n,), "allowed_end")
        self._start_penalty = _penalty(self.allowed_start, (n,))
        self._trans_penalty = _penalty(self.allowed_transitions, (n, n))
        self._end_penalty = _penalty(self.allowed_end, (n,))

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] != self.num_tags:
            raise ValueError(
                f"CRF(num_tags={self.num_tags}) expects emissions of shape "
                f"(batch, time, {self.num_tags}). Received: shape {tuple(input_shape)}"
            )
        n = self.num_tags
        # Zeros: the emissions break the symmetry; transitions learn from data.
        self.transitions = self.add_weight(
            shape=(n, n), initializer="zeros", dtype="float32", name="transitions"
        )
        self.start_transitions = self.add_weight(
            shape=(n,), initializer="zeros", dtype="float32", name="start_transitions"
        )
        self.end_transitions = self.add_weight(
            shape=(n,), initializer="zeros", dtype="float32", name="end_transitions"
        )

    def call(self, emissions, mask=None):
        del mask  # accepted so that the padding mask can be wired in the graph
        return ops.cast(emissions, "float32")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_tags": self.num_tags,
                "allowed_start": self.allowed_start,
                "allowed_transitions": self.allowed_transitions,
                "allowed_end": self.allowed_end,
            }
        )
        return config

    # ---- CRF maths ---------------------------------------------------------

    def _scores(self):
        """Start, transition and end scores with the constraint penalties added."""
        start = ops.cast(self.start_transitions, "float32") + self._start_penalty
        trans = ops.cast(self.transitions, "float32") + self._trans_penalty
        end = ops.cast(self.end_transitions, "float32") + self._end_penalty
        return start, trans, end  # (n,), (n, n), (n,)

    def _prepare(self, emissions, mask):
        """Float32 emissions, bool mask, and the time-major scan input."""
        if not self.built:
            self.build(ops.shape(emissions))
        emissions = ops.cast(emissions, "float32")  # (batch, time, n)
        if mask is None:
            mask = ops.ones(ops.shape(emissions)[:2], dtype="bool")
        mask = ops.cast(mask, "bool")  # (batch, time)
        # Step 0 is the loops' initial value; masking it out lets Viterbi scan
        # over all T steps, so T == 1 never gives an empty scan.
        step_mask = ops.concatenate(
            [ops.zeros_like(mask[:, :1]), mask[:, 1:]], axis=1
        )
        # One scanned tensor, not a tuple: Keras' TF scan fails on several xs
        # when the time dimension is dynamic (None). Last channel = step mask.
        steps = ops.concatenate(
            [emissions, ops.cast(step_mask, "float32")[:, :, None]], axis=2
        )
        return emissions, mask, ops.transpose(steps, (1, 0, 2))  # (time, batch, n+1)

    def _split(self, step):
        """Emissions (batch, n) and keep flags (batch,) of one scanned step."""
        return step[:, : self.num_tags], step[:, self.num_tags] > 0.5

    def log_partition(self, emissions, mask=None):
        """Log of the sum of exp(score) over all tag paths (forward algorithm).

        Args:
            emissions: (batch, time, num_tags) scores.
            mask: boolean (or 0/1) (batch, time), right-padded; `None`: no padding.

        Returns:
            float32 (batch,).
        """
        emissions, mask, steps = self._prepare(emissions, mask)
        start, trans, end = self._scores()
        num_steps = ops.shape(steps)[0]

        def advance(alpha, step):
            emit, keep = self._split(step)  # (batch, n), (batch,)
            # (batch, from, 1) + (from, to) -> log-sum over `from`
            new = ops.logsumexp(alpha[:, :, None] + trans, axis=1) + emit
            return ops.where(keep[:, None], new, alpha)  # padding: carry alpha

        alpha = start[None, :] + emissions[:, 0]  # (batch, n)
        if keras.backend.backend() == "jax":
            # JAX differentiates `scan` but not a while loop with a dynamic length.
            alpha, _ = ops.scan(lambda a, step: (advance(a, step), None), alpha, steps[1:])
        else:
            # A while loop with `maximum_iterations`, not `scan`: the gradient of
            # Keras' TF scan cannot be XLA-compiled (jit_compile, "auto" on GPU).
            _, alpha = ops.while_loop(
                lambda t, alpha: t < num_steps,
                lambda t, alpha: (t + 1, advance(alpha, steps[t])),
                (1, alpha),
                maximum_iterations=num_steps,
            )
        return ops.logsumexp(alpha + end, axis=1)

    def sequence_score(self, emissions, tags, mask=None):
        """Score of the given tag paths: start + emissions + transitions + end.

        Args:
            emissions: (batch, time, num_tags) scores.
            tags: integer (batch, time) gold tags; padded positions are ignored.
            mask: boolean (or 0/1) (batch, time), right-padded; `None`: no padding.

        Returns:
            float32 (batch,).
        """
        emissions, mask, _ = self._prepare(emissions, mask)
        start, trans, end = self._scores()
        n = self.num_tags
        # Padding labels may be anything (-1, -100, ...): make them valid indices.
        tags = ops.where(mask, ops.cast(tags, "int32"), 0)  # (batch, time)
        weights = ops.cast(mask, "float32")
        emit = ops.take_along_axis(emissions, tags[:, :, None], axis=2)[:, :, 0]
        score = ops.sum(emit * weights, axis=1) + ops.take(start, tags[:, 0])
        pairs = tags[:, :-1] * n + tags[:, 1:]  # (batch, time - 1) flat [from, to]
        trans_scores = ops.take(ops.reshape(trans, (-1,)), pairs)
        score = score + ops.sum(trans_scores * weights[:, 1:], axis=1)
        last = ops.sum(ops.cast(mask, "int32"), axis=1) - 1  # (batch,)
        last_tags = ops.take_along_axis(tags, last[:, None], axis=1)[:, 0]
        return score + ops.take(end, last_tags)

    def log_likelihood(self, emissions, tags, mask=None):
        """log p(tags | emissions) per sequence, float32 (batch,)."""
        return self.sequence_score(emissions, tags, mask) - self.log_partition(
            emissions, mask
        )

    def decode(self, emissions, mask=None):
        """Viterbi best tag paths.

        Args:
            emissions: (batch, time, num_tags) scores.
            mask: boolean (or 0/1) (batch, time), right-padded; `None`: no padding.

        Returns:
            int32 (batch, time) tags, 0 at padded positions.
        """
        emissions, mask, steps = self._prepare(emissions, mask)
        start, trans, end = self._scores()
        identity = ops.arange(self.num_tags, dtype="int32")[None, :]  # (1, n)

        def forward(carry, x):
            score, _ = carry  # (batch, n)
            emit, keep = self._split(x)
            total = score[:, :, None] + trans  # (batch, from, to)
            best_from = ops.cast(ops.argmax(total, axis=1), "int32")  # (batch, to)
            new = ops.max(total, axis=1) + emit
            score = ops.where(keep[:, None], new, score)
            # Padded steps point each tag to itself, so the backtrace passes
            # through them unchanged to the row's last real position.
            pointers = ops.where(keep[:, None], best_from, identity)
            # TF's scan needs outputs shaped like the carry: emit the pair.
            return (score, pointers), (score, pointers)

        score0 = start[None, :] + emissions[:, 0]
        init = (score0, ops.zeros_like(score0, dtype="int32"))
        (score, _), (_, pointers) = ops.scan(forward, init, steps)
        best_last = ops.cast(ops.argmax(score + end, axis=1), "int32")  # (batch,)

        def backward(tag, pointers_t):
            previous = ops.take_along_axis(pointers_t, tag[:, None], axis=1)[:, 0]
            return previous, tag  # emits the tag at this step

        _, tags = ops.scan(backward, best_last, pointers, reverse=True)
        tags = ops.transpose(tags, (1, 0))  # (batch, time)
        return ops.where(mask, tags, 0)


class _PerSequenceMean(keras.losses.Loss):
    """Identity loss: Keras' reduction then averages and scales for tf.distribute."""

    def call(self, y_true, y_pred):
        return y_pred


def crf_loss(crf_layer, emissions, tags, mask, sample_weight=None):
    """Mean negative log-likelihood per sequence, ready to return from `compute_loss`.

    The mean goes through Keras' own loss reduction, so under `tf.distribute`
    each replica's loss is divided by the number of replicas exactly as
    compiled Keras losses are (the summed gradients are then the global mean).

    Args:
        crf_layer: the `CRF` layer.
        emissions: (batch, time, num_tags) scores (the CRF layer's output).
        tags: integer (batch, time) gold tags.
        mask: boolean (batch, time) padding mask.
        sample_weight: optional per-sequence weights (batch,). Per-token weights
            (batch, time), such as the padding mask used by softmax heads, are
            reduced to one weight per sequence: their mean over real tokens.

    Returns:
        Scalar float32 loss.
    """
    nll = -crf_layer.log_likelihood(emissions, tags, mask)  # (batch,)
    if sample_weight is not None:
        sample_weight = ops.cast(sample_weight, "float32")
        if len(sample_weight.shape) == 2:
            real = ops.cast(mask, "float32")
            sample_weight = ops.sum(sample_weight * real, axis=1) / ops.maximum(
                ops.sum(real, axis=1), 1.0
            )
    return _PerSequenceMean(name="crf_loss")(nll, nll, sample_weight)
