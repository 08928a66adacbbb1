"""Span labels (NER, chunking): validated in their declared scheme (illegal
tags are rejected with file:line, or repaired when the recipe asks for it) and
converted explicitly to the scheme the model trains in."""

import logging

import datasets

LOG = logging.getLogger("seqtasks")


def declared_scheme(recipe):
    """The scheme the recipe's data is written in and split -> file name, so
    that errors name the file (not the split)."""
    if recipe.data.files:
        from seqtasks.data.sources import SPLIT_ALIASES

        paths = {SPLIT_ALIASES.get(split, split): str(path)
                 for split, path in recipe.data.files.items() if split != "format"}
        return recipe.data.scheme, paths
    if not recipe.data.card:
        return recipe.data.scheme, {}
    from seqtasks.data.cards import card_file, load_card

    card = load_card(recipe.data.card)
    paths = {split: str(card_file(card, rel, recipe.data.root)) for split, rel in card.files.items()
             if isinstance(rel, str)}
    return recipe.data.scheme or card.scheme, paths


def tag_strings(split):
    """The `tags` column of a tagging split as lists of strings."""
    names = split.features["tags"].feature.names
    return [[names[i] for i in row] for row in split["tags"]]


def apply_scheme(dataset, declared, target=None, repair=False, paths=None):
    """Checks every split's tags in `declared` and converts them to `target`.

    Args:
        dataset: tagging `DatasetDict` (`tokens`, `tags` and optionally `source_line`).
        declared: the scheme the tags are written in ("IOB1", "IOB2", "IOBES").
        target: the scheme to train and evaluate in (default: IOB2 for IOB1 data,
            else `declared`).
        repair: fix illegal tags explicitly (conlleval-style) instead of raising.
        paths: optional split -> file name, for error messages.

    Returns:
        `(dataset, target)` with the tags rewritten as a new `Sequence(ClassLabel)`.
    """
    from seqtasks.data import schemes

    target = target or ("IOB2" if declared.upper() == "IOB1" else declared)
    converted, repaired = {}, 0
    for name, split in dataset.items():
        rows = tag_strings(split)
        if repair:
            fixed = [schemes.repair(r, declared) for r in rows]
            repaired += sum(f != r for f, r in zip(fixed, rows))
            rows = fixed
        else:
            lines = split["source_line"] if "source_line" in split.column_names else None
            schemes.check_tags(rows, declared, path=(paths or {}).get(name, name), lines=lines)
        converted[name] = [schemes.convert(r, declared, target) for r in rows]
    if repaired:
        LOG.warning("repaired %d sentences with tags illegal in %s", repaired, declared)
    names = sorted({t for rows in converted.values() for r in rows for t in r})
    label = datasets.ClassLabel(names=names)
    out = {}
    for name, split in dataset.items():
        features = split.features.copy()
        features["tags"] = datasets.Sequence(label)
        columns = {c: split[c] for c in split.column_names}
        columns["tags"] = converted[name]
        out[name] = datasets.Dataset.from_dict(columns, features=features)
    return datasets.DatasetDict(out), target


