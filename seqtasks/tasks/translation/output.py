"""Translating raw texts with a loaded run, and writing the results as text or JSON."""

import json
import logging

from seqtasks.errors import DataError

LOG = logging.getLogger("seqtasks")


def translate(loaded, texts, beam=None, nbest=1, attention=None, batch_size=64):
    """Translations of raw source texts, in order.

    An empty (or blank) text gets an empty translation and a note, without a
    model call; words outside the source vocabulary are translated as
    `<unk>` and listed under `unknown`; an output is at most
    `evaluate.max_output_length` tokens, however long the input.

    Args:
        loaded: a `LoadedModel` of a translator.
        texts: a string or a list of strings (tokenised by the model's `preprocess.units`).
        beam: beam size (None: the recipe's `evaluate.beam_size`; 1: greedy).
        nbest: hypotheses returned per text (at most `beam`).
        attention: a PNG path: the attention map of the first text is drawn there.

    Returns:
        A list of dicts: `source`, `translation`, `unknown` (source words the
        model does not know), `score` (the length-normalised log probability
        of beam search; None for greedy), and `nbest` (a list of
        `{translation, score}`) when `nbest > 1`.
    """
    from seqtasks.tasks.translation.batching import PairBatches
    from seqtasks.tasks.translation.scoring import decode

    if isinstance(texts, str):
        texts = [texts]
    if not all(isinstance(t, str) for t in texts):
        raise DataError("input: expected texts (strings) to translate")
    e = loaded.recipe.evaluate
    beam = e.beam_size if beam is None else beam
    if not isinstance(beam, int) or beam < 1 or not isinstance(nbest, int) or not 1 <= nbest <= beam:
        raise DataError(f"translate: expected beam >= 1 and 1 <= nbest <= beam, found beam={beam}, nbest={nbest}")
    pre = loaded.preprocessor
    tokens = [pre.split_text(text) if text.strip() else [] for text in texts]
    todo = [i for i, toks in enumerate(tokens) if toks]
    results = [{"source": text, "translation": "", "unknown": [], "score": None,
                "note": "empty input: nothing to translate"} for text in texts]
    if todo:
        batches = PairBatches({"token_ids": [pre.encode_tokens(tokens[i])["token_ids"] for i in todo]}, batch_size)
        limits = {"max_length_a": e.max_length_a, "max_length_b": e.max_length_b,
                  "max_output_length": e.max_output_length}
        predictions = decode(loaded.model, batches, beam_size=beam, length_penalty=e.length_penalty if beam > 1
                             else 0.0, num_return=nbest, **limits)
        for i, hyps in zip(todo, predictions):
            result = {"source": texts[i], "translation": pre.detokenize(hyps[0][0]),
                      "unknown": pre.unknown(tokens[i]), "score": hyps[0][1] if beam > 1 else None}
            if nbest > 1:
                result["nbest"] = [{"translation": pre.detokenize(ids), "score": score} for ids, score in hyps]
            if len(tokens[i]) * e.max_length_a + e.max_length_b > e.max_output_length:
                result["note"] = f"long input: the output is cut at {e.max_output_length} tokens"
            results[i] = result
        if attention:
            from seqtasks.tasks.translation.attention_maps import plot_sentence

            first = todo[0]
            plot_sentence(loaded.model, pre, tokens[first], predictions[0][0][0], attention)
    unknown = sorted({w for r in results for w in r["unknown"]})
    if unknown:
        LOG.warning("source words unknown to the model (translated as <unk>): %s",
                    ", ".join(unknown[:20]) + (" ..." if len(unknown) > 20 else ""))
    return results


def format_results(results, fmt):
    """`translate`'s results as text (one translation per line, n-best lines
    `k<TAB>score<TAB>translation` after it) or JSON."""
    if fmt == "json":
        return json.dumps(results, ensure_ascii=False, indent=2)
    if fmt != "text":
        raise DataError(f"translate: format must be text or json, found {fmt!r}")
    lines = []
    for result in results:
        lines.append(result["translation"])
        for k, hyp in enumerate(result.get("nbest", [])[1:], start=2):
            lines.append(f"  {k}\t{hyp['score']:.4f}\t{hyp['translation']}")
    return "\n".join(lines)
