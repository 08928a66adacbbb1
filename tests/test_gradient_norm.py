"""`train.log_gradient_norm`: each step's global gradient norm (before clipping)
is logged, matches the norm computed by hand, and is plotted."""

import json

import datasets
import keras
import numpy as np
import pytest

import seqtasks
from seqtasks.data.batching import Batches

TEXTS = ["anna", "bob", "carla", "dan", "eve", "fay", "gus", "hal", "ida", "jo", "kim", "lea"]


def data():
    return datasets.DatasetDict({split: datasets.Dataset.from_dict({"text": TEXTS})
                                 for split in ["train", "validation", "test"]})


def recipe(**train):
    # One batch an epoch (batch_size > texts) and plain SGD at a rate of 1e-12:
    # every step sees the same batch and, to float precision, the same
    # weights, so every norm is the same (a rate of 0 is refused).
    return {"name": "tiny_gradient_norm", "task": "language_model", "preprocess": {"units": "char"},
            "model": {"embedding": {"dim": 8},
                      "encoder": {"kind": "simple_rnn", "units": 12, "layers": 1, "bidirectional": False,
                                  "dropout": 0.0}},
            "train": {"epochs": 3, "batch_size": 64, "optimizer": "sgd", "learning_rate": 1e-12, "clipnorm": 0.01, "verbose": 0,
                      "log_gradient_norm": True, **train},
            "evaluate": {"samples": 0, "splits": ["validation"]}}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return seqtasks.train(recipe(), data=data(), output=tmp_path_factory.mktemp("gradnorm") / "run")


def test_one_norm_per_step_in_the_run_directory_and_history(run):
    logged = json.loads((run.directory / "gradient_norm.json").read_text())
    assert logged["epoch_ends"] == [1, 2, 3] and logged["clipnorm"] == pytest.approx(0.01)
    norms = logged["steps"]
    assert len(norms) == 3 and norms[0] > 0.01  # measured before the clipping
    assert norms == pytest.approx([norms[0]] * 3, rel=1e-5)
    assert run.history["max_gradient_norm"] == pytest.approx(norms, rel=1e-5)
    assert (run.directory / "plots" / "gradient_norm.png").stat().st_size > 1000


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the reference gradient uses tf.GradientTape")
def test_the_logged_norm_is_the_global_norm_of_the_gradients(run):
    import tensorflow as tf

    loaded = seqtasks.load(run.directory)
    model = loaded.model
    encoded = loaded.preprocessor.encode_split(data()["train"])
    inputs, labels, weights = Batches(encoded, batch_size=64).make_batch(np.arange(len(TEXTS)))
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight")
    with tf.GradientTape() as tape:
        loss = loss_fn(labels, model(inputs, training=True), sample_weight=weights)
    grads = tape.gradient(loss, model.trainable_weights)
    expected = float(tf.linalg.global_norm([tf.convert_to_tensor(g) for g in grads]))
    logged = json.loads((run.directory / "gradient_norm.json").read_text())["steps"][0]
    assert logged == pytest.approx(expected, rel=1e-4)


def test_off_by_default(tmp_path):
    plain = seqtasks.train(recipe(log_gradient_norm=False, epochs=1), data=data(), output=tmp_path / "run")
    assert not (plain.directory / "gradient_norm.json").exists()
    assert "max_gradient_norm" not in plain.history
