"""Word dropout: replace random tokens by the unknown id while training."""

import keras


@keras.saving.register_keras_serializable(package="seqtasks")
class TokenDropout(keras.layers.Layer):
    """Replaces each real token id by `unknown_id` with probability `rate` (training only).

    The model thus learns a useful embedding for unknown words, which it meets
    at test time for every word unseen in training (Kiperwasser & Goldberg 2016;
    Lample et al. 2016). Padding (id 0) is never replaced.

    Args:
        rate: probability of replacing a token, in [0, 1).
        unknown_id: the id of the unknown token.
        seed: optional seed of the random draws.

    Example:

    ```python
    ids = TokenDropout(0.05)(token_ids, training=True)
    ```
    """

    def __init__(self, rate, unknown_id=1, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"TokenDropout rate must be in [0, 1), received rate={rate}")
        self.rate = rate
        self.unknown_id = unknown_id
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, token_ids, training=None):
        if not training or self.rate == 0:
            return token_ids
        draw = keras.random.uniform(keras.ops.shape(token_ids), seed=self.seed_generator)
        replace = keras.ops.logical_and(draw < self.rate, token_ids > self.unknown_id)
        return keras.ops.where(replace, keras.ops.cast(self.unknown_id, token_ids.dtype), token_ids)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "unknown_id": self.unknown_id, "seed": self.seed})
        return config
