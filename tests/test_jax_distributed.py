"""`train.distribute` on JAX: `keras.distribution.DataParallel` over two host
devices (`XLA_FLAGS=--xla_force_host_platform_device_count=2`, in a subprocess,
since the device count is fixed when JAX starts).

A batch split over the two devices gives the single-device step (loss, and the
weights after one SGD step) for the softmax and the CRF head, and the pipeline
with `train.distribute: mirrored` trains under DataParallel with partial batches.
"""

import os
import subprocess
import sys
import textwrap

import pytest
from conftest import REPO, SUBPROCESS_TIMEOUT, jax_env

SCRIPT = textwrap.dedent(
    """
    import sys
    import jax
    import keras
    import numpy as np

    sys.path.insert(0, sys.argv[2])  # tests/: the synthetic corpus
    from test_pos_pipeline import synthetic_dataset

    import seqtasks
    from seqtasks import registry
    from seqtasks.config.recipe import Recipe
    from seqtasks.data.batching import Batches
    from seqtasks.data.prepare import prepare_data
    from seqtasks.encoders.build import build_backbone
    from seqtasks.training import distribution

    assert jax.device_count() == 2, jax.devices()
    kind = registry.task_kind("tagging")
    data = synthetic_dataset((96, 16, 16))

    for head in ("softmax", "crf"):
        spec = {"name": "dist", "task": "tagging", "seed": 0,
                "model": {"embedding": {"dim": 8}, "char_features": {"kind": "cnn", "embedding_dim": 4, "dim": 6},
                          "encoder": {"kind": "lstm", "units": 8, "layers": 1, "dropout": 0.0},
                          "head": {"kind": head}},
                "train": {"epochs": 2, "batch_size": 16, "verbose": 0, "distribute": "mirrored"},
                "evaluate": {"plots": False}}
        recipe = Recipe.from_dict(spec)
        dataset, scheme, _ = prepare_data(recipe, data)
        pre = kind.preprocessor_class.from_recipe(recipe).fit(dataset["train"])

        def build():
            keras.utils.set_random_seed(0)
            model = kind.build_model(recipe, pre, build_backbone(recipe.model, pre), scheme)
            model.compile(optimizer=keras.optimizers.SGD(0.5))
            return model

        single = build()
        with distribution.strategy_scope(recipe.train):
            assert distribution.batch_multiple() == 2
            dist = build()
            dist.set_weights(single.get_weights())
            # one fixed batch of 16 rows of different lengths (right-padded)
            fixed = Batches(pre.encode_split(dataset["train"]), 16, per_token=True)
            order = np.argsort(fixed.lengths, kind="stable")
            x, y, w = fixed.make_batch(np.concatenate([order[:8], order[-8:]]))  # short and long rows
            assert len(set(x["padding_mask"].sum(axis=1))) > 1
            loss_dist = np.ravel(dist.evaluate(x, y, sample_weight=w, batch_size=16, verbose=0))[0]
            dist.fit(x, y, sample_weight=w, batch_size=16, epochs=1, shuffle=False, verbose=0)
            kernel = dist.trainable_variables[0].value
            assert len(kernel.sharding.device_set) == 2, kernel.sharding  # replicated on both devices
        assert distribution.batch_multiple() == 1  # the scope is left
        loss_single = np.ravel(single.evaluate(x, y, sample_weight=w, batch_size=16, verbose=0))[0]
        single.fit(x, y, sample_weight=w, batch_size=16, epochs=1, shuffle=False, verbose=0)
        gap = max(float(np.abs(a - b).max()) for a, b in zip(dist.get_weights(), single.get_weights()))
        moved = max(float(np.abs(a - b).max()) for a, b in zip(dist.get_weights(), build().get_weights()))
        print(head, "loss", loss_dist, loss_single, "weight gap", gap, "moved", moved)
        assert abs(loss_dist - loss_single) < 1e-5 and gap < 1e-5 and moved > 1e-3

    # the pipeline: 90 training examples in batches of 16 leave a partial batch
    # of 10 (split 5 + 5) and, shuffled by length bucket, odd ones (cut to even)
    import contextlib
    seen = []
    original = distribution.strategy_scope
    @contextlib.contextmanager
    def recording(train):
        with original(train):
            seen.append((type(keras.distribution.distribution()).__name__, distribution.batch_multiple()))
            yield
    distribution.strategy_scope = recording
    run = seqtasks.train(spec, data=synthetic_dataset((90, 17, 17)), output=sys.argv[1])
    print("pipeline", seen, run.metrics["test"]["accuracy"])
    assert seen == [("DataParallel", 2)], seen
    assert np.isfinite(run.history["loss"]).all() and run.metrics["test"]["accuracy"] > 0
    print("JAX_DATA_PARALLEL_OK")
    """
)


@pytest.mark.jax_only(reason="keras.distribution.DataParallel is JAX's; TensorFlow's MirroredStrategy is "
                             "tests/test_tagger_distributed.py")
def test_data_parallel_on_two_host_devices(tmp_path):
    env = jax_env("--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu", HF_HOME=str(tmp_path / "hf"))
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "run"), str(REPO / "tests")], env=env,
                            cwd=tmp_path, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
    assert result.returncode == 0 and "JAX_DATA_PARALLEL_OK" in result.stdout, (
        result.stdout[-3000:] + result.stderr[-3000:])
