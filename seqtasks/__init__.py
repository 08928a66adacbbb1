"""seqtasks: recurrent sequence models for NLP on Keras 3.

Public API:

```python
import seqtasks

run = seqtasks.train("recipes/pos_ud_ewt_bilstm.yaml", overrides=["train.epochs=2"])
model = seqtasks.load(run.directory)
model.predict(["The cat sat on the mat ."])
```
"""

__version__ = "0.1.0"

from seqtasks.recipe import Recipe  # noqa: F401  (light: no TensorFlow import)


def __getattr__(name):
    # The pipeline imports TensorFlow; load it only when the API is used.
    if name in ("train", "evaluate", "predict", "load", "Run", "LoadedModel"):
        from seqtasks import pipeline

        return getattr(pipeline, name)
    if name == "Ensemble":
        from seqtasks.ensemble import Ensemble

        return Ensemble
    raise AttributeError(f"module 'seqtasks' has no attribute {name!r}")
