"""Distribution strategies: the replicas of a `tf.distribute` strategy, and
the strategy a recipe asks for (`train.distribute`).

On TensorFlow, `mirrored` is a `tf.distribute.MirroredStrategy` over the
visible GPUs. On JAX it is `keras.distribution.DataParallel` over the local
devices: the step is one program over the whole batch, sharded on its batch
axis, so a loss needs no sum over replicas there (`replica_sum` returns its
argument) and each batch's rows must split evenly over the devices
(`batch_multiple`). TensorFlow is imported only on its own back end.

Example:

```python
tokens = replica_sum(keras.ops.sum(mask))   # the whole batch's real tokens
with strategy_scope(recipe.train):          # build, compile and fit inside it
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


def in_strategy():
    """Whether a `tf.distribute` strategy other than the default one is in scope
    (a `MirroredStrategy`, even over one device)."""
    tf = _tensorflow()
    return tf is not None and tf.distribute.has_strategy()


def dense_gradient(gradient):
    """A gradient as a dense tensor.

    TensorFlow gives an embedding's gradient as `IndexedSlices` with one row
    per looked-up token, a repeated token's rows not yet summed; the dense
    tensor is their sum, the gradient (squaring the rows one by one would give
    neither its norm nor Adam's second moment). Other gradients (every
    gradient on other back ends) are returned as they are.

    Args:
        gradient: a gradient tensor, `IndexedSlices` or None.

    Returns:
        A dense tensor (or None for None).
    """
    if hasattr(gradient, "indices") and hasattr(gradient, "dense_shape"):
        import tensorflow as tf  # IndexedSlices exist only on TensorFlow

        return tf.convert_to_tensor(gradient)
    return gradient


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


def batch_multiple():
    """The number of devices that the current JAX `DataParallel` distribution
    splits each batch over (1 without one, and on other back ends, where
    `tf.distribute` splits uneven batches itself)."""
    if keras.backend.backend() != "jax":
        return 1
    current = keras.distribution.distribution()
    if not isinstance(current, keras.distribution.DataParallel):
        return 1
    return int(current.device_mesh.shape[0])


def strategy_scope(train):
    """The scope to build, compile and fit the model in.

    Asked for (`train.distribute: mirrored`), or "auto" with more than one
    GPU: a `MirroredStrategy` over the visible GPUs on TensorFlow, a
    `keras.distribution.DataParallel` over the local devices on JAX (the
    accelerators, else the CPU devices when asked). Otherwise the default
    strategy (TensorFlow) or no distribution.
    """
    tf = _tensorflow()
    if tf is None:
        return _jax_scope(train)
    gpus = tf.config.list_logical_devices("GPU")
    if train.distribute == "mirrored" or (train.distribute == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy().scope()
    return tf.distribute.get_strategy().scope()


def _jax_scope(train):
    if keras.backend.backend() != "jax" or train.distribute == "none":
        return contextlib.nullcontext()
    devices = keras.distribution.list_devices()  # the accelerators, else the CPU devices
    on_cpu = all(d.startswith("cpu") for d in devices)
    if len(devices) < 2 or (train.distribute == "auto" and on_cpu):
        return contextlib.nullcontext()
    return keras.distribution.DataParallel(devices=devices).scope()
