"""Classification readers: CSV/TSV with a column mapping, `<label> <text>` lines,
and a folder of one file per class (seeded, stratified, de-duplicated split).

Each returns a `DatasetDict` with `text` and `label` (ClassLabel) columns; a
label outside the declared classes or an empty text is a `DataError` naming
the file and line.
"""

import random
import re
import sys
from pathlib import Path

import datasets

from seqtasks.errors import DataError, located
from seqtasks.data.text_files import _require_nonempty, _split_sizes, read_text_lines


def _label_index(labels, raw, path, line):
    """Index of a raw label: a class name, or the position of one as a number."""
    if raw in labels:
        return labels.index(raw)
    if raw.isdigit() and int(raw) < len(labels):
        return int(raw)
    raise DataError(located(path, line, f"expected a label in {labels}, found {raw!r}"))


def _classification_dict(examples_by_split, labels=None):
    """Builds the classification DatasetDict from (text, raw label, path, line) tuples."""
    for split, examples in examples_by_split.items():
        for text, _, path, line in examples:
            if not text:
                raise DataError(located(path, line, "expected a non-empty text, found an empty one"))
    if labels is None:
        labels = sorted({raw for examples in examples_by_split.values() for _, raw, _, _ in examples})
    labels = [str(label) for label in labels]
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=labels)})
    result = {}
    for split, examples in examples_by_split.items():
        columns = {
            "text": [text for text, _, _, _ in examples],
            "label": [_label_index(labels, raw, path, line) for _, raw, path, line in examples],
        }
        result[split] = datasets.Dataset.from_dict(columns, features=features)
    return datasets.DatasetDict(result)


_PANDAS_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def load_csv(path, split, delimiter=",", csv_kwargs=None):
    """Parses one CSV file with the datasets csv builder, quietly unless on a terminal.

    A UTF-8 byte order mark is dropped (`utf-8-sig`), and a row with the wrong
    number of fields is a `DataError` naming the file and line (pandas counts
    the header as line 1, as the file does).

    Args:
        path: the file.
        split: the split name the rows get.
        delimiter: the field separator.
        csv_kwargs: more keyword arguments for the csv builder.

    Returns:
        The `datasets.Dataset`.
    """
    quiet = not sys.stderr.isatty() and not datasets.utils.are_progress_bars_disabled()
    if quiet:
        datasets.utils.disable_progress_bars()
    kwargs = {"na_filter": False, "encoding": "utf-8-sig", **(csv_kwargs or {})}
    # The csv builder logs its own "Failed to read file" line before raising;
    # the one-line DataError below says it better.
    verbosity = datasets.utils.logging.get_verbosity()
    datasets.utils.logging.set_verbosity(datasets.utils.logging.CRITICAL)
    try:
        return datasets.load_dataset("csv", data_files={split: str(path)}, delimiter=delimiter, **kwargs)[split]
    except datasets.exceptions.DatasetGenerationError as error:
        found = _PANDAS_FIELDS.search(str(error.__cause__ or ""))
        if found is None:
            raise DataError(located(path, None, f"not a valid CSV file ({error.__cause__ or error})")) from None
        expected, line, saw = found.groups()
        raise DataError(located(path, int(line), f"expected {expected} fields separated by {delimiter!r}, "
                                                 f"found {saw}")) from None
    finally:
        datasets.utils.logging.set_verbosity(verbosity)
        if quiet:
            datasets.utils.enable_progress_bars()


def read_csv_classification(files, columns=None, delimiter=",", labels=None, **csv_kwargs):
    """Reads CSV/TSV files with a header into a classification `DatasetDict`.

    Parsing is done by `datasets.load_dataset("csv", ...)`; texts are stripped
    (SST-2 sentences end with a space) and missing-value guessing is off, so a
    text such as `null` stays a text.

    Args:
        files: dict split -> path.
        columns: dict `{text: <header name>, label: <header name>}`
            (default `{text: text, label: label}`).
        delimiter: the field separator, e.g. `"\\t"`.
        labels: class names; a file label is a name or its 0-based index.
            `None`: the sorted set of labels found.
        **csv_kwargs: passed on to the csv builder (e.g. `quoting=3`).

    Returns:
        `DatasetDict` with `text`, `label`.

    Example:
    >>> read_csv_classification({"train": "train.tsv"}, delimiter="\\t",
    ...     columns={"text": "sentence", "label": "label"}, labels=["negative", "positive"])
    """
    columns = {"text": "text", "label": "label", **(columns or {})}
    examples_by_split = {}
    for split, path in files.items():
        lines = read_text_lines(path)  # checks UTF-8 and gives row -> line numbers
        row_lines = [n for n, line in enumerate(lines, start=1) if line.strip()][1:]
        _require_nonempty(path, row_lines, "rows")
        table = load_csv(path, split, delimiter, csv_kwargs)
        for key, name in columns.items():
            if name not in table.column_names:
                raise DataError(located(path, 1, f"expected a column {name!r} for {key}, found {table.column_names}"))
        texts, raws = table[columns["text"]], table[columns["label"]]
        examples_by_split[split] = [
            (str(text).strip(), str(raw).strip(), path, line) for text, raw, line in zip(texts, raws, row_lines)
        ]
    return _classification_dict(examples_by_split, labels)


def read_label_first(files, labels=None):
    """Reads `<label> <text>` lines (e.g. the stsa.binary SST files).

    Args:
        files: dict split -> path.
        labels: class names; a file label is a name or its 0-based index.

    Returns:
        `DatasetDict` with `text`, `label`.
    """
    examples_by_split = {}
    for split, path in files.items():
        examples = []
        for number, line in enumerate(read_text_lines(path), start=1):
            if not line.strip():
                continue
            raw, _, text = line.strip().partition(" ")
            examples.append((text.strip(), raw, path, number))
        _require_nonempty(path, examples, "lines")
        examples_by_split[split] = examples
    return _classification_dict(examples_by_split, labels)


def _read_class_files(folder, pattern):
    folder = Path(folder)
    paths = sorted(folder.glob(pattern))
    if not paths:
        raise DataError(located(folder, None, f"expected class files matching {pattern!r}, found none"))
    seen, examples = set(), []
    for path in paths:
        lines = read_text_lines(path)
        for number, line in enumerate(lines, start=1):
            text = line.strip()
            if not text:
                raise DataError(located(path, number, "expected a non-empty text, found an empty one"))
            if (text, path.stem) not in seen:  # exact repeats within a class add nothing
                seen.add((text, path.stem))
                examples.append((text, path.stem, path, number))
        _require_nonempty(path, lines, "lines")
    return examples


def read_class_folder(folder, seed=1234, fractions=(0.8, 0.1, 0.1), pattern="*.txt", labels=None):
    """Reads one file per class (class = file stem) and makes a seeded stratified split.

    Repeated (text, class) pairs are kept once. All examples of one text go to
    the same split, even when the text is in several classes, so no text is in
    two splits; texts are stratified by their first class (sorted). The split is
    deterministic for a given seed.

    Args:
        folder: the folder of class files.
        seed: seed of the shuffle.
        fractions: 2 or 3 fractions for train / validation (/ test).
        pattern: glob of the class files.
        labels: class names (default: the sorted file stems).

    Returns:
        `DatasetDict` with `text`, `label`.
    """
    examples = _read_class_files(folder, pattern)
    by_text = {}
    for example in examples:
        by_text.setdefault(example[0], []).append(example)
    strata = {}
    for text, group in by_text.items():
        strata.setdefault(min(e[1] for e in group), []).append(text)
    rng = random.Random(seed)
    examples_by_split = {split: [] for split in _split_sizes(1, list(fractions))}
    for stratum in sorted(strata):
        texts = sorted(strata[stratum])
        rng.shuffle(texts)
        start = 0
        for split, size in _split_sizes(len(texts), list(fractions)).items():
            for text in texts[start : start + size]:
                examples_by_split[split].extend(by_text[text])
            start += size
    for split_examples in examples_by_split.values():
        rng.shuffle(split_examples)  # otherwise a split is ordered by class
    if labels is None:
        labels = sorted({e[1] for e in examples})
    return _classification_dict(examples_by_split, labels)
