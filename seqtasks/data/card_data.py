"""A data card's data: read with the reader its `format` names, and verified
against the card's checksums and counts.

Example:

```python
dataset = read_card("conll2003", tag_column=2)   # the chunk column as tags
verify_card("ptb")                               # [] when the files match the card
```
"""

from seqtasks.data.cards import COUNTERS, cached_sha256, card_file, load_card, sha256_of
from seqtasks.data.readers import (read_class_folder, read_conll_columns, read_conllu,
                                   read_csv_classification, read_label_first, read_lines,
                                   read_parallel_text, read_plain_text)
from seqtasks.errors import DataError, RecipeError, located


READERS = {
    "conllu": read_conllu,
    "conll_columns": read_conll_columns,
    "csv": read_csv_classification,
    "label_first": read_label_first,
    "class_folder": read_class_folder,
    "parallel_text": read_parallel_text,
    "plain_text": read_plain_text,
    "lines": read_lines,
}


def _resolve_files(card, root):
    def resolve(value):
        if isinstance(value, dict):
            return {key: resolve(item) for key, item in value.items()}
        return card_file(card, value, root)

    return resolve(card.files)


def check_checksums(card, root=None):
    """Raises a one-line `DataError` naming the first file whose sha256 is not the card's.

    Hashes are cached by path, size and mtime (`cards.cached_sha256`), so a
    repeat check costs a `stat` per file.

    Args:
        card: a `DataCard`.
        root: an explicit data root.
    """
    for relpath, expected in card.sha256.items():
        path = card_file(card, relpath, root)
        actual = cached_sha256(path)
        if actual != expected:
            raise DataError(f"{path}: sha256 {actual[:12]}... does not match data card {card.name!r} "
                            f"({expected[:12]}...): the file was changed or replaced; restore it "
                            "(seqtasks data verify lists every mismatch)")


def read_card(card, root=None, verify=True, **overrides):
    """Reads a data card's files with the reader named by its `format`.

    Args:
        card: a `DataCard` or a card name.
        root: data root (default: `resolve_data_root()`).
        verify: check the files' checksums against the card first
            (`check_checksums`); a mismatch is an error naming the file.
        **overrides: reader keyword arguments replacing the card's `reader`
            defaults (e.g. `tag_column=2` for CoNLL-2003 chunks).

    Returns:
        The `DatasetDict`.

    Example:
    >>> read_card("conll2003", tag_column=2)["train"].features["tags"]
    """
    if isinstance(card, str):
        card = load_card(card)
    if card.format not in READERS:
        raise RecipeError(located(card.path, None, f"expected a format in {sorted(READERS)}, found {card.format!r}"))
    if verify:
        check_checksums(card, root)
    kwargs = {**(card.reader or {}), **overrides}
    if card.format in ("class_folder", "lines", "plain_text") and card.split:
        kwargs.setdefault("seed", card.split.get("seed"))
        kwargs.setdefault("fractions", card.split.get("fractions"))
    if card.format in ("csv", "label_first", "class_folder") and card.labels:
        kwargs.setdefault("labels", card.labels)
    files = _resolve_files(card, root)
    if card.format == "class_folder":
        return read_class_folder(files["all"], **kwargs)
    if card.format == "plain_text":
        kwargs.pop("seed", None)
    return READERS[card.format](files, **kwargs)


def count_dataset(dataset, keys):
    """Counts one split for the given count keys (see `COUNTERS`).

    Args:
        dataset: a `datasets.Dataset`.
        keys: count names, e.g. `["sentences", "tokens"]`.

    Returns:
        dict key -> int.
    """
    # `<column>_tokens`: the whitespace tokens of a text column (e.g. `en_tokens`).
    def counter(key):
        if key in COUNTERS:
            return COUNTERS[key]
        column = key[: -len("_tokens")] if key.endswith("_tokens") else None
        if column and column in dataset.column_names:
            return lambda ds: sum(len(t.split()) for t in ds[column])
        return None

    unknown = [key for key in keys if counter(key) is None]
    if unknown:
        raise RecipeError(f"unknown count keys {unknown}; known: {sorted(COUNTERS)} and <text column>_tokens")
    return {key: counter(key)(dataset) for key in keys}


def verify_card(card, root=None, check_counts=True):
    """Checks the files of a card against its checksums and counts.

    Args:
        card: a `DataCard` or card name.
        root: an explicit data root.
        check_counts: also read every split and compare the counts.

    Returns:
        A list of problems, one line each (empty: the data matches the card).

    Example:
    >>> verify_card("ptb")
    []
    """
    card = load_card(card) if isinstance(card, str) else card
    problems = []
    for relpath, expected in card.sha256.items():
        try:
            actual = sha256_of(card_file(card, relpath, root))
        except DataError as error:
            problems.append(str(error))
            continue
        if actual != expected:
            problems.append(f"{card.name}: {relpath}: sha256 {actual} does not match the card's {expected}")
    if problems or not check_counts:
        return problems
    dataset = read_card(card, root, verify=False)  # checked above
    for split, expected in card.counts.items():
        if split not in dataset:
            problems.append(f"{card.name}: split {split!r} not produced by the reader (found {list(dataset)})")
            continue
        actual = count_dataset(dataset[split], list(expected))
        for key, value in expected.items():
            if actual[key] != value:
                problems.append(f"{card.name}: split {split} {key}: counted {actual[key]}, card says {value}")
    return problems
