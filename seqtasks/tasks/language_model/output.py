"""Language-model results of `predict`: each text's tokens, NLL and perplexity,
written as text (perplexity TAB text) or JSON lines."""

import json

from seqtasks.tasks.language_model.scoring import lm_scores


def text_result(text, nll):
    """One input's result: the text and its scores (`<eos>` included in `tokens`)."""
    return {"text": text, **lm_scores([nll])}


def format_results(results, fmt):
    """Results as text ("text" or "conll": `perplexity<TAB>loss<TAB>text` per line) or "json"."""
    if fmt == "json":
        return "\n".join(json.dumps(r, ensure_ascii=False) for r in results)
    return "\n".join(f"perplexity={r['perplexity']:.3f}\tloss={r['loss']:.4f}\t{r['text']}" for r in results)
