"""Every registered component builds from its defaults and gives outputs of the right shape."""

import datasets
import numpy as np
import pytest

from seqtasks import registry
from seqtasks.data.batching import Batches
from seqtasks.config.recipe import Recipe

TAGS = ["DET", "NOUN", "VERB", "PUNCT"]
SENTENCES = [
    (["The", "cat", "sat", "."], ["DET", "NOUN", "VERB", "PUNCT"]),
    (["A", "dog", "barked", "loudly", "."], ["DET", "NOUN", "VERB", "VERB", "PUNCT"]),
    (["Dogs", "run"], ["NOUN", "VERB"]),
]
TEXTS = [("a fine film", "pos"), ("dull and slow", "neg"), ("great", "pos"), ("bad bad bad movie", "neg")]


def tagging_data():
    label = datasets.ClassLabel(names=TAGS)
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "tags": datasets.Sequence(label)})
    split = datasets.Dataset.from_dict(
        {"tokens": [t for t, _ in SENTENCES], "tags": [[label.str2int(x) for x in g] for _, g in SENTENCES]},
        features=features)
    return datasets.DatasetDict({"train": split, "validation": split, "test": split})


def classification_data():
    label = datasets.ClassLabel(names=["neg", "pos"])
    features = datasets.Features({"text": datasets.Value("string"), "label": label})
    split = datasets.Dataset.from_dict(
        {"text": [t for t, _ in TEXTS], "label": [label.str2int(y) for _, y in TEXTS]}, features=features)
    return datasets.DatasetDict({"train": split, "validation": split, "test": split})


def small_recipe(task="tagging", **model):
    """A recipe with small sizes; everything not given stays at its default."""
    values = {"task": task, "model": {"embedding": {"dim": 8}, "encoder": {"units": 6}}}
    for section, settings in model.items():
        values["model"].setdefault(section, {}).update(settings)
    return Recipe.from_dict(values)


def build(recipe, dataset):
    from seqtasks.encoders.build import build_backbone

    kind = registry.task_kind(recipe.task)
    preprocessor = kind.preprocessor_class.from_recipe(recipe).fit(dataset["train"])
    model = kind.build_model(recipe, preprocessor, build_backbone(recipe.model, preprocessor))
    encoded = preprocessor.encode_split(dataset["train"], "train")
    inputs = Batches(encoded, batch_size=8, per_token=kind.per_token).make_batch(
        np.arange(len(encoded["token_ids"])))[0]
    return model, preprocessor, inputs


def check_tagger(recipe, dataset=None):
    model, pre, inputs = build(recipe, dataset or tagging_data())
    batch, time = inputs["token_ids"].shape
    scores = np.asarray(model(inputs, training=False))
    assert scores.shape == (batch, time, len(pre.labels))
    tags = np.asarray(model.predict_on_batch(inputs))
    assert tags.shape == (batch, time)
    assert tags.min() >= 0 and tags.max() < len(pre.labels)
    return model, inputs


@pytest.mark.parametrize("residual", [False, True], ids=["plain", "residual"])
@pytest.mark.parametrize("bidirectional", [True, False], ids=["bi", "uni"])
@pytest.mark.parametrize("kind", list(registry.ENCODERS))
def test_encoders_build_and_shape(kind, bidirectional, residual):
    import keras

    recipe = small_recipe(encoder={"kind": kind, "bidirectional": bidirectional, "residual": residual})
    model, inputs = check_tagger(recipe)
    backbone = model.get_layer("backbone")
    features = np.asarray(backbone(inputs, training=False))
    directions = 2 if bidirectional else 1
    assert features.shape == inputs["token_ids"].shape + (6 * directions,)
    # the stacked layers (one per layer, bidirectional or not) are named after the
    # encoder ("encoder_..."), beside its residual additions and dropouts
    between = (keras.layers.Add, keras.layers.Dropout, keras.layers.SpatialDropout1D)
    stacked = [l for l in backbone.layers if l.name.startswith("encoder_") and not isinstance(l, between)]
    assert len(stacked) == recipe.model.encoder.layers == 2, [l.name for l in stacked]
    assert all(isinstance(l, keras.layers.Bidirectional) == bidirectional for l in stacked)
    adds = [l for l in backbone.layers if isinstance(l, keras.layers.Add)]
    assert len(adds) == (1 if residual else 0)


def test_encoder_masking_ignores_padding():
    # A sentence's encoding must not depend on how much padding follows it.
    recipe = small_recipe(encoder={"kind": "lstm", "dropout": 0.0})
    model, inputs = check_tagger(recipe)
    backbone = model.get_layer("backbone")
    full = np.asarray(backbone(inputs, training=False))
    n = int(inputs["padding_mask"][0].sum())
    alone = {k: v[:1, :n] for k, v in inputs.items()}
    np.testing.assert_allclose(np.asarray(backbone(alone, training=False))[0], full[0, :n], atol=1e-5)


@pytest.mark.parametrize("variational", [False, True], ids=["per_token", "variational"])
def test_variational_dropout_shares_one_mask_over_time(variational, caplog):
    """`model.encoder.variational` drops the same features at every time step of
    a sequence; standard dropout draws a new mask per token. `recurrent_dropout`
    reaches the RNN cells."""
    import keras

    recipe = small_recipe(encoder={"kind": "lstm", "layers": 1, "dropout": 0.5,
                                   "variational": variational, "recurrent_dropout": 0.25})
    model, inputs = check_tagger(recipe)
    backbone = model.get_layer("backbone")
    out = np.asarray(backbone(inputs, training=True))
    longest = int(np.argmax(inputs["padding_mask"].sum(axis=1)))
    n = int(inputs["padding_mask"][longest].sum())
    dropped = out[longest, :n] == 0.0  # (time, features)
    assert dropped.any()
    assert bool(np.all(dropped == dropped[:1])) == variational
    rnn = next(l for l in backbone.layers if isinstance(l, keras.layers.Bidirectional))
    assert rnn.forward_layer.recurrent_dropout == rnn.backward_layer.recurrent_dropout == 0.25
    assert ("model.encoder.recurrent_dropout=0.25: the LSTM layers cannot use the fused cuDNN kernel"
            in caplog.text)


@pytest.mark.parametrize("kind", [k for k in registry.CHAR_FEATURES if k != "none"])
def test_char_features_build(kind):
    recipe = small_recipe(char_features={"kind": kind, "embedding_dim": 5, "dim": 4})
    model, inputs = check_tagger(recipe)
    assert "char_ids" in inputs and inputs["char_ids"].ndim == 3
    assert "char_ids" in model.input
    features = model.get_layer("backbone").get_layer("char_features")(inputs["char_ids"])
    per_direction = 4
    width = per_direction * (2 if kind == "bilstm" else 1)
    assert np.asarray(features).shape == inputs["token_ids"].shape + (width,)


def test_no_char_features_means_no_char_input():
    model, inputs = check_tagger(small_recipe())
    assert "char_ids" not in inputs and "char_ids" not in model.input


@pytest.mark.parametrize("hidden", [0, 5])
@pytest.mark.parametrize("head", list(registry.HEADS["tagging"]))
def test_tagging_heads(head, hidden):
    import keras

    model, inputs = check_tagger(small_recipe(head={"kind": head, "hidden": hidden}))
    model.compile()
    # The loss is finite (the CRF head has its own); computed eagerly: compiling
    # a train step costs more than the whole build.
    batch, time = inputs["token_ids"].shape
    labels = np.zeros((batch, time), dtype=np.int32)
    y_pred = model(inputs, training=False)
    loss = model.compute_loss(inputs, labels, y_pred, inputs["padding_mask"].astype("float32"),
                              training=False)
    assert np.isfinite(float(loss)) and float(loss) > 0
    dense = [l for l in model.layers if isinstance(l, keras.layers.Dense)]
    assert len(dense) >= (2 if hidden else 1)


def test_softmax_tagger_loss_is_the_mean_over_real_tokens():
    """The softmax tagger's loss (normalised by the batch's real tokens so that
    replicas agree) is, on one device, the cross-entropy averaged over the real
    tokens, weighted by the sample weights; padding contributes nothing."""
    import keras

    model, inputs = check_tagger(small_recipe(head={"kind": "softmax"}))
    model.compile()
    mask = inputs["padding_mask"].astype(bool)
    assert not mask.all()  # the batch has padding
    rng = np.random.default_rng(0)
    labels = rng.integers(0, model.num_labels, size=mask.shape).astype(np.int32)
    weights = rng.uniform(0.5, 2.0, size=mask.shape).astype(np.float32)
    y_pred = model(inputs, training=False)
    loss = float(model.compute_loss(inputs, labels, y_pred, weights, training=False))
    # the softmax head returns logits
    per_token = np.asarray(keras.losses.sparse_categorical_crossentropy(labels, y_pred, from_logits=True))
    assert loss == pytest.approx(float((per_token * weights)[mask].sum() / mask.sum()), rel=1e-5)


@pytest.mark.parametrize("pooling", list(registry.POOLING))
def test_classifier_pooling(pooling):
    recipe = small_recipe("classification", head={"kind": "classifier", "pooling": pooling})
    model, pre, inputs = build(recipe, classification_data())
    logits = np.asarray(model.predict_on_batch(inputs))  # the head returns logits
    assert logits.shape == (len(TEXTS), len(pre.labels)) == (4, 2)
    # the task kind's predict gives probabilities, in the examples' order
    kind = registry.task_kind("classification")
    encoded = pre.encode_split(classification_data()["train"], "train")
    probabilities = kind.predict(model, Batches(encoded, batch_size=8, per_token=False))
    assert probabilities.shape == (4, 2)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)
    exp = np.exp(logits - logits.max(-1, keepdims=True))  # rows in the examples' order in both
    np.testing.assert_allclose(probabilities, exp / exp.sum(-1, keepdims=True), atol=1e-5)


def test_classifier_char_units():
    recipe = Recipe.from_dict({"task": "classification", "preprocess": {"units": "char"},
                               "model": {"embedding": {"dim": 4}, "encoder": {"units": 3, "layers": 1},
                                         "head": {"kind": "classifier", "pooling": "mean"}}})
    model, pre, inputs = build(recipe, classification_data())
    assert inputs["token_ids"].shape[1] == max(len(t) for t, _ in TEXTS)
    assert np.asarray(model.predict_on_batch(inputs)).shape == (4, 2)


@pytest.mark.parametrize("task, head", [("tagging", "crf"), ("classification", "classifier")])
def test_save_and_load_same_outputs(task, head, tmp_path):
    import keras

    import seqtasks.layers  # noqa: F401  (registers the custom layers)

    recipe = small_recipe(task, head={"kind": head, "hidden": 3},
                          char_features={"kind": "cnn", "embedding_dim": 3, "dim": 3})
    data = tagging_data() if task == "tagging" else classification_data()
    model, _, inputs = build(recipe, data)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", compile=False, safe_mode=True)
    assert type(again) is type(model)
    np.testing.assert_array_equal(np.asarray(again.predict_on_batch(inputs)),
                                  np.asarray(model.predict_on_batch(inputs)))
