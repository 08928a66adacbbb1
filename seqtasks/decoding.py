"""Decoding steps after the model: document-level label consistency of entities.

A sentence-level tagger may call "Jordan" a person in one sentence and a
location three sentences later, though a news story almost always means one
thing by one name. `document_consistency` gives every predicted entity the
type that the same words (case-insensitive) were given most often in the
same document, when one type has a strict majority (the label-consistency
step of two-stage NER systems, Krishnan & Manning 2006). Spans keep their
boundaries, so the tags stay legal in IOB2 and IOBES.

A recipe turns it on with `model.head.consistency: document`; it then applies
to the dev metric, every evaluation and `predict` (one call, or one
`-DOCSTART-` document of a CoNLL input, is one document).

Example:

```python
tags = [["S-PER", "O"], ["S-LOC", "O"], ["S-PER"]]
document_consistency(tags, [["Jordan", "said"], ["Jordan", "won"], ["Jordan"]], [0, 0, 0])
# [["S-PER", "O"], ["S-PER", "O"], ["S-PER"]]   (two votes to one)
```
"""

import collections

import numpy as np

CONSISTENCY = ("none", "document")


def _spans(tags):
    from seqeval.metrics.sequence_labeling import get_entities

    return get_entities(list(tags))


def document_consistency(tag_rows, token_rows, document_ids=None, labels=None):
    """Re-types entities to the majority type of the same words in their document.

    Args:
        tag_rows: predicted tags per sentence (IOB2 or IOBES strings).
        token_rows: the sentences' tokens.
        document_ids: each sentence's document (None: all one document).
        labels: the tags the model knows; a re-typing that would need another
            tag is skipped (None: no check).

    Returns:
        New tag rows (lists of strings).
    """
    from seqtasks.data.document_features import documents_of

    out = [list(tags) for tags in tag_rows]
    known = set(labels) if labels is not None else None
    for rows in documents_of(len(out), document_ids):
        found = [(r, kind, start, end, tuple(t.lower() for t in token_rows[r][start: end + 1]))
                 for r in rows for kind, start, end in _spans(out[r])]
        votes = collections.defaultdict(collections.Counter)
        for _, kind, _, _, words in found:
            votes[words][kind] += 1
        for r, kind, start, end, words in found:
            best, count = votes[words].most_common(1)[0]
            if best == kind or 2 * count <= sum(votes[words].values()):
                continue
            new = [tag[:2] + best for tag in out[r][start: end + 1]]
            if known is None or known.issuperset(new):
                out[r][start: end + 1] = new
    return out


def consistent_ids(predictions, labels, token_rows, document_ids=None):
    """`document_consistency` on predicted label ids (lists of int arrays).

    Returns:
        The re-typed predictions as int32 arrays, ids into `labels`.
    """
    names = np.asarray(labels)
    index = {name: i for i, name in enumerate(labels)}
    tags = document_consistency([names[p] for p in predictions], token_rows, document_ids, labels)
    return [np.asarray([index[t] for t in row], dtype=np.int32) for row in tags]


def split_postprocess(consistency, labels, scheme, split_data):
    """The steps between the model's predictions and the scores of one split, or None.

    Document consistency (span labels, `consistency: document`) re-types the
    predicted entities; examples of joined sentences (`data.join_sentences`)
    are cut back into their sentences, predictions and gold alike, so that
    the split is scored sentence by sentence.

    Args:
        consistency: `model.head.consistency` ("none" or "document").
        labels: the model's label names.
        scheme: the span scheme of the labels (None: not spans).
        split_data: the split (`tokens`, and `document` / `sentence_lengths` when known).

    Returns:
        None, or a function `(predictions, gold) -> (predictions, gold)` on label-id rows.
    """
    from seqtasks.data.context import LENGTHS_COLUMN, split_rows

    consistent = consistency not in (None, "none") and bool(scheme)
    lengths = list(split_data[LENGTHS_COLUMN]) if LENGTHS_COLUMN in split_data.column_names else None
    if not consistent and lengths is None:
        return None
    tokens = list(split_data["tokens"]) if consistent else None
    documents = list(split_data["document"]) if consistent and "document" in split_data.column_names else None

    def post(predictions, gold):
        if consistent:
            predictions = consistent_ids(predictions, labels, tokens, documents)
        if lengths is not None:
            predictions, gold = split_rows(predictions, lengths), split_rows(gold, lengths)
        return predictions, gold

    return post
