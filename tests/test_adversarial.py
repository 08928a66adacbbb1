"""FGM adversarial training on the word embedding (train.adversarial_epsilon)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqtasks.models.backbone import Backbone
from seqtasks.recipe import Recipe, RecipeError
from seqtasks.tasks.classifier import Classifier

EPSILON = 0.5


def make_classifier(vocabulary_size=20):
    keras.utils.set_random_seed(3)
    backbone = Backbone(vocabulary_size=vocabulary_size, embedding_dim=8,
                        encoder={"kind": "gru", "units": 8, "layers": 1})
    model = Classifier(backbone, num_labels=2, pooling="mean")
    model.compile(optimizer=keras.optimizers.SGD(1.0))
    return model


def batch():
    rng = np.random.default_rng(0)
    ids = rng.integers(2, 20, size=(6, 5)).astype("int32")
    mask = np.ones((6, 5), dtype=bool)
    mask[:3, 3:] = False  # right-padded rows
    ids[~mask] = 0
    return {"token_ids": ids, "padding_mask": mask}, np.array([0, 1, 0, 1, 1, 0])


def gradients(model, x, y):
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=True))
    return [tf.convert_to_tensor(g) for g in tape.gradient(loss, model.trainable_weights)]


def test_step_adds_the_gradient_at_the_perturbed_embedding():
    """With SGD(1) one step moves each weight by -(g_clean + g_adv), where g_adv
    is taken with the table moved by epsilon along its normalised gradient; the
    table itself carries no perturbation afterwards."""
    model = make_classifier()
    x, y = batch()
    table = model.backbone.token_embeddings
    start = [w.numpy() for w in model.trainable_weights]
    clean = gradients(model, x, y)
    index = next(i for i, w in enumerate(model.trainable_weights) if w is table)
    table.assign(start[index] + EPSILON * clean[index] / tf.norm(clean[index]))
    adversarial = gradients(model, x, y)
    table.assign(start[index])
    expected = [w - c - a for w, c, a in zip(start, clean, adversarial)]

    model.adversarial_epsilon = EPSILON
    model.train_on_batch(x, y)
    for got, want in zip(model.trainable_weights, expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-5)
    plain = make_classifier()
    plain.train_on_batch(x, y)
    assert not np.allclose(plain.trainable_weights[index].numpy(), expected[index], atol=1e-5)


def test_sentence_norm_moves_each_sentence_by_epsilon():
    """With `adversarial_norm="sentence"` each sentence's word features move by
    epsilon along their own normalised gradient. Checked independently of the
    step's mechanism: when every real position holds its own word id, moving
    the features of a position is moving that id's table row."""
    model = make_classifier(vocabulary_size=40)
    x, y = batch()
    mask = x["padding_mask"]
    x["token_ids"] = np.where(mask, 2 + np.arange(mask.size).reshape(mask.shape), 0).astype("int32")
    table = model.backbone.token_embeddings
    start = [w.numpy() for w in model.trainable_weights]
    index = next(i for i, w in enumerate(model.trainable_weights) if w is table)
    clean = gradients(model, x, y)
    moved = start[index].copy()
    for row, ids in zip(mask, x["token_ids"]):
        ids = ids[row]
        moved[ids] += EPSILON * clean[index].numpy()[ids] / np.linalg.norm(clean[index].numpy()[ids])
    table.assign(moved)
    adversarial = gradients(model, x, y)
    table.assign(start[index])
    expected = [w - c - a for w, c, a in zip(start, clean, adversarial)]

    model.adversarial_epsilon, model.adversarial_norm = EPSILON, "sentence"
    model.train_on_batch(x, y)
    for got, want in zip(model.trainable_weights, expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-5)
    batch_norm = make_classifier(vocabulary_size=40)
    batch_norm.adversarial_epsilon = EPSILON
    batch_norm.train_on_batch(x, y)
    assert not np.allclose(batch_norm.trainable_weights[index].numpy(), expected[index], atol=1e-5)


def test_loaded_model_trains_plainly(tmp_path):
    """The epsilon is a training setting: it is not saved with the model."""
    model = make_classifier()
    model.adversarial_epsilon = EPSILON
    model.save(tmp_path / "m.keras")
    assert keras.saving.load_model(tmp_path / "m.keras").adversarial_epsilon == 0.0


@pytest.mark.parametrize("values, message", [
    ({"train": {"adversarial_epsilon": -1.0}},
     "recipe: 'train.adversarial_epsilon' must be at least 0 (0 = off), found -1.0"),
    ({"train": {"adversarial_epsilon": 1.0}, "model": {"embedding": {"trainable": False}}},
     "recipe: 'train.adversarial_epsilon' with 'train.adversarial_norm: batch' perturbs the word "
     "embedding table, which 'model.embedding.trainable: false' freezes; use 'train.adversarial_norm: sentence'"),
    ({"train": {"adversarial_epsilon": 1.0, "adversarial_norm": "token"}},
     "recipe: unknown train.adversarial_norm 'token'; known: batch, sentence"),
])
def test_bad_epsilon_settings(values, message):
    with pytest.raises(RecipeError) as info:
        Recipe.from_dict(values)
    assert str(info.value) == message
