"""TaskModel: a backbone plus a head, the `keras.Model` of every sequence task.

The head is built by name from the registry (`registry.HEADS[kind][head.kind]`)
and says how its outputs are trained (`loss`, `metrics`, `compute_loss`) and
decoded (`decode`). Heads return logits (a CRF head: emission scores);
probabilities are computed where a user asks for them.

Example:

```python
model = Tagger(Backbone(vocabulary_size=100), num_labels=17, head={"kind": "crf"})
model.compile()          # Adam(1e-3, clipnorm=5) + the head's loss and metrics
model.fit(batches, epochs=2)
tag_ids = model.predict_on_batch(inputs)   # decoded by the head
```
"""

import keras

from seqtasks.registry import HEADS, resolve


class TaskModel(keras.Model):
    """A functional model: `backbone(inputs)` -> head.

    Args:
        backbone: a `seqtasks.encoders.backbone.Backbone`.
        num_labels: number of labels the head scores.
        head: the recipe's head block as a dict: `kind` (a name in
            `registry.HEADS[kind_name]`) and that head's arguments.
    """

    kind_name = None  # the task kind whose heads this model takes (set by subclasses)

    def __init__(self, backbone, num_labels, head=None, **kwargs):
        head = dict(head or {})
        head_kind = head.pop("kind", None) or next(iter(HEADS[self.kind_name]))
        head_cls = resolve(HEADS[self.kind_name], head_kind, "model.head.kind")
        self.output_head = head_cls(num_labels, bidirectional=backbone.bidirectional, **head)
        inputs = dict(backbone.input)
        sequence = backbone(inputs)  # (batch, time, features)
        outputs = self.output_head(sequence, inputs["padding_mask"])
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.backbone = backbone
        self.num_labels = num_labels
        self.head_config = {"kind": head_kind, **self.output_head.get_config()}

    @property
    def head(self):
        """The head's registry name ("softmax", "crf", "classifier")."""
        return self.head_config["kind"]

    def compile(self, optimizer="auto", loss="auto", weighted_metrics="auto", **kwargs):
        """`keras.Model.compile`; "auto" takes Adam(1e-3, clipnorm=5) and the head's loss and metrics."""
        if optimizer == "auto":
            from seqtasks.training.fused_adam import Adam

            optimizer = Adam(1e-3, clipnorm=5.0)
        if loss == "auto":
            loss = self.output_head.loss()
        if weighted_metrics == "auto":
            weighted_metrics = self.output_head.metrics()
        super().compile(optimizer=optimizer, loss=loss, weighted_metrics=weighted_metrics, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return self.output_head.compute_loss(self, x, y, y_pred, sample_weight, training)

    def keras_compute_loss(self, x, y, y_pred, sample_weight, training=True):
        """Keras' own `compute_loss` (the compiled loss), for heads that use it."""
        return super().compute_loss(x, y, y_pred, sample_weight, training=training)

    def predict_step(self, *args):
        """The head's decoded outputs (tag ids; logits for classifiers).

        Keras calls it as `predict_step(data)` on TensorFlow and as
        `predict_step(state, data)` on JAX, whose state (the variables'
        values) is mapped onto the variables for the call and the decoding.
        """
        if len(args) == 1:
            x = keras.utils.unpack_x_y_sample_weight(args[0])[0]
            return self._decoded(x)
        (trainable, non_trainable), data = args
        x = keras.utils.unpack_x_y_sample_weight(data)[0]
        mapping = [*zip(self.trainable_variables, trainable), *zip(self.non_trainable_variables, non_trainable)]
        with keras.StatelessScope(state_mapping=mapping):
            outputs = self._decoded(x)
        return outputs, non_trainable

    def _decoded(self, x):
        return self.output_head.decode(self, self(x, training=False), x["padding_mask"])

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "backbone": keras.saving.serialize_keras_object(self.backbone),
                "num_labels": self.num_labels, "head": self.head_config}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)


class Head:
    """The base of the heads: output layers plus how they train and decode.

    Args:
        num_labels: number of labels.
        hidden: width of a tanh layer before the output (0 = none).
        dropout: dropout before the output layer.
        bidirectional: whether the backbone's states are [forward, backward].
    """

    def __init__(self, num_labels, hidden=0, dropout=0.0, bidirectional=True):
        self.num_labels = num_labels
        self.hidden = hidden
        self.dropout = dropout
        self.bidirectional = bidirectional

    def __call__(self, sequence, mask):
        """Adds the head's layers to the graph: (batch, time, features) -> outputs."""
        raise NotImplementedError

    def hidden_layers(self, x, name):
        """The optional tanh layer and dropout before the output layer."""
        if self.hidden:
            x = keras.layers.Dense(self.hidden, activation="tanh", name=f"{name}_hidden")(x)
        if self.dropout:
            x = keras.layers.Dropout(self.dropout, name=f"{name}_dropout")(x)
        return x

    def loss(self):
        """The compiled loss on the head's logits."""
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def metrics(self):
        return ["accuracy"]

    def compute_loss(self, model, x, y, y_pred, sample_weight, training=True):
        return model.keras_compute_loss(x, y, y_pred, sample_weight, training)

    def decode(self, model, outputs, mask):
        """Outputs -> what `predict` returns (label ids, or logits for classifiers)."""
        return outputs

    def get_config(self):
        return {"hidden": self.hidden, "dropout": self.dropout}
