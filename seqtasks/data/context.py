"""Sentences read with their neighbours: consecutive sentences of one document
joined into one example (`data.join_sentences: MAX_TOKENS`).

A sentence-level tagger decides "Japan" in "Japan 2 Syria 1" from six tokens;
with the sentences around it in the same example, the encoder also sees that
the story is a table of football results (the cross-sentence context of
Luoma & Pyysalo 2020 and FLERT, Schweter & Akbik 2020, here for an RNN). Every
token is still trained and scored once: sentences are packed greedily, in
order and within their document, into examples of at most `max_tokens` tokens
(a longer sentence stays alone). The example keeps its sentences' lengths
(`sentence_lengths`), so predictions and gold tags are cut back into
sentences before scoring and prediction: the scores are those of the
sentences, exactly as conlleval reads a file with a blank line between them.

Example:

```python
sentence_groups([5, 7, 30, 4], [0, 0, 0, 1], max_tokens=40)
# [[0, 1], [2], [3]]
```
"""

import datasets

LENGTHS_COLUMN = "sentence_lengths"


def sentence_groups(lengths, document_ids=None, max_tokens=0):
    """Row indices packed into examples: consecutive, same document, at most
    `max_tokens` tokens together (`max_tokens` 0: one row per example).

    Args:
        lengths: tokens per row.
        document_ids: each row's document (None: one document).
        max_tokens: the most tokens an example of several rows may have.
    """
    groups, current, size, last = [], [], 0, object()
    for row, length in enumerate(lengths):
        document = None if document_ids is None else document_ids[row]
        if current and (document != last or size + length > max_tokens):
            groups.append(current)
            current, size = [], 0
        current.append(row)
        size += length
        last = document
    if current:
        groups.append(current)
    return groups


def join_sentences(dataset, max_tokens):
    """Joins consecutive sentences of each document (tagging data).

    Args:
        dataset: a tagging `DatasetDict` (`tokens`, `tags`, optionally
            `document`, `source_line` and token-feature columns).
        max_tokens: the most tokens per joined example; 0 returns `dataset`.

    Returns:
        A `DatasetDict` whose rows are the joined examples: sequence columns
        concatenated, `source_line` and `document` of the first sentence, and
        `sentence_lengths`.
    """
    if not max_tokens:
        return dataset
    out = {}
    for name, split in dataset.items():
        lengths = [len(t) for t in split["tokens"]]
        documents = list(split["document"]) if "document" in split.column_names else None
        groups = sentence_groups(lengths, documents, max_tokens)
        columns = {}
        for column in split.column_names:
            values = list(split[column])
            if isinstance(split.features[column], (datasets.Sequence, datasets.List)):
                columns[column] = join_rows(values, groups)
            else:
                columns[column] = [values[rows[0]] for rows in groups]
        columns[LENGTHS_COLUMN] = [[lengths[r] for r in rows] for rows in groups]
        features = split.features.copy()
        features[LENGTHS_COLUMN] = datasets.Sequence(datasets.Value("int32"))
        out[name] = datasets.Dataset.from_dict(columns, features=features)
    return datasets.DatasetDict(out)


def join_rows(rows, groups):
    """Concatenates the sequences `rows[r]` of each group of row indices."""
    return [[v for r in group for v in rows[r]] for group in groups]


def split_rows(rows, lengths):
    """Cuts per-example sequences back into per-sentence ones.

    Args:
        rows: one sequence (list or array) per joined example.
        lengths: each example's `sentence_lengths`.

    Returns:
        A flat list with one slice per sentence, in order.
    """
    out = []
    for row, sizes in zip(rows, lengths):
        start = 0
        for size in sizes:
            out.append(row[start: start + size])
            start += size
    return out
