"""The JAX back end beside TensorFlow: every shipped recipe trains, evaluates and
predicts on JAX; JAX runs never import TensorFlow; a run directory saved on one
back end predicts the same on the other; TensorFlow-only extras refuse JAX
with one line; the recurrent layers of every recipe stay cuDNN-eligible.

The fast suite runs twice in CI (`KERAS_BACKEND=tensorflow`, then `jax`), so a
test here is either meaningful on both or marked with the back end it needs.
"""

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import REPO, SUBPROCESS_TIMEOUT, jax_env, run_cli
from test_pos_pipeline import synthetic_dataset, tiny_recipe

import seqtasks
from seqtasks.config.recipe import Recipe
from seqtasks.encoders.cudnn import cudnn_problems, warn_if_not_cudnn_eligible
from seqtasks.errors import RecipeError

BACKEND = keras.backend.backend()
OTHER = {"tensorflow": "jax", "jax": "tensorflow"}[BACKEND]
RECIPES = sorted((REPO / "recipes").glob("*.yaml"))

# A few dozen examples and one epoch: the recipe's own layers (kinds, heads,
# features, regularisers), narrowed to 32 units so that the JAX pass is about
# compiling them, not computing with 650-unit layers over a 10k vocabulary.
TINY = ["data.limit.train=48", "data.limit.validation=16", "data.limit.test=16", "train.epochs=1",
        "train.verbose=0", "train.threads=1", "evaluate.plots=false", "train.time_limit_minutes=null",
        "model.embedding.dim=32", "model.encoder.units=32"]
# Language-model recipes: a tiny stream instead (their limits count tokens/characters).
TINY_LM = ["data.limit.train=300", "data.limit.validation=40", "data.limit.test=40"]


def python_on(backend, script, *args, env=None, timeout=SUBPROCESS_TIMEOUT):
    """Runs `script` with `python -c` on `backend`, this checkout importable."""
    base = jax_env() if backend == "jax" else dict(os.environ, KERAS_BACKEND=backend)
    full = dict(base, TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
    # The checkout first, then the caller's path (env's, e.g. tests/, or this process's).
    full["PYTHONPATH"] = os.pathsep.join([str(REPO), full.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script), *map(str, args)], env=full,
                          capture_output=True, text=True, timeout=timeout)


def importable(module):
    result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True)
    return result.returncode == 0


def tiny_overrides(path):
    """TINY for the recipe at `path`, limiting only the splits its data card has."""
    from seqtasks.data.cards import load_card

    recipe = Recipe.from_yaml(path)
    splits = load_card(recipe.data.card).splits
    limits = TINY_LM if recipe.task == "language_model" else TINY[:3]
    return [x for x in limits if x.split("=")[0].rsplit(".", 1)[1] in splits] + TINY[3:]


# -- every shipped recipe on JAX ----------------------------------------------------------------


def tiny_text(path):
    """For a recipe whose splits are one long text each (tiny Shakespeare), the
    first characters of each (`data.limit` counts examples); else None."""
    from seqtasks import registry
    from seqtasks.data.sources import load_data

    recipe = Recipe.from_yaml(path)
    kind = registry.task_kind(recipe.task)
    if recipe.task != "language_model":
        return None
    dataset = load_data(recipe.data, kind.columns, kind.label_columns)
    if any(len(split) > 1 for split in dataset.values()):
        return None
    # two training steps of the recipe's batch of windows, a few for scoring
    size = {"train": 2 * recipe.train.batch_size * recipe.train.bptt_window + 1}
    return type(dataset)({name: split.map(lambda row: {"text": row["text"][: size.get(name, 3000)]})
                          for name, split in dataset.items()})


# Input in each task kind's own form, for `use_as_intended`.
TAGGER_TOKENS = ["the", "cat", "sat", "."]
# Token features a recipe reads beside the words (`data.features`), for the tokens above.
TOKEN_FEATURES = {"pos": ["DT", "NN", "VBD", "."]}
SOURCE_TEXT = {"de": "ein mann fährt fahrrad .", "en": "a man rides a bike ."}


def use_as_intended(loaded, recipe):
    """Uses a loaded run the way its task kind is used: a tagger tags (given the
    token features it was trained with), a classifier classifies, a translator
    translates, a language model generates (given a class when it is
    conditioned on one)."""
    kind = loaded.kind.name
    if kind == "language_model":
        condition = loaded.preprocessor.labels[0] if recipe.data.condition else None
        samples = loaded.generate(num=2, max_length=5, seed=1, condition=condition)
        assert len(samples) == 2 and all(isinstance(s, str) for s in samples)
    elif kind == "translation":
        text = SOURCE_TEXT[recipe.data.languages["source"]]
        result = loaded.translate([text], beam=2)
        assert len(result) == 1 and result[0]["source"] == text and isinstance(result[0]["translation"], str)
    elif kind == "tagging":
        missing = set(recipe.data.features) - set(TOKEN_FEATURES)
        assert not missing, f"add example values of {missing} to TOKEN_FEATURES"
        item = {"tokens": TAGGER_TOKENS, **{name: TOKEN_FEATURES[name] for name in recipe.data.features}}
        result = loaded.predict([item] if recipe.data.features else [TAGGER_TOKENS])
        assert len(result) == 1 and len(result[0]["tags"]) == len(TAGGER_TOKENS)
        assert set(result[0]["tags"]) <= set(loaded.preprocessor.labels)
    else:
        assert kind == "classification", kind
        result = loaded.predict(["a fine film"])
        assert len(result) == 1 and result[0]["label"] in loaded.preprocessor.labels


@pytest.mark.jax_only(reason="the recipes' trainings on TensorFlow are the rest of the suite and benchmarks/")
@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_every_recipe_trains_evaluates_predicts_on_jax(path, data_root, tmp_path):
    tiny = tiny_text(path)
    overrides = tiny_overrides(path)
    if Recipe.from_yaml(path).train.regularizer.kind == "virtual_adversarial":
        # TensorFlow only (it takes gradients with tf.GradientTape): on JAX the
        # recipe is refused in one line naming the key, before anything is
        # written; the rest of the recipe is then checked on JAX without it.
        with pytest.raises(RecipeError) as info:
            seqtasks.train(path, overrides=overrides, data=tiny, output=tmp_path / "refused")
        message = str(info.value)
        assert "\n" not in message and "train.regularizer" in message and "jax" in message
        assert not (tmp_path / "refused").exists() and not (tmp_path / "refused.partial").exists()
        overrides.append("train.regularizer.kind=none")
    run = seqtasks.train(path, overrides=overrides, data=tiny, output=tmp_path / "run")
    assert run.metrics["versions"]["backend"] == "jax"
    assert np.isfinite(run.history["loss"]).all()
    loaded = seqtasks.load(run.directory)
    split = "test" if "test" in run.metrics else "validation"
    again = loaded.evaluate(split, data=tiny)
    main = next(k for k, v in run.metrics[split].items() if isinstance(v, float))
    assert again[main] == pytest.approx(run.metrics[split][main], abs=1e-6)
    use_as_intended(loaded, run.recipe)


NO_TENSORFLOW = """
    import builtins, importlib, sys, traceback
    # A machine without TensorFlow (what the GPU machines are), from the start
    # (so that `datasets` too finds none): importing it raises
    # ModuleNotFoundError, and every attempt is noted with the file that made it.
    sys.modules["tensorflow"] = None
    attempts = []

    def note(name):
        if name.split(".")[0] == "tensorflow":
            frames = [f for f in traceback.extract_stack()[:-2] if not f.filename.startswith("<frozen")]
            attempts.append(frames[-1].filename)

    real_import, real_import_module = builtins.__import__, importlib.import_module

    def spy_import(name, *args, **kwargs):
        note(name)
        return real_import(name, *args, **kwargs)

    def spy_import_module(name, *args, **kwargs):
        note(name)
        return real_import_module(name, *args, **kwargs)

    builtins.__import__, importlib.import_module = spy_import, spy_import_module
    import seqtasks
    from test_pos_pipeline import synthetic_dataset, tiny_recipe
    assert not attempts, ("import seqtasks", attempts)
    run = seqtasks.train(tiny_recipe(epochs=2, ema_momentum=0.9), data=synthetic_dataset((48, 16, 16)),
                         output=sys.argv[1])
    seqtasks.load(run.directory).predict(["the cat sees a dog ."])
    ours = [f for f in attempts if "/seqtasks/" in f.replace("\\\\", "/")]
    assert not ours, ours
    import keras
    print("BACKEND", keras.backend.backend(), "NO_TENSORFLOW_OK")
"""


@pytest.mark.jax_only(reason="a subprocess on JAX; once per CI run is enough")
def test_jax_run_never_imports_tensorflow(tmp_path):
    """`import seqtasks` leaves TensorFlow unloaded, and a JAX run (train with
    EMA, save, load, predict) works where TensorFlow cannot be imported, with
    no import of it from seqtasks. (Keras 3.15 itself asks for TensorFlow
    whenever it is installed, in `set_random_seed` and `serialize_keras_object`,
    and takes ImportError as "not installed", so the run blocks the import
    rather than asserting on `sys.modules` after a run with it installed.)"""
    result = python_on("jax", NO_TENSORFLOW, tmp_path / "run", env={
        "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")])})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "BACKEND jax NO_TENSORFLOW_OK" in result.stdout


# -- a run directory across back ends -------------------------------------------------------------

PREDICT_ON_OTHER = """
    import json, sys
    import numpy as np
    import seqtasks
    import keras
    loaded = seqtasks.load(sys.argv[1])
    sentences = json.loads(sys.argv[2])
    tags = [r["tags"] for r in loaded.predict(sentences)]
    scores = loaded.kind.outputs(loaded.model, loaded.input_batches(*loaded.read_inputs(sentences)))
    print("RESULT", json.dumps({"backend": keras.backend.backend(), "tags": tags,
                                "scores": [np.asarray(s).tolist() for s in scores]}))
"""


@pytest.mark.parametrize("head", ["softmax", "crf"])
def test_run_directory_predicts_the_same_on_the_other_back_end(head, tmp_path):
    """Saved on this pass's back end, loaded on the other: the same tags and
    the same scores (float32 round-off). (The run trained on in-memory data,
    so the other process has no data source to evaluate.)"""
    if not importable(OTHER):
        pytest.skip(f"{OTHER} is not installed")
    recipe = tiny_recipe(epochs=2)
    recipe["model"].update({"head": {"kind": head},
                            "char_features": {"kind": "cnn", "embedding_dim": 8, "dim": 8}})
    run = seqtasks.train(recipe, data=synthetic_dataset((64, 16, 32)), output=tmp_path / "run")
    sentences = ["the big dog chases a cat .", "every bird finds this old tree !", "a car ."]
    here = seqtasks.load(run.directory)
    want_tags = [r["tags"] for r in here.predict(sentences)]
    want_scores = here.kind.outputs(here.model, here.input_batches(*here.read_inputs(sentences)))
    result = python_on(OTHER, PREDICT_ON_OTHER, run.directory, json.dumps(sentences))
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads(result.stdout.split("RESULT ", 1)[1])
    assert got["backend"] == OTHER
    assert got["tags"] == want_tags
    for a, b in zip(got["scores"], want_scores):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-4)


# -- TensorFlow-only extras refuse JAX -------------------------------------------------------------


@pytest.mark.jax_only(reason="virtual adversarial training runs on TensorFlow (tests/test_virtual_adversarial.py)")
def test_virtual_adversarial_refuses_jax_with_one_line(tmp_path):
    recipe = tiny_recipe(epochs=1, regularizer={"kind": "virtual_adversarial", "epsilon": 1.0})
    with pytest.raises(RecipeError) as info:
        seqtasks.train(recipe, data=synthetic_dataset((32, 8, 8)), output=tmp_path / "run")
    message = str(info.value)
    assert "\n" not in message and "train.regularizer" in message and "jax" in message
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


# -- cuDNN eligibility -------------------------------------------------------------------------------


def build_recipe_model(path, data_root, overrides=()):
    """The recipe's model, built on a tiny slice of its data (not trained)."""
    from seqtasks import registry
    from seqtasks.api import resolve_recipe
    from seqtasks.data.prepare import prepare_data
    from seqtasks.encoders.build import build_backbone

    recipe = resolve_recipe(path, [*tiny_overrides(path), *overrides])
    dataset, scheme, _ = prepare_data(recipe)
    kind = registry.task_kind(recipe.task)
    preprocessor = kind.preprocessor_class.from_recipe(recipe).fit(dataset["train"])
    backbone = build_backbone(recipe.model, preprocessor) if kind.uses_backbone else None
    return recipe, kind, dataset, preprocessor, kind.build_model(recipe, preprocessor, backbone, scheme)


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_every_recipe_keeps_cudnn_eligibility(path, data_root):
    """Every LSTM/GRU layer of every shipped recipe keeps the defaults cuDNN
    needs, and the recipe's batches are strictly right-padded with no empty row."""
    recipe, kind, dataset, preprocessor, model = build_recipe_model(path, data_root)
    from seqtasks.encoders.cudnn import recurrent_layers

    layers = recurrent_layers(model)
    if recipe.model.encoder.kind in ("lstm", "gru"):
        assert layers, "no recurrent layer found"
        assert {type(x).__name__ for x in layers} >= {recipe.model.encoder.kind.upper()}
    assert cudnn_problems(model) == []
    encoded = preprocessor.encode_split(dataset["train"], "train")
    batches = kind.batches(encoded, recipe, training=True)
    for i, batch in enumerate(batches.dataset()):
        mask = np.asarray(batch[0]["padding_mask"]).astype(bool)
        lengths = mask.sum(axis=1)
        assert (lengths > 0).all()  # no all-padding row
        np.testing.assert_array_equal(mask, np.arange(mask.shape[1])[None, :] < lengths[:, None])  # right-padded
        if i == 3:
            break


def test_recurrent_dropout_loses_cudnn_and_training_warns(tmp_path, caplog):
    recipe = tiny_recipe(epochs=1)
    recipe["model"]["encoder"]["recurrent_dropout"] = 0.1
    with caplog.at_level(logging.WARNING, logger="seqtasks"):
        seqtasks.train(recipe, data=synthetic_dataset((32, 8, 8)), output=tmp_path / "run")
    warnings = [r.getMessage() for r in caplog.records if "cuDNN kernel on GPU (several" in r.getMessage()]
    assert len(warnings) == 1
    assert "recurrent_dropout is 0.1, cuDNN needs 0.0" in warnings[0]


def test_cudnn_problems_name_each_setting():
    inputs = keras.Input((None, 4))
    x = keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True, activation="relu"))(inputs)
    x = keras.layers.GRU(3, reset_after=False, unroll=True, use_bias=False)(x)
    problems = cudnn_problems(keras.Model(inputs, x))
    assert sum("activation is 'relu', cuDNN needs 'tanh'" in p for p in problems) == 2  # both directions
    assert any("reset_after is False" in p for p in problems)
    assert any("unroll is True" in p for p in problems) and any("use_bias is False" in p for p in problems)
    assert warn_if_not_cudnn_eligible(keras.Model(inputs, keras.layers.LSTM(3)(inputs)), Recipe()) == []
