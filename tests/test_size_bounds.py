"""Size bounds (issue 25 item 7): long training examples are split or refused
with the count reported, model files are opened only when they are regular
files of a bounded size, and `predict` prints its output in chunks."""

import json

import numpy as np
import pytest
from test_pos_pipeline import synthetic_dataset, tiny_recipe

import seqtasks
from seqtasks import cli
from seqtasks.config.recipe import Recipe
from seqtasks.data.lengths import split_long_examples
from seqtasks.errors import DataError, RecipeError, SeqtasksError
from seqtasks.run_dir import check_run_dir


def test_long_tagging_examples_are_split_with_their_labels():
    encoded = {"token_ids": [np.arange(1, 8), np.array([3, 4])], "char_ids": None,
               "labels": [np.arange(10, 17), np.array([0, 1])]}
    out, count = split_long_examples(encoded, 3, per_token=True)
    assert count == 1
    assert [list(t) for t in out["token_ids"]] == [[1, 2, 3], [4, 5, 6], [7], [3, 4]]
    assert [list(t) for t in out["labels"]] == [[10, 11, 12], [13, 14, 15], [16], [0, 1]]
    assert out["char_ids"] is None
    same, none = split_long_examples(encoded, 7, per_token=True)
    assert none == 0 and same is encoded


def test_long_classification_examples_are_refused_with_the_count():
    encoded = {"token_ids": [np.arange(5), np.arange(9), np.arange(12)], "labels": np.array([0, 1, 0])}
    with pytest.raises(DataError, match=r"train: example 2 has 9 tokens, more than data.max_length=8 "
                                        r"\(2 such examples\)"):
        split_long_examples(encoded, 8, per_token=False)


@pytest.mark.parametrize("value", [0, -1, 2.5, "long"])
def test_bad_max_length_is_a_recipe_error(value):
    with pytest.raises(RecipeError, match=r"'data.max_length' must be (a whole number|an integer)"):
        Recipe.from_dict({**tiny_recipe(), "data": {"max_length": value}})


def test_training_splits_a_long_sentence_and_reports_it(tmp_path):
    import datasets

    data = synthetic_dataset()
    train = data["train"]
    # One sentence of 400 tokens among 7-token ones: cut into pieces of 50.
    long_row = {"tokens": (train[0]["tokens"] * 60)[:400], "tags": (train[0]["tags"] * 60)[:400]}
    data["train"] = datasets.concatenate_datasets(
        [train, datasets.Dataset.from_dict({k: [v] for k, v in long_row.items()}, features=train.features)])
    recipe = tiny_recipe(epochs=1)
    recipe["data"] = {"max_length": 50}
    run = seqtasks.train(recipe, data=data, output=tmp_path / "run")
    assert run.metrics["long_examples_split"] == 1


def fake_run_dir(tmp_path, model):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("preprocessor.json", "recipe.yaml"):
        (run / name).write_text("{}")
    (run / "model.keras").symlink_to(model) if isinstance(model, str) else (run / "model.keras").write_bytes(model)
    return run


def test_a_model_file_linked_to_a_device_is_refused(tmp_path):
    run = fake_run_dir(tmp_path, "/dev/zero")
    with pytest.raises(SeqtasksError, match=r"model.keras: not a regular file"):
        check_run_dir(run)


def test_a_model_file_above_the_bound_is_refused(tmp_path, monkeypatch):
    run = fake_run_dir(tmp_path, b"0" * 2000)
    monkeypatch.setenv("SEQTASKS_MAX_MODEL_BYTES", "1000")
    with pytest.raises(SeqtasksError, match=r"model.keras: 2,000 bytes, more than the 1,000"):
        check_run_dir(run)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    return seqtasks.train(tiny_recipe(epochs=1), data=synthetic_dataset(),
                          output=tmp_path_factory.mktemp("size") / "run").directory


@pytest.mark.parametrize("fmt", ["text", "conll", "json"])
def test_predict_output_in_chunks_equals_one_piece(small_run, tmp_path, monkeypatch, capsys, fmt):
    source = tmp_path / "input.txt"
    source.write_text("".join(f"the {'big ' * (i % 3)}dog sees a cat .\n" for i in range(7)))
    outputs = []
    for chunk in (10**6, 3):
        monkeypatch.setattr(cli, "PREDICT_CHUNK", chunk)
        assert cli.main(["predict", str(small_run), "--input", str(source), "--format", fmt]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    if fmt == "json":
        assert len([json.loads(line) for line in outputs[1].splitlines()]) == 7
