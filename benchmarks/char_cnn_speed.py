"""Forward and training-step time of `seqtasks.layers.CharCNN` computed from tables (what
it runs unless char dropout trains) against the convolution it replaced, interleaved in
one process, at the POS recipe's size (char embedding 32, 100 filters, width 3).

The batch is synthetic but shaped like an EWT training batch: 32 sentences of 20 words,
words of 1-7 chars with a few of 16 (the char axis is as wide as the longest word), 40
padding words. Figures are milliseconds per call, medians of the rounds.

Usage: python benchmarks/char_cnn_speed.py [--threads 1] [--rounds 7]
(docs/EXPERIMENTS.md, session 33, has the figures this printed.)
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras  # noqa: E402
from _timing import interleaved_medians  # noqa: E402
from seqtasks.layers.char_features import CharCNN  # noqa: E402

VOCAB, WIDTH = 110, 16


def char_batch(rng):
    lengths = rng.integers(1, 8, size=640)
    lengths[:5] = WIDTH
    ids = np.zeros((640, WIDTH), np.int32)
    for row, length in enumerate(lengths):
        ids[row, :length] = rng.integers(2, VOCAB, size=length)
    ids[-40:] = 0
    return tf.constant(ids.reshape(32, 20, WIDTH))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow intra-op threads")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds of 20 calls (median kept)")
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    ids = char_batch(np.random.default_rng(0))
    keras.utils.set_random_seed(0)
    layer = CharCNN(VOCAB, embedding_dim=32, filters=100, kernel_size=3)
    layer(ids)

    def train_step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(ids, training=True) ** 2)
        return tape.gradient(loss, layer.trainable_variables)

    functions, uses_lookup = {}, CharCNN._uses_lookup
    for path in ("tables", "convolution"):
        # Tracing fixes the path into each graph.
        CharCNN._uses_lookup = uses_lookup if path == "tables" else (lambda self, training: False)
        for name, f in (("forward", lambda: layer(ids, training=False)), ("train", train_step)):
            traced = tf.function(f)
            traced()
            functions[(name, path)] = lambda traced=traced: tf.nest.map_structure(
                lambda t: tf.convert_to_tensor(t).numpy(), traced())
    CharCNN._uses_lookup = uses_lookup
    times = interleaved_medians(functions, args.rounds)
    for name in ("forward", "train"):
        tables, conv = (times[(name, path)] for path in ("tables", "convolution"))
        print(f"{name:8s} convolution {conv:6.2f} ms  tables {tables:6.2f} ms  speed-up x{conv / tables:.2f}")
    print("load at the end: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
