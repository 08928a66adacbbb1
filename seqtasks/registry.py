"""One explicit table per kind of component: recipe names -> builders.

Components are chosen by name (DESIGN.md house rule 4), never by boolean
flags. The tables hold zero-argument loaders so that validating a recipe does
not import TensorFlow; `resolve(table, name)` returns the class or function.

Example:

```python
lstm_cls = resolve(ENCODERS, "lstm")        # keras.layers.LSTM
resolve(ENCODERS, "transformer")            # RecipeError listing the known names
```
"""

from seqtasks.errors import RecipeError


def _keras(name):
    def load():
        import keras

        return getattr(keras.layers, name)

    return load


def _attr(module, name):
    def load():
        import importlib

        return getattr(importlib.import_module(module), name)

    return load


def _none():
    return None


TASKS = {
    "tagging": _attr("seqtasks.tasks.tagger", "Tagger"),
    "classification": _attr("seqtasks.tasks.classifier", "Classifier"),
}

UNITS = {"word": _none, "char": _none}

ENCODERS = {
    "simple_rnn": _keras("SimpleRNN"),
    "lstm": _keras("LSTM"),
    "gru": _keras("GRU"),
}

CHAR_FEATURES = {
    "none": _none,
    "cnn": _attr("seqtasks.layers.char_features", "CharCNN"),
    "bilstm": _attr("seqtasks.layers.char_features", "CharBiLSTM"),
}

HEADS = {
    "tagging": {
        "softmax": _attr("seqtasks.models.heads", "token_softmax_head"),
        "crf": _attr("seqtasks.models.heads", "crf_head"),
    },
    "classification": {
        "classifier": _attr("seqtasks.models.heads", "classifier_head"),
    },
}

POOLING = {name: _none for name in ("last", "mean", "max", "attention")}

OPTIMIZERS = {
    "adam": _attr("keras.optimizers", "Adam"),
    "adamw": _attr("keras.optimizers", "AdamW"),
    "nadam": _attr("keras.optimizers", "Nadam"),
    "rmsprop": _attr("keras.optimizers", "RMSprop"),
    "sgd": _attr("keras.optimizers", "SGD"),
}

LR_SCHEDULES = {"none": _none, "plateau": _none, "cosine": _none, "step": _none}


def resolve(table, name, what="component"):
    """Returns the builder registered under `name` in `table`.

    Args:
        table: one of the tables above.
        name: the recipe's name for the component.
        what: how to call the component in the error message.

    Returns:
        The class or function registered under `name` (or `None` for "none").
    """
    if name not in table:
        raise RecipeError(f"unknown {what} '{name}'; known: {', '.join(table)}")
    return table[name]()
