"""The replicas of a `tf.distribute` strategy: their count and sums across them."""

import tensorflow as tf  # the replica context of tf.distribute


def replica_count():
    """The number of replicas in sync under the current strategy (1 without one)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


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

    Example:

    ```python
    tokens = replica_sum(tf.reduce_sum(mask))   # the whole batch's real tokens
    ```
    """
    replicas = tf.distribute.get_replica_context()
    if replicas is not None and replicas.num_replicas_in_sync > 1:
        return replicas.all_reduce("SUM", value)
    return value
