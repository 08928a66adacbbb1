"""Batched sampling from a next-token model, in `keras.ops` only.

`sample` drives a `step_fn` with the contract of `seqtasks.generation.search`:

```python
logits, new_state = step_fn(token_ids, state)   # (n,) int32, nested state -> (n, vocab), state
```

and draws one token per row and step. The filters follow the usual order
(Hugging Face's `generate`): the logits are divided by the temperature, then
only the `top_k` most probable tokens are kept, then only the smallest set of
most probable tokens whose probability reaches `top_p` (nucleus sampling,
Holtzman et al. 2020). Temperature 0 takes the most probable token (argmax).
Every setting is a per-row tensor, so one traced function serves them all.

The randomness comes in as `uniforms`, one number in (0, 1] per step and row
(`draw_uniforms(seed, steps, rows)`, NumPy): a token is drawn by inverting the
cumulative distribution, so the same seed gives the same samples on every
back end, inside `tf.function` or `jax.jit`, with no random state to carry.

Example:

```python
uniforms = draw_uniforms(seed=7, steps=20, rows=4)
tokens, lengths = sample(step_fn, state, first_logits, uniforms, eos_id=3,
                         temperature=ops.full((4,), 0.8), top_k=ops.full((4,), 10, "int32"),
                         top_p=ops.ones((4,)))
```
"""

import numpy as np
from keras import ops

# The logit of a filtered-out token: its probability is exactly 0 in float32,
# and, unlike -inf, it never turns a difference or a product into nan.
NEG = -1e9


def draw_uniforms(seed, steps, rows):
    """The random numbers of `sample`: float32 `(steps, rows)` in (0, 1].

    Args:
        seed: an integer; the same seed gives the same numbers.
        steps: the most tokens sampled per row.
        rows: the number of rows sampled together.

    Returns:
        A NumPy array; `1 - U[0, 1)` so that no number is 0 (a 0 would pick
        the first token even where its probability is 0).
    """
    return (1.0 - np.random.default_rng(seed).random((steps, rows))).astype(np.float32)


def filter_logits(logits, temperature, top_k, top_p):
    """Scaled and filtered logits: tokens outside the top-k or the nucleus get `NEG`.

    Args:
        logits: float `(n, vocab)`.
        temperature: float `(n,)`; 0 rows are returned unscaled (they take the argmax).
        top_k: int `(n,)`; keep the k highest logits (0 = all). Ties with the
            k-th value are kept too.
        top_p: float `(n,)` in (0, 1]; keep the most probable tokens whose
            probabilities, before each, sum to less than `top_p` (1 = all).

    Returns:
        Float32 `(n, vocab)` logits.
    """
    logits = ops.cast(logits, "float32")
    vocab = ops.shape(logits)[-1]
    scale = ops.where(temperature > 0, temperature, ops.ones_like(temperature))
    logits = logits / ops.cast(scale, "float32")[:, None]
    descending = ops.flip(ops.sort(logits, axis=-1), axis=-1)  # (n, vocab)
    k = ops.where(top_k > 0, ops.minimum(top_k, vocab), vocab)
    kth = ops.take_along_axis(descending, ops.cast(k - 1, "int32")[:, None], axis=-1)  # (n, 1)
    logits = ops.where(logits < kth, NEG, logits)
    descending = ops.where(descending < kth, NEG, descending)
    probs = ops.softmax(descending, axis=-1)
    before = ops.cumsum(probs, axis=-1) - probs  # probability of the tokens ranked above
    kept = ops.sum(ops.cast(before < ops.cast(top_p, "float32")[:, None], "int32"), axis=-1)
    kept = ops.where(top_p >= 1.0, vocab, ops.maximum(kept, 1))
    threshold = ops.take_along_axis(descending, (kept - 1)[:, None], axis=-1)
    return ops.where(logits < threshold, NEG, logits)


def choose(logits, uniform, temperature, top_k, top_p):
    """One token per row: the argmax at temperature 0, else an inverse-CDF draw.

    Args:
        logits: float `(n, vocab)`.
        uniform: float `(n,)` in (0, 1].
        temperature, top_k, top_p: per-row settings (see `filter_logits`).

    Returns:
        Int32 `(n,)` token ids.
    """
    best = ops.cast(ops.argmax(logits, axis=-1), "int32")
    probs = ops.softmax(filter_logits(logits, temperature, top_k, top_p), axis=-1)
    cumulative = ops.cumsum(probs, axis=-1)
    # Normalised by the last sum, so rounding never leaves the draw past the end.
    target = ops.cast(uniform, "float32") * cumulative[:, -1]
    drawn = ops.sum(ops.cast(cumulative < target[:, None], "int32"), axis=-1)
    drawn = ops.minimum(drawn, ops.shape(logits)[-1] - 1)
    return ops.where(temperature > 0, drawn, best)


def sample(step_fn, initial_state, first_logits, uniforms, eos_id, temperature, top_k, top_p, pad_id=0):
    """Samples up to `steps` tokens per row, stopping a row at EOS.

    Args:
        step_fn: `(token_ids (n,), state) -> (logits (n, vocab), new_state)`.
        initial_state: nested tensors, first axis `n`: the state after the prompt.
        first_logits: float `(n, vocab)`, the scores of the first token to
            sample (the model's output at the prompt's last token).
        uniforms: float `(steps, n)` from `draw_uniforms`; `steps` is the
            output width.
        eos_id: the token that ends a row (written, then padding).
        temperature, top_k, top_p: per-row settings, `(n,)` (see `filter_logits`).
        pad_id: written after EOS.

    Returns:
        `(tokens, lengths)`: int32 `(n, steps)` (the sampled tokens, EOS when one
        was drawn, then `pad_id`) and int32 `(n,)` counts of tokens before EOS.
    """
    steps, rows = ops.shape(uniforms)[0], ops.shape(first_logits)[0]
    positions = ops.arange(steps, dtype="int32")[None, :]  # (1, steps)

    def cond(t, tokens, lengths, finished, logits, state):
        return ops.logical_and(t < steps, ops.logical_not(ops.all(finished)))

    def body(t, tokens, lengths, finished, logits, state):
        token = choose(logits, ops.take(uniforms, t, axis=0), temperature, top_k, top_p)  # (n,)
        # A finished row still runs through step_fn (the batch moves in
        # lockstep) but writes only padding.
        tokens = ops.where(positions == t, ops.where(finished, pad_id, token)[:, None], tokens)
        is_eos = token == eos_id
        lengths = lengths + ops.cast(ops.logical_not(finished | is_eos), "int32")
        finished = finished | is_eos
        logits, state = step_fn(ops.where(finished, eos_id, token), state)
        return t + 1, tokens, lengths, finished, ops.cast(logits, "float32"), state

    loop_vars = (ops.convert_to_tensor(0, dtype="int32"), ops.full((rows, steps), pad_id, dtype="int32"),
                 ops.zeros((rows,), dtype="int32"), ops.zeros((rows,), dtype="bool"),
                 ops.cast(first_logits, "float32"), initial_state)
    _, tokens, lengths, _, _, _ = ops.while_loop(cond, body, loop_vars, maximum_iterations=steps)
    return tokens, lengths
