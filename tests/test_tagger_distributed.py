"""The real Tagger (CRF head, built by its task kind's `build_model`) under MirroredStrategy on two logical CPUs.

Logical devices must be configured before TensorFlow initialises, which the
test process has already done, hence the subprocess (as in test_crf_distributed.py).
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import SUBPROCESS_TIMEOUT

pytestmark = pytest.mark.tf_only(reason="tf.distribute.MirroredStrategy; JAX's DataParallel is tests/test_jax_distributed.py")

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    import sys
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(2)

    import datasets
    import keras
    import numpy as np

    import seqtasks
    from seqtasks import registry
    from seqtasks.config.recipe import Recipe
    from seqtasks.data.batching import Batches
    from seqtasks.data.prepare import prepare_data
    from seqtasks.encoders.build import build_backbone
    from seqtasks.training import distribution
    from seqtasks.training.regularizers import virtual_adversarial

    kind = registry.task_kind("tagging")

    def build_model(recipe, preprocessor, scheme):
        return kind.build_model(recipe, preprocessor, build_backbone(recipe.model, preprocessor), scheme)

    # -- data: IOB2 sentences of varied lengths, trained in IOBES (as the NER recipe) --
    rng = np.random.default_rng(0)
    WORDS = {"PER": ["Anna", "Peter", "Smith"], "LOC": ["Paris", "Berlin"], "O": ["met", "in", "the", "."]}

    def sentence():
        tokens, tags = [], []
        for _ in range(int(rng.integers(1, 5))):
            kind = rng.choice(["PER", "LOC", "O", "O"])
            n = int(rng.integers(1, 3))
            for i in range(n):
                tokens.append(str(rng.choice(WORDS[kind])))
                tags.append("O" if kind == "O" else ("B-" if i == 0 else "I-") + kind)
        return tokens, tags

    names = ["B-LOC", "B-PER", "I-LOC", "I-PER", "O"]
    label = datasets.ClassLabel(names=names)
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "tags": datasets.Sequence(label)})
    def split(n):
        rows = [sentence() for _ in range(n)]
        return datasets.Dataset.from_dict({"tokens": [t for t, _ in rows],
                                           "tags": [[names.index(x) for x in g] for _, g in rows]},
                                          features=features)
    data = datasets.DatasetDict({"train": split(96), "validation": split(16), "test": split(16)})

    spec = {
        "name": "dist", "task": "tagging", "seed": 0,
        "data": {"scheme": "IOB2", "target_scheme": "IOBES"},
        "model": {"embedding": {"dim": 8},
                  "char_features": {"kind": "cnn", "embedding_dim": 4, "dim": 6},
                  "encoder": {"kind": "lstm", "units": 8, "layers": 1, "dropout": 0.0},
                  "head": {"kind": "crf", "constrain": True}},
        "train": {"epochs": 2, "batch_size": 16, "verbose": 0, "distribute": "mirrored"},
        "evaluate": {"plots": False}}
    recipe = Recipe.from_dict(spec)
    dataset, scheme, _ = prepare_data(recipe, data)
    assert scheme == "IOBES"
    preprocessor = kind.preprocessor_class.from_recipe(recipe).fit(dataset["train"])
    train = Batches(preprocessor.encode_split(dataset["train"]), 16, shuffle=True, seed=0, per_token=True)

    # -- 1. the real Tagger built inside the strategy trains --
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        dist = build_model(recipe, preprocessor, scheme)
        dist.compile(optimizer=keras.optimizers.SGD(0.1))
    assert type(dist).__name__ == "Tagger" and dist.head == "crf"
    losses = dist.fit(train.dataset(), epochs=3, verbose=0).history["loss"]
    print("losses", losses)
    assert np.isfinite(losses).all() and losses[-1] < losses[0], losses

    # -- 2. one fixed batch with rows of different lengths: same loss on 1 and 2 devices --
    single = build_model(recipe, preprocessor, scheme)
    single.compile(optimizer=keras.optimizers.SGD(0.1))
    single.set_weights(dist.get_weights())
    fixed = Batches(preprocessor.encode_split(dataset["validation"]), 16, per_token=True)
    x, y, _ = fixed.make_batch(fixed.batch_indices(0)[0])
    assert len(set(x["padding_mask"].sum(axis=1))) > 1  # variable lengths, with padding
    loss_dist = dist.evaluate(fixed.dataset(), verbose=0)
    loss_single = single.evaluate(fixed.dataset(), verbose=0)
    mask = x["padding_mask"].astype(bool)
    emissions = single(dict(x, padding_mask=mask), training=False)
    direct = float(np.mean(-single.get_layer("crf").log_likelihood(emissions, y, mask)))
    print("fixed-batch loss", loss_dist, loss_single, direct)
    assert abs(loss_dist - loss_single) < 1e-5 and abs(loss_single - direct) < 1e-5

    # -- 3. one SGD step on that batch gives the same weights (mean, not summed, gradient) --
    dist.fit(fixed.dataset(), epochs=1, verbose=0)
    single.fit(fixed.dataset(), epochs=1, verbose=0)
    gap = max(float(np.abs(a - b).max()) for a, b in zip(dist.get_weights(), single.get_weights()))
    print("weight gap after one step", gap)
    assert gap < 1e-5

    # -- 3c. VAT (it needs the softmax head) with the power iteration's random
    #        start fixed, so both take the same direction: the same weights
    #        after one step, though the replicas' halves of the batch hold
    #        different numbers of real tokens --
    virtual_adversarial.random_direction = lambda shape, dtype: tf.ones(shape, dtype)
    softmax = Recipe.from_dict(dict(spec, model=dict(spec["model"], head={"kind": "softmax"})))
    with strategy.scope():
        vat_dist = build_model(softmax, preprocessor, scheme)
        vat_dist.compile(optimizer=keras.optimizers.SGD(0.5))
    vat_single, plain = build_model(softmax, preprocessor, scheme), build_model(softmax, preprocessor, scheme)
    for model in (vat_single, plain):
        model.compile(optimizer=keras.optimizers.SGD(0.5))
        model.set_weights(vat_dist.get_weights())
    for model in (vat_dist, vat_single):
        virtual_adversarial.VirtualAdversarial(2.0).attach(model)
    for model in (vat_dist, vat_single, plain):
        model.fit(fixed.dataset(), epochs=1, verbose=0)
    gap = max(float(np.abs(a - b).max()) for a, b in zip(vat_dist.get_weights(), vat_single.get_weights()))
    effect = max(float(np.abs(a - b).max()) for a, b in zip(plain.get_weights(), vat_single.get_weights()))
    print("VAT step: weight gap", gap, "VAT vs plain", effect)
    assert gap < 1e-5 and effect > 1e-4

    # -- 4. Viterbi under the strategy gives the single-device paths --
    want = single.predict_on_batch(x)
    ds = tf.data.Dataset.from_tensors(x)
    np.testing.assert_array_equal(dist.predict(ds, verbose=0), want)
    # predict_on_batch (used by the task kind's predict) under the strategy runs the
    # whole batch on every replica and stacks the copies (measured: (32, t) for
    # 16 rows); kind.predict reads the first rows, which must be the answer.
    np.testing.assert_array_equal(np.asarray(dist.predict_on_batch(x))[: len(want)], want)

    # -- 5. the pipeline with train.distribute=mirrored --
    # strategy_scope() calls MirroredStrategy() with no devices, which on a machine
    # without GPUs mirrors over CPU:0 alone (1 replica). Record what it got.
    import contextlib
    # Several steps per train call fail under a strategy (TF 2.21 / Keras 3.15): one, even when asked.
    from seqtasks.training.fit import steps_per_execution
    replicas, strategies, steps = [], [], []
    original = distribution.strategy_scope
    @contextlib.contextmanager
    def recording(train_recipe):
        with original(train_recipe):
            strategies.append(type(tf.distribute.get_strategy()).__name__)
            replicas.append(tf.distribute.get_strategy().num_replicas_in_sync)
            steps.append(steps_per_execution(train_recipe))
            yield
    distribution.strategy_scope = recording
    recipe.train.steps_per_execution = 8
    run = seqtasks.train(recipe, data=data, output=sys.argv[1])
    assert replicas and strategies == ["MirroredStrategy"], strategies
    assert steps == [1], steps
    assert isinstance(run.metrics["test"]["f1"], float)
    assert np.isfinite(run.history["loss"]).all()
    print("pipeline replicas", replicas[0], "test f1", run.metrics["test"]["f1"])
    print("DISTRIBUTED_OK")
    """
)


def test_real_tagger_under_mirrored_strategy(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["CUDA_VISIBLE_DEVICES"] = ""  # two logical CPUs, whatever the machine has
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("KERAS_BACKEND", "tensorflow")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("HF_DATASETS_OFFLINE", "1")
    env["HF_HOME"] = str(tmp_path / "hf")
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "run")], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
    assert result.returncode == 0 and "DISTRIBUTED_OK" in result.stdout, (
        result.stdout[-3000:] + result.stderr[-3000:]
    )
