"""Readers: turn the files of a data card (or the user's files) into a `DatasetDict`.

Every reader returns splits named `train` / `validation` / `test` (those it
was given) with the columns of the dataset conventions:

- tagging: `tokens`, `tags` (Sequence(ClassLabel)), `source_line` (1-based line
  of the sentence's first token, so later checks can say `file:line`);
- classification: `text`, `label` (ClassLabel);
- translation: `source`, `target`;
- language model / generation: `text`.

Bad input raises `DataError` with one line `file:line: expected ..., found ...`.
`read_card` dispatches on a data card's `format`.
"""

import random
import sys
from pathlib import Path

import datasets

from seqtasks.errors import DataError, RecipeError, located

TAG_COLUMNS = {"upos": 3, "xpos": 4}


def read_text_lines(path):
    """Reads a UTF-8 file as a list of lines without their line ends.

    Args:
        path: the file.

    Returns:
        The lines (a final newline does not add an empty line; `\\r` is dropped).

    Raises:
        DataError: the file is missing or is not valid UTF-8.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(located(path, None, f"cannot read the file ({error.strerror})")) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        # Locate the bad byte ourselves: the exception only gives a byte offset.
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        byte = data[error.start]
        raise DataError(located(path, line, f"not valid UTF-8 (byte 0x{byte:02x} at column {column})")) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _tagging_dict(sentences_by_split):
    """Builds the tagging DatasetDict; tag names are the sorted union over all splits."""
    names = sorted({tag for sentences in sentences_by_split.values() for _, tags, _ in sentences for tag in tags})
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "tags": datasets.Sequence(datasets.ClassLabel(names=names)),
            "source_line": datasets.Value("int64"),
        }
    )
    index = {name: i for i, name in enumerate(names)}
    result = {}
    for split, sentences in sentences_by_split.items():
        columns = {
            "tokens": [tokens for tokens, _, _ in sentences],
            "tags": [[index[tag] for tag in tags] for _, tags, _ in sentences],
            "source_line": [line for _, _, line in sentences],
        }
        result[split] = datasets.Dataset.from_dict(columns, features=features)
    return datasets.DatasetDict(result)


def _require_nonempty(path, examples, what="sentences"):
    if not examples:
        raise DataError(located(path, None, f"expected at least one example, found no {what} (empty split)"))


def _parse_conllu(path, tag_column):
    column = TAG_COLUMNS.get(tag_column, tag_column)
    if not isinstance(column, int):
        raise DataError(f"read_conllu: tag_column must be one of {sorted(TAG_COLUMNS)} or an int, received {tag_column!r}")
    sentences, tokens, tags, start = [], [], [], None
    for number, line in enumerate(read_text_lines(path), start=1):
        if not line.strip():
            if tokens:
                sentences.append((tokens, tags, start))
            tokens, tags, start = [], [], None
            continue
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 10:
            raise DataError(located(path, number, f"expected 10 tab-separated columns, found {len(fields)}"))
        word_id = fields[0]
        if "-" in word_id or "." in word_id:
            continue  # multiword ranges and empty nodes are not syntactic words
        if start is None:
            start = number
        tokens.append(fields[1])
        tags.append(fields[column])
    if tokens:
        sentences.append((tokens, tags, start))
    _require_nonempty(path, sentences)
    return sentences


def read_conllu(files, tag_column="upos"):
    """Reads CoNLL-U files (Universal Dependencies) into a tagging `DatasetDict`.

    Comments, multiword ranges (`1-2`) and empty nodes (`8.1`) are skipped, so
    `tokens` are the syntactic words.

    Args:
        files: dict split -> path.
        tag_column: `"upos"` or `"xpos"` (or a 0-based column index).

    Returns:
        `DatasetDict` with `tokens`, `tags`, `source_line`.

    Example:
    >>> read_conllu({"train": "en_ewt-ud-train.conllu"})["train"].features["tags"]
    """
    return _tagging_dict({split: _parse_conllu(path, tag_column) for split, path in files.items()})


def _parse_conll_columns(path, token_column, tag_column):
    sentences, tokens, tags, start = [], [], [], None
    width, width_line = None, None
    for number, line in enumerate(read_text_lines(path), start=1):
        fields = line.split()
        if not fields:
            if tokens:
                sentences.append((tokens, tags, start))
            tokens, tags, start = [], [], None
            continue
        if width is None:
            width, width_line = len(fields), number
            for name, col in (("token_column", token_column), ("tag_column", tag_column)):
                if not -width <= col < width:
                    raise DataError(located(path, number, f"{name} {col} is outside the {width} columns found"))
        elif len(fields) != width:
            raise DataError(
                located(path, number, f"expected {width} columns as in line {width_line}, found {len(fields)}")
            )
        if fields[0] == "-DOCSTART-":
            # A document boundary, not a sentence; it may also end an unterminated sentence.
            if tokens:
                sentences.append((tokens, tags, start))
            tokens, tags, start = [], [], None
            continue
        if start is None:
            start = number
        tokens.append(fields[token_column])
        tags.append(fields[tag_column])
    if tokens:
        sentences.append((tokens, tags, start))
    _require_nonempty(path, sentences)
    return sentences


def read_conll_columns(files, token_column=0, tag_column=-1):
    """Reads whitespace-separated column files (CoNLL-2000/2003 style).

    Blank lines end sentences; `-DOCSTART-` lines are dropped wherever they
    stand (one copy of CoNLL-2003 has its first one at the end of the file).

    Args:
        files: dict split -> path.
        token_column: 0-based column of the tokens.
        tag_column: 0-based column of the tags (negative counts from the end;
            CoNLL-2003: 1 POS, 2 chunk, 3 NER).

    Returns:
        `DatasetDict` with `tokens`, `tags`, `source_line`.

    Example:
    >>> read_conll_columns({"train": "train.txt"}, tag_column=3)
    """
    return _tagging_dict(
        {split: _parse_conll_columns(path, token_column, tag_column) for split, path in files.items()}
    )


SPLITS = ("train", "validation", "test")


def _split_sizes(total, fractions):
    """Sizes of consecutive splits for `fractions` (the last split takes the rest)."""
    if not fractions or len(fractions) > 3 or abs(sum(fractions) - 1.0) > 1e-6:
        raise RecipeError(f"split fractions must be 1 to 3 numbers summing to 1, received {fractions!r}")
    sizes = [int(round(total * f)) for f in fractions[:-1]]
    sizes.append(total - sum(sizes))
    return dict(zip(SPLITS, sizes))


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


def _load_csv(path, split, delimiter, csv_kwargs):
    """Parses one CSV file with the datasets csv builder, quietly unless on a terminal."""
    quiet = not sys.stderr.isatty() and not datasets.utils.are_progress_bars_disabled()
    if quiet:
        datasets.utils.disable_progress_bars()
    try:
        return datasets.load_dataset(
            "csv", data_files={split: str(path)}, delimiter=delimiter, na_filter=False, **csv_kwargs
        )[split]
    finally:
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
        table = _load_csv(path, split, delimiter, csv_kwargs)
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


def read_parallel_text(files):
    """Reads line-aligned source/target files into a translation `DatasetDict`.

    Args:
        files: dict split -> `{source: path, target: path}`.

    Returns:
        `DatasetDict` with `source`, `target`.

    Example:
    >>> read_parallel_text({"train": {"source": "train.en", "target": "train.de"}})
    """
    result = {}
    for split, pair in files.items():
        if not isinstance(pair, dict) or set(pair) != {"source", "target"}:
            raise RecipeError(f"parallel_text files for {split!r} must be {{source: path, target: path}}, received {pair!r}")
        source, target = read_text_lines(pair["source"]), read_text_lines(pair["target"])
        if len(source) != len(target):
            raise DataError(
                located(pair["target"], None, f"expected {len(source)} lines as in {pair['source']}, found {len(target)}")
            )
        _require_nonempty(pair["source"], source, "lines")
        columns = {"source": [s.strip() for s in source], "target": [t.strip() for t in target]}
        result[split] = datasets.Dataset.from_dict(columns)
    return datasets.DatasetDict(result)


def _text_dict(texts_by_split):
    features = datasets.Features({"text": datasets.Value("string")})
    return datasets.DatasetDict(
        {split: datasets.Dataset.from_dict({"text": texts}, features=features) for split, texts in texts_by_split.items()}
    )


def read_lines(files, seed=None, fractions=None, strip=True):
    """Reads one example per non-blank line into a `text` column.

    Args:
        files: dict split -> path; a single `all` entry is split by `fractions`.
        seed: shuffle seed for splitting `all` (`None`: keep file order).
        fractions: 1 to 3 fractions for train / validation / test.
        strip: strip each line (PTB lines start and end with a space).

    Returns:
        `DatasetDict` with `text`.
    """
    texts_by_split = {}
    for split, path in files.items():
        texts = [line.strip() if strip else line for line in read_text_lines(path) if line.strip()]
        _require_nonempty(path, texts, "lines")
        texts_by_split[split] = texts
    if "all" in texts_by_split and fractions:
        texts = list(texts_by_split.pop("all"))
        if seed is not None:
            random.Random(seed).shuffle(texts)
        start = 0
        for split, size in _split_sizes(len(texts), list(fractions)).items():
            texts_by_split[split] = texts[start : start + size]
            start += size
    return _text_dict(texts_by_split)


def read_plain_text(files, fractions=None):
    """Reads each file as one document into a `text` column.

    Args:
        files: dict split -> path; a single `all` entry is cut into consecutive
            character ranges by `fractions` (tinyshakespeare: `[0.9, 0.1]`).
        fractions: 1 to 3 fractions for train / validation / test.

    Returns:
        `DatasetDict` with `text` (one row per split).
    """
    texts_by_split = {}
    for split, path in files.items():
        lines = read_text_lines(path)
        _require_nonempty(path, lines, "lines")
        texts_by_split[split] = ["\n".join(lines) + "\n"]
    if "all" in texts_by_split and fractions:
        text = texts_by_split.pop("all")[0]
        # The last split takes the rest; floor keeps the usual int(0.9 * n) cut.
        cuts, start = [int(len(text) * f) for f in fractions[:-1]], 0
        for split, size in zip(SPLITS, cuts + [None]):
            end = None if size is None else start + size
            texts_by_split[split] = [text[start:end]]
            start = end
    return _text_dict(texts_by_split)


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
    from seqtasks.data.cards import card_file

    def resolve(value):
        if isinstance(value, dict):
            return {key: resolve(item) for key, item in value.items()}
        return card_file(card, value, root)

    return resolve(card.files)


def read_card(card, root=None, **overrides):
    """Reads a data card's files with the reader named by its `format`.

    Args:
        card: a `DataCard` or a card name.
        root: data root (default: `resolve_data_root()`).
        **overrides: reader keyword arguments replacing the card's `reader`
            defaults (e.g. `tag_column=2` for CoNLL-2003 chunks).

    Returns:
        The `DatasetDict`.

    Example:
    >>> read_card("conll2003", tag_column=2)["train"].features["tags"]
    """
    from seqtasks.data.cards import load_card

    if isinstance(card, str):
        card = load_card(card)
    if card.format not in READERS:
        raise RecipeError(located(card.path, None, f"expected a format in {sorted(READERS)}, found {card.format!r}"))
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
