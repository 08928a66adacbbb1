"""Data cards: `data_cards/<name>.md`, a YAML header read by the code plus prose.

The header says what a dataset is (task, format, files per split relative to
the data root, checksums, counts, labels, licence, hub id); `verify_card`
checks real files against it.
"""

import dataclasses
import hashlib
import os
from pathlib import Path

import yaml

from seqtasks.errors import DataError, RecipeError, located

REPO = Path(__file__).resolve().parents[2]
REQUIRED = ("name", "title", "task", "format", "files", "sha256", "counts", "licence", "citation")


@dataclasses.dataclass
class DataCard:
    """One dataset's card. Fields mirror the YAML header; see data_cards/*.md."""

    name: str
    title: str
    task: str
    format: str
    files: dict
    sha256: dict
    counts: dict
    licence: str
    citation: str
    reader: dict = dataclasses.field(default_factory=dict)
    labels: list = None
    scheme: str = None
    split: dict = None
    hub: dict = None
    path: Path = None
    prose: str = ""

    @property
    def splits(self):
        """Split names the card yields (after `split` fractions are applied)."""
        return list(self.counts)


def cards_dir():
    """The folder of the cards: `$SEQTASKS_CARDS`, else `<repo>/data_cards`."""
    return Path(os.environ.get("SEQTASKS_CARDS") or REPO / "data_cards")


def _parse_card(path):
    text = path.read_text(encoding="utf-8")
    parts = text.split("\n---\n", 1) if text.startswith("---\n") else None
    if not parts or len(parts) != 2:
        raise DataError(located(path, 1, "expected a YAML header between '---' lines, found none"))
    try:
        header = yaml.safe_load(parts[0][4:]) or {}
    except yaml.YAMLError as error:
        line = getattr(getattr(error, "problem_mark", None), "line", None)
        raise DataError(located(path, None if line is None else line + 2, f"invalid YAML header ({error})")) from None
    missing = [key for key in REQUIRED if key not in header]
    unknown = sorted(set(header) - {f.name for f in dataclasses.fields(DataCard)})
    if missing or unknown:
        raise DataError(located(path, 1, f"expected header keys {list(REQUIRED)}, missing {missing}, unknown {unknown}"))
    header["reader"] = header.get("reader") or {}
    return DataCard(**header, path=path, prose=parts[1].strip())


def list_cards():
    """All cards in `cards_dir()`, sorted by name.

    Returns:
        list of `DataCard`.
    """
    return [_parse_card(path) for path in sorted(cards_dir().glob("*.md"))]


def load_card(name):
    """Loads the card called `name`.

    Args:
        name: card name (file stem in `cards_dir()`).

    Returns:
        The `DataCard`.

    Raises:
        RecipeError: no such card (the message lists the known ones).

    Example:
    >>> load_card("conll2003").counts["train"]
    {'sentences': 14041, 'tokens': 203621}
    """
    path = cards_dir() / f"{name}.md"
    if not path.is_file():
        known = sorted(p.stem for p in cards_dir().glob("*.md"))
        raise RecipeError(f"unknown data card {name!r}; known cards in {cards_dir()}: {', '.join(known)}")
    return _parse_card(path)


def default_data_root():
    """`$SEQTASKS_DATA`, else `../shared/data` beside the checkout if it exists, else `None`."""
    return resolve_data_root()


def _candidate_roots(explicit=None):
    """The one data root in use: an explicit root (recipe `data.root`,
    `--data-root`), else `$SEQTASKS_DATA`, else `../shared/data`. Only one:
    a root the user named that lacks a file is an error, never a silent
    fallback to other data."""
    if explicit:
        return [Path(explicit)]
    if os.environ.get("SEQTASKS_DATA"):
        return [Path(os.environ["SEQTASKS_DATA"])]
    return [REPO.parent / "shared" / "data"]


def resolve_data_root(explicit=None):
    """The data root: `explicit`, else `$SEQTASKS_DATA`, else `<repo>/../shared/data`.

    Args:
        explicit: a root given by the recipe (`data.root`) or the command line.

    Returns:
        The root in use if it is a folder, else `None`.
    """
    root = _candidate_roots(explicit)[0]
    return root if root.is_dir() else None


def card_file(card, relpath, root=None):
    """The path of one of a card's files under the data root.

    Args:
        card: the `DataCard`.
        relpath: the path relative to the data root, as written in the card.
        root: an explicit data root (the only place looked in when given).

    Returns:
        The existing `Path`.

    Raises:
        DataError: the file is not under the data root (the path and where
            the root came from are named).
    """
    base = _candidate_roots(root)[0]
    if (base / relpath).exists():
        return base / relpath
    source = ("data.root / --data-root" if root else "$SEQTASKS_DATA" if os.environ.get("SEQTASKS_DATA")
              else "the default data root")
    raise DataError(
        located(card.path, None, f"data card {card.name!r}: file {base / relpath} not found (data root "
                f"{base} from {source}; set data.root, --data-root or $SEQTASKS_DATA)")
    )


def sha256_of(path):
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _cache_path():
    """`$SEQTASKS_CACHE/sha256.json`, else `~/.cache/seqtasks/sha256.json` (XDG)."""
    base = os.environ.get("SEQTASKS_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "seqtasks"
    return Path(base) / "sha256.json"


def cached_sha256(path):
    """`sha256_of(path)`, remembered by absolute path, size and mtime.

    Training checks every file of a card on each run; the cache makes the
    repeat cost one `stat` per file. A file changed in place gets a new mtime
    (or size) and is hashed again. An unwritable cache is only a slower check.
    """
    import json
    import tempfile

    path = Path(path).resolve()
    info = path.stat()
    key = f"{path}|{info.st_size}|{info.st_mtime_ns}"
    cache_file = _cache_path()
    try:
        cache = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    if key in cache:
        return cache[key]
    digest = sha256_of(path)
    cache = {k: v for k, v in cache.items() if not k.startswith(f"{path}|")}  # drop the file's old entry
    cache[key] = digest
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_file.parent, prefix=".sha256.")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(cache, handle, indent=0)
        os.replace(tmp, cache_file)
    except OSError:
        pass
    return digest


COUNTERS = {
    "sentences": len,
    "examples": len,
    "pairs": len,
    "lines": len,
    "tokens": lambda ds: sum(len(t) for t in ds["tokens"]),
    "words": lambda ds: sum(len(t) for t in ds["tokens"]),
    "characters": lambda ds: sum(len(t) for t in ds["text"]),
    "text_tokens": lambda ds: sum(len(t.split()) for t in ds["text"]),
    "tokens_with_eos": lambda ds: sum(len(t.split()) + 1 for t in ds["text"]),
    "source_tokens": lambda ds: sum(len(t.split()) for t in ds["source"]),
    "target_tokens": lambda ds: sum(len(t.split()) for t in ds["target"]),
}


def _flat_files(files):
    for value in files.values():
        if isinstance(value, dict):
            yield from _flat_files(value)
        else:
            yield value


def card_table(cards=None):
    """Rows for `seqtasks data list`: name, task, format, splits, licence.

    Args:
        cards: `DataCard`s (default: `list_cards()`).

    Returns:
        list of dicts with keys `name`, `task`, `format`, `splits`, `licence`.
    """
    return [
        {"name": c.name, "task": c.task, "format": c.format, "splits": "/".join(c.splits), "licence": c.licence}
        for c in (list_cards() if cards is None else cards)
    ]


def format_card_table(rows=None):
    """The `card_table` rows as aligned text columns (for the CLI)."""
    rows = card_table() if rows is None else rows
    keys = ["name", "task", "format", "splits", "licence"]
    widths = {k: max([len(k)] + [len(str(r[k])) for r in rows]) for k in keys}
    lines = ["  ".join(k.ljust(widths[k]) for k in keys)]
    lines += ["  ".join(str(r[k]).ljust(widths[k]) for k in keys) for r in rows]
    return "\n".join(line.rstrip() for line in lines)
