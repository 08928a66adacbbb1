"""Language-model scores: the figures the literature reports from the
negative log-likelihood of every target token (NumPy only: importing it does
not start the Keras back end).

Perplexity is `exp(total NLL / number of predicted tokens)`, every `<eos>`
included (Mikolov et al. 2010; Zaremba et al. 2014); bits per token is the
mean NLL divided by ln 2 (bits per character for character models).

Example:

```python
nll = sequence_nll(model, batches)        # seqtasks.tasks.language_model.nll
lm_scores(nll)                            # {"loss": 2.01, "perplexity": 7.46, "bits_per_token": 2.90, ...}
```
"""

import math

import numpy as np

def lm_scores(nll):
    """The metrics of per-token NLLs (a list of arrays, one per text).

    Returns:
        `loss` (nats per token), `perplexity`, `bits_per_token` and `tokens`
        (the number of predicted tokens).
    """
    total = float(sum(np.sum(row, dtype=np.float64) for row in nll))
    count = int(sum(len(row) for row in nll))
    loss = total / max(count, 1)
    return {"loss": loss, "perplexity": math.exp(min(loss, 700.0)), "bits_per_token": loss / math.log(2),
            "tokens": count}
