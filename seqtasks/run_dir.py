"""Run directories: written under a temporary name, renamed when complete.

A run directory holds `run.json` (the seqtasks version and run-directory
format it was saved with, and its task kind), `model.keras`,
`preprocessor.json`, `recipe.yaml`, `metrics.json`, `history.json` and `plots/`. While training, everything goes to
`<run>.partial/` (with the checkpoints that `--resume` continues from); only a
finished run is renamed to `<run>`, so a directory with the final name is
always complete.
"""

import json
import os
import shutil
from pathlib import Path

from seqtasks.errors import SeqtasksError

REQUIRED = ("model.keras", "preprocessor.json", "recipe.yaml")
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


def choose_output(output, name, resume=False):
    """Picks the final run directory and its `.partial` working directory.

    Args:
        output: the directory asked for, or None for `runs/<name>` (numbered
            `runs/<name>-2`, ... when taken).
        name: the recipe's name.
        resume: continue the interrupted run in `<output>.partial`.

    Returns:
        `(final, partial)` paths.
    """
    if output is None:
        base = Path("runs") / name
        final, n = base, 1
        while final.exists() or (not resume and _partial(final).exists()):
            n += 1
            final = base.with_name(f"{base.name}-{n}")
    else:
        final = Path(output)
        if final.exists():
            raise SeqtasksError(f"{final}: run directory already exists; choose another --output")
    partial = _partial(final)
    if resume and not partial.exists():
        raise SeqtasksError(f"{partial}: no interrupted run to resume (train without --resume)")
    if not resume and partial.exists():
        raise SeqtasksError(f"{partial}: an interrupted run is there; continue it with --resume "
                            "or delete it")
    return final, partial


def _partial(final):
    return final.with_name(final.name + ".partial")


def finish(partial, final):
    """Renames the completed working directory to its final name."""
    shutil.rmtree(Path(partial) / "backup", ignore_errors=True)
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
    stamp = _read_stamp(path)
    if stamp.get("format") != FORMAT:
        from seqtasks.version import __version__

        saved = stamp.get("seqtasks", "0.1.0")
        raise SeqtasksError(
            f"{path}: saved by seqtasks {saved} (run directory format {stamp.get('format', 1)}), which "
            f"seqtasks {__version__} cannot load (format {FORMAT}); load it with seqtasks {saved} "
            f"(git checkout aa263cf) or train its recipe again with this version")
    return path


def _read_stamp(path):
    """`run.json` of a run directory ({} for directories saved before it existed)."""
    try:
        return json.loads((path / "run.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError:
        raise SeqtasksError(f"{path / 'run.json'}: not valid JSON") from None
