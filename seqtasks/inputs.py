"""Reading prediction inputs: command-line texts, a text file (one text per
line) or a CoNLL file (tokens kept as they are, token-feature columns read)."""

from pathlib import Path

from seqtasks.data.text_files import read_text_lines
from seqtasks.errors import DataError, SeqtasksError

CONLL_SUFFIXES = (".conll", ".conllu", ".bio", ".iob", ".tsv")


def read_inputs(texts, path=None, input_format=None, feature_columns=None):
    """The texts to predict on: command-line strings and/or a file.

    Args:
        texts: raw strings from the command line.
        path: optional file: one raw text per line, or CoNLL (tokens in the
            first column, a blank line between sentences, `#` comments and
            `-DOCSTART-` skipped) whose tokens are kept as they are. A `.conllu`
            file gives its FORM column (multiword ranges and empty nodes skipped).
        input_format: "text", "conll", or None to decide by the file suffix.
        feature_columns: for models with token features, `{name: column}`
            read from each CoNLL line beside the token.

    Returns:
        A list of raw strings, token lists, or (with `feature_columns`) dicts
        `{"tokens": [...], name: [...]}`; a blank line of a text file is `None`,
        so that the output keeps one line per input line.

    Raises:
        SeqtasksError: an empty text, a missing, unreadable or malformed file.
    """
    check_texts(texts)
    inputs = list(texts)
    if path:
        path = Path(path)
        fmt = input_format or ("conll" if path.suffix.lower() in CONLL_SUFFIXES else "text")
        if path.is_dir():
            raise DataError(f"{path}: is a folder; expected a file (one text per line, or CoNLL)")
        if not path.exists():
            raise DataError(f"{path}: input file not found")
        lines = read_text_lines(path)  # UTF-8 checked with file:line, a byte order mark dropped
        if fmt == "conll":
            inputs += _conll_sentences(lines, path, feature_columns or {})
        else:
            inputs += [line if line.strip() else None for line in lines]
    if not any(x is not None for x in inputs):
        raise SeqtasksError("predict: give texts as arguments or a file with --input"
                            + (f" ({path} has no text)" if path else ""))
    return inputs


def check_texts(texts):
    """Raises a one-line error for an empty command-line text (checked before
    any model is loaded)."""
    for number, text in enumerate(texts, start=1):
        if not text.strip():
            raise SeqtasksError(f"predict: text {number} is empty (expected at least one token)")


def _conll_sentences(lines, path, feature_columns):
    conllu = path.suffix.lower() == ".conllu"
    token_column = 1 if conllu else 0
    needed = max([token_column, *feature_columns.values()])
    sentences, current = [], []
    for number, line in enumerate(lines + [""], start=1):
        if not line.strip() or line.startswith("-DOCSTART-"):
            if current:  # a blank line or a document boundary ends a sentence
                sentences.append(current)
            current = []
            continue
        if line.startswith("#"):
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        if conllu and (len(fields) != 10 or not fields[0].replace("-", "").replace(".", "").isdigit()):
            raise DataError(f"{path}:{number}: expected a CoNLL-U word line (10 tab-separated columns, an ID "
                            f"first), found {_shorten(line)!r}; for plain text use --input-format text")
        if conllu and ("-" in fields[0] or "." in fields[0]):
            continue  # multiword ranges and empty nodes are not syntactic words
        if len(fields) <= needed:
            raise DataError(f"{path}:{number}: expected at least {needed + 1} columns "
                            f"(token and features {sorted(feature_columns)}), found {len(fields)}")
        current.append(fields)
    if not feature_columns:
        return [[f[token_column] for f in rows] for rows in sentences]
    return [{"tokens": [f[token_column] for f in rows],
             **{name: [f[col] for f in rows] for name, col in feature_columns.items()}}
            for rows in sentences]


def _shorten(line, width=40):
    return line if len(line) <= width else line[: width - 3] + "..."
