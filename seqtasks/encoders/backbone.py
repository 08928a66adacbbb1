"""Backbone: token (+ character, + token-feature) embeddings and a sequence encoder."""

import keras

from seqtasks.layers.token_dropout import TokenDropout
from seqtasks.registry import CHAR_FEATURES, ENCODERS, resolve


@keras.saving.register_keras_serializable(package="seqtasks")
class Backbone(keras.Model):
    """Embeddings + encoder, a functional model with dict inputs.

    Inputs: `token_ids` (batch, time) int, `padding_mask` (batch, time) bool and,
    when there are character features, `char_ids` (batch, time, chars) int and,
    when there are token features, `feature_ids` (batch, time, features) int.
    Output: (batch, time, features) sequence representation.

    The word features (word embedding, char features and token-feature
    embeddings, concatenated) are the output of the layer named by
    `word_features_layer`; training regularizers that perturb them find it there.

    Args:
        vocabulary_size: number of token ids (0 = padding, 1 = unknown).
        embedding_dim: width of the token embedding.
        embedding_dropout: dropout on the concatenated word features.
        embedding_trainable: fine-tune the token embedding.
        word_dropout: probability of replacing a token by the unknown id in training.
        char_vocabulary_size: number of character ids.
        char_features: the recipe's `model.char_features` block as a dict
            (`kind`: a name in `registry.CHAR_FEATURES`, and its sizes).
        feature_vocabulary_sizes: value-vocabulary size of each token feature
            (e.g. POS tags given to a chunker); each gets its own embedding.
        feature_dim: width of each token-feature embedding.
        encoder: the recipe's `model.encoder` block as a dict (`kind`: a name
            in `registry.ENCODERS`, and that encoder's arguments).

    Example:

    ```python
    backbone = Backbone(vocabulary_size=5000, encoder={"kind": "lstm", "units": 64})
    h = backbone({"token_ids": ids, "padding_mask": ids != 0})
    ```
    """

    def __init__(self, vocabulary_size, embedding_dim=100, embedding_dropout=0.0,
                 embedding_trainable=True, word_dropout=0.0, char_vocabulary_size=0, char_features=None,
                 feature_vocabulary_sizes=(), feature_dim=25, encoder=None, **kwargs):
        feature_vocabulary_sizes = [int(n) for n in feature_vocabulary_sizes or ()]
        encoder = dict(encoder or {})
        char_features = dict(char_features or {"kind": "none"})
        token_ids = keras.Input((None,), dtype="int32", name="token_ids")
        padding_mask = keras.Input((None,), dtype="bool", name="padding_mask")
        inputs = {"token_ids": token_ids, "padding_mask": padding_mask}
        ids = TokenDropout(word_dropout, name="word_dropout")(token_ids) if word_dropout else token_ids
        x = keras.layers.Embedding(vocabulary_size, embedding_dim,
                                   trainable=embedding_trainable, name="token_embedding")(ids)
        if char_features["kind"] != "none":
            x = _add_char_features(x, inputs, char_vocabulary_size, char_features)
        if feature_vocabulary_sizes:
            x = _add_token_features(x, inputs, feature_vocabulary_sizes, feature_dim)
        word_features_layer = x._keras_history.operation.name
        if embedding_dropout:
            x = keras.layers.Dropout(embedding_dropout, name="embedding_dropout")(x)
        encoder_kwargs = {k: v for k, v in encoder.items() if k != "kind"}
        outputs = resolve(ENCODERS, encoder.get("kind", "lstm"), "model.encoder.kind")(**encoder_kwargs)(
            x, padding_mask)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.word_features_layer = word_features_layer
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.embedding_dropout = embedding_dropout
        self.embedding_trainable = embedding_trainable
        self.word_dropout = word_dropout
        self.char_vocabulary_size = char_vocabulary_size
        self.char_features = char_features
        self.feature_vocabulary_sizes = feature_vocabulary_sizes
        self.feature_dim = feature_dim
        self.encoder = encoder

    @property
    def bidirectional(self):
        return self.encoder.get("bidirectional", True)

    @property
    def token_embeddings(self):
        """The word embedding table, a `keras.Variable` (vocabulary_size, embedding_dim)."""
        return self.get_layer("token_embedding").embeddings

    def set_embeddings(self, matrix):
        """Loads pretrained vectors (vocabulary_size, embedding_dim) into the embedding.

        The vectors become weights, saved with the model, not part of the config.
        """
        self.token_embeddings.assign(matrix)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "vocabulary_size": self.vocabulary_size,
            "embedding_dim": self.embedding_dim,
            "embedding_dropout": self.embedding_dropout,
            "embedding_trainable": self.embedding_trainable,
            "word_dropout": self.word_dropout,
            "char_vocabulary_size": self.char_vocabulary_size,
            "char_features": self.char_features,
            "feature_vocabulary_sizes": self.feature_vocabulary_sizes,
            "feature_dim": self.feature_dim,
            "encoder": self.encoder,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _add_char_features(x, inputs, vocabulary_size, block):
    """Adds the `char_ids` input and concatenates per-word char features to `x`."""
    char_cls = resolve(CHAR_FEATURES, block["kind"], "model.char_features.kind")
    char_ids = keras.Input((None, None), dtype="int32", name="char_ids")
    inputs["char_ids"] = char_ids
    sizes = {k: v for k, v in block.items() if k != "kind"}
    chars = char_cls.from_block(vocabulary_size, name="char_features", **sizes)(char_ids)
    return keras.layers.Concatenate(name="word_features")([x, chars])


def _add_token_features(x, inputs, vocabulary_sizes, dim):
    """Adds the `feature_ids` input and concatenates one embedding per token feature to `x`."""
    feature_ids = keras.Input((None, len(vocabulary_sizes)), dtype="int32", name="feature_ids")
    inputs["feature_ids"] = feature_ids
    parts = [x] + [keras.layers.Embedding(size, dim, name=f"feature_embedding_{k}")(feature_ids[:, :, k])
                   for k, size in enumerate(vocabulary_sizes)]
    return keras.layers.Concatenate(name="token_features")(parts)
