"""A user's own file to score a trained run on, read the way the run's training
data was read (`seqtasks evaluate RUN --input FILE`, `seqtasks.evaluate(run, data=FILE)`).

Example:

```python
dataset = read_evaluation_file(loaded.recipe, "my_sentences.conllu")   # {"test": ...}
```
"""

from pathlib import Path

from seqtasks.errors import DataError, RecipeError

# Suffixes that say which reader a file needs when the run's source does not.
SUFFIX_FORMATS = {".conllu": "conllu", ".conll": "conll_columns", ".bio": "conll_columns",
                  ".iob": "conll_columns", ".csv": "csv", ".tsv": "csv"}


def read_evaluation_file(recipe, path, split="test"):
    """Reads one file into a `DatasetDict` holding only `split`.

    The reader is the one the run was trained with: its data card's format and
    reader settings, or its `data.files` format; for other sources (a saved or
    hub dataset, a `DatasetDict`) the file's suffix decides.

    Args:
        recipe: the run's resolved `Recipe`.
        path: the file to read.
        split: the split name the rows get.

    Returns:
        A `datasets.DatasetDict` with the one split.

    Raises:
        DataError: the file is missing, a folder, or malformed (file:line).
    """
    from seqtasks.data import card_data, sources

    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder; expected a data file to evaluate on")
    if not path.exists():
        raise DataError(f"{path}: data file not found")
    fmt, kwargs = _reader_of(recipe, path)
    if fmt in card_data.READERS:
        return card_data.READERS[fmt]({split: str(path)}, **kwargs)
    return sources.read_data_files({"format": fmt, split: str(path)}, kwargs)


def _reader_of(recipe, path):
    """`(format, reader keyword arguments)` for `path` under the run's recipe."""
    data = recipe.data
    reader = dict(data.reader or {})
    if data.card:
        from seqtasks.data.cards import load_card

        card = load_card(data.card)
        if card.format in ("class_folder", "parallel_text", "plain_text"):
            raise RecipeError(f"{path}: the run was trained on '{card.name}' ({card.format} files), which "
                              f"a single file cannot stand for; evaluate on a split instead")
        kwargs = {**(card.reader or {}), **reader}
        if card.format in ("csv", "label_first") and card.labels:
            kwargs.setdefault("labels", card.labels)
        return card.format, kwargs
    if data.files:
        fmt = data.files.get("format")
        return {"conll": "conll_columns"}.get(fmt, fmt), reader
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: cannot tell the file's format from its suffix; expected one of "
                        f"{', '.join(sorted(SUFFIX_FORMATS))}")
    return fmt, {"delimiter": "\t"} if path.suffix.lower() == ".tsv" else {}
