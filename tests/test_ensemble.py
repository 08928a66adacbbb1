"""Ensembles of trained runs: averaged scores, CRF decoding, CLI, mismatched members.

Tiny synthetic NER and sentiment problems; never skip.
"""

import itertools
import json
import random

import datasets
import numpy as np
import pytest

import seqtasks
from seqtasks import cli
from seqtasks.ensemble import Ensemble
from seqtasks.errors import SeqtasksError

ENTITIES = {"PER": [["john", "smith"], ["mary"], ["anna", "lee"], ["bob"]],
            "LOC": [["paris"], ["new", "york"], ["rome"], ["lima"]]}
FILLER = ["we", "saw", "met", "in", "today", "and", "then", "left", "."]
TAGS = ["B-LOC", "B-PER", "I-LOC", "I-PER", "O"]


def ner_dataset(sizes=(200, 40, 40)):
    """Filler words around one or two entities, tagged in IOB2."""
    label = datasets.ClassLabel(names=TAGS)
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "tags": datasets.Sequence(label)})
    splits = {}
    for seed, (split, n) in enumerate(zip(("train", "validation", "test"), sizes)):
        rng = random.Random(seed)
        tokens, tags = [], []
        for _ in range(n):
            words, labels = [], []
            for _ in range(rng.randint(1, 2)):
                for _ in range(rng.randint(1, 3)):
                    words.append(rng.choice(FILLER))
                    labels.append("O")
                kind = rng.choice(sorted(ENTITIES))
                name = rng.choice(ENTITIES[kind])
                words += name
                labels += [f"B-{kind}"] + [f"I-{kind}"] * (len(name) - 1)
            tokens.append(words)
            tags.append([label.str2int(t) for t in labels])
        splits[split] = datasets.Dataset.from_dict({"tokens": tokens, "tags": tags}, features=features)
    return datasets.DatasetDict(splits)


def sentiment_dataset(sizes=(200, 40, 40)):
    """One cue word decides the class."""
    cues = {"negative": ["dull", "awful", "boring"], "positive": ["superb", "funny", "moving"]}
    label = datasets.ClassLabel(names=["negative", "positive"])
    splits = {}
    for seed, (split, n) in enumerate(zip(("train", "validation", "test"), sizes)):
        rng = random.Random(seed)
        texts, labels = [], []
        for _ in range(n):
            kind = rng.choice(label.names)
            words = [rng.choice(FILLER) for _ in range(rng.randint(2, 6))]
            words.insert(rng.randint(0, 2), rng.choice(cues[kind]))
            texts.append(" ".join(words))
            labels.append(label.str2int(kind))
        splits[split] = datasets.Dataset.from_dict(
            {"text": texts, "label": labels},
            features=datasets.Features({"text": datasets.Value("string"), "label": label}))
    return datasets.DatasetDict(splits)


def recipe(task, seed, head, data):
    return {"name": f"tiny_{task}", "task": task, "seed": seed, "data": data,
            "model": {"embedding": {"dim": 16},
                      "encoder": {"kind": "gru", "units": 16, "layers": 1, "dropout": 0.0},
                      "head": {"kind": head}},
            "train": {"epochs": 3, "batch_size": 16, "learning_rate": 0.02, "verbose": 0},
            "evaluate": {"plots": False}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A CRF tagger (a `DatasetDict` passed in) and two classifiers (a dataset
    saved to disk, so the CLI can evaluate them) differing only in the seed."""
    folder = tmp_path_factory.mktemp("ensemble")
    ner, sentiment = ner_dataset(), sentiment_dataset()
    sentiment.save_to_disk(str(folder / "sentiment"))
    on_disk = {"disk": str(folder / "sentiment")}
    return {
        "crf": seqtasks.train(recipe("tagging", 1, "crf", {"scheme": "IOB2"}), data=ner,
                              output=folder / "crf1").directory,
        "classifier": [seqtasks.train(recipe("classification", seed, "classifier", on_disk),
                                      output=folder / f"cls{seed}").directory for seed in (1, 2)],
        "ner": ner, "sentiment": sentiment,
    }


def test_classifier_ensemble_averages_probabilities(runs):
    texts = ["we saw a superb film", "dull and boring", "then left ."]
    members = [seqtasks.load(d).predict(texts) for d in runs["classifier"]]
    together = seqtasks.load(runs["classifier"]).predict(texts)
    for k, result in enumerate(together):
        for name, p in result["probabilities"].items():
            expected = (members[0][k]["probabilities"][name] + members[1][k]["probabilities"][name]) / 2
            assert p == pytest.approx(expected, abs=1e-6)
        assert result["label"] == max(result["probabilities"], key=result["probabilities"].get)
    # The two seeds really differ, so the mean is not one member's output.
    assert members[0][0]["probabilities"] != members[1][0]["probabilities"]


def test_ensemble_of_one_run_twice_equals_the_run(runs):
    """Averaging identical members changes nothing: same tags, entities and scores."""
    one = runs["crf"]
    sentences = [list(t) for t in runs["ner"]["test"]["tokens"]]
    assert seqtasks.load([one, one]).predict(sentences) == seqtasks.load(one).predict(sentences)
    scores = seqtasks.evaluate([one, one], data=runs["ner"])
    assert scores == seqtasks.evaluate(one, data=runs["ner"])
    # Measured: span F1 1.0 on this easy data.
    assert scores["f1"] >= 0.8, scores["f1"]


def test_crf_ensemble_decodes_the_best_path_of_the_averaged_crf(runs):
    """Brute force over every tag path of short sentences: the ensemble's tags are
    the argmax of the members' mean emission, start, transition and end scores."""
    members = [seqtasks.load(runs["crf"]) for _ in range(2)]
    # The run tags this easy data perfectly; large random CRF scores in the
    # second copy make the averaged CRF decide differently from the run alone.
    rng = np.random.default_rng(0)
    for weight in members[1].model.get_layer("crf").weights:
        weight.assign(rng.normal(scale=4.0, size=weight.shape).astype("float32"))
    ensemble = Ensemble(members)
    sentences = [list(t) for t in runs["ner"]["test"]["tokens"] if len(t) <= 5][:10]
    assert len(sentences) >= 6
    items, features = ensemble.members[0].read_inputs(sentences)
    per_member = [m.kind.outputs(m.model, m.input_batches(items, features))
                  for m in ensemble.members]
    start, trans, end = (np.mean(parts, axis=0) for parts in zip(
        *([np.asarray(x) for x in m.model.get_layer("crf")._scores()] for m in ensemble.members)))
    for k, result in enumerate(ensemble.predict(sentences)):
        emissions = np.mean([member[k] for member in per_member], axis=0)
        best = max(itertools.product(range(len(TAGS)), repeat=len(emissions)),
                   key=lambda path: start[path[0]] + end[path[-1]]
                   + sum(emissions[t, tag] for t, tag in enumerate(path))
                   + sum(trans[a, b] for a, b in zip(path, path[1:])))
        assert result["tags"] == [TAGS[i] for i in best]
    alone = members[0].predict(sentences)
    assert [r["tags"] for r in ensemble.predict(sentences)] != [r["tags"] for r in alone]


def test_members_must_share_task_and_labels(runs, tmp_path):
    with pytest.raises(SeqtasksError, match=r"^.*cls1: cannot join an ensemble with .*crf1 "
                                            r"\(its task classification differ from tagging\)$"):
        seqtasks.load([runs["crf"], runs["classifier"][0]])
    with pytest.raises(SeqtasksError, match=r"^an ensemble needs at least two run directories, "
                                            r"received 1$"):
        seqtasks.load([runs["crf"]])
    with pytest.raises(SeqtasksError, match="not a run directory"):
        seqtasks.load([runs["crf"], tmp_path / "missing"])


def test_cli_evaluate_and_predict_an_ensemble(runs, capsys):
    first, second = runs["classifier"]
    assert cli.main(["evaluate", str(first), str(second), "--split", "validation"]) == 0
    scores = json.loads(capsys.readouterr().out)["validation"]
    assert scores == json.loads(json.dumps(seqtasks.evaluate([first, second], "validation")))
    # Measured: 1.0 for each member and the ensemble (the cue word decides the class).
    assert scores["accuracy"] >= 0.9, scores["accuracy"]
    assert cli.main(["predict", str(first), "a superb film", "--ensemble", str(second),
                     "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)  # one JSON line per text
    expected = seqtasks.load([first, second]).predict("a superb film")[0]
    assert result["label"] == expected["label"] == "positive"
    assert result["probabilities"]["positive"] == pytest.approx(
        expected["probabilities"]["positive"], abs=1e-6)
    assert cli.main(["predict", str(first), "a film", "--ensemble", str(runs["crf"])]) == 2
    assert "cannot join an ensemble" in capsys.readouterr().err
