"""Pretrained word vectors from GloVe or word2vec text files.

Files are read line by line (real GloVe files are several GB), and only the
words asked for are kept. Both formats are accepted: GloVe (`word v1 v2 ...`
on every line) and word2vec text (a first line `count dim`, then the same).
"""

import os

import numpy as np

from seqtasks.errors import DataError, located


def _is_header(parts):
    return len(parts) == 2 and all(part.isdigit() for part in parts)


def _iter_vectors(path, expected_dim=None):
    """Yields `(line_number, word, value_strings)` for every vector line, and
    finally `(None, None, dim)` once the file is read.

    Raises:
        DataError: empty file, bytes that are not UTF-8, a line whose number
            of values differs from the first vector line, or a dimension that
            is not `expected_dim` (found at once, not after a GB of reading).
    """
    if not os.path.isfile(path):
        raise DataError(located(path, None, "expected a word vector file, found no such file"))
    dim = None
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise DataError(located(path, number, f"expected UTF-8 text, found byte "
                                        f"{raw[error.start:error.start + 1]!r}")) from None
            # Only line ends and trailing spaces: a word may itself be odd whitespace.
            parts = line.rstrip("\r\n ").split(" ")
            if parts == [""]:
                continue
            if dim is None:
                header = number == 1 and _is_header(parts)
                dim = int(parts[1]) if header else len(parts) - 1
                _check_dim(path, number, dim, expected_dim, line)
                if header:
                    continue
            if len(parts) - 1 != dim:
                raise DataError(located(path, number, f"expected {dim} values after the word, found {len(parts) - 1}"))
            yield number, parts[0], parts[1:]
    if dim is None:
        raise DataError(located(path, None, "expected word vectors, found an empty file"))
    yield None, None, dim


def _check_dim(path, number, dim, expected_dim, line):
    if dim < 1:
        raise DataError(located(path, number, f"expected a word and its vector values, found {line.strip()!r}"))
    if expected_dim is not None and dim != expected_dim:
        raise DataError(located(path, number, f"expected vectors of dimension {expected_dim}, found {dim}"))


def _parse(path, number, values):
    try:
        return np.asarray(values, dtype=np.float32)
    except ValueError:
        bad = next(v for v in values if not _is_float(v))
        raise DataError(located(path, number, f"expected a number, found {bad!r}")) from None


def _is_float(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def read_vectors(path, vocabulary=None, lowercase=False):
    """Reads word vectors from a GloVe or word2vec text file.

    Args:
        path: the vector file.
        vocabulary: words to keep (compared after lowercasing when `lowercase`);
            `None` keeps every word.
        lowercase: lowercase the words of the file; the first occurrence of a
            word wins (GloVe and word2vec list frequent words first).

    Returns:
        `(vectors, dim)`: a dict from word to a float32 array of size `dim`.

    Raises:
        DataError: `path:line: ...` for an empty file, text that is not UTF-8,
            a wrong number of values or a value that is not a number.

    Example:

    >>> vectors, dim = read_vectors("glove.6B.100d.txt", vocabulary={"the", "cat"})
    >>> dim, sorted(vectors)
    (100, ['cat', 'the'])
    """
    wanted = None if vocabulary is None else set(vocabulary)
    vectors = {}
    for number, word, values in _iter_vectors(path):
        if number is None:
            return vectors, values
        if lowercase:
            word = word.lower()
        if (wanted is None or word in wanted) and word not in vectors:
            vectors[word] = _parse(path, number, values)
    raise AssertionError("unreachable: _iter_vectors always ends with the dimension")


def _lookup(path, tokens, dim, lowercase_match):
    """Vectors for `tokens`: exact forms, lowercased token forms and, when
    `lowercase_match`, any casing of the token (first in the file)."""
    exact_wanted = set(tokens)
    folded_wanted = set()
    if lowercase_match:
        folded_wanted = {token.lower() for token in tokens}
        exact_wanted |= folded_wanted
    exact, folded = {}, {}
    for number, word, values in _iter_vectors(path, expected_dim=dim):
        if number is None:
            return exact, folded, values
        key = word.lower()
        if word in exact_wanted and word not in exact:
            exact[word] = _parse(path, number, values)
        if key in folded_wanted and key not in folded:
            folded[key] = exact[word] if word in exact else _parse(path, number, values)
    raise AssertionError("unreachable: _iter_vectors always ends with the dimension")


def embedding_matrix(path, tokens, dim=None, lowercase_match=False, seed=0):
    """Builds an embedding matrix for a token vocabulary from a vector file.

    Row `i` is the vector of `tokens[i]`. With `lowercase_match`, a token
    without an exact match takes the vector of its lowercased form, else of
    any casing of it in the file. Tokens not found get random normal rows with
    the standard deviation of the found vectors; row 0 (padding) is zeros.

    Args:
        path: GloVe or word2vec text file.
        tokens: the vocabulary, index 0 being padding.
        dim: the expected vector size; `None` takes the file's.
        lowercase_match: match case-insensitively when there is no exact match.
        seed: seed of the random rows.

    Returns:
        `(matrix, found)`: float32 `(len(tokens), dim)` and the number of
        tokens (padding excluded) that had a vector in the file.

    Raises:
        DataError: the file is malformed or its dimension is not `dim`.

    Example:

    >>> matrix, found = embedding_matrix("glove.6B.100d.txt", ["", "[UNK]", "The"],
    ...                                  lowercase_match=True)
    >>> matrix.shape, found
    ((3, 100), 1)
    """
    tokens = list(tokens)
    exact, folded, file_dim = _lookup(path, tokens, dim, lowercase_match)
    rows = [None] * len(tokens)
    for i, token in enumerate(tokens[1:], start=1):
        rows[i] = exact.get(token)
        if rows[i] is None and lowercase_match:
            rows[i] = exact.get(token.lower(), folded.get(token.lower()))
    found = [row for row in rows if row is not None]
    # Random rows on the scale of the real ones, so neither kind dominates.
    std = float(np.std(found)) if found else 0.0
    std = std or 1.0 / np.sqrt(file_dim)  # nothing found (or all equal): a common default
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, std, size=(len(tokens), file_dim))
    matrix = matrix.astype(np.float32)
    for i, row in enumerate(rows):
        if row is not None:
            matrix[i] = row
    if tokens:
        matrix[0] = 0.0
    return matrix, len(found)
