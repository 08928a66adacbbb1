"""Sentence classification end to end: train -> run directory -> load -> predict, CLI, bad input.

The SST and surname tests need the benchmark data (skipped without it); the
in-memory, data-card-in-a-temporary-folder and CLI tests use a small synthetic
sentiment problem and never skip.
"""

import collections
import json
import logging
import random

import datasets
import keras
import numpy as np
import pytest

import seqtasks
from seqtasks.errors import DataError
from seqtasks.config.recipe import Recipe

CLASSES = ["negative", "neutral", "positive"]
# One cue word decides the class; the rest is filler shared by every class.
CUES = {
    "negative": ["dull", "boring", "awful", "tedious", "clumsy", "bland"],
    "neutral": ["average", "ordinary", "okay", "passable"],
    "positive": ["gripping", "funny", "superb", "moving", "delightful", "brilliant"],
}
FILLER = ["a", "the", "film", "movie", "plot", "story", "acting", "was", "really", "quite", ",", "and", "."]
SHARES = {"negative": 0.3, "neutral": 0.2, "positive": 0.5}  # imbalanced on purpose (class weights)
MAX_LENGTH = 8  # the cue is among the first 3 tokens, so truncating to 8 keeps it


def synthetic_rows(n, seed):
    """`(text, class)` pairs: 3-12 tokens, the cue word among the first three."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.choices(CLASSES, weights=[SHARES[c] for c in CLASSES])[0]
        words = [rng.choice(FILLER) for _ in range(rng.randint(2, 11))]
        words.insert(rng.randint(0, 2), rng.choice(CUES[label]))
        rows.append((" ".join(words), label))
    return rows


SIZES = {"train": 240, "validation": 60, "test": 60}


def synthetic_dataset(sizes=SIZES):
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=CLASSES)})
    splits = {}
    for seed, (split, n) in enumerate(sizes.items()):
        rows = synthetic_rows(n, seed)
        splits[split] = datasets.Dataset.from_dict(
            {"text": [t for t, _ in rows], "label": [CLASSES.index(c) for _, c in rows]}, features=features)
    return datasets.DatasetDict(splits)


def tiny_recipe(pooling="attention", **train):
    return {
        "name": "tiny_classifier",
        "task": "classification",
        "preprocess": {"max_length": MAX_LENGTH},
        "model": {"embedding": {"dim": 16},
                  "encoder": {"kind": "gru", "units": 16, "layers": 1, "dropout": 0.0},
                  "head": {"kind": "classifier", "pooling": pooling}},
        "train": {"epochs": 4, "batch_size": 16, "learning_rate": 0.02, "verbose": 0, **train},
        "evaluate": {"plots": False},
    }


def majority_fraction(split):
    return collections.Counter(split["label"]).most_common(1)[0][1] / len(split)


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


# -- the main in-memory run (never skips) ---------------------------------------------------


@pytest.fixture(scope="module")
def memory_run(tmp_path_factory):
    """Attention pooling, balanced class weights, truncation, baseline and plots in one run.

    The test-split probabilities that the in-memory model computes before it is
    saved are kept (`run.before_saving`) to compare with the reloaded model.
    """
    from seqtasks.training import fit

    recipe = tiny_recipe(class_weight="balanced")
    recipe["evaluate"] = {"plots": True, "baseline": True}
    captured = []
    original = fit.score_split  # how training scores each split after `fit`

    def keep(*args, **kwargs):
        metrics, predictions, speed = original(*args, **kwargs)
        captured.append(predictions)
        return metrics, predictions, speed

    handler = ListHandler()
    logging.getLogger("seqtasks").addHandler(handler)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(fit, "score_split", keep)
            run = seqtasks.train(recipe, data=synthetic_dataset(),
                                 output=tmp_path_factory.mktemp("memory") / "run")
    finally:
        logging.getLogger("seqtasks").removeHandler(handler)
    run.before_saving = dict(zip(["train", "validation", "test"], captured))
    run.warnings = handler.messages
    return run


def test_memory_training_learns_despite_imbalance_and_truncation(memory_run):
    data = synthetic_dataset()
    assert majority_fraction(data["test"]) < 0.6
    # Measured: test accuracy 1.00, macro F1 1.00 (majority positive 0.57) after 4 epochs.
    assert memory_run.metrics["test"]["accuracy"] >= 0.9, memory_run.metrics["test"]["accuracy"]
    assert memory_run.metrics["test"]["macro_f1"] >= 0.85
    assert memory_run.recipe.train.class_weight == "balanced"
    assert memory_run.recipe.model.head.pooling == "attention"


def test_truncation_warning_counts_examples(memory_run):
    from seqtasks.data.tokenize import tokenize

    data = synthetic_dataset()
    for split, part in data.items():
        longer = sum(len(tokenize(text)) > MAX_LENGTH for text in part["text"])
        assert 0 < longer < len(part)
        expected = f"{split}: truncated {longer} of {len(part)} examples longer than max_length={MAX_LENGTH}"
        assert expected in memory_run.warnings, (expected, memory_run.warnings)


def test_metrics_json_has_scores_report_baseline_and_plot(memory_run):
    directory = memory_run.directory
    metrics = json.loads((directory / "metrics.json").read_text())
    assert metrics["task"] == metrics["kind"] == "classification"
    import seqtasks as package

    assert metrics["versions"]["seqtasks"] == package.__version__ and metrics["versions"]["backend"] == keras.backend.backend()
    for split in ("validation", "test"):
        scores = metrics[split]
        assert 0.0 <= scores["macro_f1"] <= 1.0 and 0.0 <= scores["accuracy"] <= 1.0
        report = scores["report"]
        assert set(CLASSES) <= set(report)
        assert report["accuracy"] == pytest.approx(scores["accuracy"])
        assert report["macro avg"]["f1-score"] == pytest.approx(scores["macro_f1"])
        assert sum(report[c]["support"] for c in CLASSES) == SIZES[split]
        baseline = metrics["baseline"][split]
        assert 0.5 <= baseline["accuracy"] <= 1.0 and 0.0 <= baseline["macro_f1"] <= 1.0
    plot = directory / "plots" / "confusion_test.png"
    assert plot.is_file() and plot.stat().st_size > 1000
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_save_load_identical_probabilities(memory_run, caplog):
    from seqtasks.data.batching import Batches
    from seqtasks.data.tokenize import tokenize

    data = synthetic_dataset()
    first, second = seqtasks.load(memory_run.directory), seqtasks.load(memory_run.directory)
    encoded = first.preprocessor.encode_split(data["test"], "test")
    after = [m.kind.predict(m.model, Batches(encoded, 64, per_token=False)) for m in (first, second)]
    np.testing.assert_array_equal(after[0], after[1])
    np.testing.assert_allclose(after[0], memory_run.before_saving["test"], rtol=0, atol=1e-6)
    assert first.evaluate("test", data=data) == memory_run.metrics["test"]
    texts = data["test"]["text"][:10] + ["a gripping , funny film", "dull and boring"]
    with caplog.at_level(logging.WARNING, logger="seqtasks"):
        a, b = first.predict(texts), second.predict(texts)
    assert a == b
    longer = sum(len(tokenize(t)) > MAX_LENGTH for t in texts)
    assert 0 < longer and caplog.messages.count(
        f"input: truncated {longer} of {len(texts)} texts longer than max_length={MAX_LENGTH}") == 2
    # Raw-text prediction (other batch layout, truncated to max_length) agrees with the split's.
    probs = np.asarray([[r["probabilities"][c] for c in CLASSES] for r in a[:10]])
    np.testing.assert_allclose(probs, memory_run.before_saving["test"][:10], rtol=0, atol=1e-5)


def test_predict_label_and_probabilities(memory_run):
    model = seqtasks.load(memory_run.directory)
    results = model.predict("a gripping, funny film")
    assert len(results) == 1
    result = results[0]
    assert set(result) == {"label", "probabilities"}
    assert list(result["probabilities"]) == CLASSES
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert all(0.0 <= p <= 1.0 for p in result["probabilities"].values())
    assert result["label"] == "positive"
    assert result["label"] == max(result["probabilities"], key=result["probabilities"].get)
    assert seqtasks.predict(memory_run.directory, ["the plot was dull"])[0]["label"] == "negative"
    with pytest.raises(DataError, match="empty text"):
        model.predict("   ")


def test_cli_predict_text_and_json(memory_run, capsys):
    # In-process `seqtasks.cli.main` (the `python -m seqtasks` entry point itself is
    # covered by tests/test_cli.py; a subprocess costs 15-20 s here).
    from seqtasks import cli

    text = "a gripping, funny film"
    assert cli.main(["predict", str(memory_run.directory), text]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    label, _, probabilities = lines[0].partition("\t")
    assert label == "positive"
    shown = dict(item.split("=") for item in probabilities.split())
    assert list(shown) == CLASSES
    assert sum(float(v) for v in shown.values()) == pytest.approx(1.0, abs=0.01)

    assert cli.main(["predict", str(memory_run.directory), text, "the acting was awful", "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["label"] for r in rows] == ["positive", "negative"]
    expected = seqtasks.load(memory_run.directory).predict([text, "the acting was awful"])
    for row, want in zip(rows, expected):
        assert row["probabilities"] == pytest.approx(want["probabilities"], abs=1e-6)
    # The text output shows the same probabilities, rounded to 3 decimals.
    for name, value in shown.items():
        assert float(value) == pytest.approx(rows[0]["probabilities"][name], abs=6e-4)


# -- every pooling mode and class weights ------------------------------------------------------


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])  # attention: memory_run
def test_pooling_modes_train(pooling, tmp_path):
    data = synthetic_dataset({"train": 160, "validation": 40, "test": 60})
    run = seqtasks.train(tiny_recipe(pooling, epochs=2), data=data, output=tmp_path / "run")
    assert run.recipe.model.head.pooling == pooling
    # Measured after 2 epochs: last 1.00, mean 0.95, max 0.92 (majority 0.57).
    accuracy = run.metrics["test"]["accuracy"]
    assert accuracy >= majority_fraction(data["test"]) + 0.15, (pooling, accuracy)
    layers = [layer.__class__.__name__ for layer in seqtasks.load(run.directory).model.layers]
    assert "SequencePooling" in layers, layers


def test_balanced_class_weights():
    from seqtasks.tasks.classification import KIND

    labels = np.array([0, 0, 0, 1, 2, 2])
    recipe = Recipe.from_dict(tiny_recipe(class_weight="balanced"))
    weights = KIND.example_weights(recipe, {"labels": labels}, 3)
    # n / (k * count): 6/(3*3), 6/(3*1), 6/(3*2); each class then carries the same total weight.
    np.testing.assert_allclose(weights, [2 / 3] * 3 + [2.0] + [1.0] * 2)
    totals = np.bincount(labels, weights=weights)
    np.testing.assert_allclose(totals, totals[0])
    assert KIND.example_weights(Recipe.from_dict(tiny_recipe()), {"labels": labels}, 3) is None


# -- data cards in a temporary folder: baseline CLI, bad labels, empty texts --------------------

CARD = """---
name: tiny_sentiment
title: Synthetic sentiment (tests)
task: classification
format: label_first
files: {{train: tiny/train.txt, validation: tiny/dev.txt, test: tiny/test.txt}}
sha256: {{}}
counts: {{}}
labels: {labels}
licence: test data
citation: none
---

A synthetic `<label> <text>` card for the tests.
"""


@pytest.fixture
def card_root(tmp_path, monkeypatch):
    """A cards folder with `tiny_sentiment` (label_first files) and its data root."""
    cards, root = tmp_path / "cards", tmp_path / "data"
    cards.mkdir()
    (root / "tiny").mkdir(parents=True)
    (cards / "tiny_sentiment.md").write_text(CARD.format(labels=json.dumps(CLASSES)))
    for (split, part), name in zip(synthetic_dataset().items(), ("train.txt", "dev.txt", "test.txt")):
        lines = [f"{label} {text}" for text, label in zip(part["text"], part["label"])]
        (root / "tiny" / name).write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("SEQTASKS_CARDS", str(cards))
    return root


def card_recipe(tmp_path, **data):
    path = tmp_path / "recipe.yaml"
    values = tiny_recipe()
    values["data"] = {"card": "tiny_sentiment", **data}
    path.write_text(Recipe.from_dict(values).to_yaml())
    return path


def test_cli_baseline_prints_metrics(card_root, tmp_path, capsys):
    from seqtasks import cli

    recipe = card_recipe(tmp_path)
    argv = ["baseline", str(recipe), "--data-root", str(card_root),
            "--set", "data.limit.train=200", "--set", "data.limit.test=50"]
    assert cli.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= {"validation", "test"}
    for split in ("validation", "test"):
        assert set(result[split]) >= {"accuracy", "macro_f1"} and "report" not in result[split]
        assert result[split]["accuracy"] >= 0.8  # the cue words decide the class


def test_label_outside_classes_names_file_and_line(card_root, tmp_path, capsys):
    from seqtasks import cli

    train = card_root / "tiny" / "train.txt"
    lines = train.read_text().splitlines()
    lines[2] = "7 a superb film"
    train.write_text("\n".join(lines) + "\n")
    recipe = card_recipe(tmp_path)
    expected = f"{train}:3: expected a label in {CLASSES}, found '7'"
    with pytest.raises(DataError) as error:
        seqtasks.train(recipe, data_root=card_root, output=tmp_path / "api_run")
    assert str(error.value) == expected
    out = tmp_path / "cli_run"
    assert cli.main(["train", str(recipe), "--data-root", str(card_root), "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("seqtasks: error:")]
    assert errors == [f"seqtasks: error: {expected}"], err
    assert not any("Traceback" in line for line in err)
    assert not out.exists() and not out.with_name("cli_run.partial").exists()
    assert not (tmp_path / "api_run").exists() and not (tmp_path / "api_run.partial").exists()


def test_label_not_declared_in_card(card_root, tmp_path):
    # The card declares two classes; a class name that is not one of them is rejected.
    (card_root.parent / "cards" / "tiny_sentiment.md").write_text(CARD.format(labels="[negative, positive]"))
    for name in ("train.txt", "test.txt"):
        (card_root / "tiny" / name).write_text("negative a dull film\npositive a superb film\n")
    dev = card_root / "tiny" / "dev.txt"
    dev.write_text("negative a dull film\nneutral an okay film\n")
    with pytest.raises(DataError, match=r"dev.txt:2: expected a label in \['negative', 'positive'\], found 'neutral'"):
        seqtasks.train(card_recipe(tmp_path), data_root=card_root, output=tmp_path / "run")
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_empty_text_in_file_names_line(card_root, tmp_path):
    test = card_root / "tiny" / "test.txt"
    lines = test.read_text().splitlines()
    lines[4] = "2"
    test.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as error:
        seqtasks.train(card_recipe(tmp_path), data_root=card_root, output=tmp_path / "run")
    assert str(error.value) == f"{test}:5: expected a non-empty text, found an empty one"
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_empty_text_in_memory_names_example(tmp_path):
    data = synthetic_dataset({"train": 40, "validation": 10, "test": 10})
    texts = list(data["validation"]["text"])
    texts[3] = "   "
    data["validation"] = datasets.Dataset.from_dict(
        {"text": texts, "label": data["validation"]["label"]}, features=data["validation"].features)
    with pytest.raises(DataError, match=r"validation: example 4 .*empty"):
        seqtasks.train(tiny_recipe(epochs=1), data=data, output=tmp_path / "run")
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


# -- benchmark slices (skip without the data root) ----------------------------------------------

SST_RECIPE = {
    "name": "sst_sentences_small",
    "task": "classification",
    "data": {"card": "sst_binary_sentences", "limit": {"train": 1500, "validation": 200, "test": 400}},
    "preprocess": {"lowercase": True},
    "model": {"embedding": {"dim": 32}, "encoder": {"kind": "gru", "units": 32, "layers": 1, "dropout": 0.0},
              "head": {"kind": "classifier", "pooling": "max"}},
    "train": {"epochs": 3, "batch_size": 32, "learning_rate": 0.005, "verbose": 0},
    "evaluate": {"plots": False, "baseline": True},
}

NAMES_RECIPE = {
    "name": "names_small",
    "task": "classification",
    "data": {"card": "names_18lang", "limit": {"train": 3000, "validation": 200, "test": 600}},
    "preprocess": {"units": "char"},
    "model": {"embedding": {"dim": 24}, "encoder": {"kind": "gru", "units": 48, "layers": 1, "dropout": 0.0},
              "head": {"kind": "classifier", "pooling": "last"}},
    "train": {"epochs": 3, "batch_size": 32, "learning_rate": 0.01, "verbose": 0},
    "evaluate": {"plots": False},
}


def test_sst_sentences_slice_beats_majority(data_root, tmp_path):
    from seqtasks.data.prepare import prepare_data

    dataset, _, _ = prepare_data(Recipe.from_dict(SST_RECIPE))
    majority = majority_fraction(dataset["test"])
    assert 0.45 < majority < 0.56
    run = seqtasks.train(SST_RECIPE, output=tmp_path / "run")
    # Measured: test accuracy 0.7225, validation 0.68 (test majority 0.52) after 3 epochs on
    # 1,500 sentences; the TF-IDF baseline on the same slice: test 0.7275.
    accuracy = run.metrics["test"]["accuracy"]
    assert accuracy >= 0.62, (accuracy, majority)
    assert run.metrics["validation"]["accuracy"] >= 0.60
    baseline = run.metrics["baseline"]["test"]
    assert 0.55 <= baseline["accuracy"] <= 1.0 and set(baseline) >= {"accuracy", "macro_f1"}


def test_surnames_char_slice_beats_majority(data_root, tmp_path):
    from seqtasks.data.prepare import prepare_data

    dataset, _, _ = prepare_data(Recipe.from_dict(NAMES_RECIPE))
    test = dataset["test"]
    names = test.features["label"].names
    assert len(names) == 18
    top = collections.Counter(test["label"]).most_common(1)[0][0]
    majority = majority_fraction(test)
    assert names[top] == "Russian" and 0.4 < majority < 0.6
    run = seqtasks.train(NAMES_RECIPE, output=tmp_path / "run")
    assert seqtasks.load(run.directory).preprocessor.units == "char"
    # Measured: test accuracy 0.725, macro F1 0.275 (majority Russian 0.488) after 3 epochs
    # on 3,000 names; validation 0.755.
    accuracy = run.metrics["test"]["accuracy"]
    assert accuracy >= majority + 0.12, (accuracy, majority)
    assert run.metrics["test"]["macro_f1"] > 0.15
