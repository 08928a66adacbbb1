"""A non-neural baseline for sentence classification: tf-idf + logistic regression.

Every classification recipe should beat this; if a recurrent model does not,
something is wrong with it (or the task is easier than it looks).
"""

import time

import datasets
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, classification_report, f1_score
from sklearn.pipeline import Pipeline

from seqtasks.errors import DataError

# n-grams that work for each unit: word uni+bigrams for sentences, char n-grams
# inside word boundaries for short strings such as surnames.
DEFAULT_NGRAMS = {"word": (1, 2), "char_wb": (1, 4), "char": (1, 4)}


def _label_names(split):
    feature = split.features["label"]
    if isinstance(feature, datasets.ClassLabel):
        return feature.names
    return [str(label) for label in sorted(set(split["label"]))]


def _check_columns(dataset, name):
    if name not in dataset:
        raise DataError(f"dataset: expected a '{name}' split, found splits {sorted(dataset)}")
    columns = dataset[name].column_names
    if "text" not in columns or "label" not in columns:
        raise DataError(f"dataset split '{name}': expected columns 'text' and 'label', found {columns}")


def _evaluate(pipeline, split, names):
    predicted = pipeline.predict(split["text"])
    gold = np.asarray(split["label"])
    labels = list(range(len(names)))
    return {
        "accuracy": float(accuracy_score(gold, predicted)),
        "macro_f1": float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0)),
        "report": classification_report(gold, predicted, labels=labels, target_names=names,
                                         output_dict=True, zero_division=0),
    }


def tfidf_logistic_regression(dataset, analyzer="word", ngram_range=None, C=1.0,
                              max_features=None, seed=0):
    """Trains tf-idf + logistic regression on `train`, evaluates the other splits.

    Args:
        dataset: `datasets.DatasetDict` with a `train` split and columns `text`
            and `label` (a `ClassLabel`); `validation` and `test` are evaluated
            when present.
        analyzer: `"word"` for sentences, `"char_wb"` (or `"char"`) for short
            strings such as surnames.
        ngram_range: `(min_n, max_n)`; `None` picks `(1, 2)` for words and
            `(1, 4)` for chars.
        C: inverse regularisation strength of the logistic regression.
        max_features: keep only the most frequent n-grams; `None` keeps all.
        seed: random state of the solver.

    Returns:
        A dict: `validation` and `test` (each `accuracy`, `macro_f1`, and
        `report`, sklearn's classification report as a dict),
        `train_seconds`, and `config` (the arguments used).

    Example:

    >>> dataset = datasets.DatasetDict({split: datasets.Dataset.from_dict(
    ...     {"text": ["good film", "bad film"], "label": [1, 0]},
    ...     features=datasets.Features({"text": datasets.Value("string"),
    ...         "label": datasets.ClassLabel(names=["neg", "pos"])}))
    ...     for split in ("train", "validation", "test")})
    >>> tfidf_logistic_regression(dataset)["test"]["accuracy"]
    1.0
    """
    if analyzer not in DEFAULT_NGRAMS:
        raise ValueError(f"`analyzer` must be one of {sorted(DEFAULT_NGRAMS)}. Received: analyzer={analyzer!r}")
    ngram_range = tuple(ngram_range or DEFAULT_NGRAMS[analyzer])
    _check_columns(dataset, "train")
    train = dataset["train"]
    names = _label_names(train)
    pipeline = Pipeline([
        ("tfidf", TfidfVectorizer(analyzer=analyzer, ngram_range=ngram_range,
                                  max_features=max_features, sublinear_tf=True)),
        ("logreg", LogisticRegression(C=C, max_iter=1000, random_state=seed)),
    ])
    start = time.perf_counter()
    pipeline.fit(train["text"], train["label"])
    results = {"train_seconds": time.perf_counter() - start}
    for name in ("validation", "test"):
        if name in dataset:
            _check_columns(dataset, name)
            results[name] = _evaluate(pipeline, dataset[name], names)
    results["config"] = {"analyzer": analyzer, "ngram_range": list(ngram_range), "C": C,
                         "max_features": max_features, "seed": seed}
    return results
