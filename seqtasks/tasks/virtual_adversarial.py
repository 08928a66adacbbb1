"""Virtual adversarial training on the word representations (VAT).

Miyato, Dai and Goodfellow (2017, "Adversarial Training Methods for
Semi-Supervised Text Classification") add to the loss the divergence between
the model's output distribution on a sentence and on the same sentence with its
word representations moved by `epsilon` in the direction that changes that
distribution most. The direction needs no label: one power iteration from a
random unit vector `d` takes the gradient of `KL(p(x) || p(x + xi * d))` with
respect to the perturbation. The perturbation acts at the backbone's
`WordFeaturePerturbation` layer (word embedding, char and token features
concatenated), one L2 norm per sentence over its real (unpadded) positions,
as in the paper; it adds two forward and backward passes to each step.

Only models whose output is a softmax distribution (the classifier, the
softmax tagger) have the divergence; the recipe checks refuse a CRF head.
"""

import tensorflow as tf  # the inner tape of the power iteration

from seqtasks.layers.perturbation import perturb_word_features
from seqtasks.tasks.replicas import replica_sum

# A tiny constant keeps log() finite where a probability underflows to 0.
_TINY = 1e-8


def virtual_adversarial_loss(model, x, probabilities, epsilon, xi=0.1):
    """The KL divergence from the clean outputs to the outputs under the
    virtual adversarial perturbation of norm `epsilon` (per sentence).

    Call it inside the training step's gradient tape: the returned loss reaches
    the weights through the perturbed pass only (the clean distribution and the
    perturbation are constants, as in the paper).

    Args:
        model: a `Task` whose output is a softmax: (batch, classes) or
            (batch, time, classes).
        x: the model inputs (a dict with `padding_mask`).
        probabilities: the model's output on `x` in the clean pass.
        epsilon: the L2 norm of each sentence's perturbation.
        xi: the norm of the random start of the power iteration.

    Returns:
        A scalar: the divergence averaged over the batch's sentences
        (classifier) or real tokens (tagger); under a strategy, each replica's
        share of that average, so that the summed gradients are the batch's.

    Example:

    ```python
    with tf.GradientTape() as tape:
        y_pred = model(x, training=True)
        loss = model.compute_loss(x=x, y=y, y_pred=y_pred)
        loss += virtual_adversarial_loss(model, x, y_pred, epsilon=1.0)
    ```
    """
    clean = tf.stop_gradient(probabilities)
    mask = x["padding_mask"]
    start = []  # the random start, watched by the inner tape
    with tf.GradientTape() as tape:
        def random_start(features):
            noise = random_direction(tf.shape(features), features.dtype)
            start.append(xi * _unit_per_sentence(noise, mask))
            tape.watch(start[-1])
            return features + start[-1]

        with perturb_word_features(random_start):
            # the direction is normalised, so the local sum serves (no exchange between replicas)
            divergence, _ = _kl(clean, model(x, training=True), mask)
    direction = tf.stop_gradient(tape.gradient(divergence, start[0]))

    def adversarial(features):
        return features + tf.cast(epsilon * _unit_per_sentence(direction, mask), features.dtype)

    with perturb_word_features(adversarial):
        divergence, count = _kl(clean, model(x, training=True), mask)
    # Divided by the whole batch's count (summed over replicas): a batch split
    # across replicas, whose parts hold different numbers of real tokens, gets
    # the gradient of the unsplit batch once the replicas' gradients are summed.
    return divergence / tf.maximum(replica_sum(count), 1.0)


def random_direction(shape, dtype):
    """The random start of the power iteration (standard normal; a module
    function so that a test can fix it)."""
    return tf.random.normal(shape, dtype=dtype)


def _unit_per_sentence(vectors, mask):
    """`vectors` (batch, time, features) zeroed at padding and scaled to L2 norm 1 per sentence."""
    vectors = vectors * tf.cast(mask, vectors.dtype)[:, :, None]
    return tf.math.l2_normalize(vectors, axis=[1, 2])


def _kl(clean, perturbed, mask):
    """`(sum, count)`: KL(clean || perturbed) summed over sentences, or over
    real tokens for per-token outputs, and the number of them."""
    clean = tf.cast(clean, "float32")
    perturbed = tf.cast(perturbed, "float32")
    divergence = tf.reduce_sum(clean * (tf.math.log(clean + _TINY) - tf.math.log(perturbed + _TINY)), axis=-1)
    weights = tf.ones_like(divergence) if divergence.shape.rank == 1 else tf.cast(mask, "float32")
    return tf.reduce_sum(divergence * weights), tf.reduce_sum(weights)
