"""Forward and training-step time of a masked Bidirectional `seqtasks.layers.recurrent.LSTM`
with TensorFlow's fused CPU kernel (`BlockLSTMV2`) against the lean loop, interleaved in one
process, at tagger and LM sizes. Training steps two ways: the lean loop (autodiff) and the
fused kernel with seqtasks' hand-written gradient (`fused_lstm`). (Until session 34 a third
way, TensorFlow's own `BlockLSTMGrad`, ran too; its figures are in docs/EXPERIMENTS.md.)

Usage: python benchmarks/lstm_kernel_speed.py [--threads 1] [--rounds 5]
(docs/EXPERIMENTS.md, sessions 32 and 33, have the figures this printed.)
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras  # noqa: E402
from _timing import interleaved_medians  # noqa: E402
from seqtasks.layers import fused_lstm, recurrent  # noqa: E402

SIZES = [(32, 25, 100, 150), (128, 25, 100, 150), (32, 25, 300, 150), (64, 35, 400, 400)]


def timed_functions(batch, time_steps, inputs, units, rng):
    """`{(pass, kernel): tf.function}` for one size; `kernel` is "lean" or "fused"."""
    x = tf.constant(rng.normal(size=(batch, time_steps, inputs)).astype("float32"))
    lengths = rng.integers(time_steps // 3, time_steps + 1, size=batch)
    lengths[0] = time_steps
    mask = tf.constant(np.arange(time_steps)[None, :] < lengths[:, None])
    layer = keras.layers.Bidirectional(recurrent.LSTM(units, return_sequences=True))
    layer(x, mask=mask)

    def forward():  # training=False: the inference path
        return layer(x, mask=mask, training=False)

    def train_step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x, mask=mask, training=True) ** 2)
        return tape.gradient(loss, layer.trainable_weights)

    functions, applies = {}, fused_lstm.applies
    for kernel in ("lean", "fused"):
        # Tracing fixes the choice into each graph.
        fused_lstm.applies = applies if kernel == "fused" else (lambda cell, sequences: False)
        for name, f in (("forward", forward), ("train", train_step)):
            traced = tf.function(f)
            traced()
            functions[(name, kernel)] = lambda traced=traced: tf.nest.map_structure(lambda t: t.numpy(), traced())
    fused_lstm.applies = applies
    return functions


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow intra-op threads")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of 20 calls (median kept)")
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    rng = np.random.default_rng(0)
    for size in SIZES:
        times = interleaved_medians(timed_functions(*size, rng), args.rounds)
        for name in ("forward", "train"):
            lean, fused = times[(name, "lean")], times[(name, "fused")]
            print("batch %d time %d input %d units %d %-8s lean %7.2f ms  fused %7.2f ms  speed-up x%.2f"
                  % (*size, name, lean, fused, lean / fused), flush=True)
    print("load at the end: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
