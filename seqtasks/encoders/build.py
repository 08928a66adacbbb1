"""The recipe's `model` section + a fitted preprocessor -> a `Backbone`."""

import dataclasses
import logging

from seqtasks.encoders.backbone import Backbone

LOG = logging.getLogger("seqtasks")


def build_backbone(m, preprocessor):
    """The `Backbone` of a recipe's model section, sized by the fitted preprocessor
    (pretrained vectors loaded when the recipe names a file).

    Args:
        m: the recipe's `model` section.
        preprocessor: the fitted `Preprocessor` (vocabulary sizes).

    Returns:
        A `Backbone`.
    """
    encoder = dataclasses.asdict(m.encoder)
    backbone = Backbone(
        vocabulary_size=len(preprocessor.tokens),
        embedding_dim=m.embedding.dim,
        embedding_dropout=m.embedding.dropout,
        embedding_trainable=m.embedding.trainable,
        word_dropout=m.embedding.word_dropout,
        char_vocabulary_size=len(preprocessor.chars),
        char_features=dataclasses.asdict(m.char_features),
        feature_vocabulary_sizes=[len(preprocessor.feature_values[name])
                                  for name in preprocessor.token_features],
        feature_dim=m.embedding.feature_dim,
        encoder=encoder,
        name="backbone",
    )
    if m.embedding.pretrained:
        _load_vectors(backbone, m.embedding, preprocessor)
    return backbone


def _load_vectors(backbone, embedding, preprocessor):
    from seqtasks.data.vectors import embedding_matrix

    matrix, found = embedding_matrix(embedding.pretrained, preprocessor.tokens, dim=embedding.dim,
                                     lowercase_match=embedding.lowercase_match)
    backbone.set_embeddings(matrix)
    LOG.info("pretrained vectors: %d of %d vocabulary entries found in %s", found,
             len(preprocessor.tokens), embedding.pretrained)
