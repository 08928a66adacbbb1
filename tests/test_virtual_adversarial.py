"""Virtual adversarial training (VAT) on the word features
(`train.regularizer: {kind: virtual_adversarial, epsilon: ...}`)."""

import keras
import numpy as np
import pytest

if keras.backend.backend() != "tensorflow":  # tf_only, for the whole module
    pytest.skip("tf_only: VAT's step uses tf.GradientTape; on JAX it refuses with one line "
                "(tests/test_backends.py)", allow_module_level=True)

import tensorflow as tf  # noqa: E402

from seqtasks.config.recipe import Recipe, RecipeError
from seqtasks.encoders.backbone import Backbone
from seqtasks.tasks.classification.model import Classifier
from seqtasks.tasks.tagging.model import Tagger
from seqtasks.training.regularizers.virtual_adversarial import (VirtualAdversarial, perturbed_call,
                                                                virtual_adversarial_loss)

EPSILON = 2.0


def make_model(task):
    keras.utils.set_random_seed(5)
    backbone = Backbone(vocabulary_size=30, embedding_dim=8, encoder={"kind": "gru", "units": 8, "layers": 1})
    if task == "classifier":
        return Classifier(backbone, num_labels=3, head={"kind": "classifier", "pooling": "mean"})
    return Tagger(backbone, num_labels=4, head={"kind": "softmax"})


def batch():
    rng = np.random.default_rng(1)
    ids = rng.integers(2, 30, size=(6, 7)).astype("int32")
    mask = np.ones((6, 7), dtype=bool)
    mask[:3, 4:] = False  # right-padded rows
    ids[~mask] = 0
    return {"token_ids": ids, "padding_mask": mask}


def divergence_under(model, x, perturbation):
    """Mean KL(clean || perturbed) for a given perturbation of the word features."""
    clean = tf.nn.softmax(model(x, training=False), axis=-1)  # the heads return logits
    moved = tf.nn.softmax(perturbed_call(model, x, lambda f: f + perturbation, training=False), axis=-1)
    kl = tf.reduce_sum(clean * (tf.math.log(clean + 1e-8) - tf.math.log(moved + 1e-8)), axis=-1)
    if kl.shape.rank == 2:
        weights = tf.cast(x["padding_mask"], "float32")
        return float(tf.reduce_sum(kl * weights) / tf.reduce_sum(weights))
    return float(tf.reduce_mean(kl))


@pytest.mark.parametrize("task", ["classifier", "tagger"])
def test_power_iteration_finds_a_worse_direction_than_random(task):
    """The VAT perturbation changes the outputs more than any of 30 random
    per-sentence perturbations of the same norm (padding left untouched)."""
    model = make_model(task)
    x = batch()
    clean = model(x, training=False)
    # the model has no dropout, so training=True only adds the perturbation
    vat = float(virtual_adversarial_loss(model, x, clean, EPSILON))
    rng = np.random.default_rng(0)
    mask = x["padding_mask"][:, :, None]
    random = []
    for _ in range(30):
        noise = rng.normal(size=mask.shape[:2] + (8,)) * mask
        noise *= EPSILON / np.linalg.norm(noise, axis=(1, 2), keepdims=True)
        random.append(divergence_under(model, x, tf.constant(noise, "float32")))
    assert vat > 0.0
    assert vat > 2 * max(random), (vat, max(random))


def test_zero_epsilon_gives_zero_divergence():
    model = make_model("classifier")
    x = batch()
    loss = virtual_adversarial_loss(model, x, model(x, training=False), 0.0)
    assert float(loss) == pytest.approx(0.0, abs=1e-6)


def test_step_adds_the_divergence_gradient_and_tracks_the_clean_loss():
    """A VAT step moves the weights differently from a plain step on the same
    batch, while the reported loss stays the clean loss (the same in both)."""
    x, y = batch(), np.array([0, 1, 2, 0, 1, 2])
    plain, vat = make_model("classifier"), make_model("classifier")
    for model in (plain, vat):
        model.compile(optimizer=keras.optimizers.SGD(1.0))
    VirtualAdversarial(EPSILON).attach(vat)
    plain_loss = plain.train_on_batch(x, y, return_dict=True)["loss"]
    vat_loss = vat.train_on_batch(x, y, return_dict=True)["loss"]
    assert vat_loss == pytest.approx(plain_loss, rel=1e-5)
    gaps = [np.abs(a.numpy() - b.numpy()).max() for a, b in zip(plain.trainable_weights, vat.trainable_weights)]
    assert max(gaps) > 1e-4


def test_fit_with_vat_learns():
    """VAT still fits a separable task: the label is whether token 2 occurs in
    the sentence."""
    rng = np.random.default_rng(2)
    ids = rng.integers(3, 30, size=(256, 6)).astype("int32")
    labels = rng.integers(0, 2, size=256)
    ids[labels == 1, rng.integers(0, 6, size=int(labels.sum()))] = 2
    x = {"token_ids": ids, "padding_mask": np.ones_like(ids, dtype=bool)}
    model = Classifier(Backbone(vocabulary_size=30, embedding_dim=16, encoder={"kind": "gru", "units": 16}),
                       num_labels=2, head={"kind": "classifier", "pooling": "max"})
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    VirtualAdversarial(1.0).attach(model)
    history = model.fit(x, labels, batch_size=32, epochs=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert history.history["accuracy"][-1] > 0.9


def test_loaded_model_trains_plainly(tmp_path):
    """VAT is attached to one model instance (its train_step); nothing of it is
    saved, so a loaded model trains plainly."""
    model = make_model("classifier")
    model.compile(optimizer=keras.optimizers.SGD(1.0))
    VirtualAdversarial(EPSILON).attach(model)
    assert "train_step" in vars(model)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    assert "train_step" not in vars(loaded) and not hasattr(loaded, "virtual_adversarial_epsilon")
    x, y = batch(), np.array([0, 1, 2, 0, 1, 2])
    plain = make_model("classifier")
    plain.compile(optimizer=keras.optimizers.SGD(1.0))
    loaded.compile(optimizer=keras.optimizers.SGD(1.0))
    plain.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    for a, b in zip(plain.trainable_weights, loaded.trainable_weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("task", ["classifier", "tagger", "chars"])
def test_perturbed_call_with_identity_is_the_model(task):
    """The perturbed pass re-runs the model's own graph: with no perturbation it
    gives the model's outputs (word features with char features concatenated too)."""
    x = batch()
    if task == "chars":
        keras.utils.set_random_seed(5)
        backbone = Backbone(vocabulary_size=30, embedding_dim=8, char_vocabulary_size=12,
                            char_features={"kind": "cnn", "embedding_dim": 4, "dim": 5, "kernel_size": 3},
                            encoder={"kind": "gru", "units": 8, "layers": 1})
        model = Tagger(backbone, num_labels=4, head={"kind": "softmax"})
        x["char_ids"] = np.where(x["padding_mask"][:, :, None], 3, 0).astype("int32") * np.ones((1, 1, 4), "int32")
        assert backbone.word_features_layer == "word_features"
    else:
        model = make_model(task)
    np.testing.assert_allclose(np.asarray(perturbed_call(model, x, lambda f: f, training=False)),
                               np.asarray(model(x, training=False)), rtol=1e-5, atol=1e-6)
    moved = perturbed_call(model, x, lambda f: f + 1.0, training=False)
    assert not np.allclose(np.asarray(moved), np.asarray(model(x, training=False)), atol=1e-4)


VAT = "virtual_adversarial"


@pytest.mark.parametrize("values, message", [
    ({"train": {"regularizer": {"kind": VAT, "epsilon": -0.5}}},
     "recipe: 'train.regularizer.epsilon' must be above 0, found -0.5"),
    ({"train": {"regularizer": {"kind": VAT, "epsilon": 0}}},
     "recipe: 'train.regularizer.epsilon' must be above 0, found 0.0"),
    ({"task": "tagging", "model": {"head": {"kind": "crf"}}, "train": {"regularizer": {"kind": VAT, "epsilon": 1.0}}},
     "recipe: 'train.regularizer.kind: virtual_adversarial' needs a softmax output to compare, which "
     "'model.head.kind: crf' does not give; use 'model.head.kind: softmax'"),
    ({"train": {"regularizer": {"kind": "fgm"}}},
     "recipe: unknown train.regularizer.kind 'fgm'; known: none, virtual_adversarial"),
])
def test_bad_vat_settings(values, message):
    with pytest.raises(RecipeError) as info:
        Recipe.from_dict(values)
    assert str(info.value) == message
