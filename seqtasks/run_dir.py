"""Run directories: written under a temporary name, renamed when complete.

A run directory holds `run.json` (the seqtasks version and run-directory
format it was saved with, and its task kind), `model.keras`,
`preprocessor.json`, `recipe.yaml`, `metrics.json`, `history.json` and `plots/`. While training, everything goes to
`<run>.partial/` (with the per-epoch state in `resume/` that `--resume` continues from); only a
finished run is renamed to `<run>`, so a directory with the final name is
always complete.

`RunLock` holds an exclusive lock on `<run>.lock` (beside the run directory)
for the whole run, so two trainings can never write into the same directory.
"""

import fcntl
import json
import os
import shutil
import socket
import stat
import time
from pathlib import Path

from seqtasks.errors import SeqtasksError

REQUIRED = ("model.keras", "preprocessor.json", "recipe.yaml")
# The largest model.keras opened (bytes; $SEQTASKS_MAX_MODEL_BYTES overrides):
# far above any recipe's model (tens of MB), far below what could exhaust
# memory; `predict` on a model.keras linked to /dev/zero grew to 22.7 GB.
MAX_MODEL_BYTES = 4 << 30
# Version 2: task-kind packages, heads that return logits (seqtasks 0.2).
FORMAT = 2


def write_text(path, text):
    """Writes a file atomically (temporary name in the same folder, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path, value):
    write_text(path, json.dumps(value, indent=2, ensure_ascii=False, default=_jsonable) + "\n")


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class RunLock:
    """An exclusive lock on a run directory (and its `.partial`), held by one process.

    The lock is `fcntl.flock` on `<run>.lock`, which also records the holder's
    pid, host and start time. The kernel drops a flock when its process dies,
    so a lock file left by a killed run is stale by construction: the next run
    takes it over and says whose it was. (flock does not work across NFS
    clients: run directories belong on a local disk.)

    Args:
        final: the run directory the lock guards.

    Example:

    ```python
    lock = RunLock("runs/pos").acquire()   # SeqtasksError naming the holder's pid if taken
    ...
    lock.release()
    ```
    """

    def __init__(self, final):
        self.path = Path(final).with_name(Path(final).name + ".lock")
        self.stale = None  # the holder recorded by a dead process, when taken over
        self._fd = None

    def acquire(self):
        """Takes the lock or raises a one-line `SeqtasksError` naming its holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _describe(_read_holder(fd))
                os.close(fd)
                raise SeqtasksError(f"{self.path}: the run directory is in use by {holder}; wait for "
                                    "it to finish or choose another --output") from None
            # The holder before us may have finished and unlinked the file
            # between our open and our flock: then lock the new file instead.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        previous = _read_holder(fd)
        if previous.get("pid"):
            self.stale = previous
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}) + "\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, record.encode(), 0)
        self._fd = fd
        return self

    def release(self, remove=True):
        """Drops the lock (and deletes the lock file, unless `remove=False`)."""
        if self._fd is None:
            return
        if remove:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        os.close(self._fd)  # closing the descriptor releases the flock
        self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _read_holder(fd):
    try:
        return json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except ValueError:
        return {}


def _describe(holder):
    if not holder.get("pid"):
        return "another process"
    return f"pid {holder['pid']} on {holder.get('host', '?')} (started {holder.get('started', '?')})"


def choose_output(output, name, resume=False):
    """Picks and locks the final run directory and its `.partial` working directory.

    Args:
        output: the directory asked for, or None for `runs/<name>` (numbered
            `runs/<name>-2`, ... when taken or in use by another run).
        name: the recipe's name.
        resume: continue the interrupted run in `<output>.partial`.

    Returns:
        `(final, partial, lock)`: the paths and the held `RunLock` (release it
        when the run is finished or has failed).
    """
    if output is None:
        base = Path("runs") / name
        final, n = base, 1
        while True:
            if not (final.exists() or (not resume and _partial(final).exists())):
                try:
                    lock = RunLock(final).acquire()
                except SeqtasksError:
                    lock = None  # another run is writing there: take the next number
                if lock is not None:
                    if not (final.exists() or (not resume and _partial(final).exists())):
                        break
                    lock.release(remove=False)
            n += 1
            final = base.with_name(f"{base.name}-{n}")
    else:
        final = Path(output)
        lock = RunLock(final).acquire()
    try:
        if lock.stale:
            import logging

            logging.getLogger("seqtasks").warning(
                "%s: lock left by %s, which is no longer running; taken over", lock.path,
                _describe(lock.stale))
        partial = _partial(final)
        if final.exists():
            raise SeqtasksError(f"{final}: run directory already exists; choose another --output")
        if resume and not partial.exists():
            raise SeqtasksError(f"{partial}: no interrupted run to resume (train without --resume)")
        if not resume and partial.exists():
            raise SeqtasksError(f"{partial}: an interrupted run is there; continue it with --resume "
                                "or delete it")
    except BaseException:
        lock.release()
        raise
    return final, partial, lock


def _partial(final):
    return final.with_name(final.name + ".partial")


def finish(partial, final):
    """Renames the completed working directory to its final name, without the
    resume state (the weights are in `model.keras` once, nowhere else)."""
    shutil.rmtree(Path(partial) / "resume", ignore_errors=True)
    os.replace(partial, final)


def write_stamp(directory, kind):
    """Writes `run.json`: the seqtasks version, the run-directory format and the task kind."""
    from seqtasks.version import __version__

    write_json(Path(directory) / "run.json", {"seqtasks": __version__, "format": FORMAT,
                                              "kind": kind.name})


def load_preprocessor(directory, kind):
    """The fitted preprocessor saved in a run directory."""
    return kind.preprocessor_class.from_json((Path(directory) / "preprocessor.json").read_text(encoding="utf-8"))


def check_run_dir(path):
    """Raises a one-line error unless `path` is a complete run directory that
    this version of seqtasks can load."""
    path = Path(path)
    if not path.is_dir():
        raise SeqtasksError(f"{path}: not a run directory (no such directory)")
    missing = [f for f in REQUIRED if not (path / f).exists()]
    if missing:
        raise SeqtasksError(f"{path}: not a run directory (missing {', '.join(missing)})")
    check_model_file(path / "model.keras")
    stamp = _read_stamp(path)
    if stamp.get("format") != FORMAT:
        from seqtasks.version import __version__

        saved = stamp.get("seqtasks", "0.1.0")
        raise SeqtasksError(
            f"{path}: saved by seqtasks {saved} (run directory format {stamp.get('format', 1)}), which "
            f"seqtasks {__version__} cannot load (format {FORMAT}); load it with seqtasks {saved} "
            f"(git checkout aa263cf) or train its recipe again with this version")
    return path


def check_model_file(path):
    """Raises a one-line error unless `path` is a regular file no larger than
    `MAX_MODEL_BYTES` (a device such as /dev/zero, a pipe or a folder is refused
    before anything reads it)."""
    info = os.stat(path)  # follows a symbolic link to what it names
    if not stat.S_ISREG(info.st_mode):
        raise SeqtasksError(f"{path}: not a regular file (a device, pipe or folder); expected a saved "
                            "Keras model")
    limit = int(os.environ.get("SEQTASKS_MAX_MODEL_BYTES") or MAX_MODEL_BYTES)
    if info.st_size > limit:
        raise SeqtasksError(f"{path}: {info.st_size:,} bytes, more than the {limit:,} a model is allowed "
                            "(set $SEQTASKS_MAX_MODEL_BYTES to open a larger one)")


def _read_stamp(path):
    """`run.json` of a run directory ({} for directories saved before it existed)."""
    try:
        return json.loads((path / "run.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError:
        raise SeqtasksError(f"{path / 'run.json'}: not valid JSON") from None
