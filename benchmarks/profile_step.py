"""Where the time of a POS training step goes: the bare model, then the full
recipe's parts added one at a time, and the parts timed alone; prediction
(`predict_on_batch`) of the bare model and the full recipe too, and the full
recipe with the char CNN computed as the convolution it replaced (session 33), and
with the char CNN run on every word slot instead of the batch's distinct words
(session 34).

One process (run it under `taskset -c 0` for one core), the same fixed set of
training batches for every variant. Each variant first runs over all the
batches once (graph tracing, one per batch shape, is not counted), then
`--rounds` timed passes, interleaved across variants so that drift of a
shared machine falls on all of them alike. Figures are milliseconds per
batch (wall and CPU of this process), medians over the rounds.

Usage:
    taskset -c 0 python benchmarks/profile_step.py --batches 40 --rounds 3
"""

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "pos_ud_ewt_bilstm.yaml"
BARE = ["model.char_features.kind=none", "model.head.kind=softmax", "model.head.hidden=0",
        "model.head.dropout=0.0", "model.embedding.word_dropout=0.0", "train.ema_momentum=null"]
# (name, recipe overrides on top of the full recipe, char CNN path patched in ("conv": the
# convolution; "every word": tables on every word slot; None: as shipped), also time predict)
VARIANTS = [
    ("bare (emb -> 2x BiLSTM -> softmax)", BARE, None, True),
    ("+ char CNN", BARE[1:], None, False),
    ("+ char CNN, MLP, word dropout", ["model.head.kind=softmax", "train.ema_momentum=null"], None, False),
    ("+ CRF (full recipe without EMA)", ["train.ema_momentum=null"], None, False),
    ("full recipe (+ EMA)", [], None, True),
    # The char CNN's tables (session 33) against the convolution they replaced.
    ("full recipe, char CNN as a convolution", [], "conv", True),
    # Distinct words only (session 34) against every word slot.
    ("full recipe, char CNN on every word", [], "every word", True),
]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batches", type=int, default=40, help="training batches timed per pass")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="TF intra-op threads (inter-op: = cores)")
    p.add_argument("--cores", type=int, default=1)
    return p.parse_args()


def cpu_seconds():
    t = os.times()
    return t.user + t.system


def timed(fn):
    wall, cpu = time.perf_counter(), cpu_seconds()
    fn()
    return time.perf_counter() - wall, cpu_seconds() - cpu


def main():
    args = parse_args()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.cores)
    import keras

    from seqtasks import api
    from seqtasks.data.prepare import prepare_data
    from seqtasks.registry import task_kind
    from seqtasks.training import fit

    base = api.resolve_recipe(RECIPE, ["data.limit.train=3000"])
    kind = task_kind(base.task)
    dataset, scheme, _ = prepare_data(base)
    pre = kind.preprocessor_class.from_recipe(base).fit(dataset["train"])  # chars too
    encoded = pre.encode_split(dataset["train"], "train")
    train = kind.batches(encoded, base, training=True)
    batches = [train.make_batch(idx) for idx in train.batch_indices(0)[: args.batches]]
    tokens = sum(int(b[0]["padding_mask"].sum()) for b in batches)
    print(f"{len(batches)} batches of 32, {tokens} tokens; widths "
          f"{sorted({b[0]['token_ids'].shape[1] for b in batches})}; load {os.getloadavg()[0]:.2f}")

    from seqtasks.layers import char_features
    from seqtasks.layers.char_features import CharCNN

    steps = {}
    for name, overrides, patch, with_predict in VARIANTS:
        recipe = api.resolve_recipe(RECIPE, ["data.limit.train=3000", *overrides])
        keras.utils.set_random_seed(0)
        model, _ = fit._compiled_model(recipe, kind, pre, scheme, len(train), "val_accuracy", "max")
        uses_chars = recipe.model.char_features.kind != "none"

        def run(model=model, uses_chars=uses_chars):
            for inputs, labels, weights in batches:
                x = inputs if uses_chars else {k: v for k, v in inputs.items() if k != "char_ids"}
                model.train_on_batch(x, labels, sample_weight=weights)

        def predict(model=model, uses_chars=uses_chars):
            for inputs, _, _ in batches:
                model.predict_on_batch(inputs if uses_chars else
                                       {k: v for k, v in inputs.items() if k != "char_ids"})

        # The path is fixed when a graph is traced, and every batch shape is traced here.
        uses_lookup, distinct_rows = CharCNN._uses_lookup, char_features._distinct_rows
        if patch == "conv":
            CharCNN._uses_lookup = lambda self, training: False
        elif patch == "every word":
            char_features._distinct_rows = lambda words: (words, None)
        run()
        if with_predict:
            predict()
        CharCNN._uses_lookup, char_features._distinct_rows = uses_lookup, distinct_rows
        steps[name] = run
        if with_predict:
            steps[f"{name}: predict"] = predict

    from seqtasks.layers.crf import CRF

    crf = CRF(len(pre.labels))
    crf.build((None, None, len(pre.labels)))
    rng = np.random.default_rng(0)
    emissions = [rng.normal(size=(*b[0]["token_ids"].shape, len(pre.labels))).astype("float32")
                 for b in batches]

    @tf.function(reduce_retracing=True)
    def crf_grad(e, tags, mask):
        with tf.GradientTape() as tape:
            tape.watch(e)
            loss = -tf.reduce_mean(crf.log_likelihood(e, tags, mask))
        return tape.gradient(loss, [e, *crf.trainable_variables])

    @tf.function(reduce_retracing=True)
    def viterbi(e, mask):
        return crf.decode(e, mask)

    def crf_train():
        for e, (inputs, labels, _) in zip(emissions, batches):
            crf_grad(e, labels, inputs["padding_mask"] > 0)

    def crf_decode():
        for e, (inputs, _, _) in zip(emissions, batches):
            viterbi(e, inputs["padding_mask"] > 0)

    def input_pipeline():
        for idx in train.batch_indices(1)[: args.batches]:
            train.make_batch(idx)

    for fn in (crf_train, crf_decode):
        fn()
    steps.update({"CRF loss + gradient alone": crf_train, "Viterbi decode alone": crf_decode,
                  "make_batch (NumPy padding) alone": input_pipeline})

    times = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, fn in steps.items():
            times[name].append(timed(fn))
    n = len(batches)
    bare = {pass_: statistics.median(w for w, _ in times[VARIANTS[0][0] + suffix])
            for pass_, suffix in (("train", ""), ("predict", ": predict"))}
    print(f"{'part':50s}{'ms/batch':>10s}{'CPU ms':>10s}{'x bare':>8s}{'tokens/s':>10s}")
    for name, values in times.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        reference = bare["predict" if name.endswith(": predict") else "train"]
        print(f"{name:50s}{1000 * wall / n:10.1f}{1000 * cpu / n:10.1f}{wall / reference:8.2f}{tokens / wall:10,.0f}")
    print(f"load at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
