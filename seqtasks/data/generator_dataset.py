"""The `tf.data.Dataset` that every TensorFlow input pipeline builds over a
Python generator of NumPy batches (tagging and classification `Batches`,
translation `PairBatches`, language-model `StreamBatches`).

Example:

```python
ds = generator_dataset(batches_of_one_epoch, signature, len(batches), prefetch=4)
model.fit(ds, epochs=3)
```
"""


def generator_dataset(generate, signature, length, prefetch, shard_by_data=True):
    """A dataset of one epoch's batches, drawn afresh from `generate` each epoch.

    Autotune is off and the prefetch fixed (autotune stalls whole epochs on
    2-core machines, DESIGN.md 5); the known length lets Keras show progress
    and avoids "ran out of data". Each epoch first sets the allocator settings
    again: TensorFlow's generator dataset resets glibc's mmap threshold when
    its iterator starts (`memory_allocator.keep_after_tensorflow_generator`).

    Args:
        generate: a function returning an iterator of `(inputs, labels,
            sample_weight)` batches for one epoch.
        signature: the batches' `tf.TensorSpec` structure.
        length: batches per epoch.
        prefetch: batches prepared ahead.
        shard_by_data: split batches (not files) between the workers of a
            `tf.distribute` strategy.

    Returns:
        A `tf.data.Dataset`.
    """
    import tensorflow as tf

    from seqtasks.memory_allocator import keep_after_tensorflow_generator

    def one_epoch():
        keep_after_tensorflow_generator()  # TensorFlow has just reset the mmap threshold
        yield from generate()

    ds = tf.data.Dataset.from_generator(one_epoch, output_signature=signature)
    ds = ds.apply(tf.data.experimental.assert_cardinality(length))
    options = tf.data.Options()
    options.autotune.enabled = False
    if shard_by_data:
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(prefetch)
