"""User-facing errors: one line that names the file (and line) and what was expected.

The CLI catches `SeqtasksError` and exits with code 2 without a traceback;
everything else is a bug and keeps its traceback.
"""


class SeqtasksError(Exception):
    """Base class of every error caused by the user's input."""


class RecipeError(SeqtasksError):
    """A recipe key, type or component name is wrong."""


class DataError(SeqtasksError):
    """A data file is missing, malformed or inconsistent."""


def located(path, line, message):
    """Formats `path:line: message` (the line is left out when unknown).

    Args:
        path: the file, as a string or `Path`.
        line: 1-based line number or `None`.
        message: what was expected and what was found.

    Returns:
        The one-line message.
    """
    where = f"{path}:{line}" if line is not None else f"{path}"
    return f"{where}: {message}"
