"""Training and inference speed of a seqtasks tagger vs a hand-written PyTorch
model of the same shape, on the same batches, on this machine.

Both models: word embedding (E) -> L-layer bidirectional LSTM (H per
direction) -> linear -> softmax over tags; right-padded, length-bucketed
batches; Adam; padding masked out of the loss. No char features (the
PyTorch reference would need its own char encoder).

Usage (needs `pip install torch`):
    python benchmarks/speed_vs_pytorch.py --sentences 3000 --units 150 --threads 1
Prints tokens per second for each; measure on an otherwise idle machine.
"""

import argparse
import time

import numpy as np


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--sentences", type=int, default=3000)
    p.add_argument("--units", type=int, default=150)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--embedding", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=2, help="timed epochs (after one warm-up epoch)")
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args()


def data(args):
    from seqtasks import api
    from seqtasks.data.batching import Batches
    from seqtasks.data.prepare import prepare_data
    from seqtasks.registry import task_kind

    recipe = api.resolve_recipe("recipes/pos_ud_ewt_bilstm.yaml", [
        f"data.limit.train={args.sentences}", "model.char_features.kind=none",
        f"model.encoder.units={args.units}", f"model.encoder.layers={args.layers}",
        f"model.embedding.dim={args.embedding}", "model.head.hidden=0",
        "model.embedding.word_dropout=0.0", "model.head.kind=softmax"])
    dataset, _, _ = prepare_data(recipe)
    pre = task_kind(recipe.task).preprocessor_class.from_recipe(recipe).fit(dataset["train"])
    encoded = pre.encode_split(dataset["train"], "train")
    return recipe, pre, Batches(encoded, args.batch_size, shuffle=True, seed=0, per_token=True)


def time_keras(recipe, pre, batches, args):
    import tensorflow as tf

    from seqtasks.encoders.build import build_backbone
    from seqtasks.registry import task_kind

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(2)
    model = task_kind(recipe.task).build_model(recipe, pre, build_backbone(recipe.model, pre))
    model.compile()
    model.fit(batches.dataset(), epochs=1, verbose=0, shuffle=False)  # traces the graph
    start = time.perf_counter()
    model.fit(batches.dataset(), epochs=args.epochs, verbose=0, shuffle=False)
    train = batches.num_tokens * args.epochs / (time.perf_counter() - start)

    def predict():
        for _, inputs in batches:
            model.predict_on_batch(inputs)

    return (train, *predict_speeds(predict, batches))


def predict_speeds(predict, batches):
    """(first pass, second pass) prediction tokens/s: the first pass includes the
    one-off graph tracing of each new batch shape (what a single `seqtasks predict`
    command pays), the second is the steady state, like the training figure."""
    speeds = []
    for _ in range(2):
        start = time.perf_counter()
        predict()
        speeds.append(batches.num_tokens / (time.perf_counter() - start))
    return speeds


def time_torch(pre, batches, args):
    import torch
    from torch import nn

    torch.set_num_threads(args.threads)

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(len(pre.tokens), args.embedding, padding_idx=0)
            self.lstm = nn.LSTM(args.embedding, args.units, args.layers, batch_first=True,
                                bidirectional=True, dropout=recipe_dropout)
            self.out = nn.Linear(2 * args.units, len(pre.labels))

        def forward(self, ids, lengths):
            x = self.embedding(ids)
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True,
                                                       enforce_sorted=False)
            h, _ = self.lstm(packed)
            h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=ids.shape[1])
            return self.out(h)

    recipe_dropout = 0.33
    model = Tagger()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss(reduction="none")

    def epoch(epoch_index):
        model.train()
        for idx in batches.batch_indices(epoch_index):
            inputs, labels, weight = batches.make_batch(idx)
            ids = torch.from_numpy(inputs["token_ids"]).long()
            lengths = torch.from_numpy(inputs["padding_mask"].sum(1))
            logits = model(ids, lengths)
            loss = loss_fn(logits.transpose(1, 2), torch.from_numpy(labels).long())
            weight = torch.from_numpy(weight)
            loss = (loss * weight).sum() / weight.sum()
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()

    epoch(0)  # warm-up, as for Keras
    start = time.perf_counter()
    for e in range(args.epochs):
        epoch(e + 1)
    train = batches.num_tokens * args.epochs / (time.perf_counter() - start)
    model.eval()

    def predict():
        with torch.no_grad():
            for _, inputs in batches:
                ids = torch.from_numpy(inputs["token_ids"]).long()
                model(ids, torch.from_numpy(inputs["padding_mask"].sum(1))).argmax(-1)

    return (train, *predict_speeds(predict, batches))


def main():
    args = parse_args()
    recipe, pre, batches = data(args)
    print(f"{len(batches.lengths)} sentences, {batches.num_tokens} tokens, batch {args.batch_size}, "
          f"{args.layers}x BiLSTM {args.units}, threads {args.threads}, "
          f"padding {batches.padding_fraction():.3f}")
    for name, fn in (("seqtasks (Keras 3 / TF)", lambda: time_keras(recipe, pre, batches, args)),
                     ("PyTorch nn.LSTM", lambda: time_torch(pre, batches, args))):
        train, first, second = fn()
        print(f"{name:26s} train {train:8.0f} tokens/s   predict {first:8.0f} tokens/s "
              f"(first pass), {second:8.0f} tokens/s (second pass)")


if __name__ == "__main__":
    np.random.seed(0)
    main()
