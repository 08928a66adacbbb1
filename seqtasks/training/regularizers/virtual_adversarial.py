"""Virtual adversarial training on the word representations (VAT).

Miyato, Dai and Goodfellow (2017, "Adversarial Training Methods for
Semi-Supervised Text Classification") add to the loss the divergence between
the model's output distribution on a sentence and on the same sentence with its
word representations moved by `epsilon` in the direction that changes that
distribution most. The direction needs no label: one power iteration from a
random unit vector `d` takes the gradient of `KL(p(x) || p(x + xi * d))` with
respect to the perturbation. The perturbation is added to the output of the
backbone's word-features layer (word embedding, char and token features
concatenated; `Backbone.word_features_layer`), one L2 norm per sentence over
its real (unpadded) positions, as in the paper; it adds two forward and
backward passes to each step. Nothing is added to the model: the perturbed
passes re-run the model's own graph with the perturbation at that layer.

Only heads whose logits define a softmax distribution (the classifier, the
softmax tagger) have the divergence; the recipe checks refuse a CRF head. The
step uses `tf.GradientTape`, so it runs on the TensorFlow back end only.

Example:

```python
VirtualAdversarial(epsilon=0.5).attach(model)   # after compile, before fit
```
"""

import types

import keras
from keras.src.losses import loss as loss_module  # the helper Keras' own TF train_step uses
from keras.src.models import functional

from seqtasks.errors import RecipeError
from seqtasks.training.distribution import dense_gradient, replica_sum

# A tiny constant keeps log() finite where a probability underflows to 0.
_TINY = 1e-8


class VirtualAdversarial:
    """The VAT regularizer (`train.regularizer.kind: virtual_adversarial`).

    Args:
        epsilon: the L2 norm of each sentence's perturbation (`train.regularizer.epsilon`).
    """

    def __init__(self, epsilon):
        if keras.backend.backend() != "tensorflow":
            raise RecipeError(f"train.regularizer.kind 'virtual_adversarial' needs the TensorFlow back end "
                              f"(KERAS_BACKEND={keras.backend.backend()})")
        self.epsilon = epsilon

    def attach(self, model):
        """Makes `model.fit` train on the clean loss plus the VAT loss (the
        model's `train_step` is replaced on this instance only; nothing is saved)."""
        epsilon = self.epsilon
        model.train_step = types.MethodType(lambda m, data: train_step(m, data, epsilon), model)
        return model


def train_step(model, data, epsilon):
    """One training step on the clean loss plus the virtual adversarial loss.

    Mirrors `keras.src.backend.tensorflow.trainer.TensorFlowTrainer.train_step`
    (same loss, tracker and metrics) and adds the perturbed passes; the tracked
    loss is the clean one.
    """
    import tensorflow as tf

    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    weights = model.trainable_weights
    with tf.GradientTape() as tape:
        y_pred = model(x, training=True)
        loss = model._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
        batch_size = tf.shape(next(i for i in tf.nest.flatten(x) if i is not None))[0]
        model._loss_tracker.update_state(loss_module.unscale_loss_for_distribution(loss), sample_weight=batch_size)
        loss = loss + virtual_adversarial_loss(model, x, y_pred, epsilon)
        loss = model.optimizer.scale_loss(loss)
    gradients = [dense_gradient(g) for g in tape.gradient(loss, weights)]
    model.optimizer.apply_gradients(zip(gradients, weights))
    return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


def virtual_adversarial_loss(model, x, logits, epsilon, xi=0.1):
    """The KL divergence from the clean outputs to the outputs under the
    virtual adversarial perturbation of norm `epsilon` (per sentence).

    Call it inside the training step's gradient tape: the returned loss reaches
    the weights through the perturbed pass only (the clean distribution and the
    perturbation are constants, as in the paper).

    Args:
        model: a `TaskModel` whose logits are (batch, classes) or (batch, time, classes).
        x: the model inputs (a dict with `padding_mask`).
        logits: the model's output on `x` in the clean pass.
        epsilon: the L2 norm of each sentence's perturbation.
        xi: the norm of the random start of the power iteration.

    Returns:
        A scalar: the divergence averaged over the batch's sentences
        (classifier) or real tokens (tagger); under a strategy, each replica's
        share of that average, so that the summed gradients are the batch's.
    """
    import tensorflow as tf

    clean = tf.stop_gradient(tf.nn.softmax(tf.cast(logits, "float32"), axis=-1))
    mask = x["padding_mask"]
    start = []  # the random start, watched by the inner tape
    with tf.GradientTape() as tape:
        def random_start(features):
            noise = random_direction(tf.shape(features), features.dtype)
            start.append(xi * _unit_per_sentence(noise, mask))
            tape.watch(start[-1])
            return features + start[-1]

        # the direction is normalised, so the local sum serves (no exchange between replicas)
        divergence, _ = _kl(clean, perturbed_call(model, x, random_start), mask)
    direction = tf.stop_gradient(tape.gradient(divergence, start[0]))

    def adversarial(features):
        return features + tf.cast(epsilon * _unit_per_sentence(direction, mask), features.dtype)

    divergence, count = _kl(clean, perturbed_call(model, x, adversarial), mask)
    # Divided by the whole batch's count (summed over replicas): a batch split
    # across replicas, whose parts hold different numbers of real tokens, gets
    # the gradient of the unsplit batch once the replicas' gradients are summed.
    return divergence / tf.maximum(replica_sum(count), 1.0)


def perturbed_call(model, x, hook, training=True):
    """`model(x)` with `hook` applied to the backbone's word features.

    Re-runs the model's functional graph (and the backbone's, nested in it),
    calling every layer as `model(x)` would, except that the output of the
    backbone's `word_features_layer` goes through `hook` first.
    """
    backbone = model.backbone
    target = backbone.word_features_layer

    def backbone_operation(op):
        call = functional.operation_fn(op, training=training)
        return (lambda *args, **kwargs: hook(call(*args, **kwargs))) if op.name == target else call

    def model_operation(op):
        if op is backbone:
            return lambda inputs, *args, **kwargs: functional.unpack_singleton(backbone._run_through_graph(
                backbone._standardize_inputs(inputs), operation_fn=backbone_operation))
        return functional.operation_fn(op, training=training)

    outputs = model._run_through_graph(model._standardize_inputs(x), operation_fn=model_operation)
    return functional.unpack_singleton(outputs)


def random_direction(shape, dtype):
    """The random start of the power iteration (standard normal; a module
    function so that a test can fix it)."""
    import tensorflow as tf

    return tf.random.normal(shape, dtype=dtype)


def _unit_per_sentence(vectors, mask):
    """`vectors` (batch, time, features) zeroed at padding and scaled to L2 norm 1 per sentence."""
    import tensorflow as tf

    vectors = vectors * tf.cast(mask, vectors.dtype)[:, :, None]
    return tf.math.l2_normalize(vectors, axis=[1, 2])


def _kl(clean, logits, mask):
    """`(sum, count)`: KL(clean || softmax(logits)) summed over sentences, or
    over real tokens for per-token outputs, and the number of them."""
    import tensorflow as tf

    perturbed = tf.nn.softmax(tf.cast(logits, "float32"), axis=-1)
    divergence = tf.reduce_sum(clean * (tf.math.log(clean + _TINY) - tf.math.log(perturbed + _TINY)), axis=-1)
    weights = tf.ones_like(divergence) if divergence.shape.rank == 1 else tf.cast(mask, "float32")
    return tf.reduce_sum(divergence * weights), tf.reduce_sum(weights)
