"""The tables: recipe names -> the components they build.

Components are chosen by name (DESIGN.md house rule 4), never by boolean
flags, and each entry builds its component from its own recipe block: adding
an encoder or a head is one class and one line here, adding a task kind is one
package under `seqtasks/tasks/` and one line in `TASKS`. The tables hold
zero-argument loaders, so that validating a recipe does not import
TensorFlow; `resolve(table, name)` returns what the loader loads.

Example:

```python
encoder_cls = resolve(ENCODERS, "lstm")     # seqtasks.encoders.rnn.LSTMStack
resolve(ENCODERS, "transformer")            # RecipeError listing the known names
kind = task_kind("tagging")                 # seqtasks.tasks.tagging.KIND
```
"""

import importlib

from seqtasks.errors import RecipeError


def _attr(module, name):
    def load():
        return getattr(importlib.import_module(module), name)

    return load


def _none():
    return None


# Task name (the recipe's `task`) -> task kind (a package `seqtasks.tasks.<kind>`).
TASKS = {
    "tagging": "tagging",
    "classification": "classification",
    "language_model": "language_model",
    "translation": "translation",
}

# How raw text becomes tokens (`preprocess.units`).
UNITS = {
    "word": _attr("seqtasks.data.tokenize", "word_tokens"),
    "char": _attr("seqtasks.data.tokenize", "char_tokens"),
    "space": _attr("seqtasks.data.tokenize", "space_tokens"),  # pre-tokenised text (PTB: `<unk>`, `'s`)
}

# Sequence encoders (`model.encoder.kind`): classes built from the encoder block.
ENCODERS = {
    "simple_rnn": _attr("seqtasks.encoders.rnn", "SimpleRNNStack"),
    "lstm": _attr("seqtasks.encoders.rnn", "LSTMStack"),
    "gru": _attr("seqtasks.encoders.rnn", "GRUStack"),
    "reservoir": _attr("seqtasks.encoders.reservoir", "ReservoirStack"),
}

# Character-level word features (`model.char_features.kind`).
CHAR_FEATURES = {
    "none": _none,
    "cnn": _attr("seqtasks.layers.char_features", "CharCNN"),
    "bilstm": _attr("seqtasks.layers.char_features", "CharBiLSTM"),
}

# Heads per task kind (`model.head.kind`); the first is the kind's default.
HEADS = {
    "tagging": {
        "softmax": _attr("seqtasks.tasks.tagging.heads", "SoftmaxHead"),
        "crf": _attr("seqtasks.tasks.tagging.heads", "CRFHead"),
    },
    "classification": {
        "classifier": _attr("seqtasks.tasks.classification.heads", "PooledClassifierHead"),
    },
    "language_model": {
        "lm": _attr("seqtasks.tasks.language_model.heads", "NextTokenHead"),
    },
    # The translator's "head" is its attention decoder (`model.decoder`).
    "translation": {
        "attention_decoder": _attr("seqtasks.tasks.translation.model", "Translator"),
    },
}


def _attention(cls, **kwargs):
    def load():
        from seqtasks.layers import attention

        layer = getattr(attention, cls)

        def make(units, name="attention"):
            # Only the additive scorer has a width of its own.
            return layer(units, name=name) if cls == "BahdanauAttention" else layer(name=name, **kwargs)

        return make

    return load


# Encoder-decoder attention (`model.decoder.attention`): factories
# `(units, name) -> layer` (units: the Bahdanau scorer width; Luong has none).
ATTENTION = {
    "bahdanau": _attention("BahdanauAttention"),
    "luong_dot": _attention("LuongAttention", mode="dot"),
    "luong_general": _attention("LuongAttention", mode="general"),
}

def _pooling(mode):
    def load():
        import functools

        from seqtasks.layers.pooling import SequencePooling

        return functools.partial(SequencePooling, mode)

    return load


# Pooling of a sequence into one vector (`model.head.pooling`): layer factories.
POOLING = {mode: _pooling(mode) for mode in ("last", "mean", "max", "attention")}

OPTIMIZERS = {
    # Keras' Adam and AdamW, one fused kernel a variable on TensorFlow.
    "adam": _attr("seqtasks.training.fused_adam", "Adam"),
    "adamw": _attr("seqtasks.training.fused_adam", "AdamW"),
    "nadam": _attr("keras.optimizers", "Nadam"),
    "rmsprop": _attr("keras.optimizers", "RMSprop"),
    "sgd": _attr("keras.optimizers", "SGD"),
}

# Learning-rate schedules (`train.lr_schedule`): functions of (train block,
# steps per epoch) -> (optimizer schedule or None, callbacks).
LR_SCHEDULES = {name: _attr("seqtasks.training.schedules", name) for name in
                ("none", "plateau", "cosine", "step")}

# Extra training objectives (`train.regularizer.kind`).
REGULARIZERS = {
    "none": _none,
    "virtual_adversarial": _attr("seqtasks.training.regularizers.virtual_adversarial",
                                 "VirtualAdversarial"),
}


def resolve(table, name, what="component"):
    """Returns the component registered under `name` in `table`.

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


def task_kind(task):
    """The `TaskKind` of a task name (`seqtasks.tasks.<kind>.KIND`).

    Args:
        task: a recipe's `task`.

    Returns:
        The kind object that preprocesses, builds, scores and writes that task.
    """
    if task not in TASKS:
        raise RecipeError(f"unknown task '{task}'; known: {', '.join(TASKS)}")
    return importlib.import_module(f"seqtasks.tasks.{TASKS[task]}").KIND
