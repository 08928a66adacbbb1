"""NER end to end on the real pipeline: CoNLL-2003 slice, schemes, bad input, vectors, CLI.

The CoNLL-2003 tests need the benchmark data (skipped without it); the
bad-input, unseen-label and pretrained-vector tests use small files written
here and never skip. Every training is tiny (2 CPU cores shared).
"""

import json
from pathlib import Path

import numpy as np
import pytest

import seqtasks
from seqtasks.data import schemes
from seqtasks.errors import DataError
from seqtasks.config.recipe import Recipe

from conftest import SMALL
from conftest import run_cli as cli

ROOT = Path(__file__).resolve().parent.parent
SOFTMAX_RECIPE = ROOT / "recipes" / "ner_conll2003_bilstm_softmax.yaml"
SENTENCE = "EU rejects German call to boycott British lamb ."


# -- CoNLL-2003: a short training with the real recipe -------------------------------------


# `crf_run` (the recipe on a CoNLL-2003 slice with SMALL) is a session fixture in
# conftest.py, shared with test_decoding.py.


def test_crf_short_training_beats_bound(crf_run):
    # Measured: test F1 0.65 (validation 0.66) after 4 epochs on 1000 sentences;
    # an all-O predictor scores 0.0.
    test = crf_run.metrics["test"]
    assert test["f1"] >= 0.45, test["f1"]
    assert crf_run.metrics["validation"]["f1"] >= 0.45
    metrics = json.loads((crf_run.directory / "metrics.json").read_text())
    assert metrics["scheme"] == "IOBES"
    for key in ("f1", "f1_strict", "precision", "recall", "per_type"):
        assert key in metrics["test"], key
    assert {"LOC", "MISC", "ORG", "PER"} <= set(metrics["test"]["per_type"])
    assert 0.0 < metrics["test"]["f1_strict"] <= 1.0
    assert metrics["unseen_labels"] == {}
    saved = Recipe.from_yaml(crf_run.directory / "recipe.yaml")
    assert (saved.data.scheme, saved.data.target_scheme) == ("IOB2", "IOBES")


def test_save_load_identical_entities(crf_run):
    first, second = seqtasks.load(crf_run.directory), seqtasks.load(crf_run.directory)
    a, b = first.predict(SENTENCE), second.predict(SENTENCE)
    assert a == b
    entities = a[0]["entities"]
    assert entities, a  # the first sentence of the training data has 3 entities
    for e in entities:
        assert set(e) == {"text", "type", "start", "end"}
        assert SENTENCE[e["start"]: e["end"]] == e["text"]
        assert e["type"] in {"LOC", "MISC", "ORG", "PER"}
    # That the loaded model reproduces the test score of the model before saving
    # is checked in test_crf_decoding_legal_and_same_scores_on_iob1.


def test_offsets_on_irregular_raw_text(crf_run):
    model = seqtasks.load(crf_run.directory)
    text = "  Peter Blackburn  visited London,  and the EU (Brussels) said so."
    result = model.predict(text)[0]
    assert result["tokens"][:4] == ["Peter", "Blackburn", "visited", "London"]
    for e in result["entities"]:
        assert text[e["start"]: e["end"]] == e["text"]
        assert e["text"] == e["text"].strip()


def test_token_list_input(crf_run):
    model = seqtasks.load(crf_run.directory)
    tokens = SENTENCE.split()
    from_tokens = model.predict([tokens])[0]
    from_text = model.predict(SENTENCE)[0]
    assert from_tokens["tokens"] == tokens
    assert from_tokens["tags"] == from_text["tags"]
    assert from_tokens["entities"] == from_text["entities"]  # offsets in the space-joined tokens
    odd = ["U.S.", "1996-08-22", "(", "Clinton", ")"]
    result = model.predict([odd])[0]
    assert result["tokens"] == odd and len(result["tags"]) == 5
    joined = " ".join(odd)
    assert all(joined[e["start"]: e["end"]] == e["text"] for e in result["entities"])


def test_cli_predict_json_and_conll(crf_run, tmp_path):
    model = seqtasks.load(crf_run.directory)
    done = cli("predict", crf_run.directory, SENTENCE, "--format", "json")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [l for l in done.stdout.splitlines() if l.strip()]
    assert len(lines) == 1
    assert json.loads(lines[0]) == model.predict(SENTENCE)[0]

    sentences = [["U.S.", "officials", "met", "Clinton", "in", "Washington", "."],
                 ["1996-08-22"], ["SOCCER", "-", "JAPAN", "GET", "LUCKY", "WIN", "."]]
    conll = tmp_path / "input.conll"
    conll.write_text("-DOCSTART- -X- -X- O\n\n" + "\n\n".join(
        "\n".join(f"{t} NN O" for t in s) for s in sentences) + "\n", encoding="utf-8")
    done = cli("predict", crf_run.directory, "--input", conll, "--format", "conll")
    assert done.returncode == 0, done.stderr[-2000:]
    blocks = [b for b in done.stdout.strip().split("\n\n")]
    assert len(blocks) == len(sentences)
    expected = model.predict(sentences)
    for block, tokens, result in zip(blocks, sentences, expected):
        rows = [line.split("\t") for line in block.splitlines()]
        assert [r[0] for r in rows] == tokens  # the input tokens, not re-tokenised
        assert [r[1] for r in rows] == result["tags"]


def test_predict_tag_scheme_converts_tags_not_entities(crf_run):
    model = seqtasks.load(crf_run.directory)
    text = "U.S. officials met Peter Blackburn in Washington and Brussels ."
    native = model.predict(text)[0]  # IOBES, the scheme the model was trained in
    for scheme in ("IOB1", "IOB2", "BIO", "IOBES"):
        result = model.predict(text, tag_scheme=scheme)[0]
        assert result["entities"] == native["entities"], scheme
        assert result["tags"] == schemes.convert(native["tags"], "IOBES", scheme)
        assert schemes.find_illegal(result["tags"], scheme) is None, (scheme, result["tags"])
    iob2 = model.predict(text, tag_scheme="IOB2")[0]["tags"]
    assert not any(t.startswith(("E-", "S-")) for t in iob2), iob2
    assert [t[2:] for t in iob2 if t.startswith("B-")] == [e["type"] for e in native["entities"]]
    done = cli("predict", crf_run.directory, text, "--format", "conll", "--tag-scheme", "IOB2")
    assert done.returncode == 0, done.stderr[-2000:]
    assert [line.split("\t")[1] for line in done.stdout.strip().splitlines()] == iob2


@pytest.fixture(scope="module")
def iob_datasets(data_root):
    """The IOB1 and IOB2 cards after conversion to IOB2 (test slice = the run's)."""
    from seqtasks.data.prepare import prepare_data

    def load(card):
        recipe = Recipe.from_dict({"name": "x", "task": "tagging",
                                   "data": {"card": card, "reader": {"tag_column": 3},
                                            "target_scheme": "IOB2",
                                            "limit": {"train": 300, "test": 300}}})
        dataset, scheme, _ = prepare_data(recipe)
        assert scheme == "IOB2"
        return {split: (list(map(list, d["tokens"])),
                        [[d.features["tags"].feature.names[i] for i in row] for row in d["tags"]])
                for split, d in dataset.items()}

    return load("conll2003_iob1"), load("conll2003")


def test_iob1_card_gives_the_iob2_dataset(iob_datasets):
    iob1, iob2 = iob_datasets
    for split in ("train", "validation", "test"):
        assert iob1[split][0] == iob2[split][0], split
        assert iob1[split][1] == iob2[split][1], split
    assert len(iob2["validation"][0]) == 3250
    assert any(t.startswith("B-") for row in iob2["validation"][1] for t in row)


def test_crf_decoding_legal_and_same_scores_on_iob1(crf_run, iob_datasets):
    from seqtasks.tasks.tagging.scoring import span_scores

    model = seqtasks.load(crf_run.directory)
    tokens, gold = iob_datasets[0]["test"]  # from the IOB1 files
    predictions = model.predict(tokens)
    illegal = [(i, p["tags"]) for i, p in enumerate(predictions)
               if schemes.find_illegal(p["tags"], "IOBES") is not None]
    assert not illegal, illegal[:3]
    assert sum(len(p["entities"]) for p in predictions) > 100  # not vacuous
    # Scored against the IOB1 files' tags, the model gets the run's score (IOB2 files).
    gold = [schemes.convert(g, "IOB2", "IOBES") for g in gold]
    scores = span_scores(gold, [p["tags"] for p in predictions], "IOBES")
    assert scores["f1"] == pytest.approx(crf_run.metrics["test"]["f1"], abs=1e-12)


def test_softmax_ablation_trains(data_root, tmp_path):
    run = seqtasks.train(SOFTMAX_RECIPE, output=tmp_path / "run", overrides=SMALL + [
        "data.limit.train=200", "data.limit.validation=50", "data.limit.test=100",
        "model.char_features.kind=none", "train.epochs=2"])
    assert run.recipe.model.head.kind == "softmax"
    assert run.metrics["scheme"] == "IOBES" and "f1" in run.metrics["test"]
    # It learns something: more tokens right than a random tag (1/17).
    assert run.metrics["test"]["accuracy"] > 0.5, run.metrics["test"]["accuracy"]
    result = run.load().predict(SENTENCE)[0]
    assert len(result["tags"]) == 9 and "entities" in result


# -- small files written here (never skip) --------------------------------------------------

TRAIN = [
    ("Peter B-PER", "Smith I-PER", "visited O", "Paris B-LOC", ". O"),
    ("Anna B-PER", "lives O", "in O", "Berlin B-LOC", ". O"),
    ("The O", "bank O", "Acme B-ORG", "Corp I-ORG", "grew O", ". O"),
    ("John B-PER", "met O", "Mary B-PER", "in O", "London B-LOC", ". O"),
]
BAD_LINE = "Smith I-PER"  # after "met O": illegal in IOB2


def write_conll(path, sentences):
    path.write_text("\n\n".join("\n".join(s) for s in sentences) + "\n", encoding="utf-8")
    return path


def file_recipe(folder, **extra):
    bad = [("Tom O", "met O", BAD_LINE, "in O", "Paris B-LOC", ". O")]
    files = {"format": "conll",
             "train": str(write_conll(folder / "train.conll", TRAIN * 10 + bad)),
             "validation": str(write_conll(folder / "valid.conll", TRAIN[:2])),
             # B-MISC never occurs in training.
             "test": str(write_conll(folder / "test.conll", TRAIN[2:] + [("German B-MISC", "Anna B-PER", ". O")]))}
    recipe = {"name": "files", "task": "tagging",
              "data": {"files": files, "reader": {"tag_column": 1}, "scheme": "IOB2"},
              "model": {"embedding": {"dim": 8}, "encoder": {"kind": "gru", "units": 8, "layers": 1,
                                                             "dropout": 0.0},
                        "head": {"kind": "crf"}},
              "train": {"epochs": 2, "batch_size": 16, "verbose": 0},
              "evaluate": {"plots": False}}
    for dotted, value in extra.items():
        section, key = dotted.split("__")
        recipe.setdefault(section, {})[key] = value
    return recipe


def test_illegal_tag_names_file_and_line(tmp_path):
    recipe = file_recipe(tmp_path)
    lines = (tmp_path / "train.conll").read_text().splitlines()
    bad_line = len(lines) - lines[::-1].index(BAD_LINE)  # the last sentence's, after "met O"
    with pytest.raises(DataError) as err:
        seqtasks.train(recipe, output=tmp_path / "run")
    message = str(err.value)
    assert f"{tmp_path / 'train.conll'}:{bad_line}:" in message, message
    assert "I-PER" in message and "\n" not in message
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_cli_illegal_tag_exits_2_without_run_dir(tmp_path):
    import yaml

    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(file_recipe(tmp_path)), encoding="utf-8")
    done = cli("train", path, "--output", tmp_path / "run")
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [l for l in done.stderr.splitlines() if l.startswith("seqtasks: error:")]
    assert len(errors) == 1 and "train.conll:" in errors[0], done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


@pytest.fixture(scope="module")
def vectors_run(tmp_path_factory):
    """Repaired tags, a label unseen in training, frozen pretrained vectors: one tiny run."""
    folder = tmp_path_factory.mktemp("files")
    rng = np.random.default_rng(0)
    # Mixed case in the file: "paris" matches the token "Paris" only case-insensitively.
    words = {"PETER": rng.normal(size=8), "paris": rng.normal(size=8), "in": rng.normal(size=8),
             ".": rng.normal(size=8)}
    glove = folder / "glove.txt"
    glove.write_text("".join(w + " " + " ".join(f"{v:.6f}" for v in vec) + "\n" for w, vec in words.items()),
                     encoding="utf-8")
    recipe = file_recipe(folder, data__repair_tags=True)
    recipe["model"]["embedding"].update(pretrained=str(glove), lowercase_match=True, trainable=False)
    run = seqtasks.train(recipe, output=folder / "run")
    vectors = {w: np.asarray([float(f"{v:.6f}") for v in vec], dtype=np.float32) for w, vec in words.items()}
    return run, vectors


def test_repair_tags_trains_and_unseen_label_is_reported(vectors_run):
    run, _ = vectors_run
    metrics = json.loads((run.directory / "metrics.json").read_text())
    assert metrics["unseen_labels"] == {"test": {"B-MISC": 1}}
    assert "f1" in metrics["test"] and metrics["scheme"] == "IOB2"
    assert run.recipe.data.repair_tags is True
    # CRF decoding of a barely trained model is still legal IOB2.
    model = run.load()
    for result in model.predict(["Tom met Smith in Paris .", "Smith Smith Smith", "in in Paris Corp"]):
        assert schemes.find_illegal(result["tags"], "IOB2") is None, result


def test_frozen_pretrained_vectors_kept(vectors_run):
    run, vectors = vectors_run
    model = run.load()
    table = model.model.get_layer("backbone").get_layer("token_embedding").embeddings.numpy()
    index = {t: i for i, t in enumerate(model.preprocessor.tokens)}
    matches = {"Peter": "PETER", "Paris": "paris", "in": "in", ".": "."}
    for token, word in matches.items():
        np.testing.assert_allclose(table[index[token]], vectors[word], rtol=0, atol=1e-6)
    assert not np.allclose(table[index["Anna"]], 0.0)  # not in the file: random, not zero
    np.testing.assert_array_equal(table[0], 0.0)


def test_vector_file_with_wrong_dimension(tmp_path):
    import yaml

    glove = tmp_path / "glove.txt"
    glove.write_text("paris 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8\nin 0.1 0.2 0.3\n", encoding="utf-8")
    recipe = file_recipe(tmp_path, data__repair_tags=True)
    recipe["model"]["embedding"]["pretrained"] = str(glove)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    done = cli("train", path, "--output", tmp_path / "run")
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [l for l in done.stderr.splitlines() if l.startswith("seqtasks: error:")]
    assert len(errors) == 1 and f"{glove}:2:" in errors[0], done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_text_output_is_one_line_per_input_with_the_entities_after_a_tab():
    from seqtasks.tasks.tagging.output import format_results, tag_result

    texts = ["John lives in New York .", "nothing here", 'Ann "Bo" Lee']
    tags = [["B-PER", "O", "O", "B-LOC", "I-LOC", "O"], ["O", "O"], ["B-PER", "I-PER", "I-PER"]]
    results = []
    for text, tag in zip(texts, tags):
        starts, tokens = 0, []
        for word in text.split():
            start = text.index(word, starts)
            tokens.append((word, start, start + len(word)))
            starts = start + len(word)
        results.append(tag_result(text, tokens, tag, scheme="IOB2"))
    lines = format_results(results, "text").split("\n")
    assert lines == ['John/B-PER lives/O in/O New/B-LOC York/I-LOC ./O\tPER 0-4 "John" | LOC 14-22 "New York"',
                     "nothing/O here/O",
                     'Ann/B-PER "Bo"/I-PER Lee/I-PER\tPER 0-12 "Ann \\"Bo\\" Lee"']
