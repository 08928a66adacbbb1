"""seqtasks: recurrent sequence models for NLP on Keras 3.

Public API:

```python
import seqtasks

run = seqtasks.train("recipes/pos_ud_ewt_bilstm.yaml", overrides=["train.epochs=2"])
model = seqtasks.load(run.directory)
model.predict(["The cat sat on the mat ."])
```
"""

from seqtasks.config.recipe import Recipe  # noqa: F401  (light: no TensorFlow import)
from seqtasks.version import __version__  # noqa: F401


def __getattr__(name):
    # The API imports Keras (and its back end); load it only when it is used.
    if name in ("train", "evaluate", "predict", "load", "Run"):
        from seqtasks import api

        return getattr(api, name)
    if name == "LoadedModel":
        from seqtasks.predictor import LoadedModel

        return LoadedModel
    if name == "Ensemble":
        from seqtasks.ensemble import Ensemble

        return Ensemble
    raise AttributeError(f"module 'seqtasks' has no attribute {name!r}")
