"""Text readers for translation (line-aligned parallel files) and language models."""

import random

import datasets

from seqtasks.errors import DataError, RecipeError, located
from seqtasks.data.text_files import SPLITS, _require_nonempty, _split_sizes, read_text_lines


def read_parallel_text(files, languages=None):
    """Reads line-aligned source/target files into a translation `DatasetDict`.

    Args:
        files: dict split -> `{source: path, target: path}`.
        languages: optional `{source: <language>, target: <language>}`, the
            languages of the two files (a card's `reader`); the columns are
            then named by language (e.g. `en`, `de`), so that a recipe picks
            its direction with `data.languages`.

    Returns:
        `DatasetDict` with `source`, `target` (or the two language columns).

    Raises:
        DataError: the files differ in length (the shorter file and the first
            line it lacks are named) or a line is empty (file and line named).

    Example:
    >>> read_parallel_text({"train": {"source": "train.en", "target": "train.de"}})
    """
    result = {}
    names = {"source": "source", "target": "target"}
    if languages:
        if set(languages) != {"source", "target"} or languages["source"] == languages["target"]:
            raise RecipeError(f"parallel_text: languages must be {{source: <language>, target: <other "
                              f"language>}}, received {languages!r}")
        names = dict(languages)
    for split, pair in files.items():
        if not isinstance(pair, dict) or set(pair) != {"source", "target"}:
            raise RecipeError(f"parallel_text files for {split!r} must be {{source: path, target: path}}, received {pair!r}")
        source, target = read_text_lines(pair["source"]), read_text_lines(pair["target"])
        if len(source) != len(target):
            (short, n), (other, m) = sorted([(pair["source"], len(source)), (pair["target"], len(target))],
                                            key=lambda item: item[1])
            raise DataError(located(short, n + 1, f"expected {m} lines as in {other} (line-aligned), "
                                                  f"found {n}: no line {n + 1} to pair with {other}:{n + 1}"))
        _require_nonempty(pair["source"], source, "lines")
        for role, lines in (("source", source), ("target", target)):
            empty = next((i for i, line in enumerate(lines) if not line.strip()), None)
            if empty is not None:
                raise DataError(located(pair[role], empty + 1, "expected a sentence, found an empty line"))
        columns = {names["source"]: [s.strip() for s in source], names["target"]: [t.strip() for t in target]}
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
