"""Readers: turn the files of a data card (or the user's files) into a `DatasetDict`.

Every reader returns splits named `train` / `validation` / `test` (those it
was given) with the columns of the dataset conventions:

- tagging: `tokens`, `tags` (Sequence(ClassLabel)), `source_line` (1-based line
  of the sentence's first token, so later checks can say `file:line`),
  `document` (index of the sentence's document in its file, for document-level
  features), plus one `Sequence(string)` column per requested token feature (e.g. `pos`);
- classification: `text`, `label` (ClassLabel);
- translation: `source`, `target`;
- language model / generation: `text`.

Bad input raises `DataError` with one line `file:line: expected ..., found ...`.
`seqtasks.data.card_data.read_card` dispatches on a data card's `format`.
"""


import datasets

from seqtasks.errors import DataError, RecipeError, located
from seqtasks.data.class_readers import (  # noqa: F401  (re-exported)
    read_class_folder,
    read_csv_classification,
    read_label_first,
)
from seqtasks.data.text_files import SPLITS, _require_nonempty, _split_sizes, read_text_lines  # noqa: F401
from seqtasks.data.text_readers import read_lines, read_parallel_text, read_plain_text  # noqa: F401

TAG_COLUMNS = {"lemma": 2, "upos": 3, "xpos": 4}
RESERVED_COLUMNS = ("tokens", "tags", "source_line", "document")


def _tagging_dict(sentences_by_split, feature_names=()):
    """Builds the tagging DatasetDict; tag names are the sorted union over all splits.

    Each split is `(sentences, documents)`: each sentence `(tokens, tags,
    source_line, features)` with `features` a list of per-token value lists,
    one per name in `feature_names`, and `documents` the index of each
    sentence's document in its file (the `document` column).
    """
    names = sorted({tag for sentences, _ in sentences_by_split.values() for _, tags, _, _ in sentences for tag in tags})
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "tags": datasets.Sequence(datasets.ClassLabel(names=names)),
            "source_line": datasets.Value("int64"),
            "document": datasets.Value("int64"),
            **{name: datasets.Sequence(datasets.Value("string")) for name in feature_names},
        }
    )
    index = {name: i for i, name in enumerate(names)}
    result = {}
    for split, (sentences, documents) in sentences_by_split.items():
        columns = {
            "tokens": [tokens for tokens, _, _, _ in sentences],
            "tags": [[index[tag] for tag in tags] for _, tags, _, _ in sentences],
            "source_line": [line for _, _, line, _ in sentences],
            "document": documents,
        }
        for k, name in enumerate(feature_names):
            columns[name] = [values[k] for _, _, _, values in sentences]
        result[split] = datasets.Dataset.from_dict(columns, features=features)
    return datasets.DatasetDict(result)


def feature_column_indices(reader, feature_columns, names=None):
    """Validates `feature_columns` ({feature name: column}) -> [(name, int column)]."""
    out = []
    for name, column in (feature_columns or {}).items():
        if name in RESERVED_COLUMNS:
            raise DataError(f"{reader}: feature name {name!r} is reserved; choose another (not one of {list(RESERVED_COLUMNS)})")
        column = (names or {}).get(column, column)
        if not isinstance(column, int) or isinstance(column, bool):
            known = f"one of {sorted(names)} or " if names else ""
            raise DataError(f"{reader}: feature_columns[{name!r}] must be {known}an int column index, received {column!r}")
        out.append((name, column))
    return out


def _new_sentence(count):
    return [], [], None, [[] for _ in range(count)]


class _Sentences:
    """The sentences of a file read so far, each with its document's index."""

    def __init__(self):
        self.sentences, self.documents, self.document = [], [], 0

    def add(self, tokens, tags, start, values):
        """Keeps a finished sentence (an empty one is dropped)."""
        if tokens:
            self.sentences.append((tokens, tags, start, values))
            self.documents.append(self.document)

    def new_document(self):
        """Starts a document (a boundary before any sentence starts none)."""
        if self.sentences:
            self.document += 1


def _parse_conllu(path, tag_column, feature_columns=()):
    column = TAG_COLUMNS.get(tag_column, tag_column)
    if not isinstance(column, int):
        raise DataError(f"read_conllu: tag_column must be one of {sorted(TAG_COLUMNS)} or an int, received {tag_column!r}")
    out = _Sentences()
    tokens, tags, start, values = _new_sentence(len(feature_columns))
    for number, line in enumerate(read_text_lines(path), start=1):
        if not line.strip():
            out.add(tokens, tags, start, values)
            tokens, tags, start, values = _new_sentence(len(feature_columns))
            continue
        if line.startswith("#"):
            if line.startswith("# newdoc"):
                out.new_document()
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
        for k, (_, col) in enumerate(feature_columns):
            values[k].append(fields[col])
    out.add(tokens, tags, start, values)
    _require_nonempty(path, out.sentences)
    return out.sentences, out.documents


def read_conllu(files, tag_column="upos", feature_columns=None):
    """Reads CoNLL-U files (Universal Dependencies) into a tagging `DatasetDict`.

    Comments, multiword ranges (`1-2`) and empty nodes (`8.1`) are skipped, so
    `tokens` are the syntactic words.

    Args:
        files: dict split -> path.
        tag_column: `"upos"` or `"xpos"` (or a 0-based column index).
        feature_columns: optional `{name: column}` of extra per-token input
            columns (`"lemma"`, `"upos"`, `"xpos"` or an index), each read into
            a string-sequence column `name`.

    Returns:
        `DatasetDict` with `tokens`, `tags`, `source_line`, `document` (index of
        the sentence's document: `# newdoc` comments start one) and the feature columns.

    Example:
    >>> read_conllu({"train": "en_ewt-ud-train.conllu"})["train"].features["tags"]
    """
    columns = feature_column_indices("read_conllu", feature_columns, TAG_COLUMNS)
    return _tagging_dict({split: _parse_conllu(path, tag_column, columns) for split, path in files.items()},
                         [name for name, _ in columns])


def _parse_conll_columns(path, token_column, tag_column, feature_columns=()):
    out = _Sentences()
    tokens, tags, start, values = _new_sentence(len(feature_columns))
    width, width_line = None, None
    for number, line in enumerate(read_text_lines(path), start=1):
        fields = line.split()
        if not fields:
            out.add(tokens, tags, start, values)
            tokens, tags, start, values = _new_sentence(len(feature_columns))
            continue
        if width is None:
            width, width_line = len(fields), number
            named = [("token_column", token_column), ("tag_column", tag_column)]
            named += [(f"feature_columns[{name!r}]", col) for name, col in feature_columns]
            for name, col in named:
                if not -width <= col < width:
                    raise DataError(located(path, number, f"{name} {col} is outside the {width} columns found"))
        elif len(fields) != width:
            raise DataError(
                located(path, number, f"expected {width} columns as in line {width_line}, found {len(fields)}")
            )
        if fields[0] == "-DOCSTART-":
            # A document boundary, not a sentence; it may also end an unterminated sentence.
            out.add(tokens, tags, start, values)
            out.new_document()
            tokens, tags, start, values = _new_sentence(len(feature_columns))
            continue
        if start is None:
            start = number
        tokens.append(fields[token_column])
        tags.append(fields[tag_column])
        for k, (_, col) in enumerate(feature_columns):
            values[k].append(fields[col])
    out.add(tokens, tags, start, values)
    _require_nonempty(path, out.sentences)
    return out.sentences, out.documents


def read_conll_columns(files, token_column=0, tag_column=-1, feature_columns=None):
    """Reads whitespace-separated column files (CoNLL-2000/2003 style).

    Blank lines end sentences; `-DOCSTART-` lines are dropped wherever they
    stand (one copy of CoNLL-2003 has its first one at the end of the file).

    Args:
        files: dict split -> path.
        token_column: 0-based column of the tokens.
        tag_column: 0-based column of the tags (negative counts from the end;
            CoNLL-2003: 1 POS, 2 chunk, 3 NER).
        feature_columns: optional `{name: column}` of extra per-token input
            columns (e.g. `{"pos": 1}`), each read into a string-sequence
            column `name`; a recipe uses them through `data.features`.

    Returns:
        `DatasetDict` with `tokens`, `tags`, `source_line`, `document` (index of
        the sentence's document: `-DOCSTART-` lines start one) and the feature columns.

    Example:
    >>> read_conll_columns({"train": "train.txt"}, tag_column=2, feature_columns={"pos": 1})
    """
    columns = feature_column_indices("read_conll_columns", feature_columns)
    return _tagging_dict(
        {split: _parse_conll_columns(path, token_column, tag_column, columns) for split, path in files.items()},
        [name for name, _ in columns],
    )
