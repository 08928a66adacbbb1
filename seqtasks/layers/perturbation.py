"""The point in a backbone where adversarial training reads and perturbs the
word representations (an identity layer everywhere else)."""

import contextlib
import threading

import keras

# Per thread, because `MirroredStrategy` traces each replica's step in its own
# thread: each replica's hook must see only its own tensors.
_ACTIVE = threading.local()


@contextlib.contextmanager
def perturb_word_features(hook):
    """Within the block, every `WordFeaturePerturbation` layer called in this
    thread returns `hook(x)` instead of `x`.

    Args:
        hook: a function of the (batch, time, features) word representations
            returning a tensor of the same shape.

    Example:

    ```python
    with perturb_word_features(lambda x: x + noise):
        y_pred = model(inputs, training=True)
    ```
    """
    previous = getattr(_ACTIVE, "hook", None)
    _ACTIVE.hook = hook
    try:
        yield
    finally:
        _ACTIVE.hook = previous


@keras.saving.register_keras_serializable(package="seqtasks")
class WordFeaturePerturbation(keras.layers.Layer):
    """Identity, except inside `perturb_word_features(hook)`, where it applies the hook.

    Placed by `Backbone` on the concatenated word features (word embedding,
    char features, token features), before dropout: the input representation
    that Miyato et al. (2017) and Yasunaga et al. (2018) perturb per sentence.
    """

    def call(self, inputs):
        hook = getattr(_ACTIVE, "hook", None)
        return inputs if hook is None else hook(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape
