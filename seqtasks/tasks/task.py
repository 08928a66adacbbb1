"""Task: the base of every task model (a backbone plus a head, keras-hub style)."""

import keras


class Task(keras.Model):
    """A functional `keras.Model` built on a `Backbone`, with `compile` defaults.

    Subclasses build their graph in `__init__` (calling `super().__init__` with
    `inputs`/`outputs`), set `self.backbone` and list their other constructor
    arguments in `config_keys`; `get_config`/`from_config` then serialise the
    backbone as a nested object. `default_loss()` and `default_metrics()` give
    what `compile("auto")` uses.

    Example:

    ```python
    model = Classifier(Backbone(vocabulary_size=100), num_labels=2)
    model.compile()          # Adam(1e-3, clipnorm=5) + the task's loss and metrics
    ```
    """

    config_keys = ()
    # The L2 norm of the adversarial perturbation of the word representations
    # (`train.adversarial_epsilon`; 0 = plain training) and what it is the norm
    # of ("batch" or "sentence", `train.adversarial_norm`). Set by the trainer
    # before `fit`, not saved: a loaded model trains plainly unless set again.
    adversarial_epsilon = 0.0
    adversarial_norm = "batch"
    # The per-sentence L2 norm of the virtual adversarial perturbation (VAT,
    # `train.virtual_adversarial_epsilon`; 0 = off). Set by the trainer, not saved, as above.
    virtual_adversarial_epsilon = 0.0

    def default_loss(self):
        return keras.losses.SparseCategoricalCrossentropy()

    def default_metrics(self):
        return ["accuracy"]

    def compile(self, optimizer="auto", loss="auto", weighted_metrics="auto", **kwargs):
        """`keras.Model.compile`; "auto" takes Adam(1e-3, clipnorm=5) and the task's defaults."""
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(1e-3, clipnorm=5.0)
        if loss == "auto":
            loss = self.default_loss()
        if weighted_metrics == "auto":
            weighted_metrics = self.default_metrics()
        super().compile(optimizer=optimizer, loss=loss, weighted_metrics=weighted_metrics, **kwargs)

    def train_step(self, data):
        """Keras' step, or with `adversarial_epsilon` / `virtual_adversarial_epsilon`
        the clean plus (virtual) adversarial loss (see `seqtasks.tasks.adversarial`)."""
        if not (self.adversarial_epsilon or self.virtual_adversarial_epsilon):
            return super().train_step(data)
        from seqtasks.tasks.adversarial import adversarial_train_step

        return adversarial_train_step(self, data, self.adversarial_epsilon, self.adversarial_norm,
                                      self.virtual_adversarial_epsilon)

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable,
                  "backbone": keras.saving.serialize_keras_object(self.backbone)}
        config.update({key: getattr(self, key) for key in self.config_keys})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)
