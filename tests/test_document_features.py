"""Document features (`doc_casing`): values, document ids from the readers, and a
tagger that can only solve its task by looking at the rest of the document.

Everything runs on small data written or generated here; one test reads the
CoNLL-2003 files (skipped without the benchmark data).
"""

import random

import datasets
import pytest

import seqtasks
from seqtasks.data.document_features import add_document_features, compute, document_casing, word_shape
from seqtasks.data.readers import read_card, read_conll_columns, read_conllu
from seqtasks.predict_io import read_inputs
from seqtasks.recipe import Recipe


def test_word_shapes():
    assert [word_shape(t) for t in ["apple", "Apple", "APPLE", "McDonald", "I", "1996", "-", "U.S."]] == \
        ["lower", "title", "upper", "mixed", "title", None, None, "upper"]


def test_document_casing_values():
    doc = [["SOCCER", "-", "JAPAN", "GET", "LUCKY", "WIN", "."],   # a headline: no case evidence
           ["Japan", "will", "get", "a", "win", "over", "Syria", "."],
           ["The", "team", "from", "Japan", "and", "the", "Syria", "side", "get", "on", "."]]
    assert document_casing(doc) == [
        ["none", "nonword", "title", "lower", "none", "lower", "nonword"],
        # "Japan" here is sentence-initial (its own case says nothing) but the third
        # sentence shows it capitalised; "get" excludes itself and sees the other one.
        ["title", "none", "lower", "none", "none", "none", "title", "nonword"],
        # "The" is initial; "the" later in the sentence is lowercase evidence for it.
        ["lower", "none", "none", "none", "none", "none", "title", "none", "lower", "none", "nonword"],
    ]


def test_compute_keeps_documents_apart():
    rows = [["we", "met", "Smith"], ["SMITH", "WINS"], ["SMITH", "WINS"], ["we", "met", "smith"]]
    values = compute(["doc_casing"], rows, [0, 0, 1, 1])["doc_casing"]
    assert values[1][0] == "title" and values[2][0] == "lower"
    # Without document ids, all rows are one document.
    assert compute(["doc_casing"], rows)["doc_casing"][1][0] == "lower+title"


def test_conll_reader_numbers_documents(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("-DOCSTART- -X- O\n\nEU NNP B-ORG\n\nPeter NNP B-PER\n\n"
                    "-DOCSTART- -X- O\n\nBonn NNP B-LOC\n-DOCSTART- -X- O\n\nIt PRP O\n")
    data = read_conll_columns({"train": str(path)})
    assert list(data["train"]["document"]) == [0, 0, 1, 2]
    conllu = tmp_path / "train.conllu"
    row = "1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n\n"
    conllu.write_text(f"# newdoc id = a\n{row}{row}# newdoc id = b\n{row}", encoding="utf-8")
    assert list(read_conllu({"train": str(conllu)})["train"]["document"]) == [0, 0, 1]


def test_conll2003_documents(data_root):
    data = read_card("conll2003", root=data_root)
    assert {split: len(set(data[split]["document"])) for split in data} == \
        {"train": 946, "validation": 216, "test": 231}


def test_sources_compute_the_feature_per_document(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("-DOCSTART- O\n\nwe O\nmet O\nSmith B-PER\n\nSMITH B-PER\n\n"
                    "-DOCSTART- O\n\nSMITH O\n\nwe O\nmet O\nsmith O\n")
    recipe = Recipe.from_dict({"data": {"files": {"format": "conll", "train": str(path),
                                                   "validation": str(path)},
                                        "features": ["doc_casing"]}})
    from seqtasks.data.sources import load_data

    train = load_data(recipe.data, "tagging")["train"]
    # "Smith" has no evidence besides the headline; the headlines take the text's case.
    assert list(train["doc_casing"]) == [["none", "none", "none"], ["title"], ["lower"], ["none", "none", "none"]]
    # A user's DatasetDict without a document column: each example is its own document.
    own = add_document_features(datasets.DatasetDict({"train": train.remove_columns(["document", "doc_casing"])}),
                                ["doc_casing", "pos"])
    assert list(own["train"]["doc_casing"])[1] == ["none"]


def test_predict_io_gives_documents_of_a_conll_file(tmp_path):
    path = tmp_path / "in.conll"
    path.write_text("-DOCSTART- -X- O\n\nEU NNP\nsaid VBD\n\n-DOCSTART- -X- O\n\nBonn NNP\n")
    assert read_inputs([], path) == [{"tokens": ["EU", "said"], "document": 0}, {"tokens": ["Bonn"], "document": 1}]
    assert read_inputs([], path, feature_columns={"pos": 1})[1] == {"tokens": ["Bonn"], "document": 1, "pos": ["NNP"]}
    single = tmp_path / "one.conll"
    single.write_text("EU NNP\n\nBonn NNP\n")
    assert read_inputs([], single) == [["EU"], ["Bonn"]]


# -- a task only the document can solve ---------------------------------------------------
WORDS = ["apple", "berry", "cherry", "delta", "echo", "falcon", "grape", "hazel"]


def _document(rng):
    """A text sentence shows each word's role by its case ("Apple" a name, "apple"
    not); the headline writes the same words in capitals, so only the rest of the
    document tells NAME from WORD there."""
    words = rng.sample(WORDS, 3)
    roles = {w: rng.choice(["NAME", "WORD"]) for w in words}
    text = ["we", "saw"] + [w.title() if roles[w] == "NAME" else w for w in words] + ["."]
    headline = ["NEWS"] + [w.upper() for w in rng.sample(words, 3)]
    return [(text, ["O", "O"] + [roles[w] for w in words] + ["O"]),
            (headline, ["O"] + [roles[w.lower()] for w in headline[1:]])]


def _documents_dataset():
    label = datasets.ClassLabel(names=["NAME", "O", "WORD"])
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "tags": datasets.Sequence(label), "document": datasets.Value("int64")})
    splits = {}
    for seed, (split, n) in enumerate([("train", 150), ("validation", 30), ("test", 60)]):
        rng = random.Random(seed)
        rows = [(tokens, tags, d) for d in range(n) for tokens, tags in _document(rng)]
        splits[split] = datasets.Dataset.from_dict(
            {"tokens": [r[0] for r in rows], "tags": [[label.str2int(t) for t in r[1]] for r in rows],
             "document": [r[2] for r in rows]}, features=features)
    return datasets.DatasetDict(splits)


def _headline_accuracy(model, test):
    """Accuracy on the headline words, each document predicted by one `predict` call."""
    names = test.features["tags"].feature.names
    right = total = 0
    for start in range(0, len(test), 2):
        tokens = test["tokens"][start: start + 2]
        gold = [names[t] for t in test["tags"][start + 1][1:]]
        tags = model.predict(tokens)[1]["tags"][1:]
        right += sum(p == g for p, g in zip(tags, gold))
        total += len(gold)
    return right / total


def _train(tmp_path, name, features):
    recipe = {"name": name, "task": "tagging", "data": {"features": features},
              "model": {"embedding": {"dim": 16, "feature_dim": 8},
                        "encoder": {"kind": "gru", "units": 24, "layers": 1, "dropout": 0.0}},
              "train": {"epochs": 8, "batch_size": 16, "learning_rate": 0.02, "verbose": 0},
              "evaluate": {"plots": False}}
    return seqtasks.train(recipe, data=_documents_dataset(), output=tmp_path / name)


def test_doc_casing_solves_headlines_and_predict_agrees_with_evaluate(tmp_path):
    test = _documents_dataset()["test"]
    with_docs = _train(tmp_path, "docs", ["doc_casing"])
    model = seqtasks.load(with_docs.directory)
    assert _headline_accuracy(model, test) >= 0.95
    # predict (features computed per call) and evaluate (per `document` column) agree.
    tags = [t for start in range(0, len(test), 2) for r in model.predict(test["tokens"][start: start + 2])
            for t in r["tags"]]
    names = test.features["tags"].feature.names
    gold = [names[t] for row in test["tags"] for t in row]
    assert sum(p == g for p, g in zip(tags, gold)) / len(gold) == pytest.approx(
        with_docs.metrics["test"]["accuracy"], abs=1e-9)
    assert model.feature_columns() == {}  # nothing to read from CoNLL input
    # Without the feature the headline words are a coin toss.
    alone = _train(tmp_path, "sentences", [])
    assert _headline_accuracy(seqtasks.load(alone.directory), test) <= 0.75
