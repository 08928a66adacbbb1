"""Recipe + fitted preprocessor -> a compiled task model."""

import logging

import keras

from seqtasks.models.backbone import Backbone
from seqtasks.registry import OPTIMIZERS, TASKS, resolve

LOG = logging.getLogger("seqtasks")


def build_model(recipe, preprocessor, scheme=None):
    """Builds the task model named by `recipe.task` (not compiled).

    Args:
        recipe: a `Recipe`.
        preprocessor: the fitted `Preprocessor` (vocabulary and label sizes).
        scheme: the span scheme the tags are in (CRF constraints), or None.

    Returns:
        A `Tagger` or `Classifier`.
    """
    m = recipe.model
    backbone = build_backbone(m, preprocessor)
    task_cls = resolve(TASKS, recipe.task, "task")
    num_labels = len(preprocessor.labels)
    if recipe.task == "classification":
        return task_cls(backbone, num_labels, pooling=m.head.pooling, hidden=m.head.hidden,
                        dropout=m.head.dropout, name="classifier")
    constraints = None
    if m.head.kind == "crf" and m.head.constrain and scheme:
        from seqtasks.data.schemes import allowed_transitions

        constraints = allowed_transitions(preprocessor.labels, scheme)
    return task_cls(backbone, num_labels, head=m.head.kind, hidden=m.head.hidden,
                    dropout=m.head.dropout, constraints=constraints, name="tagger")


def build_backbone(m, preprocessor):
    """The `Backbone` of a recipe's model section, sized by the fitted preprocessor
    (pretrained vectors loaded when the recipe names a file)."""
    backbone = Backbone(
        vocabulary_size=len(preprocessor.tokens),
        embedding_dim=m.embedding.dim,
        embedding_dropout=m.embedding.dropout,
        embedding_trainable=m.embedding.trainable,
        word_dropout=m.embedding.word_dropout,
        singleton_dropout=m.embedding.singleton_dropout,
        singletons_from=preprocessor.singletons_from if m.embedding.singleton_dropout else None,
        char_vocabulary_size=len(preprocessor.chars),
        char_features=m.char_features.kind,
        char_embedding_dim=m.char_features.embedding_dim,
        char_dim=m.char_features.dim,
        char_kernel_size=m.char_features.kernel_size,
        feature_vocabulary_sizes=[len(preprocessor.feature_values[name])
                                  for name in preprocessor.token_features],
        feature_dim=m.embedding.feature_dim,
        encoder={"kind": m.encoder.kind, "units": m.encoder.units, "layers": m.encoder.layers,
                 "bidirectional": m.encoder.bidirectional, "dropout": m.encoder.dropout,
                 "residual": m.encoder.residual, "variational": m.encoder.variational,
                 "recurrent_dropout": m.encoder.recurrent_dropout,
                 "lm_objective": _lm_objective(m.lm_objective, len(preprocessor.tokens))},
        name="backbone",
    )
    if m.encoder.recurrent_dropout and m.encoder.kind in ("lstm", "gru"):
        LOG.warning("model.encoder.recurrent_dropout=%s: the %s layers cannot use the fused cuDNN "
                    "kernel on GPU (slower there); model.encoder.variational keeps it",
                    m.encoder.recurrent_dropout, m.encoder.kind.upper())
    if m.embedding.pretrained:
        _load_vectors(backbone, m.embedding, preprocessor)
    return backbone


def _lm_objective(lm, vocabulary_size):
    """`LanguageModelObjective` arguments, or None when `model.lm_objective.weight` is 0."""
    if not lm.weight:
        return None
    return {"weight": lm.weight, "hidden": lm.hidden,
            "vocabulary_size": min(lm.vocabulary_size, vocabulary_size)}


def _load_vectors(backbone, embedding, preprocessor):
    from seqtasks.data.vectors import embedding_matrix

    matrix, found = embedding_matrix(embedding.pretrained, preprocessor.tokens, dim=embedding.dim,
                                     lowercase_match=embedding.lowercase_match)
    backbone.set_embeddings(matrix)
    LOG.info("pretrained vectors: %d of %d vocabulary entries found in %s", found,
             len(preprocessor.tokens), embedding.pretrained)


def build_optimizer(train):
    """The optimizer named in `train.optimizer` with clipping by norm.

    With `train.ema_momentum` the optimizer also keeps an exponential moving
    average of the weights (Polyak averaging); `SwapEMAWeights` in the
    training callbacks makes the dev metric, checkpoints and the saved model
    use it.
    """
    cls = resolve(OPTIMIZERS, train.optimizer, "optimizer")
    kwargs = {"learning_rate": train.learning_rate}
    if train.clipnorm:
        kwargs["clipnorm"] = train.clipnorm
    if train.weight_decay:
        kwargs["weight_decay"] = train.weight_decay
    if train.ema_momentum:
        kwargs.update(use_ema=True, ema_momentum=train.ema_momentum)
    return cls(**kwargs)


def count_params(model):
    """Number of trainable parameters."""
    return int(sum(keras.ops.size(w) for w in model.trainable_weights))
