"""The registry: every table entry loads, unknown names list the known ones, and
a new encoder or head is one class plus one table entry (registered here, in
the test, without touching any other module)."""

import keras
import pytest
from test_components import TAGS, tagging_data

import seqtasks
from seqtasks import registry
from seqtasks.errors import RecipeError
from seqtasks.tasks.model import Head

TABLES = {name: getattr(registry, name) for name in
          ("UNITS", "ENCODERS", "CHAR_FEATURES", "POOLING", "OPTIMIZERS", "LR_SCHEDULES", "REGULARIZERS")}
ENTRIES = [(table, name) for table, entries in TABLES.items() for name in entries]
ENTRIES += [(f"HEADS[{kind}]", name) for kind, heads in registry.HEADS.items() for name in heads]


def _table(label):
    if label.startswith("HEADS["):
        return registry.HEADS[label[len("HEADS["):-1]]
    return TABLES[label]


@pytest.mark.parametrize("table, name", ENTRIES, ids=[f"{t}-{n}" for t, n in ENTRIES])
def test_every_entry_resolves(table, name):
    component = registry.resolve(_table(table), name)
    if name == "none" and table != "LR_SCHEDULES":
        assert component is None  # "none" builds nothing
    else:
        assert callable(component), (table, name, component)


def test_every_task_has_a_kind_with_heads():
    for task, kind_name in registry.TASKS.items():
        kind = registry.task_kind(task)
        assert kind.name == kind_name and kind.name in registry.HEADS
        assert kind.columns and kind.preprocessor_class is not None


def test_unknown_names_list_the_known_ones():
    with pytest.raises(RecipeError) as info:
        registry.resolve(registry.ENCODERS, "transformer", "model.encoder.kind")
    assert str(info.value) == f"unknown model.encoder.kind 'transformer'; known: {', '.join(registry.ENCODERS)}"
    assert str(info.value).startswith("unknown model.encoder.kind 'transformer'; known: simple_rnn, lstm, gru")
    with pytest.raises(RecipeError) as info:
        registry.resolve(registry.HEADS["tagging"], "classifier", "model.head.kind")
    assert str(info.value) == f"unknown model.head.kind 'classifier'; known: {', '.join(registry.HEADS['tagging'])}"
    assert {"softmax", "crf"} <= set(registry.HEADS["tagging"])
    with pytest.raises(RecipeError) as info:
        registry.resolve(registry.POOLING, "sum")
    assert str(info.value) == "unknown component 'sum'; known: last, mean, max, attention"
    with pytest.raises(RecipeError) as info:
        registry.task_kind("parsing")
    assert str(info.value) == f"unknown task 'parsing'; known: {', '.join(registry.TASKS)}"
    assert str(info.value).startswith("unknown task 'parsing'; known: tagging, classification")
    # the recipe checks name the key and list the same names
    with pytest.raises(RecipeError) as info:
        seqtasks.Recipe.from_dict({"model": {"encoder": {"kind": "transformer"}}})
    assert str(info.value) == (f"recipe: unknown model.encoder.kind 'transformer'; "
                               f"known: {', '.join(registry.ENCODERS)}")


# -- a toy encoder and a toy head, added from the test only -----------------------------------


class MeanEncoder:
    """A toy encoder: one Dense layer per token, built from the encoder block."""

    def __init__(self, units=8, name="encoder", **unused):
        self.units = units
        self.name = name

    def __call__(self, x, mask):
        return keras.layers.Dense(self.units, activation="tanh", name=f"{self.name}_toy")(x)


class ArgmaxHead(Head):
    """A toy tagging head: per-token logits, decoded by argmax (the compiled
    cross-entropy of `Head`, weighted by the padding)."""

    def __init__(self, num_labels, hidden=0, dropout=0.0, bidirectional=True, **unused):
        super().__init__(num_labels, hidden, dropout, bidirectional)

    def __call__(self, sequence, mask):
        return keras.layers.Dense(self.num_labels, dtype="float32", name="toy_tags")(sequence)

    def decode(self, model, outputs, mask):
        return keras.ops.cast(keras.ops.argmax(outputs, axis=-1), "int32")


def toy_recipe(encoder="toy", head="softmax"):
    return {"name": "toy", "task": "tagging",
            "model": {"embedding": {"dim": 8}, "encoder": {"kind": encoder, "units": 6},
                      "head": {"kind": head}},
            "train": {"epochs": 1, "batch_size": 4, "verbose": 0},
            "evaluate": {"plots": False}}


def _train_and_predict(tmp_path, recipe):
    run = seqtasks.train(recipe, data=tagging_data(), output=tmp_path / "run")
    assert 0.0 <= run.metrics["test"]["accuracy"] <= 1.0 and run.metrics["epochs_run"] == 1
    model = seqtasks.load(run.directory)
    result = model.predict("The cat sat .")
    assert result == model.predict([["The", "cat", "sat", "."]])
    assert len(result[0]["tags"]) == 4 and set(result[0]["tags"]) <= set(TAGS)
    return model


def test_a_registered_encoder_trains_saves_and_predicts(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.ENCODERS, "toy", lambda: MeanEncoder)
    model = _train_and_predict(tmp_path, toy_recipe(encoder="toy"))
    backbone = model.model.get_layer("backbone")
    names = [layer.name for layer in backbone.layers]
    assert "encoder_toy" in names, names
    assert not any(isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional)) for layer in backbone.layers)
    assert backbone.encoder == {**model.recipe.model.encoder.__dict__, "kind": "toy"}
    assert backbone.output.shape[-1] == 6


def test_a_registered_head_trains_saves_and_predicts(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.HEADS["tagging"], "argmax", lambda: ArgmaxHead)
    model = _train_and_predict(tmp_path, toy_recipe(encoder="gru", head="argmax"))
    assert model.model.head == "argmax"
    assert "toy_tags" in [layer.name for layer in model.model.layers]
