"""Adversarial training on the word representations (the fast gradient method).

Miyato, Dai and Goodfellow (2017, "Adversarial Training Methods for
Semi-Supervised Text Classification") and Yasunaga et al. (2018, for tagging)
add to each batch's loss the loss under the worst small perturbation of the
word embeddings, `r = epsilon * g / ||g||` with `g` the gradient of the loss
with respect to them. Two ways to take the norm (`train.adversarial_norm`):

- "batch": the perturbation is applied to the embedding table (the rows of the
  batch's words are the only ones with gradient) with one norm for the whole
  batch, as the FGM recipes of the PyTorch NLP community do. The perturbed
  pass runs inside a `keras.StatelessScope` that maps the table to
  `table + r`: no variable is assigned and restored, so the step is safe under
  `tf.distribute` strategies; there the replicas' table gradients are summed
  first, so every replica takes the perturbation a single device would.
- "sentence": as in the two papers, each sentence's word representations (the
  concatenated word, character and token features, at the backbone's
  `WordFeaturePerturbation` layer) move by `epsilon` along their own
  normalised gradient. A sentence's gradient depends on that sentence only,
  so replicas need no exchange.
"""

import contextlib

import keras
import tensorflow as tf  # the step is Keras' TensorFlow train_step with a second pass
from keras.src.losses import loss as loss_module  # the helper Keras' own TF train_step uses

from seqtasks.layers.perturbation import perturb_word_features
from seqtasks.tasks.replicas import replica_sum
from seqtasks.tasks.virtual_adversarial import virtual_adversarial_loss


def adversarial_train_step(model, data, epsilon, norm="batch", virtual_epsilon=0.0):
    """One training step on the clean loss plus the adversarial loss (FGM)
    and/or the virtual adversarial loss (VAT, `seqtasks.tasks.virtual_adversarial`).

    Mirrors `keras.src.backend.tensorflow.trainer.TensorFlowTrainer.train_step`
    (same loss, tracker and metrics) and adds the perturbed passes; `add_loss`
    terms are counted in the clean pass only, and the tracked loss is the clean one.

    Args:
        model: a compiled `keras.Model` (a `Task`) with a `backbone`.
        data: the batch as `fit` passes it (`x`, `y`, optional `sample_weight`).
        epsilon: the L2 norm of the FGM perturbation (of the whole table for
            the batch, or of each sentence's word features); 0 = no FGM pass.
        norm: "batch" or "sentence" (see the module docstring).
        virtual_epsilon: the L2 norm of each sentence's VAT perturbation; 0 = none.

    Returns:
        The metrics dict of `model.compute_metrics` on the clean predictions.
    """
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    weights = model.trainable_weights
    features = []  # the word features of the clean pass, watched by the tape
    watch_features = epsilon and norm == "sentence"
    with tf.GradientTape() as tape:
        with _watching(tape, features) if watch_features else contextlib.nullcontext():
            y_pred = model(x, training=True)
        loss = model._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
        batch_size = tf.shape(next(i for i in tf.nest.flatten(x) if i is not None))[0]
        model._loss_tracker.update_state(loss_module.unscale_loss_for_distribution(loss), sample_weight=batch_size)
        if virtual_epsilon:
            loss = loss + virtual_adversarial_loss(model, x, y_pred, virtual_epsilon)
        loss = model.optimizer.scale_loss(loss)
    gradients = [_dense(g) for g in tape.gradient(loss, weights + features)]
    features_gradient = gradients.pop() if features else None
    if epsilon:
        with tf.GradientTape() as tape:
            # the scope reads the table inside this tape, so the adversarial loss reaches it
            with _perturbed(model, weights, gradients, features_gradient, epsilon):
                adversarial_pred = model(x, training=True)
                adversarial_loss = model._compute_loss(x=x, y=y, y_pred=adversarial_pred,
                                                       sample_weight=sample_weight, training=True)
            adversarial_loss = model.optimizer.scale_loss(adversarial_loss)
        adversarial = tape.gradient(adversarial_loss, weights)
        gradients = [_sum(g, _dense(a)) for g, a in zip(gradients, adversarial)]
    model.optimizer.apply_gradients(zip(gradients, weights))
    return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


def _watching(tape, found):
    """A scope in which the tape watches the word features and keeps them in `found`."""
    def watch(features):
        tape.watch(features)
        found.append(features)
        return features
    return perturb_word_features(watch)


def _perturbed(model, weights, gradients, features_gradient, epsilon):
    """The scope of the adversarial pass: with the word features' gradient
    (sentence norm) each sentence's features move by `epsilon`, otherwise the
    table moves by `epsilon` along its gradient on the whole batch."""
    if features_gradient is not None:
        perturbation = epsilon * tf.math.l2_normalize(tf.stop_gradient(features_gradient), axis=[1, 2])
        return perturb_word_features(lambda f: f + tf.cast(perturbation, f.dtype))
    table = model.backbone.token_embeddings
    gradient = gradients[next(i for i, w in enumerate(weights) if w is table)]
    # under a strategy the replicas' sum: each replica's loss is pre-divided by the replica count
    perturbation = epsilon * tf.math.l2_normalize(replica_sum(tf.stop_gradient(gradient)))
    moved = table.value + tf.cast(perturbation, table.value.dtype)
    return keras.StatelessScope(state_mapping=[(table, moved)])


def _dense(gradient):
    """An embedding's `IndexedSlices` gradient as a dense tensor, so the two
    passes' gradients add and the table's gradient has a norm."""
    if isinstance(gradient, tf.IndexedSlices):
        return tf.convert_to_tensor(gradient)
    return gradient


def _sum(clean, adversarial):
    """The two passes' gradients of one weight (None where a pass gave none)."""
    if clean is None or adversarial is None:
        return adversarial if clean is None else clean
    return clean + adversarial
