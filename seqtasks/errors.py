"""User-facing errors: one line that names the file (and line) and what was expected.

The CLI catches `SeqtasksError` (and the `OSError`s of the user's machine:
`environment_error`) and exits with code 2 without a traceback; everything
else is a bug and keeps its traceback.
"""

import errno

# Failures of the user's files and disks, not of seqtasks: a full disk, a
# read-only or forbidden folder, a file where a folder is expected.
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR,
                      errno.ENOTDIR, errno.ENAMETOOLONG, errno.EEXIST}


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


def environment_error(error):
    """The one-line message of an `OSError` caused by the user's disk or
    folders (see `ENVIRONMENT_ERRNOS`), or None for any other exception.

    Example:
    >>> environment_error(OSError(errno.ENOSPC, "No space left on device", "runs/x/model.keras"))
    'runs/x/model.keras: No space left on device'
    """
    if not isinstance(error, OSError) or error.errno not in ENVIRONMENT_ERRNOS:
        return None
    where = error.filename if error.filename is not None else "output"
    return f"{where}: {error.strerror or errno.errorcode.get(error.errno, 'error')}"
