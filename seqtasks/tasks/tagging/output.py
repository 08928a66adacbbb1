"""Tagging results: tags per token, entities with character offsets; written
as text (one line per input: `token/TAG ...`, a tab, then the entities), CoNLL (token TAB tag) or JSON lines."""

import json

from seqtasks.data.schemes import convert


def tag_result(text, tokens, tags, scheme=None, tag_scheme=None):
    """One input's result dict.

    Args:
        text: the raw input text (tokens joined by spaces for token-list input).
        tokens: `[(token, start, end)]` with character offsets into `text`.
        tags: the predicted tag strings (in `scheme`).
        scheme: the span scheme the model was trained in, or None.
        tag_scheme: the span scheme to write the tags in (None keeps `scheme`).

    Returns:
        `{"tokens", "tags"}` and, for span schemes, `entities` (`text`, `type`,
        `start`, `end`).
    """
    result = {"tokens": [t for t, _, _ in tokens], "tags": tags}
    if scheme:
        from seqeval.metrics.sequence_labeling import get_entities

        result["entities"] = [
            {"text": text[tokens[s][1]: tokens[e][2]], "type": kind,
             "start": tokens[s][1], "end": tokens[e][2]}
            for kind, s, e in get_entities(tags)]
        if tag_scheme:
            result["tags"] = convert(tags, scheme, tag_scheme)
    return result


def format_results(results, fmt):
    """Tagging results as text: "text", "conll" or "json" (one JSON line each)."""
    if fmt == "json":
        return "\n".join(json.dumps(r, ensure_ascii=False) for r in results)
    if fmt == "conll":
        return "\n\n".join("\n".join(f"{t}\t{g}" for t, g in zip(r["tokens"], r["tags"]))
                           for r in results)
    # Text: one line per input (so that output lines match input lines), the
    # entities after a tab as `TYPE start-end "text"`, separated by " | ".
    out = []
    for r in results:
        line = " ".join(f"{t}/{g}" for t, g in zip(r["tokens"], r["tags"]))
        if r.get("entities"):
            line += "\t" + " | ".join(f"{e['type']} {e['start']}-{e['end']} {json.dumps(e['text'], ensure_ascii=False)}"
                                       for e in r["entities"])
        out.append(line)
    return "\n".join(out)
