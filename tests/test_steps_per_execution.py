"""`train.steps_per_execution`: several training steps per call of Keras'
compiled train function give the same training as one step per call."""

import json

import keras
import numpy as np
import pytest

import seqtasks
from seqtasks.config.recipe import Recipe, RecipeError
from seqtasks.training.fit import steps_per_execution
from test_pos_pipeline import synthetic_dataset, tiny_recipe


def test_several_steps_per_call_train_as_one_step_per_call(tmp_path, monkeypatch):
    # 160 sentences in batches of 16: 10 steps an epoch, so 4 steps a call leaves a
    # call of 2 at the end of each epoch. EMA and dropout make the step's state
    # (averages, random seeds) part of what must carry across the steps of a call.
    recipe = tiny_recipe(epochs=2, ema_momentum=0.9)
    recipe["model"]["encoder"]["dropout"] = 0.2
    runs, calls = {}, []
    count = keras.callbacks.TerminateOnNaN.on_batch_end  # in every run's callbacks; Keras calls it per call
    monkeypatch.setattr(keras.callbacks.TerminateOnNaN, "on_batch_end",
                        lambda self, batch, logs=None: (calls.append(batch), count(self, batch, logs)))
    for steps in (1, 4):
        recipe["train"]["steps_per_execution"] = steps
        calls.clear()
        runs[steps] = seqtasks.train(recipe, data=synthetic_dataset(), output=tmp_path / f"run{steps}")
        assert len(calls) == (20 if steps == 1 else 6)  # 2 epochs of 10 steps: 4 + 4 + 2 a call
    histories = {s: json.loads((r.directory / "history.json").read_text()) for s, r in runs.items()}
    assert histories[1]["loss"] == pytest.approx(histories[4]["loss"], rel=1e-5)
    weights = {s: keras.saving.load_model(r.directory / "model.keras").get_weights() for s, r in runs.items()}
    for a, b in zip(weights[1], weights[4]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert runs[1].metrics["test"] == runs[4].metrics["test"]


def test_auto_is_32_steps_on_tensorflow_and_an_explicit_value_is_kept(monkeypatch):
    recipe = Recipe.from_dict(tiny_recipe())
    expected = 32 if keras.backend.backend() == "tensorflow" else 1
    assert steps_per_execution(recipe.train) == expected
    recipe.train.steps_per_execution = 8  # an explicit value is the user's
    assert steps_per_execution(recipe.train) == 8


def test_a_callback_that_reads_every_step_gets_one_step_per_call(tmp_path):
    # Gradient-norm logging reads each step's norm: 2 epochs of 10 steps give 20 norms,
    # also where several steps per call are asked for (the resume tests' kill switch,
    # which counts batches, declares `every_step` the same way).
    recipe = tiny_recipe(epochs=2, log_gradient_norm=True, steps_per_execution=4)
    run = seqtasks.train(recipe, data=synthetic_dataset(), output=tmp_path / "run")
    logged = json.loads((run.directory / "gradient_norm.json").read_text())
    assert len(logged["steps"]) == 20 and logged["epoch_ends"] == [10, 20]


@pytest.mark.parametrize("value", [0, -2, "many", 1.5, True])
def test_bad_steps_per_execution_is_one_line_error(value):
    recipe = tiny_recipe(steps_per_execution=value)
    with pytest.raises(RecipeError, match="'train.steps_per_execution' must be 'auto' or an integer of at "
                                          "least 1, found ") as info:
        Recipe.from_dict(recipe)
    assert "\n" not in str(info.value)
