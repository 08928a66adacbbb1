"""Token features computed from the whole document a sentence comes from.

A sentence-level tagger sees one sentence at a time, yet much of what tells a
name from a common word lies elsewhere in the same document (the non-local
features of Ratinov & Roth 2009). News text hides case in two places: the
first word of a sentence is capitalised whatever it is, and headlines are
written in capitals ("SOCCER - JAPAN GET LUCKY WIN"). In both, the same word
written elsewhere in the document shows its usual case: "Japan" in running
text says that "JAPAN" in the headline is a name, "get" says that "GET" is not.

`doc_casing` gives every token the set of shapes (`lower`, `title`, `upper`,
`mixed`) that its lowercased form takes at the informative positions of its
document (not sentence-initial, not in an all-capitals sentence), itself
excluded; `none` when there is no such occurrence and `nonword` for tokens
without letters. It is a token feature like any other (`data.features:
[doc_casing]`): embedded beside the words, its values' vocabulary fitted on the
training split. It is computed, never read from the data, so prediction needs
only the tokens; the sentences of one `predict` call (or of one `-DOCSTART-`
document of a CoNLL input file) form one document.

Example:

```python
document_casing([["EU", "rejects", "Germany", "'s", "call"], ["GERMANY", "REJECTS", "CALL"]])
# [["none", "none", "none", "none", "none"], ["title", "lower", "lower"]]
```
"""

import logging

import datasets

LOG = logging.getLogger("seqtasks")
DOCUMENT_COLUMN = "document"


def word_shape(token):
    """`lower`, `title`, `upper` or `mixed` by the token's letters; None without letters."""
    letters = [c for c in token if c.isalpha()]
    if not letters:
        return None
    if all(c.islower() for c in letters):
        return "lower"
    if all(c.isupper() for c in letters):
        # A single capital ("I", "A") says no more than a capitalised word.
        return "upper" if len(letters) > 1 else "title"
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return "title"
    return "mixed"


def _informative(sentence):
    """Per token: does its case say something about the word (not
    sentence-initial, not in a sentence written in capitals)?"""
    shapes = [word_shape(t) for t in sentence]
    words = [i for i, s in enumerate(shapes) if s is not None]
    long_words = [sentence[i] for i in words if sum(c.isalpha() for c in sentence[i]) > 1]
    if long_words and all(word_shape(t) == "upper" for t in long_words):
        return [False] * len(sentence)
    first = words[0] if words else None
    return [s is not None and i != first for i, s in enumerate(shapes)]


def document_casing(sentences):
    """The `doc_casing` feature of one document.

    Args:
        sentences: the document's sentences, each a list of token strings.

    Returns:
        Per sentence, a list with one value per token: the shapes its
        lowercased form takes at the document's informative positions other
        than its own, joined by `+` in sorted order (e.g. `lower+title`), or
        `none` / `nonword`.
    """
    seen = {}  # lowercased word -> {(sentence, position): shape} at informative positions
    for s, sentence in enumerate(sentences):
        for i, (token, useful) in enumerate(zip(sentence, _informative(sentence))):
            if useful:
                seen.setdefault(token.lower(), {})[(s, i)] = word_shape(token)
    out = []
    for s, sentence in enumerate(sentences):
        row = []
        for i, token in enumerate(sentence):
            if word_shape(token) is None:
                row.append("nonword")
                continue
            shapes = {shape for where, shape in seen.get(token.lower(), {}).items() if where != (s, i)}
            row.append("+".join(sorted(shapes)) if shapes else "none")
        out.append(row)
    return out


DOCUMENT_FEATURES = {"doc_casing": document_casing}


def derived(names):
    """The names among `names` that are computed here rather than read from the data."""
    return [name for name in names if name in DOCUMENT_FEATURES]


def documents_of(count, document_ids=None):
    """Row indices grouped by document, in order of first appearance.

    Args:
        count: number of rows.
        document_ids: one id per row, or None (then all rows form one document).
    """
    if document_ids is None:
        return [list(range(count))]
    groups = {}
    for row, doc in enumerate(document_ids):
        groups.setdefault(doc, []).append(row)
    return list(groups.values())


def compute(names, token_lists, document_ids=None):
    """`{name: per-row value lists}` of the document features `names`.

    Args:
        names: document feature names (keys of `DOCUMENT_FEATURES`).
        token_lists: the rows' token lists.
        document_ids: the rows' document ids (None: one document).
    """
    out = {name: [None] * len(token_lists) for name in names}
    for rows in documents_of(len(token_lists), document_ids):
        for name in names:
            for row, values in zip(rows, DOCUMENT_FEATURES[name]([token_lists[r] for r in rows])):
                out[name][row] = values
    return out


def add_document_features(dataset, names):
    """Adds the document features `names` as string-sequence columns.

    Rows are grouped by the `document` column (the CoNLL readers fill it from
    `-DOCSTART-` lines, CoNLL-U from `# newdoc`); data without that column has
    each example as its own document.

    Args:
        dataset: a tagging `DatasetDict` (a `tokens` column in each split).
        names: document feature names; others are ignored.

    Returns:
        The `DatasetDict` with one new column per name.
    """
    names = derived(names)
    if not names:
        return dataset
    out = {}
    for split, data in dataset.items():
        if DOCUMENT_COLUMN not in data.column_names:
            LOG.warning("%s: no %r column; each example is its own document for %s",
                        split, DOCUMENT_COLUMN, ", ".join(names))
        ids = data[DOCUMENT_COLUMN] if DOCUMENT_COLUMN in data.column_names else range(len(data))
        values = compute(names, data["tokens"], list(ids))
        for name in names:
            if name in data.column_names:
                data = data.remove_columns(name)
            data = data.add_column(name, values[name],
                                   feature=datasets.Sequence(datasets.Value("string")))
        out[split] = data
    return datasets.DatasetDict(out)
