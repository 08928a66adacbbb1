"""Attention maps (source tokens x target tokens) of translated sentences, as PNGs."""

import numpy as np

from seqtasks.tasks.translation.preprocessor import BOS_ID, EOS_ID


def attention_weights(model, source_ids, target_ids):
    """Teacher-forced attention of one sentence: `(len(target) + 1, len(source))`
    weights (rows: each output token and the final `<eos>`)."""
    source = np.asarray(source_ids, dtype=np.int32)[None, :]
    inputs = {"token_ids": source, "padding_mask": np.ones_like(source),
              "target_ids": np.asarray([[BOS_ID] + list(target_ids)], dtype=np.int32)}
    _, weights = model.forced(inputs)
    return np.asarray(weights)[0]


def plot_sentence(model, preprocessor, source_tokens, target_ids, path):
    """Draws the attention of a translated sentence to `path` (a PNG)."""
    from seqtasks.reporting.plots import plot_attention

    source_ids = preprocessor.encode_tokens(source_tokens)["token_ids"]
    weights = attention_weights(model, source_ids, target_ids)
    target_tokens = [preprocessor.target_tokens[i] for i in target_ids] + ["<eos>"]
    plot_attention(weights, list(source_tokens) + ["<eos>"], target_tokens, path)


def plot_attention_maps(model, preprocessor, encoded, count, folder, limits):
    """Greedy translations of the first `count` examples of an encoded split,
    drawn as `attention_<i>.png` in `folder`."""
    from seqtasks.tasks.translation.batching import PairBatches
    from seqtasks.tasks.translation.scoring import decode

    count = min(count, len(encoded["token_ids"]))
    source_ids = encoded["token_ids"][:count]
    predictions = decode(model, PairBatches({"token_ids": source_ids}, count), **limits)
    inverse = preprocessor.tokens
    for i, (ids, hyps) in enumerate(zip(source_ids, predictions)):
        source_tokens = [inverse[t] for t in ids[:-1]]  # without the <eos> encode_tokens adds
        target = [t for t in hyps[0][0] if t != EOS_ID]
        plot_sentence(model, preprocessor, source_tokens, target, folder / f"attention_{i + 1}.png")
