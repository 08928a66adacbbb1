"""Language models: scores against hand computations, TBPTT state carrying, training
beats a unigram model, save -> load -> identical samples, the reservoir encoder, recipes."""

import math
from pathlib import Path

import datasets
import keras
import numpy as np
import pytest

import seqtasks
from seqtasks.config.recipe import Recipe
from seqtasks.errors import RecipeError, SeqtasksError
from seqtasks.registry import task_kind
from seqtasks.scoring import score_split
from seqtasks.tasks.language_model.model import LanguageModel
from seqtasks.tasks.language_model.preprocessor import BOS_ID, EOS_ID, UNK_ID, LanguageModelPreprocessor
from seqtasks.tasks.language_model.nll import stream_nll
from seqtasks.tasks.language_model.scoring import lm_scores
from seqtasks.tasks.language_model.streams import StreamBatches, stream_rows

REPO = Path(__file__).resolve().parents[1]
KIND = task_kind("language_model")
SYLLABLES = ["ma", "ri", "an", "el", "jo", "sa", "li", "na", "ka", "te"]


def names(n, seed):
    """Toy names of 1 to 3 syllables, with a pattern for a model to learn."""
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(SYLLABLES[: 4 + k % 6]) for _ in range(1 + k % 3)) for k in rng.integers(0, 60, n)]


def name_data(n_train=600):
    return datasets.DatasetDict({split: datasets.Dataset.from_dict({"text": names(n, seed)})
                                 for split, n, seed in [("train", n_train, 0), ("validation", 100, 1),
                                                        ("test", 100, 2)]})


def recipe(stream=False, **train):
    return {"name": "tiny_lm", "task": "language_model", "preprocess": {"units": "char"},
            "data": {"stream": stream},
            "model": {"embedding": {"dim": 16},
                      "encoder": {"kind": "lstm", "units": 32, "layers": 1, "bidirectional": False,
                                  "dropout": 0.0}},
            "train": {"epochs": 3, "batch_size": 16, "learning_rate": 0.01, "verbose": 0, "bptt_window": 12,
                      **train},
            "evaluate": {"plots": False, "samples": 4, "sample_length": 12, "ngram_order": 2}}


def tiny_model(vocab=7, stream=None, kind="lstm", layers=2, tie=False):
    return LanguageModel(vocab, 6, encoder={"kind": kind, "units": 5, "layers": layers, "bidirectional": False,
                                            "dropout": 0.0},
                         head={"kind": "lm", "tie_weights": tie}, stream=stream)


def preprocessor(texts, units="char"):
    return LanguageModelPreprocessor(units=units).fit(datasets.Dataset.from_dict({"text": texts}))


# -- vocabulary and targets ---------------------------------------------------------------

def test_vocabulary_reserves_pad_unk_bos_eos_and_shifts_targets():
    pre = preprocessor(["abba", "ca"])
    assert pre.tokens == ["<pad>", "<unk>", "<bos>", "<eos>", "a", "b", "c"]
    encoded = pre.encode_split(datasets.Dataset.from_dict({"text": ["cab", "ax"]}))
    np.testing.assert_array_equal(encoded["token_ids"][0], [BOS_ID, 6, 4, 5])
    np.testing.assert_array_equal(encoded["labels"][0], [6, 4, 5, EOS_ID])
    np.testing.assert_array_equal(encoded["labels"][1], [4, UNK_ID, EOS_ID])


def test_space_units_keep_ptb_unk_as_the_unknown_token():
    pre = preprocessor(["the <unk> 's N", "the cat"], units="space")
    assert pre.tokens.count("<unk>") == 1 and "'s" in pre.tokens
    assert pre.encode_tokens(["<unk>", "dog"])["token_ids"].tolist() == [BOS_ID, UNK_ID, UNK_ID]


# -- scores: hand computations ------------------------------------------------------------

def test_lm_scores_arithmetic():
    scores = lm_scores([np.array([1.0, 2.0]), np.array([3.0])])
    assert scores["loss"] == pytest.approx(2.0) and scores["tokens"] == 3
    assert scores["perplexity"] == pytest.approx(math.exp(2.0))
    assert scores["bits_per_token"] == pytest.approx(2.0 / math.log(2))


def unigram_model(bias, stream=None):
    """A model whose encoder is all zeros: every prediction is softmax(bias) over
    the tokens that can be targets (<pad> and <bos> are never predicted)."""
    model = tiny_model(len(bias), stream=stream)
    for w in model.weights:
        w.assign(np.zeros(w.shape, w.dtype))
    model.output_head.output_layer.bias.assign(np.asarray(bias, np.float32))
    return model


@pytest.mark.parametrize("stream", [False, True])
def test_perplexity_and_bits_per_char_match_a_hand_computation(stream):
    # vocabulary: <pad> <unk> <bos> <eos> a b c; the texts "ab" and "a" predict a b <eos> a <eos>.
    bias = [5.0, 0.0, 5.0, 0.5, 1.0, -1.0, 0.0]
    z = math.exp(0.0) + math.exp(0.5) + math.exp(1.0) + math.exp(-1.0) + math.exp(0.0)  # unk eos a b c
    p = {"a": math.exp(1.0) / z, "b": math.exp(-1.0) / z, "eos": math.exp(0.5) / z}
    nll = -(2 * math.log(p["a"]) + math.log(p["b"]) + 2 * math.log(p["eos"])) / 5
    pre = preprocessor(["abc"])
    encoded = pre.encode_split(datasets.Dataset.from_dict({"text": ["ab", "a"]}))
    streams = {"streams": 2, "window": 3, "eval_rows": 1} if stream else None
    model = unigram_model(bias, streams)
    scores, _, _ = score_split(KIND, lambda b: KIND.predict(model, b), encoded, [])
    assert scores["tokens"] == 5
    assert scores["loss"] == pytest.approx(nll, rel=1e-5)
    assert scores["perplexity"] == pytest.approx(math.exp(nll), rel=1e-5)
    assert scores["bits_per_token"] == pytest.approx(nll / math.log(2), rel=1e-5)


# -- truncated BPTT: the state carried --------------------------------------------------------

def random_labels(seed=0, texts=9, vocab=7):
    rng = np.random.default_rng(seed)
    return [np.append(rng.integers(4, vocab, rng.integers(1, 8)), EOS_ID).astype(np.int32) for _ in range(texts)]


def test_stream_layout_rows_continue_each_other():
    labels = random_labels()
    batches = StreamBatches(labels, streams=3, window=4)
    first, second = batches.make_batch(0), batches.make_batch(1)
    assert first[0]["carry"].tolist() == [0, 0, 0] and second[0]["carry"].tolist() == [1, 1, 1]
    stream = np.concatenate([[BOS_ID], *labels])
    length = (len(stream) - 1) // 3
    np.testing.assert_array_equal(batches.inputs[1], stream[length: 2 * length])
    np.testing.assert_array_equal(batches.targets[1], stream[length + 1: 2 * length + 1])
    np.testing.assert_array_equal(second[0]["token_ids"][:, 0], batches.inputs[:, 4])
    inputs, targets, weights = stream_rows(labels, rows=2)
    assert weights.sum() == len(stream) - 1
    np.testing.assert_array_equal(targets.reshape(-1)[: len(stream) - 1], stream[1:])


@pytest.mark.parametrize("kind", ["lstm", "gru", "reservoir"])
def test_evaluation_is_the_same_in_one_window_or_many(kind):
    labels = random_labels(seed=1)
    model = tiny_model(stream={"streams": 2, "window": 3, "eval_rows": 1}, kind=kind)
    whole = np.concatenate(stream_nll(model, labels, rows=1, window=1000))
    pieces = np.concatenate(stream_nll(model, labels, rows=1, window=3))
    np.testing.assert_allclose(pieces, whole, rtol=1e-5, atol=1e-6)
    assert len(whole) == sum(len(l) for l in labels)


def test_training_windows_carry_the_state_and_reset_each_epoch():
    labels = random_labels(seed=2, texts=12)
    model = tiny_model(stream={"streams": 2, "window": 5, "eval_rows": 1})
    model.compile()
    one = StreamBatches(labels, streams=2, window=10 ** 6)
    many = StreamBatches(labels, streams=2, window=5)
    x, y, w = one.make_batch(0)
    whole = float(model.test_on_batch(x, y, w))
    for _ in range(2):  # the second pass starts from zeros again (carry = 0 in its first window)
        losses = [(float(model.test_on_batch(*many.make_batch(k))), many.make_batch(k)[1].size)
                  for k in range(len(many))]
        assert sum(l * n for l, n in losses) / sum(n for _, n in losses) == pytest.approx(whole, rel=1e-5)


def test_state_variables_follow_the_last_window():
    model = tiny_model(stream={"streams": 2, "window": 4, "eval_rows": 1})
    ids = np.random.default_rng(0).integers(4, 7, (2, 8)).astype("int32")
    mask = np.ones_like(ids)
    _, final = model.forward(ids, mask, model.initial_states(2))
    model({"token_ids": ids[:, :4], "padding_mask": mask[:, :4], "carry": np.zeros(2, "int32")})
    model({"token_ids": ids[:, 4:], "padding_mask": mask[:, 4:], "carry": np.ones(2, "int32")})
    for variable, state in zip(model.carried, final):
        np.testing.assert_allclose(np.asarray(variable), np.asarray(state), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("tie", [False, True])
def test_mixed_precision_gives_float32_logits_and_states(tie):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = tiny_model(stream={"streams": 2, "window": 3, "eval_rows": 1}, tie=tie)
        ids = np.array([[2, 4, 5, 6], [2, 5, 4, 6]], "int32")
        logits = model({"token_ids": ids, "padding_mask": np.ones_like(ids), "carry": np.ones(2, "int32")})
        assert keras.backend.standardize_dtype(logits.dtype) == "float32" == model.carried[0].dtype
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_tied_weights_share_the_embedding():
    model = tiny_model(tie=True)
    assert not any("logits" in w.path for w in model.weights)
    embedding = model.embedding.embeddings
    assert sum(w is embedding for w in model.trainable_weights) == 1


# -- training, saving, sampling ------------------------------------------------------------------

@pytest.fixture(scope="module")
def names_run(tmp_path_factory):
    return seqtasks.train(recipe(), data=name_data(), output=tmp_path_factory.mktemp("lm") / "run")


def unigram_loss(train_texts, test_texts):
    """NLL per token of add-one unigram character counts (with <eos>) on the test texts."""
    counts = {}
    for text in train_texts:
        for token in list(text) + ["<eos>"]:
            counts[token] = counts.get(token, 0) + 1
    total, size = sum(counts.values()), len(counts) + 1
    tokens = [t for text in test_texts for t in list(text) + ["<eos>"]]
    return -sum(math.log((counts.get(t, 0) + 1) / (total + size)) for t in tokens) / len(tokens)


def test_short_names_training_beats_the_unigram_model(names_run):
    data = name_data()
    metrics = names_run.metrics
    assert metrics["test"]["loss"] < unigram_loss(data["train"]["text"], data["test"]["text"]) - 0.2
    assert metrics["test"]["tokens"] == sum(len(t) + 1 for t in data["test"]["text"])
    assert metrics["baseline"]["name"] == "interpolated Kneser-Ney 2-gram"
    assert metrics["baseline"]["test"]["tokens"] == metrics["test"]["tokens"]
    assert metrics["best_epoch"] == int(np.argmin(names_run.history["val_loss"])) + 1


def test_saved_model_scores_and_samples_as_in_training(names_run):
    loaded = seqtasks.load(names_run.directory)
    assert loaded.evaluate("test", data=name_data())["loss"] == pytest.approx(names_run.metrics["test"]["loss"],
                                                                              rel=1e-5)
    # The last samples of training came from the same weights and random numbers.
    last = (names_run.directory / "samples.txt").read_text().split("==\n")[-1].split("\n")[:4]  # one a line
    again = loaded.generate(num=4, max_length=12, seed=names_run.recipe.seed)
    assert again == last
    assert loaded.generate(prompt="ma", num=3, seed=5) == seqtasks.load(names_run.directory).generate(
        prompt="ma", num=3, seed=5)
    assert all(t.startswith("ma") for t in loaded.generate(prompt="ma", num=3, seed=5))
    greedy = loaded.generate(num=2, temperature=0, seed=1)
    assert greedy[0] == greedy[1] == loaded.generate(num=1, temperature=0, seed=9)[0]


def test_predict_scores_each_text(names_run):
    results = seqtasks.load(names_run.directory).predict(["mari", "qqqq"])
    assert results[0]["tokens"] == 5 and results[0]["perplexity"] < results[1]["perplexity"]


@pytest.mark.parametrize("settings, needle", [
    ({"prompt": ""}, "prompt (--prompt) must be a non-empty text"),
    ({"prompt": "mQ9"}, "tokens the model does not know: 'Q', '9'"),
    ({"top_p": 0.0}, "top_p (--top-p) must be in (0, 1]"),
    ({"top_p": 1.5}, "top_p (--top-p) must be in (0, 1]"),
    ({"temperature": -1.0}, "temperature (--temperature) must be at least 0"),
    ({"num": 0}, "num (--num) must be"),
])
def test_bad_generation_settings_are_one_line_errors(names_run, settings, needle):
    with pytest.raises(SeqtasksError) as info:
        seqtasks.load(names_run.directory).generate(**settings)
    assert needle in str(info.value) and "\n" not in str(info.value)
    assert str(names_run.directory) in str(info.value)


def test_a_stream_model_trains_and_samples(tmp_path):
    run = seqtasks.train(recipe(stream=True, epochs=2), data=name_data(300), output=tmp_path / "run")
    assert run.metrics["test"]["tokens"] == sum(len(t) + 1 for t in name_data(300)["test"]["text"])
    assert run.metrics["padding_fraction"] == 0.0
    texts = run.load().generate(prompt="sa", num=2, max_length=8, seed=0)
    assert len(texts) == 2 and all(t.startswith("sa") for t in texts)


def test_a_stream_of_one_long_text_is_not_cut_at_max_length(tmp_path):
    """Tiny Shakespeare is one text of a million characters: a stream is windowed, never padded
    to its length, so data.max_length does not apply (it used to cut and report the text)."""
    data = name_data(200)
    data["train"] = datasets.Dataset.from_dict({"text": ["\n".join(data["train"]["text"])]})
    spec = recipe(stream=True, epochs=1)
    spec["data"]["max_length"] = 50  # far below the text's length
    run = seqtasks.train(spec, data=data, output=tmp_path / "run")
    assert run.metrics["long_examples_split"] == 0
    assert run.metrics["train"]["tokens"] == len(data["train"]["text"][0]) + 1


def test_reservoir_weights_stay_untrained(tmp_path):
    block = recipe(epochs=1)
    block["model"]["encoder"] = {"kind": "reservoir", "units": 40, "layers": 1, "bidirectional": False,
                                 "spectral_radius": 0.8, "leak_rate": 0.5}
    block["evaluate"].update(samples=0, ngram_order=None)
    run = seqtasks.train(block, data=name_data(200), output=tmp_path / "run")
    model = run.load().model
    fixed = [w for w in model.weights if "reservoir" in w.path]
    assert fixed and not any(w.trainable for w in fixed)
    fresh = LanguageModel(model.vocabulary_size, 16, encoder=model.encoder_config, head=model.head_config)
    for a, b in zip(fixed, [w for w in fresh.weights if "reservoir" in w.path]):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_reservoir_encoder_plugs_into_the_backbone():
    from seqtasks.encoders.backbone import Backbone

    backbone = Backbone(20, 8, encoder={"kind": "reservoir", "units": 6, "layers": 2, "bidirectional": True})
    out = backbone({"token_ids": np.ones((2, 5), "int32"), "padding_mask": np.ones((2, 5), bool)})
    assert tuple(out.shape) == (2, 5, 12)


# -- recipes --------------------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted((REPO / "recipes").glob("lm_*.yaml")), ids=lambda p: p.name)
def test_shipped_lm_recipes_load(path):
    r = Recipe.from_yaml(path)
    assert r.task == "language_model" and not r.model.encoder.bidirectional


@pytest.mark.parametrize("values, key", [
    ({"model": {"encoder": {"bidirectional": True}}}, "model.encoder.bidirectional"),
    ({"model": {"encoder": {"bidirectional": False}, "char_features": {"kind": "cnn"}}},
     "model.char_features.kind"),
    ({"model": {"encoder": {"bidirectional": False}}, "train": {"bptt_window": 0}}, "train.bptt_window"),
    ({"model": {"encoder": {"bidirectional": False, "kind": "reservoir", "leak_rate": 0.0}}},
     "model.encoder.leak_rate"),
])
def test_bad_lm_recipes_are_one_line_errors(values, key):
    with pytest.raises(RecipeError) as info:
        Recipe.from_dict({"task": "language_model", **values})
    assert key in str(info.value) and "\n" not in str(info.value)


def test_stream_needs_a_language_model():
    with pytest.raises(RecipeError, match="'data.stream' needs task 'language_model'"):
        Recipe.from_dict({"task": "tagging", "data": {"stream": True}})


def test_other_kinds_cannot_generate():
    from types import SimpleNamespace

    with pytest.raises(SeqtasksError, match="run/x: a tagging model cannot generate"):
        task_kind("tagging").generate(SimpleNamespace(directory="run/x"))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.data pipeline")
def test_stream_batches_dataset_shapes():
    batches = StreamBatches(random_labels(texts=20), streams=4, window=5)
    items = list(batches.dataset())
    assert len(items) == len(batches)
    inputs, targets, weights = items[0]
    assert tuple(inputs["token_ids"].shape) == (4, 5) == tuple(targets.shape) == tuple(weights.shape)
    assert inputs["carry"].numpy().tolist() == [0, 0, 0, 0]
