"""Run directories: written under a temporary name, renamed when complete.

A run directory holds `model.keras`, `preprocessor.json`, `recipe.yaml`,
`metrics.json`, `history.json` and `plots/`. While training, everything goes to
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


def check_run_dir(path):
    """Raises a one-line error unless `path` is a complete run directory."""
    path = Path(path)
    if not path.is_dir():
        raise SeqtasksError(f"{path}: not a run directory (no such directory)")
    missing = [f for f in REQUIRED if not (path / f).exists()]
    if missing:
        raise SeqtasksError(f"{path}: not a run directory (missing {', '.join(missing)})")
    return path
