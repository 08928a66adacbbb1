"""Per-token negative log-likelihoods of a language model, batch by batch
(texts scored on their own) or as a stream with the state carried; the
figures come from `scoring.lm_scores`.

Example:

```python
nll = stream_nll(model, labels, rows=1)   # one array of per-token NLLs per text
```
"""

import keras
import numpy as np
from keras import ops

from seqtasks.tasks.language_model.preprocessor import EOS_ID
from seqtasks.tasks.language_model.streams import stream_rows

# Windows of at least this many steps when evaluating a stream: the state is
# carried, so the window length changes the speed, never the scores.
EVAL_WINDOW = 256
_SCORERS = {}  # compiled wrappers of the last few models (a wrapper holds its model)


class _Scorer(keras.Model):
    """Per-token NLL of a `LanguageModel` from given states, compiled by
    `predict_on_batch` on every back end. Not saved."""

    def __init__(self, lm):
        super().__init__(name="scorer")
        self.lm = lm
        self.built = True

    def call(self, inputs):
        token_ids = inputs["token_ids"]
        states = inputs.get("states") or self.lm.initial_states(ops.shape(token_ids)[0])
        logits, final = self.lm.forward(token_ids, inputs["padding_mask"], list(states),
                                        condition_ids=self.lm.condition_ids(inputs))
        nll = ops.sparse_categorical_crossentropy(inputs["targets"], logits, from_logits=True)
        return {"nll": nll, "states": final}


def cached_wrapper(cache, wrapper_class, model, size=4):
    """The compiled wrapper of `model` (made once: tracing again each epoch
    would cost seconds); at most `size` are kept, the oldest dropped."""
    key = id(model)
    if key not in cache or cache[key].lm is not model:
        cache.pop(key, None)
        while len(cache) >= size:
            cache.pop(next(iter(cache)))
        cache[key] = wrapper_class(model)
    return cache[key]


def _scorer(model):
    return cached_wrapper(_SCORERS, _Scorer, model)


def sequence_nll(model, batches):
    """Per-token NLLs of each text scored on its own (`<bos>` text `<eos>`).

    The targets come from the inputs (the next input, `<eos>` after the
    last), so batches of raw inputs without labels are scored too.

    Returns:
        A list with one float array per example, in the examples' order.
    """
    scorer = _scorer(model)
    results = [None] * len(batches.lengths)
    for idx, inputs in batches:
        ids = inputs["token_ids"]
        lengths = batches.lengths[idx]
        targets = np.zeros_like(ids)
        targets[:, :-1] = ids[:, 1:]
        targets[np.arange(len(ids)), lengths - 1] = EOS_ID
        feed = {"token_ids": ids, "padding_mask": inputs["padding_mask"], "targets": targets}
        if model.condition:
            feed["feature_ids"] = inputs["feature_ids"]
        nll = scorer.predict_on_batch(feed)["nll"]
        for row, i in enumerate(idx):
            results[i] = np.asarray(nll[row, : lengths[row]], np.float64)
    return results


def stream_nll(model, labels, rows=1, window=EVAL_WINDOW):
    """Per-token NLLs of a stream split, the state carried from window to window.

    Args:
        model: a `LanguageModel`.
        labels: the split's encoded targets, one array per text.
        rows: rows the stream is cut into (see `streams.stream_rows`).
        window: steps per call.

    Returns:
        A list with one float array per text (its tokens and `<eos>`).
    """
    scorer = _scorer(model)
    inputs, targets, weights = stream_rows(labels, rows)
    states = [np.asarray(s) for s in model.initial_states(inputs.shape[0])]
    nll = np.zeros(inputs.shape, np.float64)
    for start in range(0, inputs.shape[1], window):
        cut = slice(start, start + window)
        out = scorer.predict_on_batch({"token_ids": inputs[:, cut], "padding_mask": np.ones_like(inputs[:, cut]),
                                       "targets": targets[:, cut], "states": states})
        nll[:, cut] = out["nll"]
        states = out["states"]
    flat = nll.reshape(-1)[weights.reshape(-1) > 0]
    return np.split(flat, np.cumsum([len(row) for row in labels])[:-1])
