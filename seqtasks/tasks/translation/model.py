"""Translator: source embedding -> (bi)directional RNN encoder -> bridge ->
RNN decoder with attention and input feeding -> target-vocabulary logits."""

import keras
from keras import ops

from seqtasks.generation.search import beam_search, greedy_search
from seqtasks.registry import ATTENTION, ENCODERS, resolve
from seqtasks.tasks.translation.preprocessor import BOS_ID, EOS_ID, PAD_ID

CELLS = {"gru": keras.layers.GRUCell, "lstm": keras.layers.LSTMCell}
_EMBEDDING_INIT = {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 1.0}}


def _encoder_core(embedding_dim, encoder):
    """A functional model `[features, mask] -> states (batch, ts, width)` of the
    recipe's encoder block (the encoder registry, as taggers use it)."""
    block = {k: v for k, v in encoder.items() if k != "kind"}
    stack = resolve(ENCODERS, encoder.get("kind", "gru"), "model.encoder.kind")(name="encoder", **block)
    x = keras.Input((None, embedding_dim), name="source_features")
    mask = keras.Input((None,), dtype="bool", name="source_mask")
    outputs = stack(x, mask)
    return keras.Model([x, mask], outputs, name="encoder"), outputs.shape[-1]


@keras.saving.register_keras_serializable(package="seqtasks")
class Translator(keras.Model):
    """A sequence-to-sequence translator with attention (Luong et al. 2015 layout).

    Encoder: source embedding -> the encoder block of the registry (e.g. a
    1-layer BiGRU) -> states `(batch, ts, w)`. Bridge: the masked mean of
    the states -> `tanh(Dense)` -> the decoder's initial states. Decoder step
    `t`: `h_t = RNN(h_{t-1}, [embed(y_{t-1}); a_{t-1}])` (input feeding: the
    previous attentional vector `a_{t-1}` is fed back), `c_t = attention(h_t,
    states)`, `a_t = tanh(W [h_t; c_t])`, logits `= W_o a_t` (or the target
    embedding transposed, when tied). Training runs the same step function
    over the teacher-forced target (`keras.ops.scan`), so training and
    decoding cannot disagree; greedy and beam search (`seqtasks.generation.search`)
    drive `step` inside the compiled predict function.

    Dropout is applied to the embeddings and to the attentional vectors
    outside the recurrence (no random state inside the loop).

    Args:
        source_vocabulary, target_vocabulary: vocabulary sizes (ids 0-3 are
            <pad> <unk> <bos> <eos> in both).
        embedding_dim: width of both embeddings.
        embedding_dropout: dropout on the source embeddings.
        encoder: the recipe's `model.encoder` block.
        decoder: the recipe's `model.decoder` block (`kind` gru | lstm, `units`,
            `layers`, `attention` in `registry.ATTENTION`, `attention_units`,
            `input_feeding`, `dropout`, `tie_embeddings`).
        limits: the output length limits of decoding (`max_length_a`,
            `max_length_b`, `max_output_length`; the recipe's `evaluate` block).

    Example:

    ```python
    model = Translator(100, 120, 32, encoder={"kind": "gru", "units": 32, "layers": 1},
                       decoder={"units": 64, "attention": "luong_general"})
    model.compile()
    logits = model({"token_ids": src, "padding_mask": mask, "target_ids": tgt_in})  # (b, tt, 120)
    model.decode_settings = {"beam_size": 5}
    tokens, scores, lengths = model.predict_on_batch({"token_ids": src, "padding_mask": mask})
    ```
    """

    kind_name = "translation"
    DECODER = {"kind": "gru", "units": 256, "layers": 1, "attention": "bahdanau", "attention_units": 256,
               "input_feeding": True, "dropout": 0.3, "tie_embeddings": False}
    DECODING = {"beam_size": 1, "length_penalty": 0.0, "num_return": 1, "max_length_a": 2.0,
                "max_length_b": 10, "max_output_length": 200}

    def __init__(self, source_vocabulary, target_vocabulary, embedding_dim=256, embedding_dropout=0.0,
                 encoder=None, decoder=None, limits=None, **kwargs):
        super().__init__(**kwargs)
        self.source_vocabulary, self.target_vocabulary = int(source_vocabulary), int(target_vocabulary)
        self.embedding_dim, self.embedding_dropout = int(embedding_dim), float(embedding_dropout)
        self.encoder_config = dict(encoder or {"kind": "gru", "units": 128, "layers": 1, "bidirectional": True})
        self.decoder_config = {**self.DECODER, **(decoder or {})}
        d = self.decoder_config
        self.units, self.num_layers = int(d["units"]), int(d["layers"])
        self.cell_kind, self.input_feeding = d["kind"], bool(d["input_feeding"])
        if self.cell_kind not in CELLS:
            raise ValueError(f"Translator: decoder kind must be one of {sorted(CELLS)}. Received: {self.cell_kind!r}")
        # The attentional vector feeds the output; tied, it must be as wide as the embedding.
        self.output_width = self.embedding_dim if d["tie_embeddings"] else self.units

        # N(0, 1) embeddings (PyTorch's default, as the Multi30k baselines use):
        # with Keras' uniform(-0.05, 0.05) the decoder barely sees its input
        # tokens at the start, and on the full Multi30k the model stayed at the
        # unigram loss (5.3) for 12 epochs; with N(0, 1) it left it within 40
        # steps (docs/EXPERIMENTS.md).
        self.source_embedding = keras.layers.Embedding(self.source_vocabulary, self.embedding_dim,
                                                       embeddings_initializer=_EMBEDDING_INIT,
                                                       name="source_embedding")
        self.target_embedding = keras.layers.Embedding(self.target_vocabulary, self.embedding_dim,
                                                       embeddings_initializer=_EMBEDDING_INIT,
                                                       name="target_embedding")
        self.source_embedding.build((None, None))
        self.target_embedding.build((None, None))
        self.source_drop = keras.layers.Dropout(self.embedding_dropout)
        self.target_drop = keras.layers.Dropout(float(d["dropout"]))
        self.output_drop = keras.layers.Dropout(float(d["dropout"]))
        self.encoder, width = _encoder_core(self.embedding_dim, self.encoder_config)
        self.states_per_layer = 2 if self.cell_kind == "lstm" else 1
        self.bridge = keras.layers.Dense(self.units * self.num_layers * self.states_per_layer, activation="tanh",
                                         name="bridge")
        self.bridge.build((None, width))
        self.cells = []
        for i in range(self.num_layers):
            cell = CELLS[self.cell_kind](self.units, name=f"decoder_{self.cell_kind}_{i}")
            in_width = (self.embedding_dim + (self.output_width if self.input_feeding else 0)) if i == 0 else self.units
            cell.build((None, in_width))
            self.cells.append(cell)
        self.attention = resolve(ATTENTION, d["attention"], "model.decoder.attention")(
            int(d["attention_units"]), name="attention")
        self.attention.build((None, self.units), (None, None, width))
        self.combine = keras.layers.Dense(self.output_width, activation="tanh", use_bias=False, name="attentional")
        self.combine.build((None, self.units + width))
        if d["tie_embeddings"]:
            self.output_bias = self.add_weight(shape=(self.target_vocabulary,), initializer="zeros",
                                               name="output_bias")
            self.output_layer = None
        else:
            self.output_layer = keras.layers.Dense(self.target_vocabulary, name="output")
            self.output_layer.build((None, self.output_width))
        self.limits = {k: v for k, v in (limits or {}).items() if k in self.DECODING and k.startswith("max_")}
        self.decode_settings = {**self.DECODING, **self.limits}
        self.built = True

    # -- the decoder settings of `predict` ----------------------------------------------------
    @property
    def decode_settings(self):
        return dict(self._decode_settings)

    @decode_settings.setter
    def decode_settings(self, settings):
        old = getattr(self, "_decode_settings", None)
        new = {**self.DECODING, **(old or {}), **settings}
        if new == old:
            return
        # The settings are traced into the compiled predict function: keep one
        # function per setting, so that switching greedy <-> beam (dev metric,
        # final scores, plots) does not trace the search again.
        functions = self.__dict__.setdefault("_search_functions", {})
        if old is not None and self.predict_function is not None:
            functions[tuple(sorted(old.items()))] = self.predict_function
        self._decode_settings = new
        self.predict_function = functions.get(tuple(sorted(new.items())))

    # -- encoder ------------------------------------------------------------------------------
    def encode(self, token_ids, mask, training=False):
        """The encoder states, the mask and the decoder's initial state dict."""
        mask = ops.cast(mask, "bool")
        x = self.source_drop(self.source_embedding(token_ids), training=training)
        memory = self.encoder([x, mask], training=training)  # (b, ts, w)
        weights = ops.cast(mask, memory.dtype)[..., None]
        mean = ops.sum(memory * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)
        bridged = self.bridge(mean)  # (b, units * layers * states)
        hidden = ops.split(bridged, self.num_layers * self.states_per_layer, axis=-1)
        batch = ops.shape(token_ids)[0]
        state = {"hidden": tuple(hidden), "feed": ops.zeros((batch, self.output_width), dtype=memory.dtype),
                 "memory": memory, "keys": self.attention.project_keys(memory), "mask": mask}
        return state

    # -- one decoder step ---------------------------------------------------------------------
    def _step(self, embedded, state):
        """`embedded` (n, emb) -> `(attentional (n, out), weights (n, ts), new hidden tuple)`."""
        x = ops.concatenate([embedded, state["feed"]], axis=-1) if self.input_feeding else embedded
        new_hidden = []
        k = self.states_per_layer
        for i, cell in enumerate(self.cells):
            states = list(state["hidden"][i * k:(i + 1) * k])
            x, new = cell(x, states if k > 1 else states[0])
            new_hidden += list(new) if isinstance(new, (list, tuple)) else [new]
        context, weights = self.attention(x, state["memory"], mask=state["mask"], projected_keys=state["keys"])
        attentional = self.combine(ops.concatenate([x, context], axis=-1))
        return attentional, weights, tuple(new_hidden)

    def logits(self, attentional):
        if self.output_layer is None:
            return ops.matmul(attentional, ops.transpose(self.target_embedding.embeddings)) + self.output_bias
        return self.output_layer(attentional)

    def step(self, token_ids, state):
        """One search step: `(n,)` last tokens -> `(logits (n, vocab), new state)`."""
        attentional, _, hidden = self._step(self.target_embedding(token_ids), state)
        return self.logits(attentional), dict(state, hidden=hidden, feed=attentional)

    # -- teacher forcing ------------------------------------------------------------------------
    def forced(self, inputs, training=False):
        """Teacher-forced decoding: `(logits (b, tt, vocab), attention (b, tt, ts))`."""
        state = self.encode(inputs["token_ids"], inputs["padding_mask"], training)
        embedded = self.target_drop(self.target_embedding(inputs["target_ids"]), training=training)
        if not self.input_feeding:
            return self._forced_without_feeding(embedded, state, training)

        # Keras' TensorFlow `scan` stacks outputs shaped like the carry, so the
        # carry holds what is stacked: the states, the attentional vector and
        # the attention weights of the step.
        def body(carry, x):
            hidden, feed, _ = carry
            attentional, weights, hidden = self._step(x, dict(state, hidden=hidden, feed=feed))
            carry = (hidden, attentional, weights)
            return carry, carry

        no_weights = ops.zeros_like(ops.cast(state["mask"], state["memory"].dtype))  # (b, ts)
        _, (_, attentional, weights) = ops.scan(body, (state["hidden"], state["feed"], no_weights),
                                                ops.transpose(embedded, (1, 0, 2)))
        attentional = ops.transpose(attentional, (1, 0, 2))  # (b, tt, out)
        logits = self.logits(self.output_drop(attentional, training=training))
        return logits, ops.transpose(weights, (1, 0, 2))

    def _forced_without_feeding(self, embedded, state, training):
        """Teacher forcing when no attentional vector is fed back: only the RNN
        cells run step by step; attention, the attentional layer and the
        output projection then run once over all target steps (the same
        numbers as `step`, with a loop body of a few ops instead of the whole
        decoder step: about a third less time per batch on a 2-core CPU)."""
        k = self.states_per_layer

        def body(hidden, x):
            new_hidden = []
            for i, cell in enumerate(self.cells):
                states = list(hidden[i * k:(i + 1) * k])
                x, new = cell(x, states if k > 1 else states[0])
                new_hidden += list(new) if isinstance(new, (list, tuple)) else [new]
            # Keras' TensorFlow `scan` stacks outputs shaped like the carry; the
            # top layer's output is its (first) state, so the carry is enough.
            return tuple(new_hidden), tuple(new_hidden)

        _, stacked = ops.scan(body, state["hidden"], ops.transpose(embedded, (1, 0, 2)))
        queries = ops.transpose(stacked[(self.num_layers - 1) * k], (1, 0, 2))  # (b, tt, units)
        context, weights = self.attention(queries, state["memory"], mask=state["mask"],
                                          projected_keys=state["keys"])
        attentional = self.combine(ops.concatenate([queries, context], axis=-1))
        logits = self.logits(self.output_drop(attentional, training=training))
        return logits, weights

    def call(self, inputs, training=False):
        return self.forced(inputs, training)[0]

    # -- search -----------------------------------------------------------------------------------
    def search(self, token_ids, mask):
        """Greedy (`beam_size` 1) or beam search with `decode_settings`.

        Returns:
            `(tokens (b, n, T), scores (b, n), lengths (b, n))` with n =
            `num_return` (greedy: 1, score 0).
        """
        s = self._decode_settings
        state = self.encode(token_ids, mask)
        batch = ops.shape(token_ids)[0]
        source_lengths = ops.sum(ops.cast(mask, "float32"), axis=1) - 1.0  # without <eos>
        limits = ops.cast(s["max_length_a"] * source_lengths + s["max_length_b"], "int32")
        steps = int(s["max_output_length"])
        limits = ops.clip(limits, 1, steps)
        if s["beam_size"] == 1:
            tokens, lengths = greedy_search(self.step, state, batch, BOS_ID, EOS_ID, limits, pad_id=PAD_ID,
                                            max_steps=steps)
            return tokens[:, None, :], ops.zeros((batch, 1)), lengths[:, None]
        return beam_search(self.step, state, batch, BOS_ID, EOS_ID, limits, beam_size=int(s["beam_size"]),
                           length_penalty=float(s["length_penalty"]), num_return=int(s["num_return"]),
                           pad_id=PAD_ID, max_steps=steps)

    def predict_step(self, *args):
        """The search on a batch. The JAX trainer calls `predict_step(state,
        data)` and expects `(outputs, non_trainable_variables)`: the search then
        runs with the variables mapped to the given state."""
        if len(args) == 2:  # JAX
            (trainable, non_trainable), data = args
            mapping = list(zip(self.trainable_variables, trainable)) + list(
                zip(self.non_trainable_variables, non_trainable))
            with keras.StatelessScope(state_mapping=mapping):
                outputs = self._search_data(data)
            return outputs, non_trainable
        return self._search_data(args[0])

    def _search_data(self, data):
        inputs = data[0] if isinstance(data, tuple) else data
        return self.search(inputs["token_ids"], inputs["padding_mask"])

    def compile(self, optimizer="auto", loss="auto", **kwargs):
        """`keras.Model.compile`; "auto": Adam(1e-3, clipnorm=1) and the mean
        cross-entropy over the real (weighted) target tokens of a batch."""
        if optimizer == "auto":
            from seqtasks.training.fused_adam import Adam

            optimizer = Adam(1e-3, clipnorm=1.0)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                              reduction="mean_with_sample_weight")
        super().compile(optimizer=optimizer, loss=loss, **kwargs)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "source_vocabulary": self.source_vocabulary,
                "target_vocabulary": self.target_vocabulary, "embedding_dim": self.embedding_dim,
                "embedding_dropout": self.embedding_dropout, "encoder": self.encoder_config,
                "decoder": self.decoder_config, "limits": self.limits}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
