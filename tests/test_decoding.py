"""Document-level label consistency (`model.head.consistency: document`): the rule
on hand-made tags, and the same step in evaluate and predict on the short
CoNLL-2003 training of the NER tests (skipped without the benchmark data).
Training's own evaluation goes through the same `split_postprocess` (checked
for joined sentences in test_context.py)."""

import numpy as np
import pytest

import seqtasks
from seqtasks import evaluation
from seqtasks.data.batching import Batches
from seqtasks.decoding import consistent_ids, document_consistency
from seqtasks.errors import RecipeError
from seqtasks.recipe import Recipe



def test_majority_type_wins_within_a_document():
    tokens = [["Jordan", "said"], ["JORDAN", "won"], ["Jordan", "Smith"], ["Jordan"]]
    tags = [["S-PER", "O"], ["S-LOC", "O"], ["B-PER", "E-PER"], ["S-PER"]]
    assert document_consistency(tags, tokens, [0, 0, 0, 0]) == \
        [["S-PER", "O"], ["S-PER", "O"], ["B-PER", "E-PER"], ["S-PER"]]
    # A tie changes nothing; other documents do not vote.
    assert document_consistency(tags[:2], tokens[:2], [0, 0]) == tags[:2]
    assert document_consistency(tags, tokens, [0, 1, 0, 0])[1] == ["S-LOC", "O"]


def test_multiword_spans_keep_their_boundaries():
    tokens = [["New", "York", "Times"], ["New", "York", "Times"], ["New", "York", "Times"], ["York"]]
    tags = [["B-ORG", "I-ORG", "I-ORG"], ["B-LOC", "I-LOC", "I-LOC"], ["B-ORG", "I-ORG", "I-ORG"], ["B-LOC"]]
    assert document_consistency(tags, tokens) == \
        [["B-ORG", "I-ORG", "I-ORG"]] * 3 + [["B-LOC"]]  # "York" alone is other words
    # Re-typing needs tags the model knows; otherwise the span stays.
    labels = ["B-LOC", "B-ORG", "I-LOC", "O"]
    assert document_consistency(tags, tokens, labels=labels)[1] == ["B-LOC", "I-LOC", "I-LOC"]


def test_consistent_ids_map_back_to_label_ids():
    labels = ["O", "S-LOC", "S-PER"]
    out = consistent_ids([np.array([2, 0]), np.array([1]), np.array([2])], labels,
                         [["Kohl", "said"], ["Kohl"], ["Kohl"]])
    assert [o.tolist() for o in out] == [[2, 0], [2], [2]] and out[0].dtype == np.int32


def test_unknown_consistency_is_a_recipe_error():
    with pytest.raises(RecipeError, match="unknown model.head.consistency 'sentence'; known: none, document"):
        Recipe.from_dict({"model": {"head": {"consistency": "sentence"}}})


def test_evaluate_and_predict_apply_it(crf_run):
    model = seqtasks.load(crf_run.directory)
    model.recipe.model.head.consistency = "document"  # as a recipe with it saves it
    split = model.split_data("test")
    encoded, labels = model.encode_split(split, "test")
    raw = evaluation.predict_batches(model.model, Batches(encoded, 64))
    fixed = consistent_ids(raw, model.labels, list(split["tokens"]), list(split["document"]))
    assert sum(int((a != b).any()) for a, b in zip(raw, fixed)) > 0  # the rule had work to do
    expected = evaluation.score("tagging", fixed, encoded["labels"], labels, model.scheme)
    assert model.evaluate("test")["f1"] == pytest.approx(expected["f1"], abs=1e-12)
    # predict: the sentences of one call form one document (one the rule changes).
    changed = next(i for i, (a, b) in enumerate(zip(raw, fixed)) if (a != b).any())
    documents = list(split["document"])
    doc = [list(t) for t, d in zip(split["tokens"], documents) if d == documents[changed]]
    got = [r["tags"] for r in model.predict(doc)]
    model.recipe.model.head.consistency = "none"
    plain = [r["tags"] for r in model.predict(doc)]
    assert got != plain and got == document_consistency(plain, doc, labels=model.labels)
