"""POS tagging end to end: train -> run directory -> load -> predict / evaluate.

The EWT test needs the benchmark data (skipped without it); the in-memory,
file and resume tests use a small synthetic corpus and never skip.
"""

import collections
import json
import random

import datasets
import keras
import pytest
import yaml

import seqtasks
from seqtasks.config.recipe import Recipe

METRIC_KEYS = ("task", "kind", "test", "validation", "train_seconds", "train_tokens_per_second",
               "predict_tokens_per_second", "padding_fraction", "params", "epochs_run", "versions")

# A lexicon where each word has one tag, so a small model learns it in a few epochs.
LEXICON = {
    "DET": ["the", "a", "this", "every"],
    "NOUN": ["cat", "dog", "bird", "house", "tree", "car"],
    "VERB": ["sees", "likes", "chases", "finds"],
    "ADJ": ["big", "red", "old"],
    "PUNCT": [".", "!"],
}


def synthetic_sentences(n, seed):
    """DET (ADJ) NOUN VERB DET NOUN PUNCT sentences."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        pattern = ["DET"] + (["ADJ"] if rng.random() < 0.5 else []) + ["NOUN", "VERB", "DET", "NOUN", "PUNCT"]
        out.append(([rng.choice(LEXICON[t]) for t in pattern], pattern))
    return out


def synthetic_dataset(sizes=(160, 30, 30)):
    names = sorted(LEXICON)
    label = datasets.ClassLabel(names=names)
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "tags": datasets.Sequence(label)})
    splits = {}
    for seed, (split, n) in enumerate(zip(("train", "validation", "test"), sizes)):
        rows = synthetic_sentences(n, seed)
        splits[split] = datasets.Dataset.from_dict(
            {"tokens": [t for t, _ in rows], "tags": [[label.str2int(x) for x in g] for _, g in rows]},
            features=features)
    return datasets.DatasetDict(splits)


def tiny_recipe(**train):
    return {
        "name": "tiny",
        "task": "tagging",
        "model": {"embedding": {"dim": 16}, "encoder": {"kind": "gru", "units": 16, "layers": 1, "dropout": 0.0}},
        "train": {"epochs": 3, "batch_size": 16, "learning_rate": 0.02, "verbose": 0, **train},
        "evaluate": {"plots": False},
    }


def token_accuracy(model, split):
    """Accuracy of `model.predict` on token lists against a split's gold tags."""
    names = split.features["tags"].feature.names
    predictions = model.predict([list(t) for t in split["tokens"]])
    gold = [[names[i] for i in row] for row in split["tags"]]
    assert [p["tokens"] for p in predictions] == [list(t) for t in split["tokens"]]
    pairs = [(p, g) for r, row in zip(predictions, gold) for p, g in zip(r["tags"], row)]
    return sum(p == g for p, g in pairs) / len(pairs)


# -- UD English-EWT: ~500 training sentences -------------------------------------------

EWT_RECIPE = {
    "name": "pos_ewt_small",
    "task": "tagging",
    "data": {"card": "ud_english_ewt", "reader": {"tag_column": "upos"},
             "limit": {"train": 500, "validation": 100, "test": 300}},
    "model": {"embedding": {"dim": 48}, "char_features": {"kind": "cnn", "embedding_dim": 16, "dim": 24},
              "encoder": {"kind": "lstm", "units": 48, "layers": 1, "dropout": 0.0}},
    "train": {"epochs": 5, "batch_size": 16, "learning_rate": 0.01, "verbose": 0},
}


@pytest.fixture(scope="module")
def ewt_run(data_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("ewt") / "run"
    return seqtasks.train(EWT_RECIPE, output=out)


def test_ewt_accuracy_well_above_majority(ewt_run):
    from seqtasks.data.prepare import prepare_data

    dataset, _, _ = prepare_data(Recipe.from_dict(EWT_RECIPE))
    test = dataset["test"]
    names = test.features["tags"].feature.names
    counts = collections.Counter(names[i] for row in test["tags"] for i in row)
    majority_tag, majority_count = counts.most_common(1)[0]
    majority = majority_count / sum(counts.values())
    assert majority_tag == "NOUN" and majority < 0.25
    # Measured: 0.87-0.88 test accuracy after 5 epochs on 500 sentences; majority NOUN ~0.17.
    accuracy = ewt_run.metrics["test"]["accuracy"]
    assert accuracy >= 0.80, (accuracy, majority)
    assert ewt_run.metrics["validation"]["accuracy"] >= 0.78


def test_ewt_run_directory(ewt_run):
    directory = ewt_run.directory
    assert directory.is_dir()
    assert not directory.with_name(directory.name + ".partial").exists()
    for name in ("model.keras", "preprocessor.json", "recipe.yaml", "metrics.json", "history.json", "run.json"):
        assert (directory / name).is_file(), name
    plots = sorted(p.name for p in (directory / "plots").glob("*.png"))
    assert len(plots) >= 2, plots
    assert all((directory / "plots" / p).stat().st_size > 1000 for p in plots)
    metrics = json.loads((directory / "metrics.json").read_text())
    missing = [k for k in METRIC_KEYS if k not in metrics]
    assert not missing, missing
    assert metrics["task"] == metrics["kind"] == "tagging"
    assert 0.0 <= metrics["padding_fraction"] < 0.5
    assert metrics["params"] > 0 and metrics["epochs_run"] >= 1
    assert metrics["train_tokens_per_second"] > 0 and metrics["predict_tokens_per_second"] > 0
    assert {"keras", "seqtasks", "backend"} <= set(metrics["versions"])
    assert ("tensorflow" in metrics["versions"]) == (keras.backend.backend() == "tensorflow")
    assert metrics["versions"]["seqtasks"] == seqtasks.__version__ and metrics["versions"]["backend"] == keras.backend.backend()
    history = json.loads((directory / "history.json").read_text())
    assert len(history["loss"]) == metrics["epochs_run"]
    assert "val_accuracy" in history
    # The saved recipe is resolved (every default written out) and reloads to the run's recipe.
    saved = Recipe.from_yaml(directory / "recipe.yaml")
    assert saved == ewt_run.recipe
    assert saved.data.limit == {"train": 500, "validation": 100, "test": 300}
    text = (directory / "recipe.yaml").read_text()
    assert "early_stopping_patience:" in text and "max_word_length:" in text


def test_ewt_load_predict_evaluate_agree(ewt_run):
    first, second = seqtasks.load(ewt_run.directory), seqtasks.load(ewt_run.directory)
    texts = ["The cat sat on the mat .", "I would like two tickets to Boston , please ."]
    a, b = first.predict(texts), second.predict(texts)
    assert a == b
    assert a[0]["tokens"] == ["The", "cat", "sat", "on", "the", "mat", "."]
    assert a[0]["tags"][-1] == "PUNCT" and a[0]["tags"][0] == "DET"
    scores = first.evaluate("test")
    assert scores["accuracy"] == ewt_run.metrics["test"]["accuracy"]
    assert seqtasks.evaluate(ewt_run.directory, "validation")["accuracy"] == \
        ewt_run.metrics["validation"]["accuracy"]


def test_ewt_predict_on_token_lists_matches_metrics(ewt_run):
    from seqtasks.data.prepare import prepare_data

    dataset, _, _ = prepare_data(Recipe.from_dict(EWT_RECIPE))
    model = seqtasks.load(ewt_run.directory)
    assert token_accuracy(model, dataset["test"]) == pytest.approx(ewt_run.metrics["test"]["accuracy"],
                                                                   abs=1e-12)


# -- in-memory data (never skips) ---------------------------------------------------------


@pytest.fixture(scope="module")
def memory_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("memory") / "run"
    return seqtasks.train(tiny_recipe(), data=synthetic_dataset(), output=out)


def test_memory_training_learns(memory_run):
    # 5 tags, majority NOUN = 2/6.5 of the tokens; the lexicon determines every tag.
    assert memory_run.metrics["test"]["accuracy"] >= 0.9
    assert memory_run.metrics["epochs_run"] == 3
    assert memory_run.recipe.data.card is None


def test_memory_predict_strings_and_token_lists(memory_run):
    model = memory_run.load()
    one = model.predict("the big dog likes a car .")
    assert len(one) == 1
    assert one[0]["tokens"] == ["the", "big", "dog", "likes", "a", "car", "."]
    assert one[0]["tags"] == ["DET", "ADJ", "NOUN", "VERB", "DET", "NOUN", "PUNCT"]
    tokens = model.predict([["every", "bird", "finds", "this", "tree", "!"], ["cat"]])
    assert tokens[0]["tags"] == ["DET", "NOUN", "VERB", "DET", "NOUN", "PUNCT"]
    assert tokens[1]["tokens"] == ["cat"] and len(tokens[1]["tags"]) == 1
    # An unknown word still gets a tag; a second load predicts the same.
    again = seqtasks.load(memory_run.directory)
    inputs = ["the zebra sees a cat .", ["old", "unknownword"]]
    assert again.predict(inputs) == model.predict(inputs)


def test_memory_evaluate_reproduces_metrics(memory_run):
    data = synthetic_dataset()
    model = memory_run.load()
    assert model.evaluate("test", data=data)["accuracy"] == memory_run.metrics["test"]["accuracy"]
    assert token_accuracy(model, data["test"]) == pytest.approx(memory_run.metrics["test"]["accuracy"],
                                                                abs=1e-12)


def test_memory_run_directory_complete(memory_run):
    metrics = json.loads((memory_run.directory / "metrics.json").read_text())
    assert [k for k in METRIC_KEYS if k not in metrics] == []
    assert Recipe.from_yaml(memory_run.directory / "recipe.yaml") == memory_run.recipe


def test_output_directory_taken_is_an_error(memory_run):
    from seqtasks.errors import SeqtasksError

    with pytest.raises(SeqtasksError, match="already exists"):
        seqtasks.train(tiny_recipe(), data=synthetic_dataset(), output=memory_run.directory)


# -- local files through data.files ---------------------------------------------------------


def write_files(tmp_path, fmt):
    """The synthetic corpus as json (string tags) or parquet (ClassLabel tags) files."""
    data = synthetic_dataset()
    files = {"format": fmt}
    for split, part in data.items():
        path = tmp_path / f"{split}.{fmt}"
        if fmt == "json":
            names = part.features["tags"].feature.names
            with open(path, "w", encoding="utf-8") as handle:
                for tokens, tags in zip(part["tokens"], part["tags"]):
                    handle.write(json.dumps({"words": tokens, "pos": [names[i] for i in tags]}) + "\n")
        else:
            part.to_parquet(str(path))
        files[split] = str(path)
    return files


@pytest.mark.parametrize("fmt", ["json", "parquet"])
def test_files_load_same_as_memory(fmt, tmp_path):
    from seqtasks.data.prepare import prepare_data

    files = write_files(tmp_path, fmt)
    values = {"task": "tagging", "data": {"files": files}}
    if fmt == "json":
        values["data"]["columns"] = {"tokens": "words", "tags": "pos"}
    dataset, _, _ = prepare_data(Recipe.from_dict(values))
    memory = synthetic_dataset()
    for split in ("train", "validation", "test"):
        assert dataset[split]["tokens"] == memory[split]["tokens"]
        got = dataset[split].features["tags"].feature.names
        want = memory[split].features["tags"].feature.names
        assert [[got[i] for i in r] for r in dataset[split]["tags"]] == \
            [[want[i] for i in r] for r in memory[split]["tags"]]


def test_train_from_parquet_files(tmp_path):
    recipe = tiny_recipe(epochs=2)
    recipe["data"] = {"files": write_files(tmp_path, "parquet")}
    run = seqtasks.train(recipe, output=tmp_path / "run")
    assert run.metrics["test"]["accuracy"] >= 0.6
    loaded = seqtasks.load(run.directory)
    assert loaded.recipe.data.files["format"] == "parquet"
    assert loaded.evaluate("test")["accuracy"] == run.metrics["test"]["accuracy"]


# -- resume after an interruption -----------------------------------------------------------


class Interrupted(Exception):
    pass


def interrupt_second_epoch(monkeypatch):
    """Makes training raise `Interrupted` as its second epoch starts (a killed
    run); returns the original `DevMetric.on_epoch_begin` to restore."""
    from seqtasks.training.callbacks import DevMetric

    original = DevMetric.on_epoch_begin

    def stop_at_second_epoch(self, epoch, logs=None):
        if epoch == 1:
            raise Interrupted("killed")
        return original(self, epoch, logs)

    monkeypatch.setattr(DevMetric, "on_epoch_begin", stop_at_second_epoch)
    return original


def test_resume_after_interruption(tmp_path, monkeypatch):
    from seqtasks.training.callbacks import DevMetric

    original = interrupt_second_epoch(monkeypatch)
    out = tmp_path / "run"
    partial = tmp_path / "run.partial"
    with pytest.raises(Interrupted):
        seqtasks.train(tiny_recipe(), data=synthetic_dataset(), output=out)
    assert not out.exists()
    assert (partial / "recipe.yaml").is_file() and (partial / "preprocessor.json").is_file()
    assert not (partial / "model.keras").exists()
    assert len(json.loads((partial / "history.json").read_text())["loss"]) == 1
    # Training again without --resume refuses to overwrite the interrupted run.
    from seqtasks.errors import SeqtasksError

    with pytest.raises(SeqtasksError, match="resume"):
        seqtasks.train(tiny_recipe(), data=synthetic_dataset(), output=out)

    monkeypatch.setattr(DevMetric, "on_epoch_begin", original)
    run = seqtasks.train(tiny_recipe(), data=synthetic_dataset(), output=out, resume=True)
    assert run.directory == out and out.is_dir() and not partial.exists()
    assert (out / "model.keras").is_file()
    assert run.metrics["epochs_run"] == 3
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == 3
    assert run.metrics["test"]["accuracy"] >= 0.9


def test_resume_keeps_patience_and_best_epoch(tmp_path, monkeypatch):
    """Early-stopping state survives an interruption: with patience 2 and dev
    scores 0.9, 0.5 | 0.4 (interrupted after epoch 2), the resumed run stops
    after epoch 3 and keeps epoch 1 as its best, as an uninterrupted run would
    (restarting patience would run to epoch 5 and keep epoch 3)."""
    from seqtasks.training.callbacks import DevMetric

    scores = iter([0.9, 0.5, 0.4, 0.3, 0.2])

    def fake_metric(self, epoch, logs=None):
        logs[self.name] = next(scores)

    def stop_at_third_epoch(self, epoch, logs=None):
        if epoch == 2:
            raise Interrupted("killed")

    monkeypatch.setattr(DevMetric, "on_epoch_end", fake_metric)
    monkeypatch.setattr(DevMetric, "on_epoch_begin", stop_at_third_epoch)
    recipe = tiny_recipe(epochs=5, early_stopping_patience=2)
    out = tmp_path / "run"
    with pytest.raises(Interrupted):
        seqtasks.train(recipe, data=synthetic_dataset(), output=out)
    monkeypatch.setattr(DevMetric, "on_epoch_begin", lambda self, epoch, logs=None: None)
    run = seqtasks.train(recipe, data=synthetic_dataset(), output=out, resume=True)
    assert run.metrics["epochs_run"] == 3
    assert run.metrics["best_epoch"] == 1
    assert json.loads((out / "history.json").read_text())["val_accuracy"] == [0.9, 0.5, 0.4]


def test_training_state_saves_and_restores_everything(tmp_path):
    """TrainingState brings back weights, optimizer (step, moments, EMA,
    learning rate), dropout seed-generator state, callback state and the
    data order, on a fresh model built the same way."""
    import keras
    import numpy as np

    from seqtasks.data.batching import Batches
    from seqtasks.training.resume import TrainingState

    def build():
        keras.utils.set_random_seed(3)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dropout(0.5), keras.layers.Dense(2)])
        model.compile(keras.optimizers.Adam(use_ema=True, ema_momentum=0.5), "mse")
        return model

    model = build()
    x, y = np.random.default_rng(0).random((8, 3)), np.zeros((8, 2))
    model.fit(x, y, epochs=2, verbose=0)
    model.optimizer.learning_rate = 5e-4  # as a plateau cut would
    stopping = keras.callbacks.EarlyStopping("val_f1", mode="max", patience=5, restore_best_weights=True)
    plateau = keras.callbacks.ReduceLROnPlateau("val_f1", mode="max", patience=2)
    stopping.best, stopping.best_epoch, stopping.wait = 0.9, 1, 2
    stopping.best_weights = [np.full_like(w, 7.0) for w in model.get_weights()]
    plateau.best, plateau.wait, plateau.cooldown_counter = 0.9, 1, 0
    batches = Batches({"token_ids": [np.array([2, 3])], "labels": [np.array([0, 1])]}, 1, shuffle=True)
    state = TrainingState(tmp_path, batches, [stopping, plateau])
    state.set_model(model)
    state._fit_start = 0.0
    state._write(4, seconds=12.5)
    saved = [keras.ops.convert_to_numpy(v) for v in state._variables()]
    assert any("seed_generator" in v.path for v in state._variables())

    fresh, batches2 = build(), Batches({"token_ids": [np.array([2, 3])], "labels": [np.array([0, 1])]}, 1,
                                       shuffle=True)
    stopping2 = keras.callbacks.EarlyStopping("val_f1", mode="max", patience=5, restore_best_weights=True)
    plateau2 = keras.callbacks.ReduceLROnPlateau("val_f1", mode="max", patience=2)
    state2 = TrainingState(tmp_path, batches2, [stopping2, plateau2])
    assert state2.restore(fresh) == 4 and batches2._epoch == 4 and state2.train_seconds == 12.5
    for callback in (stopping2, plateau2, state2):
        callback.set_model(fresh)
        callback.on_train_begin()  # resets them; TrainingState, last, puts the saved state back
    assert (stopping2.best, stopping2.best_epoch, stopping2.wait) == (0.9, 1, 2)
    assert (plateau2.best, plateau2.wait) == (0.9, 1)
    for got, want in zip(stopping2.best_weights, stopping.best_weights):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(state2._variables(), saved):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(got), want)
    assert float(keras.ops.convert_to_numpy(fresh.optimizer.learning_rate)) == pytest.approx(5e-4)
    # Only the latest epoch's files are kept.
    assert sorted(p.name for p in (tmp_path / "resume").iterdir()) == ["best-0-4.npz", "state.json",
                                                                        "variables-4.npz"]


def test_a_resumed_run_keeps_its_time_budget(tmp_path):
    """`train.time_limit_minutes` is the run's budget: a run resumed after 100
    of its 105 minutes stops after its next epoch instead of training for
    another 105 minutes (the state written by TrainingState carries the time)."""
    import keras
    import numpy as np

    from seqtasks.data.batching import Batches
    from seqtasks.training.callbacks import TimeLimit
    from seqtasks.training.resume import TrainingState

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("adam", "mse")
    x, y = np.zeros((8, 3)), np.zeros((8, 2))
    batches = Batches({"token_ids": [np.array([2, 3])], "labels": [np.array([0, 1])]}, 1, shuffle=True)
    fresh = TimeLimit(105)
    model.fit(x, y, epochs=5, verbose=0, callbacks=[fresh])
    assert fresh.stopped_epoch is None  # a new run: 5 quick epochs within 105 minutes
    for directory in (tmp_path / "a", tmp_path / "b"):  # the state of a run killed after epoch 2
        state = TrainingState(directory, batches, [])
        state.set_model(model)
        state._fit_start = 0.0
        state._write(2, seconds=100 * 60.0)


    limit, resumed = TimeLimit(105), TrainingState(tmp_path / "a", batches, [])
    resumed.callbacks = [limit]
    assert resumed.restore(model) == 2
    model.fit(x, y, initial_epoch=2, epochs=5, verbose=0, callbacks=[limit, resumed])
    assert limit.seconds_before == 6000.0
    assert limit.stopped_epoch is None  # 100 of 105 minutes spent: still under budget
    limit, resumed = TimeLimit(99), TrainingState(tmp_path / "b", batches, [])
    resumed.callbacks = [limit]
    assert resumed.restore(model) == 2
    model.fit(x, y, initial_epoch=2, epochs=5, verbose=0, callbacks=[limit, resumed])
    assert limit.stopped_epoch == 3  # over budget: stops after the first resumed epoch


def test_ema_weights_are_scored_kept_and_saved(tmp_path):
    """With train.ema_momentum the dev metric, the best weights and the saved
    model all use the averaged weights: the reported dev score is the best
    epoch's, and the run directory holds the weights once (model.keras)."""
    import keras
    import numpy as np

    recipe = tiny_recipe(epochs=4, ema_momentum=0.9, learning_rate=0.05)
    run = seqtasks.train(recipe, data=synthetic_dataset(), output=tmp_path / "run")
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert run.metrics["validation"]["accuracy"] == pytest.approx(max(history["val_accuracy"]), abs=1e-6)
    assert run.metrics["test"]["accuracy"] >= 0.9
    loaded = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert sorted(p.name for p in (tmp_path / "run").rglob("*.h5")) == []
    assert not (tmp_path / "run" / "checkpoints").exists() and not (tmp_path / "run" / "resume").exists()
    # The weights being trained are the same with and without EMA (same seed);
    # the kept ones must be their average, not the last or best raw weights.
    plain = seqtasks.train(tiny_recipe(epochs=4, learning_rate=0.05), data=synthetic_dataset(),
                           output=tmp_path / "plain")
    raw = keras.saving.load_model(plain.directory / "model.keras").get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(loaded.get_weights(), raw))


def test_ema_swap_leaves_every_variable_readable_after_more_steps(tmp_path):
    """After `fit` with EMA the model's weights and the optimizer's averages are
    separate arrays: a JAX step donates the model's arrays, and an average that
    shared one (Keras' `assign` by reference) became "Array has been deleted"
    when the resume state or `model.save` read it. On TensorFlow it must hold too."""
    import keras
    import numpy as np

    from seqtasks.training.ema import SwapEMAWeights

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(2)])
    model.compile(keras.optimizers.Adam(0.05, use_ema=True, ema_momentum=0.5), "mse")
    x, y = np.random.default_rng(0).random((32, 3)), np.random.default_rng(1).random((32, 2))
    model.fit(x, y, batch_size=8, epochs=2, validation_data=(x, y), verbose=0,
              callbacks=[SwapEMAWeights(swap_on_epoch=True)])
    averages = model.optimizer._model_variables_moving_average
    # The averages were copied into the model at the end of fit (finalize_variable_values).
    for weight, average in zip(model.trainable_weights, averages):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(weight), keras.ops.convert_to_numpy(average))
    want = model.predict(x, verbose=0)  # on JAX: donates the model's arrays
    model.evaluate(x, y, verbose=0)
    for variable in [*model.weights, *model.optimizer.variables]:
        assert np.isfinite(keras.ops.convert_to_numpy(variable)).all(), variable.path
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "m.keras").predict(x, verbose=0), want,
                               rtol=1e-6, atol=1e-6)


def test_ema_run_evaluates_saves_and_loads_the_same(tmp_path):
    """A run with `train.ema_momentum` (the POS recipe has it) trains, and its
    run directory reloads to the same test score and the same tags, on either
    back end (on JAX it had failed while saving the resume state)."""
    recipe = tiny_recipe(epochs=2, ema_momentum=0.9)
    data = synthetic_dataset((48, 16, 16))
    run = seqtasks.train(recipe, data=data, output=tmp_path / "run")
    loaded = seqtasks.load(run.directory)
    assert loaded.evaluate("test", data=data)["accuracy"] == pytest.approx(run.metrics["test"]["accuracy"],
                                                                          abs=1e-9)
    sentences = ["the cat sees a dog .", "a big bird likes every tree !"]
    first = loaded.predict(sentences)
    assert [len(r["tags"]) for r in first] == [6, 7]
    assert seqtasks.load(run.directory).predict(sentences) == first
    assert loaded.predict(sentences) == first  # again after JAX donated the loaded model's arrays


def test_given_data_replaces_the_recipes_card(tmp_path):
    """`train(recipe, data=...)` trains on the given data even when the recipe
    names a card (every shipped recipe does), and the saved recipe no longer
    names it: the run never read it."""
    recipe = tiny_recipe(epochs=1)
    recipe["data"] = {"card": "ud_english_ewt", "reader": {"tag_column": "upos"}}
    data = synthetic_dataset((48, 16, 16))
    run = seqtasks.train(recipe, data=data, output=tmp_path / "run")
    assert run.recipe.data.card is None
    assert yaml.safe_load((tmp_path / "run" / "recipe.yaml").read_text())["data"]["card"] is None
    assert sorted(run.load().preprocessor.labels) == sorted(data["train"].features["tags"].feature.names)
    assert run.load().evaluate("test", data=data)["accuracy"] == pytest.approx(run.metrics["test"]["accuracy"])


def test_crf_head_without_span_scheme(tmp_path):
    # The POS recipe's head: a CRF over tags that are not spans, so no
    # transition is forbidden and the tags are decoded by Viterbi as they are.
    recipe = tiny_recipe(epochs=4)
    recipe["model"]["head"] = {"kind": "crf"}
    run = seqtasks.train(recipe, data=synthetic_dataset(), output=tmp_path / "run")
    assert run.recipe.data.scheme is None
    assert run.metrics["test"]["accuracy"] >= 0.9
    model = run.load()
    crf = model.model.get_layer("crf")
    assert (crf.allowed_start, crf.allowed_transitions, crf.allowed_end) == (None, None, None)
    assert model.predict("the big dog likes a car .")[0]["tags"] == ["DET", "ADJ", "NOUN", "VERB",
                                                                       "DET", "NOUN", "PUNCT"]
    inputs = ["the zebra sees a cat .", ["old", "unknownword"]]
    assert seqtasks.load(run.directory).predict(inputs) == model.predict(inputs)
    assert model.evaluate("test", data=synthetic_dataset())["accuracy"] == run.metrics["test"]["accuracy"]
