"""`train.lr_schedule: step`: the rate is multiplied by `lr_step_factor` after
each epoch in `lr_step_epochs`, a plateau schedule's trace replayed without
reading dev (so it works with `train_with_dev`)."""

import numpy as np
import pytest
from test_pos_pipeline import synthetic_dataset, tiny_recipe

import seqtasks
from seqtasks import registry
from seqtasks.config.recipe import Recipe
from seqtasks.errors import RecipeError


def _learning_rate_schedule(train, steps_per_epoch):
    """The optimizer schedule of `train.lr_schedule` (a function in registry.LR_SCHEDULES)."""
    schedule, _ = _schedule_and_callbacks(train, steps_per_epoch)
    return schedule


def _schedule_and_callbacks(train, steps_per_epoch):
    return registry.resolve(registry.LR_SCHEDULES, train.lr_schedule)(
        train, steps_per_epoch, "val_accuracy", "max")


def test_step_schedule_changes_the_rate_at_epoch_boundaries():
    train = Recipe.from_dict({"train": {"epochs": 5, "learning_rate": 0.01, "lr_schedule": "step",
                                        "lr_step_epochs": [2, 4], "lr_step_factor": 0.5}}).train
    schedule = _learning_rate_schedule(train, steps_per_epoch=10)
    # Step k (counted from 0) is the (k + 1)-th update: epoch 3 starts at step 20.
    rates = [float(schedule(step)) for step in (0, 19, 20, 39, 40, 49)]
    np.testing.assert_allclose(rates, [0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025])


def test_step_epochs_past_the_last_epoch_are_never_reached():
    """A short trial of a recipe with a step schedule keeps the initial rate."""
    train = Recipe.from_dict({"train": {"epochs": 3, "learning_rate": 0.01, "lr_schedule": "step",
                                        "lr_step_epochs": [16, 24]}}).train
    schedule = _learning_rate_schedule(train, steps_per_epoch=10)
    assert float(schedule(3 * 10 - 1)) == pytest.approx(0.01)


def test_none_and_plateau_keep_a_constant_optimizer_rate():
    import keras

    for name in ("none", "plateau"):
        train = Recipe.from_dict({"train": {"lr_schedule": name}}).train
        assert _learning_rate_schedule(train, steps_per_epoch=10) is None
    # plateau cuts the rate from a callback on the dev metric instead
    train = Recipe.from_dict({"train": {"lr_schedule": "plateau", "early_stopping_patience": 6}}).train
    _, callbacks = _schedule_and_callbacks(train, steps_per_epoch=10)
    assert [type(c) for c in callbacks] == [keras.callbacks.ReduceLROnPlateau]
    assert (callbacks[0].monitor, callbacks[0].patience, callbacks[0].factor) == ("val_accuracy", 3, 0.5)
    assert _schedule_and_callbacks(Recipe().train, steps_per_epoch=10) == (None, [])


def test_step_schedule_trains_on_train_plus_dev_and_cuts_the_rate_each_epoch(tmp_path, monkeypatch):
    from seqtasks.training.callbacks import DevMetric

    rates, original = [], DevMetric.on_epoch_end

    def record_rate(self, epoch, logs=None):
        rates.append(float(self.model.optimizer.learning_rate))  # the next step's rate
        original(self, epoch, logs)

    monkeypatch.setattr(DevMetric, "on_epoch_end", record_rate)
    recipe = tiny_recipe(epochs=3, lr_schedule="step", lr_step_epochs=[1, 2], train_with_dev=True)
    run = seqtasks.train(recipe, data=synthetic_dataset(), output=tmp_path / "run")
    # 0.02 in epoch 1, halved after epochs 1 and 2; read at each epoch's end.
    np.testing.assert_allclose(rates, [0.01, 0.005, 0.005], rtol=1e-6)
    assert run.metrics["epochs_run"] == 3 and run.metrics["train"]["accuracy"] > 0.9


@pytest.mark.parametrize("train, message", [
    ({"lr_schedule": "step"},
     "recipe: 'train.lr_schedule: step' needs 'train.lr_step_epochs', e.g. [16, 24, 32] (the epochs after "
     "which the rate is multiplied by 'train.lr_step_factor')"),
    ({"lr_schedule": "step", "lr_step_epochs": [4, 4]},
     "recipe: 'train.lr_step_epochs' must be increasing whole epochs, each at least 1, found [4, 4]"),
    ({"lr_schedule": "step", "lr_step_epochs": [0, 4]},
     "recipe: 'train.lr_step_epochs' must be increasing whole epochs, each at least 1, found [0, 4]"),
    ({"lr_schedule": "step", "lr_step_epochs": [2.5]},
     "recipe: 'train.lr_step_epochs' must be increasing whole epochs, each at least 1, found [2.5]"),
    ({"lr_schedule": "step", "lr_step_epochs": [2], "lr_step_factor": 0},
     "recipe: 'train.lr_step_factor' must be in (0, 1], found 0.0"),
    ({"lr_schedule": "step", "lr_step_epochs": [2], "lr_step_factor": 1.5},
     "recipe: 'train.lr_step_factor' must be in (0, 1], found 1.5"),
])
def test_step_schedule_errors(train, message):
    with pytest.raises(RecipeError) as err:
        Recipe.from_dict({"train": train})
    assert str(err.value) == message
