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

    checks = [
        ("task", recipe.task, registry.TASKS),
        ("preprocess.units", recipe.preprocess.units, registry.UNITS),
        ("model.encoder.kind", recipe.model.encoder.kind, registry.ENCODERS),
        ("model.char_features.kind", recipe.model.char_features.kind, registry.CHAR_FEATURES),
        ("model.head.kind", recipe.model.head.kind, registry.HEADS.get(registry.TASKS.get(recipe.task), {})),
        ("model.head.pooling", recipe.model.head.pooling, registry.POOLING),
        ("train.optimizer", recipe.train.optimizer, registry.OPTIMIZERS),
        ("train.lr_schedule", recipe.train.lr_schedule, registry.LR_SCHEDULES),
        ("train.regularizer.kind", recipe.train.regularizer.kind, registry.REGULARIZERS),
        ("train.class_weight", recipe.train.class_weight, ("none", "balanced")),
        ("train.distribute", recipe.train.distribute, ("auto", "none", "mirrored")),
        ("model.decoder.kind", recipe.model.decoder.kind, ("gru", "lstm")),
        ("preprocess.subwords", recipe.preprocess.subwords, ("none", "sentencepiece")),
        ("model.decoder.attention", recipe.model.decoder.attention, registry.ATTENTION),
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
    _check_reservoir(recipe.model.encoder, source)
    _check_language_model(recipe, source)
    _check_translation(recipe, source)


def _check_translation(recipe, source):
    """The decoder and decoding settings (read by translation only)."""
    from seqtasks.registry import TASKS

    d, e = recipe.model.decoder, recipe.evaluate
    for key, number, least in [("model.decoder.units", d.units, 1), ("model.decoder.layers", d.layers, 1),
                               ("model.decoder.attention_units", d.attention_units, 1),
                               ("evaluate.beam_size", e.beam_size, 1),
                               ("evaluate.max_output_length", e.max_output_length, 1),
                               ("evaluate.attention_plots", e.attention_plots, 0)]:
        if number < least:
            raise RecipeError(f"{source}: '{key}' must be at least {least}, found {number}")
    if not 0.0 <= d.dropout < 1.0:
        raise RecipeError(f"{source}: 'model.decoder.dropout' must be in [0, 1), found {d.dropout}")
    if e.length_penalty < 0 or e.max_length_a < 0:
        raise RecipeError(f"{source}: 'evaluate.length_penalty' and 'evaluate.max_length_a' must be at least 0, "
                          f"found {e.length_penalty} and {e.max_length_a}")
    if recipe.preprocess.subwords != "none" and TASKS[recipe.task] != "translation":
        raise RecipeError(f"{source}: 'preprocess.subwords' needs task 'translation', found '{recipe.task}'")
    if recipe.preprocess.subword_vocabulary < 8:
        raise RecipeError(f"{source}: 'preprocess.subword_vocabulary' must be at least 8, "
                          f"found {recipe.preprocess.subword_vocabulary}")
    languages = recipe.data.languages
    if languages is not None and (set(languages) != {"source", "target"}
                                  or not all(isinstance(v, str) for v in languages.values())):
        raise RecipeError(f"{source}: 'data.languages' must be {{source: <language>, target: <language>}}, "
                          f"found {languages}")


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
                        ("model.embedding.dim", recipe.model.embedding.dim)]:
        if number < 1:
            raise RecipeError(f"{source}: '{key}' must be at least 1, found {number}")
    steps = recipe.train.steps_per_execution
    if steps != "auto" and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise RecipeError(f"{source}: 'train.steps_per_execution' must be 'auto' or an integer of at least 1, "
                          f"found {steps!r}")
    if recipe.train.ema_momentum is not None and not 0.0 < recipe.train.ema_momentum < 1.0:
        raise RecipeError(f"{source}: 'train.ema_momentum' must be in (0, 1), found {recipe.train.ema_momentum}")
    regularizer = recipe.train.regularizer
    if regularizer.kind != "none" and regularizer.epsilon <= 0:
        raise RecipeError(f"{source}: 'train.regularizer.epsilon' must be above 0, found {regularizer.epsilon}")
    if regularizer.kind == "virtual_adversarial" and recipe.model.head.kind == "crf":
        raise RecipeError(f"{source}: 'train.regularizer.kind: virtual_adversarial' needs a softmax output to "
                          f"compare, which 'model.head.kind: crf' does not give; use 'model.head.kind: softmax'")
    for key, rate in [("model.embedding.dropout", recipe.model.embedding.dropout),
                      ("model.embedding.word_dropout", recipe.model.embedding.word_dropout),
                      ("model.encoder.dropout", recipe.model.encoder.dropout),
                      ("model.encoder.recurrent_dropout", recipe.model.encoder.recurrent_dropout),
                      ("model.head.dropout", recipe.model.head.dropout)]:
        if not 0.0 <= rate < 1.0:
            raise RecipeError(f"{source}: '{key}' must be in [0, 1), found {rate}")
    _check_optional_ranges(recipe, source)


def _check_optional_ranges(recipe, source):
    """Rates, norms and lengths that would otherwise train silently wrong (a
    negative learning rate climbs the loss) or fail deep inside Keras."""
    t, p, m = recipe.train, recipe.preprocess, recipe.model
    positive = [("train.learning_rate", t.learning_rate), ("train.clipnorm", t.clipnorm),
                ("train.time_limit_minutes", t.time_limit_minutes)]
    at_least = [("train.weight_decay", t.weight_decay, 0), ("train.early_stopping_patience",
                 t.early_stopping_patience, 0), ("train.bucket_batches", t.bucket_batches, 1),
                ("train.threads", t.threads, 1), ("preprocess.min_frequency", p.min_frequency, 1),
                ("preprocess.max_vocabulary", p.max_vocabulary, 1),
                ("preprocess.max_length", p.max_length, 1),
                ("preprocess.max_word_length", p.max_word_length, 1), ("model.head.hidden", m.head.hidden, 0),
                ("model.char_features.embedding_dim", m.char_features.embedding_dim, 1),
                ("model.char_features.dim", m.char_features.dim, 1),
                ("model.char_features.kernel_size", m.char_features.kernel_size, 1)]
    for key, value in positive:
        if value is not None and not value > 0:
            raise RecipeError(f"{source}: '{key}' must be above 0, found {value}")
    for key, value, least in at_least:
        if value is not None and value < least:
            raise RecipeError(f"{source}: '{key}' must be at least {least}, found {value}")
    if t.verbose not in (0, 1, 2):
        raise RecipeError(f"{source}: 'train.verbose' must be 0 (silent), 1 (progress bar) or 2 "
                          f"(one line per epoch), found {t.verbose}")


def _check_data(recipe, source):
    """Token features: per-token task kinds only, with a sensible size; limits
    are whole numbers of examples, at least 1, per named split; the training
    length bound."""
    from seqtasks.registry import TASKS

    limits = recipe.data.limit
    for split, limit in limits.items():
        if type(limit) is not int or limit < 1:  # bool is not a count
            raise RecipeError(f"{source}: 'data.limit.{split}' must be a whole number of examples, at least 1, "
                              f"found {limit!r}")
    bound = recipe.data.max_length
    if bound is not None and (type(bound) is not int or bound < 1):
        raise RecipeError(f"{source}: 'data.max_length' must be a whole number of tokens, at least 1, "
                          f"or null (no bound), found {bound!r}")

    if recipe.data.features and TASKS[recipe.task] != "tagging":
        raise RecipeError(f"{source}: 'data.features' (token features) needs task 'tagging', found '{recipe.task}'")
    if recipe.data.features and recipe.model.embedding.feature_dim < 1:
        raise RecipeError(f"{source}: 'model.embedding.feature_dim' must be at least 1, "
                          f"found {recipe.model.embedding.feature_dim}")


def _check_reservoir(encoder, source):
    """The echo state network's settings (`model.encoder.kind: reservoir`)."""
    if encoder.kind != "reservoir":
        return
    for key, ok, expected in [("spectral_radius", encoder.spectral_radius > 0, "above 0"),
                              ("leak_rate", 0.0 < encoder.leak_rate <= 1.0, "in (0, 1]"),
                              ("input_scaling", encoder.input_scaling > 0, "above 0"),
                              ("sparsity", 0.0 <= encoder.sparsity < 1.0, "in [0, 1)"),
                              ("seed", encoder.seed >= 0, "at least 0")]:
        if not ok:
            raise RecipeError(f"{source}: 'model.encoder.{key}' must be {expected}, "
                              f"found {getattr(encoder, key)}")


def _check_language_model(recipe, source):
    """Language models read only the tokens before the one they predict, so
    their encoder runs forwards only; stream settings belong to them alone."""
    from seqtasks.registry import TASKS

    m, t, e = recipe.model, recipe.train, recipe.evaluate
    if TASKS[recipe.task] != "language_model":
        for key, value in [("data.stream", recipe.data.stream), ("model.head.tie_weights", m.head.tie_weights),
                           ("data.condition", recipe.data.condition)]:
            if value:
                raise RecipeError(f"{source}: '{key}' needs task 'language_model', found '{recipe.task}'")
        return
    refused = [
        ("model.encoder.bidirectional", m.encoder.bidirectional,
         "true: a language model must not see the token it predicts; set it to false"),
        ("model.char_features.kind", m.char_features.kind != "none", f"'{m.char_features.kind}': the tokens "
         "of a language model are its only input; use 'none'"),
        ("model.embedding.pretrained", m.embedding.pretrained, "is not read by language models"),
        ("train.regularizer.kind", t.regularizer.kind != "none", f"'{t.regularizer.kind}' is not available "
         "for language models; use 'none'"),
        ("train.class_weight", t.class_weight != "none", "has no classes to weigh in a language model"),
        ("preprocess.max_length", recipe.data.stream and recipe.preprocess.max_length,
         "cuts texts, which a stream (data.stream) never has; remove it"),
        ("data.condition", recipe.data.stream and recipe.data.condition,
         "conditions each text on its label, which a stream (data.stream) joins; use one or the other"),
        ("train.distribute", recipe.data.stream and t.distribute == "mirrored",
         "'mirrored' would split the streams whose state is carried (data.stream); use 'none'"),
    ]
    for key, bad, why in refused:
        if bad:
            raise RecipeError(f"{source}: '{key}' {why}")
    for key, number, least in [("train.bptt_window", t.bptt_window, 1), ("evaluate.stream_rows", e.stream_rows, 1),
                               ("evaluate.samples", e.samples, 0), ("evaluate.sample_length", e.sample_length, 1),
                               ("evaluate.ngram_order", e.ngram_order or 1, 1),
                               ("model.head.condition_dim", m.head.condition_dim, 1)]:
        if number < least:
            raise RecipeError(f"{source}: '{key}' must be at least {least}, found {number}")
