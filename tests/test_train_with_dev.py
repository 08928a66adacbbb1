"""`train.train_with_dev`: the validation split joins training (Flair's
`train_with_dev`, the CoNLL-2003 final-model protocol); all epochs run, the
last weights are kept and nothing reads dev to stop, pick weights or cut the rate."""

import datasets
import pytest
from test_pos_pipeline import Interrupted, interrupt_second_epoch, synthetic_dataset, tiny_recipe

import seqtasks
from seqtasks.data.prepare import with_dev
from seqtasks.errors import RecipeError
from seqtasks.config.recipe import Recipe


def test_with_dev_appends_validation_and_shifts_documents():
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "document": datasets.Value("int64")})
    split = lambda rows, docs: datasets.Dataset.from_dict(  # noqa: E731
        {"tokens": rows, "document": docs}, features=features)
    dataset = datasets.DatasetDict({
        "train": split([["a"], ["b"], ["c"]], [0, 0, 1]),
        "validation": split([["d"], ["e"]], [0, 1]),
        "test": split([["f"]], [0]),
    })
    merged = with_dev(dataset)
    assert merged["train"]["tokens"] == [["a"], ["b"], ["c"], ["d"], ["e"]]
    # Dev document 0 must not merge with train document 0 (the readers number documents per file).
    assert merged["train"]["document"] == [0, 0, 1, 2, 3]
    assert merged["validation"]["tokens"] == [["d"], ["e"]]
    assert merged["test"]["tokens"] == [["f"]]


def _dev_word_dataset():
    """The synthetic corpus with a word ("zebra", a NOUN) that only dev has."""
    dataset = synthetic_dataset()
    noun = dataset["train"].features["tags"].feature.str2int("NOUN")

    def add_zebra(row):
        tokens = ["zebra" if tag == noun else token for token, tag in zip(row["tokens"], row["tags"])]
        return {"tokens": tokens}

    dataset["validation"] = dataset["validation"].map(add_zebra)
    return dataset


@pytest.mark.parametrize("with_dev_flag", [False, True])
def test_train_with_dev_runs_every_epoch_and_keeps_the_last(tmp_path, monkeypatch, with_dev_flag):
    """Dev scores fall after epoch 1 and patience is 1: a normal run stops after
    epoch 2 and keeps epoch 1; with dev in training all 4 epochs run, the last
    weights are saved, dev is not reported as held out, and dev's words are in
    the vocabulary."""
    from seqtasks.training.callbacks import DevMetric

    scores = iter([0.9, 0.5, 0.4, 0.3])

    def fake_metric(self, epoch, logs=None):
        logs[self.name] = next(scores)

    monkeypatch.setattr(DevMetric, "on_epoch_end", fake_metric)
    recipe = tiny_recipe(epochs=4, early_stopping_patience=1, train_with_dev=with_dev_flag)
    out = tmp_path / "run"
    run = seqtasks.train(recipe, data=_dev_word_dataset(), output=out)
    model = run.load()
    if not with_dev_flag:
        assert run.metrics["epochs_run"] == 2 and run.metrics["best_epoch"] == 1
        assert "validation" in run.metrics and "zebra" not in model.preprocessor.token_index
        return
    assert run.metrics["epochs_run"] == 4
    assert run.metrics["best_epoch"] is None and run.metrics["train_with_dev"] is True
    assert "validation" not in run.metrics and "test" in run.metrics
    assert "zebra" in model.preprocessor.token_index
    assert not (out / "checkpoints").exists()  # the weights are in model.keras only
    # 160 train + 30 dev sentences, batch 16: 12 steps per epoch.
    assert run.metrics["train"]["accuracy"] > 0.9


def test_train_with_dev_resumes_on_train_plus_dev(tmp_path, monkeypatch):
    """An interrupted train + dev run resumes with the same merged data and
    vocabulary, and runs to its last epoch."""
    from seqtasks.training.callbacks import DevMetric

    original = interrupt_second_epoch(monkeypatch)
    recipe = tiny_recipe(epochs=3, train_with_dev=True)
    out = tmp_path / "run"
    with pytest.raises(Interrupted):
        seqtasks.train(recipe, data=_dev_word_dataset(), output=out)
    monkeypatch.setattr(DevMetric, "on_epoch_begin", original)
    run = seqtasks.train(recipe, data=_dev_word_dataset(), output=out, resume=True)
    assert run.metrics["epochs_run"] == 3 and run.metrics["train_with_dev"] is True
    assert "validation" not in run.metrics
    assert "zebra" in run.load().preprocessor.token_index
    assert (out / "model.keras").is_file() and not (out / "resume").exists()


def test_train_with_dev_refuses_a_dev_plateau_schedule():
    with pytest.raises(RecipeError) as err:
        Recipe.from_dict({"train": {"train_with_dev": True, "lr_schedule": "plateau"}})
    assert str(err.value) == (
        "recipe: 'train.train_with_dev' trains on the dev split, so 'train.lr_schedule: plateau' "
        "(which cuts the rate on dev scores) cannot be used; use 'cosine', 'step' or 'none'")
