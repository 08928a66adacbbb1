"""Dataset-level checks and conversions between loading and preprocessing.

Span labels (NER, chunking) are validated in their declared scheme (illegal
tags are rejected with file:line, or repaired when the recipe asks for it)
and converted explicitly to the scheme the model trains in. Labels that occur
in evaluation splits but never in training are reported, not a crash.
"""

import collections
import logging

import datasets

LOG = logging.getLogger("seqtasks")


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


def unseen_labels(dataset, task):
    """Labels present in validation/test but never in train, with their counts.

    Returns:
        `{split: {label: count}}` for the splits that have any.
    """
    column = "tags" if task == "tagging" else "label"

    def counts(split):
        feature = split.features[column]
        names = getattr(feature, "feature", feature).names
        values = split[column]
        flat = (v for row in values for v in row) if task == "tagging" else values
        return collections.Counter(names[v] for v in flat)

    seen = set(counts(dataset["train"]))
    report = {}
    for name in dataset:
        if name == "train":
            continue
        missing = {k: n for k, n in counts(dataset[name]).items() if k not in seen}
        if missing:
            report[name] = missing
            LOG.warning("%s: labels never seen in training: %s", name,
                        ", ".join(f"{k} ({n})" for k, n in sorted(missing.items())))
    return report


def with_dev(dataset):
    """The dataset with its validation rows appended to train (`train.train_with_dev`).

    The final-model protocol of Chiu & Nichols (2016), ELMo and Flair
    (`train_with_dev=True`) for CoNLL-2003: settings and epochs are chosen on
    dev in an earlier run, then the model trains on train + dev and is scored
    on test. The validation split stays in the dataset (it is still printed
    each epoch), but it is no longer held out.

    Args:
        dataset: a `DatasetDict` with `train` and `validation`.

    Returns:
        A `DatasetDict` whose `train` is train followed by validation; document
        ids of the validation rows are shifted past train's, so no document
        of one file merges with a document of the other.

    Example:

    ```python
    merged = with_dev(dataset)
    len(merged["train"]) == len(dataset["train"]) + len(dataset["validation"])
    ```
    """
    train, dev = dataset["train"], dataset["validation"]
    if "document" in train.column_names and "document" in dev.column_names and len(train):
        offset = max(train["document"]) + 1
        dev = dev.map(lambda batch: {"document": [d + offset for d in batch["document"]]},
                      batched=True, desc="shifting dev document ids")
    out = dict(dataset)
    out["train"] = datasets.concatenate_datasets([train, dev.cast(train.features)])
    return datasets.DatasetDict(out)
