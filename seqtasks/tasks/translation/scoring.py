"""Decoding a split (greedy or beam), corpus BLEU and chrF (sacrebleu), perplexity."""

import time

import numpy as np

from seqtasks.tasks.translation.batching import PairBatches


def decode(model, batches, beam_size=1, length_penalty=0.0, num_return=1, **limits):
    """Translations of every example of `batches`, in their original order.

    Args:
        model: a `Translator`.
        batches: `PairBatches` (not shuffled).
        beam_size: 1 = greedy search.
        length_penalty: GNMT alpha (beam search).
        num_return: hypotheses per sentence (at most `beam_size`).
        **limits: `max_length_a`, `max_length_b`, `max_output_length`.

    Returns:
        A list with, per example, a list of `num_return` `(token ids, score)`
        pairs, best first (ids without `<eos>`).
    """
    model.decode_settings = dict(beam_size=beam_size, length_penalty=length_penalty,
                                 num_return=min(num_return, beam_size), **limits)
    results = [None] * len(batches.lengths)
    for idx, inputs in batches:
        tokens, scores, lengths = (np.asarray(x) for x in model.predict_on_batch(
            {"token_ids": inputs["token_ids"], "padding_mask": inputs["padding_mask"]}))
        for row, i in enumerate(idx):
            results[i] = [(tokens[row, k, : lengths[row, k]].tolist(), float(scores[row, k]))
                          for k in range(tokens.shape[1])]
    return results


def texts(predictions, vocabulary):
    """The best hypothesis of each prediction as text (see `preprocessor.join_tokens`)."""
    from seqtasks.tasks.translation.preprocessor import join_tokens

    return [join_tokens([vocabulary[i] for i in hyps[0][0] if i > 3 or i == 1]) for hyps in predictions]


def bleu_chrf(hypotheses, references):
    """Corpus BLEU and chrF of detokenised texts, with `tokenize="none"` (the
    texts are already tokenised and lowercased, as Multi30k RNN baselines are
    scored), and sacrebleu's signature strings."""
    from sacrebleu.metrics import BLEU, CHRF

    # force=True: the texts are tokenised on purpose, so sacrebleu's "forgot to
    # detokenize" warning (printed at every dev evaluation) is noise here.
    bleu, chrf = BLEU(tokenize="none", force=True), CHRF()
    b = bleu.corpus_score(hypotheses, [references])
    c = chrf.corpus_score(hypotheses, [references])
    return {"bleu": float(b.score), "chrf": float(c.score), "bleu_brevity_penalty": float(b.bp),
            "bleu_signature": str(bleu.get_signature()), "chrf_signature": str(chrf.get_signature())}


def perplexity(model, batches):
    """Teacher-forced `exp(mean NLL)` per target token (`<eos>` included) and the mean NLL."""
    from keras import ops

    total = count = 0.0
    for idx in batches.batch_indices(0):
        inputs, labels, weight = batches.make_batch(idx)
        log_probs = ops.log_softmax(ops.cast(model(inputs, training=False), "float32"), axis=-1)
        picked = np.take_along_axis(np.asarray(log_probs), labels[..., None], axis=-1)[..., 0]
        total -= float((picked * weight).sum())
        count += float(weight.sum())
    nll = total / max(count, 1.0)
    return {"loss": nll, "perplexity": float(np.exp(nll))}


def timed_decode(model, encoded, batch_size, **settings):
    """`decode` over an encoded split, with its speed in sentences per second
    (the first batch also traces the search: it is decoded once before timing)."""
    batches = PairBatches({"token_ids": encoded["token_ids"]}, batch_size)
    first = next(iter(batches))[1]
    model.decode_settings = dict(beam_size=settings.get("beam_size", 1),
                                 length_penalty=settings.get("length_penalty", 0.0),
                                 num_return=1, **{k: v for k, v in settings.items()
                                                  if k.startswith("max_")})
    model.predict_on_batch(first)  # trace outside the timing
    start = time.perf_counter()
    predictions = decode(model, batches, **settings)
    seconds = time.perf_counter() - start
    return predictions, len(batches.lengths) / max(seconds, 1e-9)
