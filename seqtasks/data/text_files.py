"""Shared helpers of the readers: UTF-8 lines with file:line errors, split sizes."""

from pathlib import Path

from seqtasks.errors import DataError, RecipeError, located


def read_text_lines(path):
    """Reads a UTF-8 file as a list of lines without their line ends.

    Args:
        path: the file.

    Returns:
        The lines (a final newline does not add an empty line; `\\r` and a
        UTF-8 byte order mark are dropped).

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
    # A byte order mark (Windows editors write one) is not part of the first line.
    lines = text.removeprefix("\ufeff").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _require_nonempty(path, examples, what="sentences"):
    if not examples:
        raise DataError(located(path, None, f"expected at least one example, found no {what} (empty split)"))


SPLITS = ("train", "validation", "test")


def _split_sizes(total, fractions):
    """Sizes of consecutive splits for `fractions` (the last split takes the rest)."""
    if not fractions or len(fractions) > 3 or abs(sum(fractions) - 1.0) > 1e-6:
        raise RecipeError(f"split fractions must be 1 to 3 numbers summing to 1, received {fractions!r}")
    sizes = [int(round(total * f)) for f in fractions[:-1]]
    sizes.append(total - sum(sizes))
    return dict(zip(SPLITS, sizes))
