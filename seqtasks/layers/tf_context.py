"""Whether TensorFlow-only kernels may be emitted where a layer is being traced.

Some CPU kernels that the layers use for speed (`BlockLSTMV2`, `UniqueV2`
over rows) exist on the TensorFlow back end only and have no XLA version, so
inside a `jit_compile` function the layers keep their portable ops.

Example:

```python
if tf_context.plain_tensorflow():
    distinct, index = tf.raw_ops.UniqueV2(x=rows, axis=[0])
```
"""

import keras


def plain_tensorflow():
    """True on the TensorFlow back end outside an XLA cluster (TensorFlow-only kernels may run)."""
    if keras.backend.backend() != "tensorflow":
        return False
    try:
        import tensorflow as tf
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # pragma: no cover (a TensorFlow that moved it)
        return False
    return not control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())
