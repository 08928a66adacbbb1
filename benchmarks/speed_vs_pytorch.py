"""CPU training and prediction speed of seqtasks against hand-written PyTorch,
each system in its own process on the same pinned cores.

Every system trains the same shape on the same batches: word embedding 100
-> 2-layer BiLSTM 150 per direction -> linear -> softmax over the UPOS tags
of the first 3,000 UD English-EWT training sentences, right-padded and
length-bucketed (`seqtasks.data.batching.Batches`, batch 32), Adam with
clipping, padding out of the loss. Systems:

- `torch_packed`: PyTorch `nn.LSTM` over `pack_padded_sequence`.
- `torch_unpacked`: the same over the padded tensor (padding only masked in
  the loss; the backward direction then reads the padding first).
- `keras_plain`: a plain Keras functional model (`Embedding` ->
  `Bidirectional(LSTM)` x2 -> `Dense`) with the mask passed explicitly.
- `seqtasks_bare`: the seqtasks `Tagger` of that shape (softmax head, no char
  features), `compile()` defaults and the recipe's `train.steps_per_execution`
  (auto: 32 steps per call of the train function on TensorFlow).
- `seqtasks_full`: the full POS recipe `recipes/pos_ud_ewt_bilstm.yaml` (char
  CNN, tanh MLP, CRF, word dropout, EMA, plateau schedule, the dev-accuracy
  pass and the recipe's callbacks) on the same 3,000 sentences; its train
  figure leaves the dev pass out (as `metrics.json` does), `train+dev` in it.
- `seqtasks_jax`: `seqtasks_bare` with `KERAS_BACKEND=jax`.
- `seqtasks_bare+fixed`, `seqtasks_jax+fixed` (not run by default): the same
  with training and prediction batches padded to fixed widths (`Batches(...,
  fixed_widths=True)`, as `seqtasks predict` does): fewer graph tracings
  (JAX compiles once per shape) against more padding.
- `seqtasks_bare+1step`, `seqtasks_full+1step` (not run by default): the same
  with one training step per call of the train function
  (`train.steps_per_execution=1`, the setting before session 35).
- `seqtasks_bare+kerasadam`, `seqtasks_full+kerasadam` (not run by default):
  the same with `keras.optimizers.Adam` in place of seqtasks' fused Adam (the
  optimizer before session 37).

Each run is a child process started under `taskset` on cpu 0 (1 core) or
cpus 0-1 (2 cores), with PyTorch threads / TensorFlow intra-op threads = 1
and inter-op threads = cores (the fastest split for a BiLSTM on this
machine, DESIGN.md section 5; `--tf-intra/--tf-inter` change it). The child
measures one warm-up epoch (not counted), `--epochs` timed epochs, a first
prediction pass (graph tracing included) and a second, steady one, each as
tokens per wall second and tokens per CPU-second (`os.times()` of the child:
all its threads), so that a system that uses more cores cannot look faster
per core. Repeats are interleaved (round r runs every system once, in a
rotated order) so that drift of a shared machine falls on all systems alike;
the table gives medians and each system's median ratio to the faster
PyTorch variant of the same round.

Usage (needs `pip install -e .[bench]` for PyTorch):
    python benchmarks/speed_vs_pytorch.py --cores 1 2 --repeats 3
    python benchmarks/speed_vs_pytorch.py --systems seqtasks_full --set model.head.kind=softmax
"""

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "pos_ud_ewt_bilstm.yaml"
SYSTEMS = ("torch_packed", "torch_unpacked", "keras_plain", "seqtasks_bare", "seqtasks_full", "seqtasks_jax")
EXTRA = (  # variants not run by default: fixed widths, one step per call, Keras' Adam
    "seqtasks_bare+fixed", "seqtasks_jax+fixed", "seqtasks_bare+1step", "seqtasks_full+1step",
    "seqtasks_bare+kerasadam", "seqtasks_full+kerasadam")
TORCH = ("torch_packed", "torch_unpacked")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS + EXTRA)
    p.add_argument("--cores", nargs="+", type=int, default=[1, 2], choices=[1, 2])
    p.add_argument("--repeats", type=int, default=2, help="interleaved rounds")
    p.add_argument("--sentences", type=int, default=3000)
    p.add_argument("--epochs", type=int, default=1, help="timed epochs after one warm-up epoch")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--tf-intra", type=int, default=1, help="TensorFlow intra-op threads")
    p.add_argument("--tf-inter", type=int, default=0, help="TensorFlow inter-op threads (0: = cores)")
    p.add_argument("--set", action="append", default=[], dest="overrides",
                   help="recipe override for seqtasks_full (e.g. model.head.kind=softmax)")
    p.add_argument("--json", help="also write every run's figures to this file")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    return p.parse_args(argv)


# -- data (the parent prepares it once; children only unpickle NumPy) ------------

def one_step(child):
    """The override of the `+1step` variants (one training step per call)."""
    return ["train.steps_per_execution=1"] if child and child.endswith("+1step") else []


def use_keras_adam(child):
    """True for the `+kerasadam` variants; makes the recipe's "adam" Keras' own class."""
    if not (child and child.endswith("+kerasadam")):
        return False
    import keras

    from seqtasks import registry

    registry.OPTIMIZERS["adam"] = lambda: keras.optimizers.Adam
    return True


def bare_overrides(sentences, child=None):
    return [*one_step(child), f"data.limit.train={sentences}", "model.char_features.kind=none", "model.head.kind=softmax",
            "model.head.hidden=0", "model.head.dropout=0.0", "model.embedding.word_dropout=0.0"]


def prepare(args, path):
    """Encodes the training sentences once, for every child but `seqtasks_full`."""
    from seqtasks import api
    from seqtasks.data.prepare import prepare_data
    from seqtasks.registry import task_kind

    recipe = api.resolve_recipe(RECIPE, bare_overrides(args.sentences))
    dataset, _, _ = prepare_data(recipe)
    pre = task_kind(recipe.task).preprocessor_class.from_recipe(recipe).fit(dataset["train"])
    encoded = pre.encode_split(dataset["train"], "train")
    with open(path, "wb") as f:
        pickle.dump({"encoded": {k: encoded[k] for k in ("token_ids", "labels")},
                     "vocabulary": len(pre.tokens), "labels": len(pre.labels)}, f)


def load(args):
    from seqtasks.data.batching import Batches

    with open(args.data, "rb") as f:
        data = pickle.load(f)
    fixed = args.child.endswith("+fixed")
    batches = Batches(data["encoded"], args.batch_size, shuffle=True, seed=0, per_token=True,
                      fixed_widths=fixed)
    predict = Batches(data["encoded"], args.batch_size, shuffle=False, per_token=True, fixed_widths=fixed)
    return data, batches, predict


# -- timing (in the child) ----------------------------------------------------

def cpu_seconds():
    t = os.times()
    return t.user + t.system


def timed(fn):
    """(wall seconds, CPU seconds of this process) of `fn()`."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    fn()
    return time.perf_counter() - wall, cpu_seconds() - cpu


def figures(train_tokens, train, first_tokens, first, predict_tokens, predict, extra=None):
    out = {"train_tps": train_tokens / train[0], "train_tpcs": train_tokens / max(train[1], 1e-9),
           "train_cores": train[1] / train[0],
           "first_predict_tps": first_tokens / first[0],
           "predict_tps": predict_tokens / predict[0], "predict_tpcs": predict_tokens / max(predict[1], 1e-9),
           "predict_cores": predict[1] / predict[0]}
    out.update(extra or {})
    return out


# -- systems --------------------------------------------------------------------

def run_torch(args, packed):
    import torch
    from torch import nn

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    data, batches, predict_batches = load(args)

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(data["vocabulary"], 100, padding_idx=0)
            self.dropout = nn.Dropout(0.4)
            self.lstm = nn.LSTM(100, 150, 2, batch_first=True, bidirectional=True, dropout=0.5)
            self.out = nn.Linear(300, data["labels"])

        def forward(self, ids, lengths):
            x = self.dropout(self.embedding(ids))
            if packed:
                x = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            h, _ = self.lstm(x)
            if packed:
                h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=ids.shape[1])
            return self.out(self.dropout(h))

    model = Tagger()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss(reduction="none")

    def epoch(index):
        model.train()
        for idx in batches.batch_indices(index):
            inputs, labels, weight = batches.make_batch(idx)
            ids = torch.from_numpy(inputs["token_ids"]).long()
            logits = model(ids, torch.from_numpy(inputs["padding_mask"].sum(1)))
            loss = loss_fn(logits.transpose(1, 2), torch.from_numpy(labels).long())
            weight = torch.from_numpy(weight)
            loss = (loss * weight).sum() / weight.sum()
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()

    def predict():
        model.eval()
        with torch.no_grad():
            for _, inputs in predict_batches:
                ids = torch.from_numpy(inputs["token_ids"]).long()
                model(ids, torch.from_numpy(inputs["padding_mask"].sum(1))).argmax(-1).numpy()

    epoch(0)  # warm-up
    train = timed(lambda: [epoch(e + 1) for e in range(args.epochs)])
    n = batches.num_tokens
    return figures(n * args.epochs, train, n, timed(predict), n, timed(predict))


def set_tf_threads(args):
    import keras

    if keras.backend.backend() != "tensorflow":
        return {}
    import tensorflow as tf

    inter = args.tf_inter or args.threads
    tf.config.threading.set_intra_op_parallelism_threads(args.tf_intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    return {"tf_threads": f"intra {args.tf_intra} inter {inter}"}


def keras_predict(model, batches):
    def predict():
        for _, inputs in batches:
            np.asarray(model.predict_on_batch(inputs))
    return predict


def fit_timed(model, batches, args, callbacks=()):
    """Warm-up epoch, then the timed epochs (one `fit` call each way)."""
    model.fit(batches.dataset(), epochs=1, verbose=0, shuffle=False, callbacks=list(callbacks))
    return timed(lambda: model.fit(batches.dataset(), epochs=args.epochs, verbose=0, shuffle=False,
                                   callbacks=list(callbacks)))


def run_keras_plain(args):
    import keras

    extra = set_tf_threads(args)
    keras.utils.set_random_seed(0)
    data, batches, predict_batches = load(args)
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    padding_mask = keras.Input((None,), dtype="int32", name="padding_mask")
    mask = keras.ops.cast(padding_mask, "bool")
    x = keras.layers.Embedding(data["vocabulary"], 100)(token_ids)
    x = keras.layers.Dropout(0.4)(x)
    for i in range(2):
        x = keras.layers.Bidirectional(keras.layers.LSTM(150, return_sequences=True))(x, mask=mask)
        x = keras.layers.Dropout(0.5 if i == 0 else 0.4)(x)
    logits = keras.layers.Dense(data["labels"])(x)
    model = keras.Model({"token_ids": token_ids, "padding_mask": padding_mask}, logits)
    model.compile(keras.optimizers.Adam(1e-3, clipnorm=5.0),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    train = fit_timed(model, batches, args)
    n = batches.num_tokens
    predict = keras_predict(model, predict_batches)
    return figures(n * args.epochs, train, n, timed(predict), n, timed(predict), extra)


def run_seqtasks_bare(args):
    import keras

    from seqtasks import api
    from seqtasks.encoders.build import build_backbone
    from seqtasks.memory_allocator import keep_freed_memory
    from seqtasks.registry import task_kind
    from seqtasks.training.fit import steps_per_execution

    extra = set_tf_threads(args)
    keep_freed_memory()  # as `seqtasks train` does (`fit.configure`)
    keras.utils.set_random_seed(0)
    data, batches, predict_batches = load(args)
    recipe = api.resolve_recipe(RECIPE, bare_overrides(args.sentences, args.child))

    class Sizes:  # what build_model reads from a fitted preprocessor
        tokens = range(data["vocabulary"])
        labels = range(data["labels"])
        chars, feature_values, token_features = range(1), {}, []

    kind = task_kind(recipe.task)
    model = kind.build_model(recipe, Sizes, build_backbone(recipe.model, Sizes))
    # Adam(1e-3, clipnorm=5), as the PyTorch reference; steps per call as `seqtasks train`.
    model.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=5.0) if use_keras_adam(args.child) else "auto",
                  steps_per_execution=steps_per_execution(recipe.train))
    train = fit_timed(model, batches, args)
    n = batches.num_tokens

    def predict():
        kind.predict(model, predict_batches)

    return figures(n * args.epochs, train, n, timed(predict), n, timed(predict),
                   {**extra, "backend": keras.backend.backend()})


def run_seqtasks_full(args):
    """The POS recipe's own model, optimizer and callbacks (as `fit_and_evaluate`)."""
    import keras

    from seqtasks import api
    from seqtasks.data.batching import Batches
    from seqtasks.data.prepare import prepare_data
    from seqtasks.registry import task_kind
    from seqtasks.training import fit

    extra = set_tf_threads(args)
    use_keras_adam(args.child)
    recipe = api.resolve_recipe(RECIPE, [f"data.limit.train={args.sentences}", *one_step(args.child),
                                         *args.overrides])
    recipe.train.threads = None  # set above, with inter-op threads too
    fit.configure(recipe)
    kind = task_kind(recipe.task)
    dataset, scheme, _ = prepare_data(recipe)
    pre = kind.preprocessor_class.from_recipe(recipe).fit(dataset["train"])
    encoded = {name: pre.encode_split(split, name) for name, split in dataset.items()}
    train_batches = kind.batches(encoded["train"], recipe, training=True)
    monitor = "val_" + kind.main_metric(scheme)
    model, schedule_callbacks = fit._compiled_model(recipe, kind, pre, scheme, len(train_batches),
                                                    monitor, "max")
    from seqtasks.training.callbacks import make_callbacks

    with tempfile.TemporaryDirectory() as tmp:
        callbacks, dev_metric, _, _ = make_callbacks(recipe, kind, train_batches, encoded["validation"],
                                                     pre.labels, scheme, Path(tmp), monitor, "max",
                                                     schedule_callbacks)
        model.fit(train_batches.dataset(), epochs=1, verbose=0, shuffle=False, callbacks=callbacks)
        dev_before = dev_metric.seconds
        train = timed(lambda: model.fit(train_batches.dataset(), epochs=args.epochs, verbose=0,
                                        shuffle=False, callbacks=callbacks))
        dev_seconds = dev_metric.seconds - dev_before
    n = train_batches.num_tokens
    dev_share = dev_seconds / train[0]
    predict_batches = Batches(encoded["train"], max(recipe.train.batch_size, 64))

    def predict():
        kind.predict(model, predict_batches)

    # Without the dev pass: its CPU time taken out in proportion (it runs on the same cores).
    fit_only = (train[0] - dev_seconds, train[1] * (1 - dev_share))
    return figures(n * args.epochs, fit_only, n, timed(predict), n, timed(predict),
                   {**extra, "train_dev_tps": n * args.epochs / train[0],
                    "overrides": " ".join(args.overrides)})


def child(args):
    if args.child in TORCH:
        result = run_torch(args, packed=args.child == "torch_packed")
    else:
        result = {"keras_plain": run_keras_plain, "seqtasks_bare": run_seqtasks_bare,
                  "seqtasks_jax": run_seqtasks_bare, "seqtasks_full": run_seqtasks_full,
                  "seqtasks_bare+fixed": run_seqtasks_bare, "seqtasks_jax+fixed": run_seqtasks_bare,
                  "seqtasks_bare+1step": run_seqtasks_bare, "seqtasks_full+1step": run_seqtasks_full,
                  "seqtasks_bare+kerasadam": run_seqtasks_bare,
                  "seqtasks_full+kerasadam": run_seqtasks_full}[args.child](args)
    loaded = [m for m in ("tensorflow", "torch", "jax") if m in sys.modules]
    print("RESULT " + json.dumps({**result, "modules": loaded}), flush=True)


# -- parent -------------------------------------------------------------------------

def launch(args, system, cores, data_path):
    cpus = "0" if cores == 1 else "0-1"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="jax" if system.startswith("seqtasks_jax") else "tensorflow",
               OMP_NUM_THREADS="1")
    command = ["taskset", "-c", cpus, sys.executable, __file__, "--child", system, "--threads", str(cores),
               "--data", data_path, "--sentences", str(args.sentences), "--epochs", str(args.epochs),
               "--batch-size", str(args.batch_size), "--tf-intra", str(args.tf_intra),
               "--tf-inter", str(args.tf_inter)]
    for o in args.overrides:
        command += ["--set", o]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{system} at {cores} cores failed (exit {done.returncode}):\n{done.stderr[-3000:]}")


def load_average():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def table(runs, args):
    keys = [("train_tps", "train tok/s"), ("train_tpcs", "tok/CPU-s"), ("train_cores", "cores"),
            ("predict_tps", "predict tok/s"), ("predict_tpcs", "tok/CPU-s"), ("first_predict_tps", "1st pass")]
    lines = []
    for cores in args.cores:
        lines.append(f"\n{cores} core(s) (taskset cpus {'0' if cores == 1 else '0-1'}); "
                     f"median of {args.repeats} interleaved rounds; x = ratio to the faster PyTorch "
                     "variant in the same round (median)")
        lines.append(f"{'system':16s}" + "".join(f"{title:>15s}" for _, title in keys) + f"{'train x':>9s}{'predict x':>10s}")
        for system in args.systems:
            mine = [r for r in runs if r["system"] == system and r["cores"] == cores]
            if not mine:
                continue
            row = f"{system:16s}" + "".join(
                f"{statistics.median(r[k] for r in mine):15.2f}" if k.endswith("cores") else
                f"{statistics.median(r[k] for r in mine):15,.0f}" for k, _ in keys)
            ratios = {}
            for key in ("train_tps", "predict_tps"):
                per_round = []
                for r in mine:
                    ref = [x[key] for x in runs if x["system"] in TORCH and x["cores"] == cores
                           and x["round"] == r["round"]]
                    if ref:
                        per_round.append(r[key] / max(ref))
                ratios[key] = f"{statistics.median(per_round):.2f}" if per_round else "-"
            lines.append(row + f"{ratios['train_tps']:>9s}{ratios['predict_tps']:>10s}")
            if system.startswith("seqtasks_full"):
                lines.append(f"{'  incl. dev pass':16s}{statistics.median(r['train_dev_tps'] for r in mine):15,.0f}")
    return "\n".join(lines)


def main():
    args = parse_args()
    if args.child:
        return child(args)
    with tempfile.TemporaryDirectory() as tmp:
        data_path = str(Path(tmp) / "data.pkl")
        prepare(args, data_path)
        print(f"{args.sentences} EWT sentences, batch {args.batch_size}, emb 100 -> 2x BiLSTM 150 -> softmax; "
              f"{args.epochs} timed epoch(s) after a warm-up; load {load_average()}", flush=True)
        runs = []
        for round_ in range(args.repeats):
            for cores in args.cores:
                order = args.systems[round_ % len(args.systems):] + args.systems[:round_ % len(args.systems)]
                for system in order:
                    result = launch(args, system, cores, data_path)
                    result.update(system=system, cores=cores, round=round_, load=load_average())
                    runs.append(result)
                    print(f"round {round_} {cores} core(s) {system:15s} train {result['train_tps']:7,.0f} tok/s "
                          f"{result['train_tpcs']:7,.0f} tok/CPU-s ({result['train_cores']:.2f} cores) predict "
                          f"{result['predict_tps']:7,.0f} tok/s {result['predict_tpcs']:7,.0f} tok/CPU-s, first pass "
                          f"{result['first_predict_tps']:7,.0f} tok/s; load {result['load']}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))
    print(table(runs, args))
    print(f"load at the end: {load_average()}")


if __name__ == "__main__":
    main()
