"""Recipe validation: defaults, YAML files, errors that name the key, overrides, round trip."""

from pathlib import Path

import pytest
import yaml

from seqtasks.errors import RecipeError
from seqtasks.config.recipe import Recipe

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))


def write(tmp_path, text, name="r.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_fill_in():
    recipe = Recipe.from_dict({"name": "x", "model": {"encoder": {"kind": "gru"}}})
    assert recipe.name == "x"
    assert recipe.task == "tagging"
    assert recipe.model.encoder.kind == "gru"
    # Siblings of a given key keep their defaults.
    assert recipe.model.encoder.units == 128
    assert recipe.model.encoder.bidirectional is True
    assert recipe.model.char_features.kind == "none"
    assert recipe.train.epochs == 30
    assert recipe.evaluate.splits == ["validation", "test"]
    # An int given for a float key becomes a float.
    assert isinstance(Recipe.from_dict({"train": {"learning_rate": 1}}).train.learning_rate, float)


def test_empty_recipe_is_all_defaults():
    assert Recipe.from_dict({}) == Recipe()


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_every_shipped_recipe_loads(path):
    recipe = Recipe.from_yaml(path)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert recipe.name == raw["name"]
    assert recipe.task == raw["task"]


def test_shipped_recipes_exist():
    assert any(p.name == "pos_ud_ewt_bilstm.yaml" for p in RECIPES)


def test_unknown_key_suggests_nearest(tmp_path):
    path = write(tmp_path, "name: x\ntrian: {epochs: 3}\n")
    with pytest.raises(RecipeError) as info:
        Recipe.from_yaml(path)
    message = str(info.value)
    assert str(path) in message
    assert "'trian'" in message
    assert "did you mean 'train'" in message
    assert "\n" not in message


def test_unknown_nested_key_names_full_path(tmp_path):
    path = write(tmp_path, "model:\n  encoder: {unitz: 3}\n")
    with pytest.raises(RecipeError, match=r"model\.encoder\.unitz.*did you mean 'units'"):
        Recipe.from_yaml(path)


def test_wrong_type_names_the_key(tmp_path):
    path = write(tmp_path, "train:\n  epochs: ten\n")
    with pytest.raises(RecipeError) as info:
        Recipe.from_yaml(path)
    message = str(info.value)
    assert "train.epochs" in message and "'ten'" in message and "integer" in message
    assert str(path) in message


@pytest.mark.parametrize("text, key", [
    ("model: {encoder: {bidirectional: 3}}", "model.encoder.bidirectional"),
    ("train: {learning_rate: fast}", "train.learning_rate"),
    ("model: {encoder: {units: 1.5}}", "model.encoder.units"),
    ("model: 3", "model"),
])
def test_other_wrong_types(text, key):
    with pytest.raises(RecipeError, match=key.replace(".", r"\.")):
        Recipe.from_dict(yaml.safe_load(text))


def test_unknown_component_lists_known(tmp_path):
    path = write(tmp_path, "model:\n  encoder: {kind: transformer}\n")
    with pytest.raises(RecipeError) as info:
        Recipe.from_yaml(path)
    message = str(info.value)
    assert "model.encoder.kind" in message and "transformer" in message
    for known in ("simple_rnn", "lstm", "gru"):
        assert known in message


@pytest.mark.parametrize("values, key, known", [
    ({"model": {"char_features": {"kind": "cnnn"}}}, "model.char_features.kind", "bilstm"),
    ({"model": {"head": {"kind": "classifier"}}}, "model.head.kind", "crf"),
    ({"task": "classification", "model": {"head": {"kind": "classifier", "pooling": "sum"}}},
     "model.head.pooling", "attention"),
    ({"train": {"optimizer": "adamax"}}, "train.optimizer", "adamw"),
    ({"task": "parsing"}, "task", "tagging"),
])
def test_other_unknown_components(values, key, known):
    with pytest.raises(RecipeError) as info:
        Recipe.from_dict(values)
    assert key in str(info.value) and known in str(info.value)


@pytest.mark.parametrize("momentum", [0.0, 1.0, 1.5])
def test_ema_momentum_out_of_range(momentum):
    with pytest.raises(RecipeError) as info:
        Recipe.from_dict({"train": {"ema_momentum": momentum}})
    assert str(info.value) == f"recipe: 'train.ema_momentum' must be in (0, 1), found {momentum}"


def test_non_mapping_yaml_and_bad_yaml(tmp_path):
    with pytest.raises(RecipeError, match="mapping"):
        Recipe.from_yaml(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(RecipeError, match=r"bad\.yaml:\d+: not valid YAML"):
        Recipe.from_yaml(write(tmp_path, "name: [x\ntask: y\n", "bad.yaml"))
    with pytest.raises(RecipeError, match="not found"):
        Recipe.from_yaml(tmp_path / "missing.yaml")


def test_overrides_apply(tmp_path):
    path = write(tmp_path, "name: x\ntrain: {epochs: 3}\n")
    recipe = Recipe.from_yaml(path, overrides=[
        "train.epochs=7", "model.encoder.kind=gru", "data.limit.train=500",
        "data.limit.test=20", "model.encoder.bidirectional=false", "train.clipnorm=null"])
    assert recipe.train.epochs == 7
    assert recipe.model.encoder.kind == "gru"
    assert recipe.data.limit == {"train": 500, "test": 20}
    assert recipe.model.encoder.bidirectional is False
    assert recipe.train.clipnorm is None


def test_override_nested_dict_keeps_other_entries():
    recipe = Recipe.from_dict({"data": {"limit": {"train": 100, "test": 10}}},
                              overrides=["data.limit.train=500"])
    assert recipe.data.limit == {"train": 500, "test": 10}


def test_override_unknown_key():
    with pytest.raises(RecipeError) as info:
        Recipe.from_dict({}, overrides=["train.epochz=3"])
    message = str(info.value)
    assert "train.epochz" in message and "did you mean 'epochs'" in message


@pytest.mark.parametrize("item, pattern", [
    ("modle.encoder.kind=gru", "did you mean 'model'"),
    ("train.epochs", "key=value"),
    ("train.epochs.deep=3", "not a section"),
    ("train.epochs=many", r"train\.epochs"),
    ("model.encoder.kind=transformer", "simple_rnn"),
])
def test_bad_overrides(item, pattern):
    with pytest.raises(RecipeError, match=pattern):
        Recipe.from_dict({}, overrides=[item])


def test_yaml_round_trip(tmp_path):
    recipe = Recipe.from_dict({"name": "rt", "data": {"card": "ud_english_ewt", "limit": {"train": 5}},
                               "model": {"char_features": {"kind": "cnn"}, "encoder": {"kind": "gru"}}})
    text = recipe.to_yaml()
    again = Recipe.from_yaml(write(tmp_path, text))
    assert again == recipe
    assert again.to_yaml() == text
    # Every default is written out.
    assert "early_stopping_patience:" in text and "max_word_length:" in text


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_shipped_recipe_round_trip(path, tmp_path):
    recipe = Recipe.from_yaml(path)
    assert Recipe.from_yaml(write(tmp_path, recipe.to_yaml())) == recipe
