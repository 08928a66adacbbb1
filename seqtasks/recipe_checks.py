"""Checks of a built `Recipe` beyond types: component names and value ranges.

Names are looked up in the registry tables (house rule 4), so an unknown one
is an error that lists the known names; sizes and rates out of range name the
key and the value found.

Example:

```python
check_recipe(Recipe(), "recipe.yaml")   # passes
```
"""

from seqtasks.errors import RecipeError


def check_recipe(recipe, source):
    """Raises `RecipeError` naming the key for an unknown component name or a
    value out of range; `source` (the file) starts the message."""
    from seqtasks import registry
    from seqtasks.decoding import CONSISTENCY

    checks = [
        ("task", recipe.task, registry.TASKS),
        ("preprocess.units", recipe.preprocess.units, registry.UNITS),
        ("model.encoder.kind", recipe.model.encoder.kind, registry.ENCODERS),
        ("model.char_features.kind", recipe.model.char_features.kind, registry.CHAR_FEATURES),
        ("model.head.kind", recipe.model.head.kind, registry.HEADS.get(recipe.task, {})),
        ("model.head.pooling", recipe.model.head.pooling, registry.POOLING),
        ("model.head.consistency", recipe.model.head.consistency, CONSISTENCY),
        ("train.optimizer", recipe.train.optimizer, registry.OPTIMIZERS),
        ("train.lr_schedule", recipe.train.lr_schedule, registry.LR_SCHEDULES),
        ("train.class_weight", recipe.train.class_weight, ("none", "balanced")),
        ("train.distribute", recipe.train.distribute, ("auto", "none", "mirrored")),
        ("train.adversarial_norm", recipe.train.adversarial_norm, ("batch", "sentence")),
    ]
    for key, name, table in checks:
        if name not in table:
            raise RecipeError(f"{source}: unknown {key} '{name}'; known: {', '.join(table)}")
    _check_ranges(recipe, source)
    if recipe.train.train_with_dev and recipe.train.lr_schedule == "plateau":
        raise RecipeError(f"{source}: 'train.train_with_dev' trains on the dev split, so 'train.lr_schedule: "
                          f"plateau' (which cuts the rate on dev scores) cannot be used; "
                          f"use 'cosine', 'step' or 'none'")
    _check_step_schedule(recipe.train, source)
    _check_data(recipe, source)


def _check_step_schedule(t, source):
    """`lr_step_epochs`: increasing whole epochs from 1, needed by 'step'. Epochs
    at or past `train.epochs` are allowed (never reached), so a short trial
    (`--set train.epochs=3`) of a recipe with a step schedule still works."""
    epochs = t.lr_step_epochs
    if t.lr_schedule == "step" and not epochs:
        raise RecipeError(f"{source}: 'train.lr_schedule: step' needs 'train.lr_step_epochs', "
                          f"e.g. [16, 24, 32] (the epochs after which the rate is multiplied by "
                          f"'train.lr_step_factor')")
    whole = isinstance(epochs, list) and all(type(e) is int for e in epochs)  # bool and float are not epochs
    if not whole or epochs != sorted(set(epochs)) or (epochs and epochs[0] < 1):
        raise RecipeError(f"{source}: 'train.lr_step_epochs' must be increasing whole epochs, each at least 1, "
                          f"found {epochs}")
    if not 0.0 < t.lr_step_factor <= 1.0:
        raise RecipeError(f"{source}: 'train.lr_step_factor' must be in (0, 1], found {t.lr_step_factor}")


def _check_ranges(recipe, source):
    """Sizes, rates and weights: each out-of-range value names its key."""
    for key, number in [("train.batch_size", recipe.train.batch_size), ("train.epochs", recipe.train.epochs),
                        ("model.encoder.units", recipe.model.encoder.units),
                        ("model.encoder.layers", recipe.model.encoder.layers),
                        ("model.embedding.dim", recipe.model.embedding.dim),
                        ("model.lm_objective.hidden", recipe.model.lm_objective.hidden)]:
        if number < 1:
            raise RecipeError(f"{source}: '{key}' must be at least 1, found {number}")
    if recipe.train.ema_momentum is not None and not 0.0 < recipe.train.ema_momentum < 1.0:
        raise RecipeError(f"{source}: 'train.ema_momentum' must be in (0, 1), found {recipe.train.ema_momentum}")
    if recipe.train.adversarial_epsilon < 0:
        raise RecipeError(f"{source}: 'train.adversarial_epsilon' must be at least 0 (0 = off), "
                          f"found {recipe.train.adversarial_epsilon}")
    if recipe.train.virtual_adversarial_epsilon < 0:
        raise RecipeError(f"{source}: 'train.virtual_adversarial_epsilon' must be at least 0 (0 = off), "
                          f"found {recipe.train.virtual_adversarial_epsilon}")
    if recipe.train.virtual_adversarial_epsilon and recipe.model.head.kind == "crf":
        raise RecipeError(f"{source}: 'train.virtual_adversarial_epsilon' needs a softmax output to compare, "
                          f"which 'model.head.kind: crf' does not give; use 'model.head.kind: softmax' "
                          f"or 'train.adversarial_epsilon'")
    if (recipe.train.adversarial_epsilon and recipe.train.adversarial_norm == "batch"
            and not recipe.model.embedding.trainable):
        raise RecipeError(f"{source}: 'train.adversarial_epsilon' with 'train.adversarial_norm: batch' "
                          f"perturbs the word embedding table, which 'model.embedding.trainable: false' "
                          f"freezes; use 'train.adversarial_norm: sentence'")
    for key, rate in [("model.embedding.word_dropout", recipe.model.embedding.word_dropout),
                      ("model.embedding.singleton_dropout", recipe.model.embedding.singleton_dropout),
                      ("model.encoder.dropout", recipe.model.encoder.dropout),
                      ("model.encoder.recurrent_dropout", recipe.model.encoder.recurrent_dropout)]:
        if not 0.0 <= rate < 1.0:
            raise RecipeError(f"{source}: '{key}' must be in [0, 1), found {rate}")
    lm = recipe.model.lm_objective
    if lm.weight < 0:
        raise RecipeError(f"{source}: 'model.lm_objective.weight' must be at least 0 (0 = off), found {lm.weight}")
    if lm.vocabulary_size < 2:
        raise RecipeError(f"{source}: 'model.lm_objective.vocabulary_size' must be at least 2, "
                          f"found {lm.vocabulary_size}")


def _check_data(recipe, source):
    """Token features and joined sentences: tagging only, with sensible sizes."""
    if recipe.data.features and recipe.task != "tagging":
        raise RecipeError(f"{source}: 'data.features' (token features) needs task 'tagging', found '{recipe.task}'")
    if recipe.data.features and recipe.model.embedding.feature_dim < 1:
        raise RecipeError(f"{source}: 'model.embedding.feature_dim' must be at least 1, "
                          f"found {recipe.model.embedding.feature_dim}")
    if recipe.data.join_sentences < 0:
        raise RecipeError(f"{source}: 'data.join_sentences' must be 0 or more tokens, found {recipe.data.join_sentences}")
    if recipe.data.join_sentences and recipe.task != "tagging":
        raise RecipeError(f"{source}: 'data.join_sentences' needs task 'tagging', found '{recipe.task}'")
