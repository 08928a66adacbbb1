"""Distribution strategies: the replicas of a `tf.distribute` strategy, and
the strategy a recipe asks for.

On back ends other than TensorFlow there is one replica and no strategy, so
losses that call `replica_sum` run unchanged there (TensorFlow is imported
only on its own back end).

Example:

```python
tokens = replica_sum(keras.ops.sum(mask))   # the whole batch's real tokens
with strategy_scope(recipe.train):
    model = kind.build_model(recipe, preprocessor, scheme)
```
"""

import contextlib

import keras


def _tensorflow():
    """The TensorFlow module on the TensorFlow back end, else None."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    return tf


def replica_count():
    """The number of replicas in sync under the current strategy (1 without one)."""
    tf = _tensorflow()
    return 1 if tf is None else tf.distribute.get_strategy().num_replicas_in_sync


def replica_sum(value):
    """`value` summed over the replicas of the current strategy.

    Inside a replica's step with more than one replica in sync, every replica
    gets the sum of all replicas' values (an all-reduce); elsewhere `value`
    itself. Losses that normalise by a batch-wide count (the real tokens of a
    batch, say) use it so that a split batch is normalised as the whole batch.

    Args:
        value: a tensor (the same shape on every replica).

    Returns:
        The sum over replicas, of the same shape.
    """
    tf = _tensorflow()
    replicas = None if tf is None else tf.distribute.get_replica_context()
    if replicas is not None and replicas.num_replicas_in_sync > 1:
        return replicas.all_reduce("SUM", value)
    return value


def strategy_scope(train):
    """The scope to build and compile the model in: a MirroredStrategy over the
    visible GPUs when asked (or "auto" with >1 GPU), else the default strategy
    (nothing off TensorFlow)."""
    tf = _tensorflow()
    if tf is None:
        return contextlib.nullcontext()
    gpus = tf.config.list_logical_devices("GPU")
    if train.distribute == "mirrored" or (train.distribute == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy().scope()
    return tf.distribute.get_strategy().scope()
