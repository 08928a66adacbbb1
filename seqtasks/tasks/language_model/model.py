"""LanguageModel: embedding -> a forward encoder that carries its state -> next-token logits."""

import keras
from keras import ops

from seqtasks.layers.token_dropout import TokenDropout
from seqtasks.registry import ENCODERS, HEADS, resolve


def _encoder_core(embedding_dim, encoder):
    """A functional model `[x, *states] -> [outputs, *final_states]` of the
    recipe's encoder block, the widths of its states and its output width.

    There is no padding mask: a forward model never reads the padding after a
    text (the loss gives it weight 0), and without a mask the recurrent
    layers can take their fused kernels (cuDNN on GPU, also under JAX).
    """
    block = {k: v for k, v in encoder.items() if k != "kind"}
    stack = resolve(ENCODERS, encoder.get("kind", "lstm"), "model.encoder.kind")(**block)
    sizes = stack.state_sizes()
    x = keras.Input((None, embedding_dim), name="features")
    states = [keras.Input((size,), name=f"state_{i}") for i, size in enumerate(sizes)]
    outputs, final = stack.call_with_state(x, None, states)
    return keras.Model([x, *states], [outputs, *final], name="encoder"), sizes, stack.units


@keras.saving.register_keras_serializable(package="seqtasks")
class LanguageModel(keras.Model):
    """A next-token model whose recurrent state can be given, returned and carried.

    `forward(token_ids, mask, states)` returns the logits and the final
    states; generation and evaluation carry them in their own loops. For
    training on streams with `model.fit` (truncated backpropagation through
    time) the model keeps the state of its `streams` rows in non-trainable
    variables: a batch whose inputs hold `carry` (one 0/1 per row) starts
    from the kept state where `carry` is 1 and from zeros where it is 0, and
    leaves its final state there for the next window. The first window of an
    epoch sends `carry=0`: the reset between epochs is in the data, so no
    callback is needed, and the same holds on every back end (the variables
    are assigned as batch normalisation assigns its moving averages).

    Args:
        vocabulary_size: number of token ids.
        embedding_dim: width of the token embedding.
        embedding_dropout: dropout on the embedded tokens.
        word_dropout: probability of replacing an input token by `<unk>` in training.
        encoder: the recipe's `model.encoder` block (`kind` in `registry.ENCODERS`;
            unidirectional).
        head: the recipe's head block (`kind` in `registry.HEADS["language_model"]`,
            `tie_weights`, `dropout`).
        stream: for stream training, `{"streams": rows per batch, "window":
            steps per window, "eval_rows": rows an evaluated split is cut into}`;
            None for one example per text.
        condition: for a model conditioned on a class (`data.condition`),
            `{"classes": number of classes, "dim": embedding width}`: the
            class embedding is concatenated to the token embedding at every
            step (the class comes in as `feature_ids`, `(batch, time, 1)`).

    Example:

    ```python
    model = LanguageModel(30, 64, encoder={"kind": "lstm", "units": 128, "layers": 1,
                                           "bidirectional": False})
    model.compile()
    logits = model({"token_ids": ids, "padding_mask": mask})     # (batch, time, 30)
    ```
    """

    kind_name = "language_model"

    def __init__(self, vocabulary_size, embedding_dim=64, embedding_dropout=0.0, word_dropout=0.0,
                 encoder=None, head=None, stream=None, condition=None, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size, self.embedding_dim = int(vocabulary_size), int(embedding_dim)
        self.embedding_dropout, self.word_dropout = float(embedding_dropout), float(word_dropout)
        self.encoder_config = dict(encoder or {"kind": "lstm", "bidirectional": False})
        self.head_config = dict(head or {"kind": "lm"})
        self.stream = dict(stream) if stream else None
        self.condition = dict(condition) if condition else None
        self.word_drop = TokenDropout(self.word_dropout) if self.word_dropout else None
        self.embedding = keras.layers.Embedding(self.vocabulary_size, self.embedding_dim, name="token_embedding")
        self.embedding.build((None, None))
        self.embedding_drop = keras.layers.Dropout(self.embedding_dropout) if self.embedding_dropout else None
        self.condition_embedding = None
        width = self.embedding_dim
        if self.condition:
            self.condition_embedding = keras.layers.Embedding(self.condition["classes"], self.condition["dim"],
                                                              name="condition_embedding")
            self.condition_embedding.build((None,))
            width += self.condition["dim"]
        self.encoder, self.state_sizes, units = _encoder_core(width, self.encoder_config)
        head_block = {k: v for k, v in self.head_config.items() if k != "kind"}
        head_cls = resolve(HEADS[self.kind_name], self.head_config.get("kind", "lm"), "model.head.kind")
        self.output_head = head_cls(self.vocabulary_size, embedding_dim=self.embedding_dim, name="head",
                                    **head_block)
        self.output_head.build((None, None, units))
        self.carried = []
        if self.stream:
            self.carried = [self.add_weight(shape=(self.stream["streams"], size), initializer="zeros",
                                            trainable=False, name=f"carried_state_{i}")
                            for i, size in enumerate(self.state_sizes)]
        self.built = True

    def initial_states(self, rows):
        """Zero states for `rows` rows."""
        return [ops.zeros((rows, size), dtype="float32") for size in self.state_sizes]

    def forward(self, token_ids, mask, states, training=False, condition_ids=None):
        """`(logits (batch, time, vocab), final_states)` from `states`.

        `condition_ids` (batch,): the class of each row, for a conditioned model.

        `mask` (right padding) is not read: the steps after a text change
        neither its scores nor anything carried (see `_encoder_core`).
        """
        if self.word_drop is not None:
            token_ids = self.word_drop(token_ids, training=training)
        x = self.embedding(token_ids)
        if self.embedding_drop is not None:
            x = self.embedding_drop(x, training=training)
        if self.condition_embedding is not None:
            c = self.condition_embedding(condition_ids)[:, None, :]  # (batch, 1, dim)
            x = ops.concatenate([x, ops.broadcast_to(c, (*ops.shape(x)[:2], self.condition["dim"]))], axis=-1)
        outputs, *final = self.encoder([x, *states], training=training)
        logits = self.output_head(outputs, embeddings=self.embedding.embeddings, training=training)
        return logits, final

    def step(self, token_ids, states, condition_ids=None):
        """One generation step: `(n,)` tokens -> `(logits (n, vocab), states)`."""
        logits, states = self.forward(token_ids[:, None], ops.ones_like(token_ids[:, None], dtype="bool"),
                                      states, condition_ids=condition_ids)
        return logits[:, 0], states

    def condition_ids(self, inputs):
        """The class of each row (`feature_ids[:, 0, 0]`) of a conditioned model, else None."""
        return inputs["feature_ids"][:, 0, 0] if self.condition else None

    def call(self, inputs, training=False):
        token_ids = inputs["token_ids"]
        if "carry" not in inputs:
            states = self.initial_states(ops.shape(token_ids)[0])
            return self.forward(token_ids, inputs["padding_mask"], states, training,
                                condition_ids=self.condition_ids(inputs))[0]
        keep = ops.cast(inputs["carry"], "float32")[:, None]  # (streams, 1)
        states = [variable * keep for variable in self.carried]
        logits, final = self.forward(token_ids, inputs["padding_mask"], states, training)
        for variable, state in zip(self.carried, final):
            variable.assign(ops.cast(state, variable.dtype))
        return logits

    def compile(self, optimizer="auto", loss="auto", **kwargs):
        """`keras.Model.compile`; "auto": Adam(1e-3, clipnorm=5) and the mean
        cross-entropy over the real (weighted) tokens of a batch."""
        if optimizer == "auto":
            from seqtasks.training.fused_adam import Adam

            optimizer = Adam(1e-3, clipnorm=5.0)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                              reduction="mean_with_sample_weight")
        super().compile(optimizer=optimizer, loss=loss, **kwargs)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "vocabulary_size": self.vocabulary_size,
                "embedding_dim": self.embedding_dim, "embedding_dropout": self.embedding_dropout,
                "word_dropout": self.word_dropout, "encoder": self.encoder_config, "head": self.head_config,
                "stream": self.stream, "condition": self.condition}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
