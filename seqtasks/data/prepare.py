"""Dataset-level steps between loading and preprocessing, the same for every
task kind: labels that occur in evaluation splits but never in training are
reported (not a crash), and dev can be appended to train.
"""

import collections
import logging

import datasets

from seqtasks.registry import task_kind

LOG = logging.getLogger("seqtasks")


def prepare_data(recipe, data=None):
    """Loads the data named by the recipe and applies its task kind's checks.

    Args:
        recipe: a `Recipe`.
        data: a `datasets.DatasetDict` to use instead of the recipe's data source.

    Returns:
        `(dataset, scheme, unseen)`: the `DatasetDict`, the label scheme the
        model trains in (span schemes; None otherwise) and labels never seen in
        training (`{split: {label: count}}`). The recipe's `data` section is
        filled in with what was applied (e.g. `data.target_scheme`), so the
        saved recipe records it.
    """
    from seqtasks.data.sources import load_data

    kind = task_kind(recipe.task)
    columns, label_columns = kind.data_columns(recipe)
    if data is not None:
        # The given data replaces the recipe's source (a shipped recipe names
        # its card), so the saved recipe does not claim data it never read.
        recipe.data.card = recipe.data.files = recipe.data.disk = recipe.data.hub = None
    dataset = load_data(recipe.data, columns, label_columns, user_data=data)
    dataset, scheme = kind.prepare(dataset, recipe)
    unseen = unseen_labels(dataset, kind.label_column) if kind.label_column else {}  # LMs: no labels
    return dataset, scheme, unseen


def prepare_evaluation_data(recipe, data, split="test"):
    """Data that a trained run is only scored on: a `DatasetDict` or one file.

    Unlike `prepare_data`, no train split is needed, no validation split is
    carved and `data.limit` is not applied; the recipe's own data source is
    not read.

    Args:
        recipe: the run's resolved `Recipe` (not changed).
        data: a `datasets.DatasetDict`, or the path of a file read with the
            reader the run was trained with (its rows become `split`).
        split: the split name a file's rows get.

    Returns:
        The prepared `DatasetDict`.
    """
    import copy
    from pathlib import Path

    from seqtasks.data.sources import load_data

    kind = task_kind(recipe.task)
    recipe = copy.deepcopy(recipe)
    paths = {}
    if isinstance(data, (str, Path)):
        from seqtasks.data.evaluation_files import read_evaluation_file

        paths = {split: str(data)}
        data = read_evaluation_file(recipe, data, split)
    source = recipe.data
    source.card = source.files = source.disk = source.hub = None
    source.limit = {}
    dataset = load_data(source, kind.columns, kind.label_columns, user_data=data, require_train=False)
    dataset, _ = kind.prepare(dataset, recipe, paths or None)
    return dataset


def unseen_labels(dataset, column):
    """Labels present in validation/test but never in train, with their counts.

    Args:
        dataset: a `DatasetDict` whose `column` is a `ClassLabel` or a
            sequence of them.
        column: the label column (`label`, `tags`).

    Returns:
        `{split: {label: count}}` for the splits that have any.
    """

    def counts(split):
        feature = split.features[column]
        inner = getattr(feature, "feature", None)  # Sequence(ClassLabel) -> ClassLabel
        names = (inner or feature).names
        values = split[column]
        flat = (v for row in values for v in row) if inner is not None else values
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
