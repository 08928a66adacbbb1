import datasets
import pytest

from seqtasks.reporting.baseline import tfidf_logistic_regression
from seqtasks.errors import DataError

NAMES = ["negative", "neutral", "positive"]
WORDS = {0: ["awful", "terrible", "boring"], 1: ["table", "chair", "window"], 2: ["great", "lovely", "superb"]}
FILLER = ["the", "film", "was", "a", "really", "quite"]


def _split(rows):
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=NAMES)})
    return datasets.Dataset.from_dict({"text": [t for t, _ in rows], "label": [l for _, l in rows]},
                                      features=features)


def _rows(offset, count):
    rows = []
    for i in range(count):
        label = i % 3
        # Every label word and filler occurs with every label across the splits.
        word = WORDS[label][(i // 3 + offset) % 3]
        filler = " ".join(FILLER[(i // 3 + offset + k) % len(FILLER)] for k in range(3))
        rows.append((f"{filler} {word}", label))
    return rows


@pytest.fixture
def dataset():
    return datasets.DatasetDict({"train": _split(_rows(0, 30)), "validation": _split(_rows(1, 9)),
                                 "test": _split(_rows(2, 12))})


def test_word_baseline_separates_by_words(dataset):
    results = tfidf_logistic_regression(dataset, C=10.0)
    assert results["test"]["accuracy"] == 1.0
    assert results["validation"]["macro_f1"] == 1.0
    assert set(results["test"]["report"]) >= set(NAMES) | {"macro avg"}
    assert results["test"]["report"]["positive"]["support"] == 4
    assert results["train_seconds"] >= 0.0
    assert results["config"]["ngram_range"] == [1, 2]


def test_char_analyzer(dataset):
    results = tfidf_logistic_regression(dataset, analyzer="char_wb", C=10.0)
    assert results["config"]["ngram_range"] == [1, 4]
    assert results["test"]["accuracy"] == 1.0


def test_errors(dataset):
    with pytest.raises(ValueError, match="analyzer='chars'"):
        tfidf_logistic_regression(dataset, analyzer="chars")
    with pytest.raises(DataError, match="expected columns 'text' and 'label'"):
        tfidf_logistic_regression(datasets.DatasetDict({"train": dataset["train"].rename_column("text", "sentence")}))
    with pytest.raises(DataError, match="expected a 'train' split"):
        tfidf_logistic_regression(datasets.DatasetDict({"test": dataset["test"]}))
