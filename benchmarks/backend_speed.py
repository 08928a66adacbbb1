"""Training and prediction tokens/s of seqtasks on the active Keras back end
(KERAS_BACKEND=tensorflow or jax), for the bare BiLSTM tagger or the POS recipe.

Models:
  bare  embedding 100 -> 2-layer BiLSTM 150 -> softmax (the tagger of
        benchmarks/speed_vs_pytorch.py and ../shared/tools/gpu_anchor.py)
  pos   recipes/pos_ud_ewt_bilstm.yaml as it is (char CNN, CRF, EMA)
Data: the first N EWT training sentences (`--data ewt`, needs the data root),
or gpu_anchor.py's synthetic EWT-shaped corpus (`--data synthetic`), batched
by seqtasks (length-bucketed, right-padded).

One warm-up epoch (it compiles each batch shape), then `--epochs` timed
epochs; prediction: one warm-up pass, one timed pass. Prints one JSON line.
Run each back end in its own process, on the same machine, one after the other:

    KERAS_BACKEND=tensorflow python benchmarks/backend_speed.py --model bare --sentences 2000
    KERAS_BACKEND=jax        python benchmarks/backend_speed.py --model bare --sentences 2000
"""

import argparse
import importlib.util
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
ANCHOR = REPO.parent / "shared" / "tools" / "gpu_anchor.py"
BARE = ["model.char_features.kind=none", "model.encoder.units=150", "model.encoder.layers=2",
        "model.embedding.dim=100", "model.head.hidden=0", "model.head.kind=softmax",
        "model.embedding.word_dropout=0.0", "train.ema_momentum=null"]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=("bare", "pos"), default="bare")
    p.add_argument("--data", choices=("ewt", "synthetic"), default="ewt")
    p.add_argument("--anchor", default=str(ANCHOR), help="gpu_anchor.py (for --data synthetic)")
    p.add_argument("--sentences", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=1, help="timed epochs (after one warm-up epoch)")
    p.add_argument("--threads", type=int, default=1, help="TensorFlow intra-op threads (CPU)")
    return p.parse_args()


def synthetic(args):
    """gpu_anchor.py's corpus as a DatasetDict of string tokens and tags."""
    import datasets

    spec = importlib.util.spec_from_file_location("gpu_anchor", args.anchor)
    anchor = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(anchor)
    os.environ["SENTS"] = str(args.sentences)
    anchor.SENTS = args.sentences
    words, tags, _ = anchor.corpus()
    names = [f"T{i}" for i in range(anchor.TAGS)]
    label = datasets.ClassLabel(names=names)
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "tags": datasets.Sequence(label)})
    split = datasets.Dataset.from_dict({"tokens": [[f"w{w}" for w in s] for s in words],
                                        "tags": [t.tolist() for t in tags]}, features=features)
    return datasets.DatasetDict({"train": split, "validation": split.select(range(64)),
                                 "test": split.select(range(64))})


def setup(args):
    from seqtasks import api
    from seqtasks.data.prepare import prepare_data
    from seqtasks.registry import task_kind

    overrides = [f"train.batch_size={args.batch_size}", f"train.threads={args.threads}"]
    overrides += BARE if args.model == "bare" else []
    if args.data == "ewt":
        overrides.append(f"data.limit.train={args.sentences}")
    else:
        overrides.append("data.card=null")  # the synthetic DatasetDict replaces the card
    recipe = api.resolve_recipe(REPO / "recipes" / "pos_ud_ewt_bilstm.yaml", overrides)
    dataset, scheme, _ = prepare_data(recipe, synthetic(args) if args.data == "synthetic" else None)
    kind = task_kind(recipe.task)
    pre = kind.preprocessor_class.from_recipe(recipe).fit(dataset["train"])
    encoded = pre.encode_split(dataset["train"], "train")
    return recipe, kind, pre, scheme, encoded


def main():
    args = parse_args()
    recipe, kind, pre, scheme, encoded = setup(args)
    import keras

    from seqtasks.encoders.build import build_backbone
    from seqtasks.training.fit import configure, steps_per_execution
    from seqtasks.training.schedules import build_optimizer

    configure(recipe)
    train = kind.batches(encoded, recipe, training=True)
    model = kind.build_model(recipe, pre, build_backbone(recipe.model, pre), scheme)
    model.compile(optimizer=build_optimizer(recipe.train, None),
                  steps_per_execution=steps_per_execution(recipe.train))  # as `seqtasks train`
    from seqtasks.training.ema import SwapEMAWeights  # Keras' own loses its averages on JAX

    callbacks = [SwapEMAWeights(swap_on_epoch=True)] if recipe.train.ema_momentum else []
    result = {"backend": keras.backend.backend(), "model": args.model, "data": args.data,
              "sentences": len(train.lengths), "tokens": train.num_tokens, "batch": args.batch_size,
              "padding": round(train.padding_fraction(), 3), "machine": platform.node()}
    if keras.backend.backend() == "jax":
        import jax

        result["device"] = str(jax.devices()[0].device_kind)
    start = time.perf_counter()
    model.fit(train.dataset(), epochs=1, verbose=0, shuffle=False, callbacks=callbacks)
    result["train_warmup_s"] = round(time.perf_counter() - start, 1)
    # tokens per second of wall time and per CPU-second of this process (all its
    # threads): the back ends use different thread pools, so both are printed.
    start, cpu = time.perf_counter(), time.process_time()
    model.fit(train.dataset(), epochs=args.epochs, verbose=0, shuffle=False, callbacks=callbacks)
    result["train_tok_s"] = round(train.num_tokens * args.epochs / (time.perf_counter() - start))
    result["train_tok_cpu_s"] = round(train.num_tokens * args.epochs / (time.process_time() - cpu))
    evaluation = kind.batches(encoded, recipe)
    for phase in ("predict_first", "predict"):
        start, cpu = time.perf_counter(), time.process_time()
        kind.predict(model, evaluation)
        result[phase + "_tok_s"] = round(evaluation.num_tokens / (time.perf_counter() - start))
        result[phase + "_tok_cpu_s"] = round(evaluation.num_tokens / (time.process_time() - cpu))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    np.random.seed(0)
    main()
