"""Word dropout: replace random tokens by the unknown id while training."""

import keras


@keras.saving.register_keras_serializable(package="seqtasks")
class TokenDropout(keras.layers.Layer):
    """Replaces each real token id by `unknown_id` with probability `rate` (training only).

    The model thus learns a useful embedding for unknown words, which it meets
    at test time for every word unseen in training (Kiperwasser & Goldberg 2016;
    Lample et al. 2016). Padding (id 0) is never replaced. Rare words can be
    replaced more often than the rest (`rare_rate` for ids from `rare_from`
    on): Lample et al. replace words seen once in training with probability
    0.5, since they are the closest stand-ins for the words unseen at test time.

    Args:
        rate: probability of replacing a token, in [0, 1).
        unknown_id: the id of the unknown token.
        seed: optional seed of the random draws.
        rare_rate: probability of replacing a rare token (id >= `rare_from`), in [0, 1).
        rare_from: the first rare id (vocabularies sorted by falling frequency
            put the rare words last), or None for no rare words.

    Example:

    ```python
    ids = TokenDropout(0.05)(token_ids, training=True)
    # words seen once (ids from 8000 on) replaced half of the time, the rest 5%
    ids = TokenDropout(0.05, rare_rate=0.5, rare_from=8000)(token_ids, training=True)
    ```
    """

    def __init__(self, rate, unknown_id=1, seed=None, rare_rate=0.0, rare_from=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"TokenDropout rate must be in [0, 1), received rate={rate}")
        if not 0.0 <= rare_rate < 1.0:
            raise ValueError(f"TokenDropout rare_rate must be in [0, 1), received rare_rate={rare_rate}")
        if rare_rate and rare_from is None:
            raise ValueError(f"TokenDropout rare_rate={rare_rate} needs rare_from (the first rare id), received None")
        self.rate = rate
        self.unknown_id = unknown_id
        self.seed = seed
        self.rare_rate = rare_rate
        self.rare_from = rare_from
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, token_ids, training=None):
        if not training or (self.rate == 0 and self.rare_rate == 0):
            return token_ids
        draw = keras.random.uniform(keras.ops.shape(token_ids), seed=self.seed_generator)
        rate = self.rate
        if self.rare_rate:
            rate = keras.ops.where(token_ids >= self.rare_from, self.rare_rate, self.rate)
        replace = keras.ops.logical_and(draw < rate, token_ids > self.unknown_id)
        return keras.ops.where(replace, keras.ops.cast(self.unknown_id, token_ids.dtype), token_ids)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "unknown_id": self.unknown_id, "seed": self.seed,
                       "rare_rate": self.rare_rate, "rare_from": self.rare_from})
        return config
