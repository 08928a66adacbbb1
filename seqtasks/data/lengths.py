"""A bound on the length of training examples (`data.max_length`).

One sentence of 100,000 tokens made a training epoch run 13 minutes at 6 GB
without finishing (issue 25): an RNN's memory and time grow with the longest
example of a batch. Per-token tasks (tagging, language models) split longer
training examples into pieces of at most `max_length` tokens, labels cut at
the same places; a per-example label (classification) cannot be split, so
such examples are refused. Either way the count is reported.

Example:

```python
encoded, pieces = split_long_examples(encoded, max_length=1000, per_token=True)
```
"""

import logging

import numpy as np

from seqtasks.errors import DataError

LOG = logging.getLogger("seqtasks")


def split_long_examples(encoded, max_length, per_token, split="train"):
    """Splits (per-token labels) or refuses (per-example labels) long examples.

    Args:
        encoded: an encoded split (`Preprocessor.encode_split`): lists with
            one entry per example (`token_ids`, `char_ids`, `feature_ids`,
            `labels`), or None.
        max_length: most tokens per example (None: no bound).
        per_token: labels are per token, so examples can be cut.
        split: the split's name, for messages.

    Returns:
        `(encoded, count)`: the encoded split with long examples cut into
        consecutive pieces (in place of the example), and how many examples
        were cut.

    Raises:
        DataError: a per-example task has an example longer than `max_length`.
    """
    if not max_length:
        return encoded, 0
    lengths = [len(t) for t in encoded["token_ids"]]
    long = [i for i, n in enumerate(lengths) if n > max_length]
    if not long:
        return encoded, 0
    if not per_token:
        first = long[0]
        raise DataError(f"{split}: example {first + 1} has {lengths[first]} tokens, more than "
                        f"data.max_length={max_length} ({len(long)} such examples); raise data.max_length "
                        "or truncate them with preprocess.max_length")
    out = {key: (None if values is None else []) for key, values in encoded.items()}
    for i, n in enumerate(lengths):
        starts = range(0, n, max_length) if n > max_length else [0]
        for key, values in encoded.items():
            if values is None:
                continue
            value = values[i]
            aligned = hasattr(value, "__len__") and len(value) == n  # per-token arrays are cut
            for start in starts:
                out[key].append(value[start: start + max_length] if aligned and n > max_length else value)
    for key, values in encoded.items():
        if isinstance(values, np.ndarray) and out[key] is not None:
            out[key] = np.asarray(out[key])
    LOG.warning("%s: split %d of %d examples longer than data.max_length=%d (the longest: %d tokens) into "
                "pieces", split, len(long), len(lengths), max_length, max(lengths))
    return out, len(long)
