"""Batched greedy and beam search over a decoder step function, in `keras.ops` only.

Both searches drive a `step_fn` that scores the next token of `n` prefixes at
once:

```python
logits, new_state = step_fn(token_ids, state)
```

- `token_ids`: int32 `(n,)`, the last token of each prefix (`bos_id` at the
  first step).
- `state`: a nested structure (dict / tuple / list) of tensors whose first
  axis is `n`: the decoder's recurrent state, the encoder outputs and source
  mask it attends over, a step counter, ... `n` is the batch size for greedy
  search and `batch_size * beam_size` for beam search, where the rows of
  sentence `b` are `b * beam_size ... b * beam_size + beam_size - 1` (the
  initial state is repeated that way, so the step function never needs to
  know about beams).
- `logits`: float `(n, vocab)`, unnormalised; the searches apply
  `log_softmax` themselves (in float32). `-inf` logits (forbidden tokens)
  are fine.
- `new_state`: the same structure, shapes and dtypes as `state`.

The loop over decoding steps is a `keras.ops.while_loop` that stops as soon
as every sentence is finished, so a search traces once inside
`tf.function` / `jax.jit` (with XLA too) for any batch content. Under such
compilation the output width must be static: pass an `int` `max_length`, or
a per-sentence `max_length` tensor together with an `int` `max_steps`.

Lengths, EOS and padding (the same in both searches):

- A sentence generates at most `max_length` tokens, EOS included (a
  per-sentence limit below 1 counts as 1). A hypothesis that reaches its
  limit without EOS is stopped there, unfinished.
- `tokens` holds the generated tokens (no BOS), then EOS when one was
  generated, then `pad_id` up to the output width `T` (`max_length`, the
  largest per-sentence `max_length`, or `max_steps`).
- `lengths` counts the tokens before EOS, so `tokens[i, :lengths[i]]` are
  exactly the words to detokenise.

Beam search keeps `beam_size` hypotheses per sentence. A hypothesis that
emits EOS (or reaches its length limit) is frozen: it keeps its slot and its
score, is never extended again, and is padded; it competes with the live
hypotheses through its length-normalised score, and a sentence is done when
all its `beam_size` slots are frozen. The candidates are ranked by
`log P(y) / lp(y)`, with the GNMT length penalty (Wu et al. 2016)
`lp(y) = ((5 + |y|) / 6) ** length_penalty` where `|y|` counts the
generated tokens, EOS included; `length_penalty=0` ranks by log probability.
With `beam_size=1` beam search returns what greedy search returns.
"""

import keras
import numpy as np
from keras import ops

# The score of the not-yet-started beams (all but one per sentence at the first
# step, so that the beam does not start with beam_size copies of one
# hypothesis) and of impossible candidates. Finite, unlike -inf, so that sums
# and differences never give nan; far below any real log probability.
NEG = -1e9


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_int(function, name, value, minimum):
    if not _is_int(value) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{function}: `{name}` must be {kind}. Received: {name}={value!r}")


def _check_common(function, batch_size, bos_id, eos_id, pad_id, max_length, max_steps):
    if _is_int(batch_size) or isinstance(batch_size, (bool, float)):
        _check_int(function, "batch_size", batch_size, 1)
    _check_int(function, "bos_id", bos_id, 0)
    _check_int(function, "eos_id", eos_id, 0)
    if not _is_int(pad_id):
        raise ValueError(f"{function}: `pad_id` must be an integer. Received: pad_id={pad_id!r}")
    if max_steps is not None:
        _check_int(function, "max_steps", max_steps, 1)
    if _is_int(max_length) or isinstance(max_length, (bool, float)):
        _check_int(function, "max_length", max_length, 1)


def _limits(function, max_length, batch_size, max_steps):
    """The static number of steps `T` and the per-sentence limits, int32 `(batch,)` in [1, T]."""
    if _is_int(max_length):
        steps = int(max_length) if max_steps is None else min(int(max_length), max_steps)
        return steps, ops.full((batch_size,), steps, dtype="int32")
    limits = ops.cast(max_length, "int32")
    if len(limits.shape) != 1:
        raise ValueError(
            f"{function}: `max_length` must be an int or an int tensor of shape (batch_size,). "
            f"Received: max_length with shape {tuple(limits.shape)}"
        )
    if max_steps is None:
        # The output width must be a static int; it can be read off the
        # limits only when they hold values (eager), not while tracing.
        try:
            steps = int(np.max(ops.convert_to_numpy(limits)))
        except Exception as error:
            raise ValueError(
                f"{function}: a per-sentence `max_length` that is not a concrete value (inside a traced "
                "function) needs `max_steps`, the static output width. Received: max_steps=None"
            ) from error
        steps = max(steps, 1)
    else:
        steps = max_steps
    return steps, ops.clip(limits, 1, steps)


def _log_probs(logits):
    log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    # -inf (a forbidden token) becomes NEG, so that scores stay finite.
    return ops.maximum(log_probs, NEG)


def _length_penalty(lengths, alpha):
    if alpha == 0:
        return ops.ones_like(ops.cast(lengths, "float32"))
    return ops.power((5.0 + ops.cast(lengths, "float32")) / 6.0, alpha)


def greedy_search(step_fn, initial_state, batch_size, bos_id, eos_id, max_length, pad_id=0, max_steps=None):
    """Decodes by taking the most probable token at each step, for a batch at once.

    See the module docstring for the `step_fn` contract, the lengths and the
    padding.

    Args:
        step_fn: `(token_ids (n,), state) -> (logits (n, vocab), new_state)`.
        initial_state: nested structure of tensors with first axis
            `batch_size` (may be an empty tuple).
        batch_size: number of sentences (an int, or a scalar int tensor when
            the batch size is only known at run time).
        bos_id: token fed at the first step.
        eos_id: token that ends a sentence.
        max_length: most tokens generated per sentence, EOS included: an int,
            or an int tensor `(batch_size,)` (e.g. `a * source_length + b`).
        pad_id: token written after the end of each sentence.
        max_steps: static output width `T`; needed with a per-sentence
            `max_length` inside a traced function, where the largest limit is
            unknown. Limits above it are cut to it.

    Returns:
        `(tokens, lengths)`: int32 `(batch_size, T)` tokens (padded with
        `pad_id` after EOS) and int32 `(batch_size,)` counts of tokens before
        EOS.

    Example:

    ```python
    def step_fn(tokens, state):
        logits, h = decoder_step(tokens, state["h"], state["memory"], state["mask"])
        return logits, dict(state, h=h)

    tokens, lengths = greedy_search(step_fn, dict(h=h0, memory=enc, mask=source_mask),
                                    batch_size=32, bos_id=1, eos_id=2, max_length=80)
    ```
    """
    _check_common("greedy_search", batch_size, bos_id, eos_id, pad_id, max_length, max_steps)
    steps, limits = _limits("greedy_search", max_length, batch_size, max_steps)
    positions = ops.arange(steps, dtype="int32")[None, :]  # (1, T)

    def cond(t, tokens, lengths, finished, last, state):
        return ops.logical_and(t < steps, ops.logical_not(ops.all(finished)))

    def body(t, tokens, lengths, finished, last, state):
        logits, state = step_fn(last, state)
        best = ops.cast(ops.argmax(logits, axis=-1), "int32")  # (batch,)
        # A row that finished earlier still runs through step_fn (the batch
        # moves in lockstep) but writes only padding.
        tokens = ops.where(positions == t, ops.where(finished, pad_id, best)[:, None], tokens)
        is_eos = best == eos_id
        lengths = lengths + ops.cast(ops.logical_not(finished | is_eos), "int32")
        finished = finished | is_eos | (t + 1 >= limits)
        last = ops.where(finished, eos_id, best)
        return t + 1, tokens, lengths, finished, last, state

    loop_vars = (
        ops.convert_to_tensor(0, dtype="int32"),
        ops.full((batch_size, steps), pad_id, dtype="int32"),
        ops.zeros((batch_size,), dtype="int32"),
        ops.zeros((batch_size,), dtype="bool"),
        ops.full((batch_size,), bos_id, dtype="int32"),
        initial_state,
    )
    _, tokens, lengths, _, _, _ = ops.while_loop(cond, body, loop_vars, maximum_iterations=steps)
    return tokens, lengths


def beam_search(step_fn, initial_state, batch_size, bos_id, eos_id, max_length, beam_size=4,
                length_penalty=0.0, num_return=1, pad_id=0, max_steps=None):
    """Decodes with a beam of `beam_size` hypotheses per sentence, for a batch at once.

    See the module docstring for the `step_fn` contract, the freezing of
    finished hypotheses, the length penalty, the lengths and the padding. The
    model state is reordered after each step by gathering its first axis
    (`keras.ops.take`) with the surviving hypotheses' parents.

    When the vocabulary has fewer tokens than `beam_size`, the first steps
    cannot fill the beam; the empty slots hold hypotheses scored about
    `-1e9`, which only appear in the output when `num_return` asks for more
    hypotheses than exist.

    Args:
        step_fn: `(token_ids (n,), state) -> (logits (n, vocab), new_state)`,
            with `n = batch_size * beam_size`.
        initial_state: nested structure of tensors with first axis
            `batch_size` (may be an empty tuple); each row is repeated
            `beam_size` times.
        batch_size: number of sentences (an int, or a scalar int tensor when
            the batch size is only known at run time).
        bos_id: token fed at the first step.
        eos_id: token that ends a hypothesis.
        max_length: most tokens generated per sentence, EOS included: an int,
            or an int tensor `(batch_size,)` (e.g. `a * source_length + b`).
        beam_size: hypotheses kept per sentence.
        length_penalty: `alpha` of the GNMT penalty
            `((5 + length) / 6) ** alpha`; 0 ranks by log probability, larger
            values favour longer outputs.
        num_return: best hypotheses returned per sentence, at most
            `beam_size`, best first.
        pad_id: token written after the end of each hypothesis.
        max_steps: static output width `T`; needed with a per-sentence
            `max_length` inside a traced function, where the largest limit is
            unknown. Limits above it are cut to it.

    Returns:
        `(tokens, scores, lengths)`: int32 `(batch_size, num_return, T)`
        tokens (padded with `pad_id` after EOS); float32
        `(batch_size, num_return)` scores, the log probability divided by the
        length penalty; int32 `(batch_size, num_return)` counts of tokens
        before EOS.

    Example:

    ```python
    source_lengths = ops.sum(ops.cast(source_mask, "int32"), axis=1)
    tokens, scores, lengths = beam_search(
        step_fn, dict(h=h0, memory=enc, mask=source_mask), batch_size=32, bos_id=1, eos_id=2,
        max_length=2 * source_lengths + 10, max_steps=2 * source_width + 10,
        beam_size=5, length_penalty=0.6)
    best = tokens[:, 0]  # (32, T)
    ```
    """
    function = "beam_search"
    _check_common(function, batch_size, bos_id, eos_id, pad_id, max_length, max_steps)
    _check_int(function, "beam_size", beam_size, 1)
    if not _is_int(num_return) or not 1 <= num_return <= beam_size:
        raise ValueError(
            f"{function}: `num_return` must be an integer from 1 to beam_size={beam_size}. "
            f"Received: num_return={num_return!r}"
        )
    if isinstance(length_penalty, bool) or not isinstance(length_penalty, (int, float)) or not (
            0 <= length_penalty < float("inf")):
        raise ValueError(
            f"{function}: `length_penalty` must be a number >= 0. Received: length_penalty={length_penalty!r}"
        )
    alpha = float(length_penalty)
    steps, limits = _limits(function, max_length, batch_size, max_steps)
    beams = beam_size
    rows = batch_size * beams
    positions = ops.arange(steps, dtype="int32")[None, None, :]  # (1, 1, T)
    # Row offsets of each sentence's beams in the flat (batch * beam) axis.
    offsets = ops.arange(batch_size, dtype="int32")[:, None] * beams  # (batch, 1)

    def cond(t, tokens, scores, lengths, finished, ended, last, state):
        return ops.logical_and(t < steps, ops.logical_not(ops.all(finished)))

    def body(t, tokens, scores, lengths, finished, ended, last, state):
        # scores: raw log probabilities; lengths: tokens generated, EOS
        # included; ended: the hypothesis emitted EOS (all (batch, beam)).
        logits, state = step_fn(last, state)
        vocab = logits.shape[-1] if logits.shape[-1] is not None else ops.shape(logits)[-1]
        log_probs = ops.reshape(_log_probs(logits), (batch_size, beams, vocab))
        # A frozen hypothesis offers exactly one candidate, itself: score
        # unchanged through the EOS column, NEG through every other column.
        frozen = ops.cast(ops.where(ops.arange(vocab) == eos_id, 0.0, NEG), "float32")  # (vocab,)
        candidate_scores = scores[..., None] + ops.where(finished[..., None], frozen, log_probs)
        candidate_lengths = lengths + ops.cast(ops.logical_not(finished), "int32")  # (batch, beam)
        ranked = candidate_scores / _length_penalty(candidate_lengths, alpha)[..., None]
        _, best = ops.top_k(ops.reshape(ranked, (batch_size, beams * vocab)), k=beams)  # (batch, beam)
        parent = best // vocab
        token = ops.cast(best % vocab, "int32")
        scores = ops.take_along_axis(ops.reshape(candidate_scores, (batch_size, beams * vocab)), best, axis=1)
        lengths = ops.take_along_axis(candidate_lengths, parent, axis=1)
        parent_finished = ops.take_along_axis(finished, parent, axis=1)
        ended = ops.take_along_axis(ended, parent, axis=1)
        flat_parent = ops.reshape(offsets + ops.cast(parent, "int32"), (rows,))
        tokens = ops.reshape(ops.take(ops.reshape(tokens, (rows, steps)), flat_parent, axis=0),
                             (batch_size, beams, steps))
        tokens = ops.where(positions == t, ops.where(parent_finished, pad_id, token)[..., None], tokens)
        new_eos = ops.logical_and(ops.logical_not(parent_finished), token == eos_id)
        ended = ended | new_eos
        finished = parent_finished | new_eos | (t + 1 >= limits)[:, None]
        last = ops.reshape(ops.where(finished, eos_id, token), (rows,))
        state = keras.tree.map_structure(lambda x: ops.take(x, flat_parent, axis=0), state)
        return t + 1, tokens, scores, lengths, finished, ended, last, state

    first_beam = ops.arange(beams)[None, :] == 0
    loop_vars = (
        ops.convert_to_tensor(0, dtype="int32"),
        ops.full((batch_size, beams, steps), pad_id, dtype="int32"),
        ops.cast(ops.where(first_beam, 0.0, NEG), "float32") * ops.ones((batch_size, 1), dtype="float32"),
        ops.zeros((batch_size, beams), dtype="int32"),
        ops.zeros((batch_size, beams), dtype="bool"),
        ops.zeros((batch_size, beams), dtype="bool"),
        ops.full((rows,), bos_id, dtype="int32"),
        keras.tree.map_structure(lambda x: ops.repeat(x, beams, axis=0), initial_state),
    )
    _, tokens, scores, lengths, _, ended, _, _ = ops.while_loop(cond, body, loop_vars, maximum_iterations=steps)
    final = scores / _length_penalty(lengths, alpha)
    # The beam is already sorted after each step; top_k also cuts it to num_return.
    final, order = ops.top_k(final, k=num_return)
    flat_order = ops.reshape(offsets + ops.cast(order, "int32"), (-1,))
    tokens = ops.reshape(ops.take(ops.reshape(tokens, (rows, steps)), flat_order, axis=0),
                         (batch_size, num_return, steps))
    lengths = ops.take_along_axis(lengths - ops.cast(ended, "int32"), order, axis=1)
    return tokens, final, lengths
