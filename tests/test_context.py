"""Joined sentences (`data.join_sentences`): packing, scoring per sentence, and
prediction cut back into the inputs, on small data made here."""

import datasets
import numpy as np
import pytest

import seqtasks
from seqtasks.data.context import join_sentences, sentence_groups, split_rows
from seqtasks.decoding import split_postprocess
from seqtasks.errors import RecipeError
from seqtasks.recipe import Recipe


def test_groups_are_consecutive_within_a_document_and_capped():
    assert sentence_groups([5, 7, 30, 4], [0, 0, 0, 1], max_tokens=40) == [[0, 1], [2], [3]]
    assert sentence_groups([50, 3, 3], [0, 0, 0], max_tokens=40) == [[0], [1, 2]]  # long ones stay alone
    assert sentence_groups([2, 2, 2], None, max_tokens=0) == [[0], [1], [2]]
    assert sentence_groups([2, 2, 2], None, max_tokens=4) == [[0, 1], [2]]


def _tagging(rows, documents):
    label = datasets.ClassLabel(names=["B-PER", "I-PER", "O"])
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "tags": datasets.Sequence(label), "source_line": datasets.Value("int64"),
                                  "document": datasets.Value("int64"),
                                  "pos": datasets.Sequence(datasets.Value("string"))})
    return datasets.Dataset.from_dict(
        {"tokens": [r[0] for r in rows], "tags": [[label.str2int(t) for t in r[1]] for r in rows],
         "source_line": [1 + 3 * i for i in range(len(rows))], "document": documents,
         "pos": [["X"] * len(r[0]) for r in rows]}, features=features)


def test_join_keeps_every_token_once_and_the_lengths():
    rows = [(["Kohl", "said"], ["B-PER", "O"]), (["He", "left"], ["O", "O"]), (["Ann", "Lee"], ["B-PER", "I-PER"])]
    joined = join_sentences(datasets.DatasetDict({"train": _tagging(rows, [0, 0, 1])}), 10)["train"]
    assert list(joined["tokens"]) == [["Kohl", "said", "He", "left"], ["Ann", "Lee"]]
    assert list(joined["sentence_lengths"]) == [[2, 2], [2]]
    assert list(joined["source_line"]) == [1, 7] and list(joined["document"]) == [0, 1]
    assert list(joined["pos"])[0] == ["X"] * 4
    assert joined.features["tags"] == _tagging(rows, [0, 0, 1]).features["tags"]


def test_scores_are_per_sentence():
    """An entity predicted across a sentence boundary counts as two, as in conlleval."""
    rows = [(["a", "Kohl"], ["O", "B-PER"]), (["b"], ["O"])]
    joined = join_sentences(datasets.DatasetDict({"test": _tagging(rows, [0, 0])}), 10)["test"]
    labels = ["B-PER", "I-PER", "O"]
    post = split_postprocess("none", labels, "IOB2", joined)
    predictions, gold = post([np.array([2, 0, 1])], [np.array([2, 0, 2])])
    assert [p.tolist() for p in predictions] == [[2, 0], [1]] and [g.tolist() for g in gold] == [[2, 0], [2]]
    assert split_postprocess("none", labels, "IOB2", _tagging(rows, [0, 0])) is None
    assert split_rows([[1, 2, 3]], [[1, 2]]) == [[1], [2, 3]]


def test_join_sentences_recipe_checks():
    with pytest.raises(RecipeError, match="'data.join_sentences' must be 0 or more tokens, found -1"):
        Recipe.from_dict({"data": {"join_sentences": -1}})
    with pytest.raises(RecipeError, match="'data.join_sentences' needs task 'tagging', found 'classification'"):
        Recipe.from_dict({"task": "classification", "data": {"join_sentences": 64}})


# -- end to end: a tag that only the next sentence tells ----------------------------------
NAMES = ["Ann", "Bob", "Cai", "Dan", "Eve", "Fay"]


def _context_dataset():
    """"X came ." then "X is a player ." or "X is a city .": X is PER or LOC, and
    in the first sentence only the second one tells which."""
    label = datasets.ClassLabel(names=["B-LOC", "B-PER", "O"])
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "tags": datasets.Sequence(label), "document": datasets.Value("int64")})
    rng = np.random.default_rng(0)
    splits = {}
    for split, n in [("train", 240), ("validation", 30), ("test", 40)]:
        tokens, tags, documents = [], [], []
        for d in range(n):
            name = str(rng.choice(NAMES))
            kind = "B-PER" if rng.random() < 0.5 else "B-LOC"
            tokens += [[name, "came", "."], [name, "is", "a", "player" if kind == "B-PER" else "city", "."]]
            tags += [[kind, "O", "O"], [kind, "O", "O", "O", "O"]]
            documents += [d, d]
        splits[split] = datasets.Dataset.from_dict(
            {"tokens": tokens, "tags": [[label.str2int(t) for t in row] for row in tags], "document": documents},
            features=features)
    return datasets.DatasetDict(splits)


def _train(tmp_path, join):
    recipe = {"name": f"join{join}", "task": "tagging", "data": {"join_sentences": join, "scheme": "IOB2"},
              "model": {"embedding": {"dim": 16}, "encoder": {"kind": "gru", "units": 24, "layers": 1}},
              "train": {"epochs": 10, "batch_size": 16, "learning_rate": 0.02, "verbose": 0},
              "evaluate": {"plots": False}}
    return seqtasks.train(recipe, data=_context_dataset(), output=tmp_path / f"join{join}")


def test_joined_sentences_see_their_neighbours(tmp_path):
    joined = _train(tmp_path, 20)
    model = seqtasks.load(joined.directory)
    test = _context_dataset()["test"]
    # Metrics are per sentence: the test split has 80 sentences, 2 entities per document.
    assert joined.metrics["test"]["f1"] >= 0.95
    assert seqtasks.evaluate(joined.directory, "test", data=_context_dataset())["f1"] == pytest.approx(
        joined.metrics["test"]["f1"])
    # predict joins the inputs of one call like training did, and cuts them back.
    pair = [list(t) for t in test["tokens"][:2]]
    result = model.predict(pair)
    assert [r["tokens"] for r in result] == pair
    names = test.features["tags"].feature.names
    assert [r["tags"] for r in result] == [[names[t] for t in row] for row in test["tags"][:2]]
    alone = _train(tmp_path, 0)  # one sentence per example: "X came ." is a coin toss
    assert alone.metrics["test"]["f1"] <= 0.85
