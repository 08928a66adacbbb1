"""CRF under tf.distribute.MirroredStrategy on two logical CPUs (in a subprocess).

Logical devices must be configured before TensorFlow initialises, which the
test process has already done, hence the subprocess.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import SUBPROCESS_TIMEOUT

pytestmark = pytest.mark.tf_only(reason="tf.distribute.MirroredStrategy; JAX's DataParallel is tests/test_jax_distributed.py")

TESTS = Path(__file__).resolve().parent

SCRIPT = textwrap.dedent(
    """
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(2)

    import keras
    import numpy as np
    from seqtasks.data import schemes
    from test_crf import LABELS, ToyTagger, toy_arrays, toy_dataset

    def int_mask(x):
        # Keras 3.15 (TF) reduces the first distributed batch with "MEAN" to
        # get its shapes (trainer._maybe_symbolic_build): AddN fails on bool.
        # So the data carries the padding mask as 0/1 int32; the model's bool
        # Input casts it back.
        return dict(x, padding_mask=x["padding_mask"].astype("int32"))

    def make():
        return ToyTagger(vocab_size=1 + 3 * len(LABELS), num_tags=len(LABELS),
                         constraints=schemes.allowed_transitions(LABELS, "IOB2"))

    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        dist = make()
        dist.compile(optimizer=keras.optimizers.SGD(0.5))
    single = make()
    single.compile(optimizer=keras.optimizers.SGD(0.5))

    # 1. training steps run and the loss is finite (and falls)
    x, y = toy_arrays(seed=0, count=96)
    x = int_mask(x)
    losses = dist.fit(toy_dataset(x, y, 16), epochs=3, shuffle=False, verbose=0).history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0], losses

    # 2. one fixed batch (rows of different lengths): same loss on 1 and 2 devices
    single.set_weights(dist.get_weights())
    xb, yb = toy_arrays(seed=1, count=16)
    xb = int_mask(xb)
    batch = toy_dataset(xb, yb, 16)
    loss_dist = dist.evaluate(batch, verbose=0)
    loss_single = single.evaluate(batch, verbose=0)
    direct = float(np.mean(-single.crf.log_likelihood(single(xb), yb, xb["padding_mask"])))
    print("losses", loss_dist, loss_single, direct)
    assert abs(loss_dist - loss_single) < 1e-5 and abs(loss_single - direct) < 1e-5

    # 3. one SGD step on that batch: the replicas' summed gradients are the
    #    global mean gradient (the loss is scaled by 1 / replicas), not twice it
    dist.fit(batch, epochs=1, shuffle=False, verbose=0)
    single.fit(batch, epochs=1, shuffle=False, verbose=0)
    gap = max(float(np.abs(a - b).max()) for a, b in zip(dist.get_weights(), single.get_weights()))
    print("weight gap after one step", gap)
    assert gap < 1e-5

    # 4. decoding under the strategy gives the single-device paths
    np.testing.assert_array_equal(dist.predict(toy_dataset(xb), verbose=0),
                                  single.predict(toy_dataset(xb), verbose=0))
    print("DISTRIBUTED_OK")
    """
)


def test_crf_model_under_mirrored_strategy():
    env = dict(os.environ)
    root = str(TESTS.parent)
    env["PYTHONPATH"] = os.pathsep.join([root, str(TESTS), env.get("PYTHONPATH", "")])
    env["CUDA_VISIBLE_DEVICES"] = ""  # two logical CPUs, whatever the machine has
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("KERAS_BACKEND", "tensorflow")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT
    )
    assert result.returncode == 0 and "DISTRIBUTED_OK" in result.stdout, (
        result.stdout[-3000:] + result.stderr[-3000:]
    )
