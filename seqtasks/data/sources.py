"""One entry point for a recipe's data: a card, files, a saved dataset, the hub or the user's own.

`load_data` reads whichever source the recipe names and normalises it to the
dataset conventions (split names, canonical columns, ClassLabel features).
"""

import json
import warnings
from pathlib import Path

import datasets

from seqtasks.data import readers
from seqtasks.data.text_files import read_text_lines
from seqtasks.errors import DataError, RecipeError, located

SPLIT_ALIASES = {"dev": "validation", "valid": "validation", "val": "validation"}
FILE_READERS = {"conllu": readers.read_conllu, "conll": readers.read_conll_columns,
                "parallel_text": readers.read_parallel_text}  # {split: {source: path, target: path}}
KEEP_EXTRA = ("source_line", "document")


def _read_files(data):
    return read_data_files(data.files, getattr(data, "reader", None))


def read_data_files(files, reader=None):
    """Reads `data.files` (`{format: ..., split: path, ...}`) into a `DatasetDict`.

    Args:
        files: the format and split -> path.
        reader: keyword arguments for the reader (`data.reader`).

    Returns:
        The `DatasetDict`, one split per path.

    Raises:
        DataError: a malformed file, named with its line.
    """
    files = dict(files)
    fmt = files.pop("format", None)
    kwargs = dict(reader or {})
    if fmt in FILE_READERS:
        return FILE_READERS[fmt](files, **kwargs)
    if fmt == "csv":
        from seqtasks.data.class_readers import load_csv

        delimiter = kwargs.pop("delimiter", kwargs.pop("sep", ","))
        return datasets.DatasetDict({split: load_csv(path, split, delimiter, kwargs) for split, path in files.items()})
    if fmt in ("json", "parquet"):
        for path in files.values():
            if fmt == "json":
                check_json(path)
            elif not Path(path).is_file():
                raise DataError(f"{path}: data file not found")
        return datasets.load_dataset(fmt, data_files={s: str(p) for s, p in files.items()}, **kwargs)
    raise RecipeError(f"data.files.format must be one of {sorted(FILE_READERS) + ['csv', 'json', 'parquet']}, received {fmt!r}")


def check_json(path):
    """Raises a `DataError` naming the line unless `path` is one JSON document
    (an array or object) or JSON lines (one object per line)."""
    lines = read_text_lines(path)  # a missing file, bad UTF-8 and a byte order mark handled there
    text = "\n".join(lines)
    try:
        json.loads(text)
        return
    except ValueError as whole:
        if text.lstrip().startswith("["):  # one document: its own error position
            raise DataError(located(path, whole.lineno, f"not valid JSON ({whole.msg}, column {whole.colno})")) from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            json.loads(line)
        except ValueError as error:
            raise DataError(located(path, number, f"not valid JSON lines ({error.msg}, column {error.colno}); "
                                                  "expected one JSON object per line")) from None


def _read_source(data, user_data):
    given = {"user_data": user_data is not None}
    given.update({key: bool(getattr(data, key, None)) for key in ("card", "files", "disk", "hub")})
    chosen = [key for key, is_set in given.items() if is_set]
    if len(chosen) != 1:
        raise RecipeError(
            f"data needs exactly one of user_data, card, files, disk, hub; received {chosen or 'none of them'}"
        )
    if user_data is not None:
        return user_data
    if data.card:
        from seqtasks.data.card_data import read_card

        return read_card(data.card, root=getattr(data, "root", None), **(getattr(data, "reader", None) or {}))
    if data.files:
        return _read_files(data)
    if data.disk:
        return datasets.load_from_disk(str(data.disk))
    hub = dict(data.hub)
    if "id" not in hub:
        raise RecipeError(f"data.hub needs an id, received {hub!r}")
    return datasets.load_dataset(hub["id"], hub.get("name"), revision=hub.get("revision"))


def _rename_splits(dataset):
    if isinstance(dataset, datasets.Dataset):
        return datasets.DatasetDict({"train": dataset})
    if not isinstance(dataset, datasets.DatasetDict):
        raise RecipeError(f"expected a datasets.DatasetDict, received {type(dataset).__name__}")
    renamed = {SPLIT_ALIASES.get(name, name): split for name, split in dataset.items()}
    if len(renamed) != len(dataset):
        raise RecipeError(f"split names collide after mapping dev/valid to validation: {list(dataset)}")
    return datasets.DatasetDict(renamed)


def _rename_columns(dataset, columns, required, keep=()):
    columns = {canonical: source for canonical, source in (columns or {}).items() if canonical != source}
    found = dataset[next(iter(dataset))].column_names
    missing_sources = [source for source in columns.values() if source not in found]
    if missing_sources:
        raise RecipeError(f"data.columns names columns {missing_sources} that are not in the data; found {found}")
    dataset = dataset.rename_columns({source: canonical for canonical, source in columns.items()})
    found = dataset[next(iter(dataset))].column_names
    missing = [name for name in required if name not in found]
    if missing:
        raise RecipeError(
            f"the data lacks columns {missing} (found {found}); map them with data.columns, e.g. {{{missing[0]}: <column>}}"
        )
    missing = [name for name in keep if name not in found]
    if missing:
        raise RecipeError(
            f"data.features names columns {missing} that are not in the data (found {found}); "
            "map them with data.columns or read them with data.reader.feature_columns"
        )
    extra = [name for name in found if name not in required and name not in KEEP_EXTRA and name not in keep]
    return dataset.remove_columns(extra) if extra else dataset


def _where(data, split, row):
    """`file:line` of an example of `data.files` (CSV: a header line first; JSON
    lines: one per line), else `<split> split, example N`."""
    files = getattr(data, "files", None) or {}
    fmt, path = files.get("format"), files.get(split)
    if path is None:
        path = next((p for s, p in files.items() if SPLIT_ALIASES.get(s) == split), None)
    if fmt in ("csv", "json") and path is not None:
        return f"{path}:{row + (2 if fmt == 'csv' else 1)}"
    return f"{split} split, example {row + 1}"


def _select_languages(dataset, languages):
    """Translation pairs as `source` / `target` columns, picked by `data.languages`
    from a `translation` column of `{language: text}` dicts (the hub's
    translation format) or from two columns named by language."""
    if not languages:
        return dataset
    source, target = languages["source"], languages["target"]
    first = dataset[next(iter(dataset))]
    found = first.column_names
    if "translation" in found:
        keys = sorted(first[0]["translation"]) if len(first) else []
        missing = [lang for lang in (source, target) if lang not in keys]
        if missing:
            raise RecipeError(f"data.languages: the translation column has languages {keys}, not {missing}")

        def pick(batch):
            pairs = batch["translation"]
            return {"source": [p[source] for p in pairs], "target": [p[target] for p in pairs]}

        return dataset.map(pick, batched=True, remove_columns=["translation"], desc="picking languages")
    if source in found and target in found:
        return dataset.rename_columns({source: "source", target: "target"})
    raise RecipeError(f"data.languages {source} -> {target}: the data has neither a 'translation' column "
                      f"nor the columns {source!r} and {target!r}; found {found}")


def _class_label(dataset, column, labels, data=None):
    """Turns a label column (or a sequence of labels) into ClassLabel features."""
    feature = dataset[next(iter(dataset))].features[column]
    inner = getattr(feature, "feature", None)
    leaf = inner if inner is not None else feature
    if isinstance(leaf, datasets.ClassLabel):
        return dataset
    is_string = getattr(leaf, "dtype", None) in ("string", "large_string")
    if is_string:
        declared = labels
        values = set()
        for name, split in dataset.items():
            for row, value in enumerate(split[column]):
                row_values = value if inner is not None else [value]
                if any(v is None or not str(v).strip() for v in row_values):
                    raise DataError(f"{_where(data, name, row)}: expected a label in column {column!r}, "
                                    "found an empty one")
                if declared is not None:
                    _check_declared(row_values, declared, _where(data, name, row))
                values.update(row_values)
        labels = list(declared) if declared is not None else sorted(values)
    elif labels is None:
        raise RecipeError(
            f"column {column!r} holds non-string labels ({getattr(leaf, 'dtype', leaf)}) without label names; "
            "give the class names in order as data.labels, or use string labels"
        )
    label = datasets.ClassLabel(names=[str(name) for name in labels])
    new = datasets.Sequence(label) if inner is not None else label
    if not is_string:
        top = max((max(v, default=-1) if inner is not None else v) for split in dataset.values() for v in split[column])
        if top >= len(labels):
            raise RecipeError(f"column {column!r} has label index {top} but data.labels has {len(labels)} names")
    return dataset.cast_column(column, new)


def _check_declared(values, declared, where):
    unknown = [v for v in values if v not in declared]
    if unknown:
        raise DataError(f"{where}: label {unknown[0]!r} is not one of the "
                        f"declared classes ({', '.join(map(str, declared))})")


def _carve_validation(dataset, seed):
    warnings.warn(f"no validation split: using 10% of train (split_seed={seed}) as validation", stacklevel=3)
    parts = dataset["train"].train_test_split(test_size=0.1, seed=seed)
    result = dict(dataset)
    result["train"], result["validation"] = parts["train"], parts["test"]
    return datasets.DatasetDict(result)


def load_data(data, columns, label_columns=(), user_data=None, require_train=True):
    """Loads the data a recipe names and normalises it to the dataset conventions.

    Exactly one source must be given: `user_data` (a `DatasetDict`), `data.card`
    (read from the data root), `data.files` (`{format: json|csv|parquet|conllu|conll,
    train: path, ...}`), `data.disk` (`load_from_disk`) or `data.hub`
    (`{id, name, revision}`). Then split names `dev`/`valid` become `validation`,
    columns are renamed by `data.columns` (canonical name -> source column)
    and only the task's columns and the token-feature columns in `data.features` kept,
    string labels become `ClassLabel`s (integer labels need `data.labels`), a
    missing validation split is carved from train (10%, `data.split_seed`), and
    `data.limit` keeps the first N examples of each split it names.

    Args:
        data: the recipe's data section (attributes card, root, files, disk, hub,
            columns, reader, limit, split_seed; optionally labels).
        columns: the columns the task kind needs (e.g. `("tokens", "tags")`).
        label_columns: those of `columns` that hold labels (made `ClassLabel`s).
        user_data: a `DatasetDict` given in Python instead of a recipe source.
        require_train: False to normalise data that is only scored (no train
            split needed, no validation carved, no `data.limit` applied).

    Returns:
        The normalised `datasets.DatasetDict`.

    Example:
    >>> load_data(recipe.data, ("tokens", "tags"), ("tags",))["train"].features["tags"]
    """
    dataset = _rename_splits(_read_source(data, user_data))
    dataset = _select_languages(dataset, getattr(data, "languages", None))
    features = getattr(data, "features", None) or ()
    dataset = _rename_columns(dataset, getattr(data, "columns", None), columns, keep=list(features))
    labels = getattr(data, "labels", None)
    for column in label_columns:
        dataset = _class_label(dataset, column, labels, data)
    if not require_train:
        return dataset
    if "train" not in dataset:
        raise RecipeError(f"the data has no train split; found splits {list(dataset)}")
    if "validation" not in dataset:
        dataset = _carve_validation(dataset, getattr(data, "split_seed", None) or 0)
    for split, limit in (getattr(data, "limit", None) or {}).items():
        split = SPLIT_ALIASES.get(split, split)
        if split not in dataset:
            raise RecipeError(f"data.limit names split {split!r}; the data has {list(dataset)}")
        dataset[split] = dataset[split].select(range(min(int(limit), len(dataset[split]))))
    return dataset
