"""The one scorer: predictions for an encoded split and the task kind's metrics.

Training (every split after `fit`, and the dev metric each epoch), `evaluate`
on a saved run and ensembles all score a split through `score_split`; only how
they predict differs (one model, or several members' averaged scores).

Example:

```python
metrics, predictions, speed = score_split(kind, lambda b: kind.predict(model, b), encoded,
                                          preprocessor.labels, scheme)
```
"""

import time

from seqtasks.data.batching import Batches


def score_split(kind, predict, encoded, labels, scheme=None, batch_size=64):
    """Predicts an encoded split and scores it against its gold labels.

    Args:
        kind: the `TaskKind`.
        predict: `Batches -> predictions` (e.g. `kind.predict(model, batches)`).
        encoded: the split as `Preprocessor.encode_split` gives it (with `labels`).
        labels: the label names (indexing the label ids).
        scheme: the span scheme, or None.
        batch_size: examples per prediction batch.

    Returns:
        `(metrics, predictions, tokens_per_second)`.
    """
    batches = Batches(encoded, batch_size, per_token=kind.per_token)
    start = time.perf_counter()
    predictions = predict(batches)
    seconds = time.perf_counter() - start
    metrics = kind.score(predictions, kind.gold(encoded), labels, scheme)
    return metrics, predictions, batches.num_tokens / max(seconds, 1e-9)
