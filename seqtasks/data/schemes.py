"""Span tag schemes (IOB1, IOB2 = BIO, IOBES = BIOES): checks, conversion, CRF constraints.

A tag is `O` or `PREFIX-TYPE` (`B-PER`, `I-LOC`, `E-ORG`, `S-MISC`; the type may
itself contain `-`). The schemes differ in where `B-` goes:

- IOB1 (original CoNLL-2003 files): a chunk starts with `I-X`; `B-X` is used
  only for a chunk that directly follows another chunk of the same type `X`.
- IOB2 (BIO): every chunk starts with `B-X`, continues with `I-X`.
- IOBES (BIOES): `S-X` is a one-token chunk; longer chunks are `B-X I-X* E-X`.

Conversions go through spans and are exact for legal input. Illegal input is
read the conlleval way (an `I-X` that cannot continue a chunk starts one),
which is also what `repair` writes out explicitly. Pure Python (numpy only for
`allowed_transitions`).
"""

import numpy as np

from seqtasks.errors import DataError, RecipeError, located

SCHEMES = ("IOB1", "IOB2", "IOBES")
_ALIASES = {"IOB1": "IOB1", "IOB2": "IOB2", "BIO": "IOB2", "IOBES": "IOBES", "BIOES": "IOBES"}
SCHEME_NAMES = tuple(_ALIASES)  # every name `normalize_scheme` accepts (upper case)
_PREFIXES = {"IOB1": ("I", "B"), "IOB2": ("B", "I"), "IOBES": ("B", "I", "E", "S")}
_OPENS = ("B", "S")  # prefixes that always start a new chunk (lenient reading)
_CLOSES = ("E", "S")  # prefixes after which the chunk is over


def normalize_scheme(name):
    """Canonical scheme name ("IOB1", "IOB2" or "IOBES") for a name or alias.

    Args:
        name: "IOB1", "IOB2", "BIO", "IOBES" or "BIOES", any case.

    Returns:
        The canonical name.
    """
    key = str(name).upper() if name is not None else None
    if key not in _ALIASES:
        raise RecipeError(
            f"unknown tag scheme {name!r}; known: IOB1, IOB2 (BIO), IOBES (BIOES)"
        )
    return _ALIASES[key]


def _parse(tag, scheme):
    """(prefix, type) for a tag of the scheme, ("O", None) for O, None otherwise."""
    if tag == "O":
        return ("O", None)
    prefix, dash, kind = str(tag).partition("-")
    if dash and kind and prefix in _PREFIXES[scheme]:
        return (prefix, kind)
    return None


def _allowed(prev, cur, scheme):
    """Whether parsed tag `cur` may follow parsed tag `prev` (None = sentence edge)."""
    if scheme == "IOBES":
        prev_closed = prev is None or prev[0] in ("O", "E", "S")
        if cur is None or cur[0] in ("O", "B", "S"):
            return prev_closed
        return not prev_closed and prev[1] == cur[1]  # I-X / E-X continue B-X / I-X
    if cur is None or cur[0] == "O":
        return True
    continues = prev is not None and prev[0] != "O" and prev[1] == cur[1]
    if scheme == "IOB2":
        return cur[0] == "B" or continues
    return cur[0] == "I" or continues  # IOB1: B-X only right after a chunk of type X


def _expected(scheme):
    return "O or " + ", ".join(f"{p}-TYPE" for p in _PREFIXES[scheme])


def _violation(tags, scheme):
    """(index, message) for the first illegal tag, or None when all are legal."""
    prev = None
    for i, tag in enumerate(tags):
        cur = _parse(tag, scheme)
        if cur is None:
            return i, f"tag {tag!r} is not an {scheme} tag (expected {_expected(scheme)})"
        if not _allowed(prev, cur, scheme):
            where = "at the start of a sentence" if i == 0 else f"after {tags[i - 1]!r}"
            return i, f"tag {tag!r} {where} is illegal in {scheme}"
        prev = cur
    if tags and not _allowed(prev, None, scheme):
        return len(tags) - 1, f"tag {tags[-1]!r} at the end of a sentence is illegal in {scheme}"
    return None


def find_illegal(tags, scheme):
    """Index of the first tag that is illegal in the scheme, or None.

    A tag is illegal when it does not belong to the scheme, cannot follow the
    previous tag (or start a sentence), or (IOBES) leaves a chunk open at the end.

    Args:
        tags: list of tag strings for one sentence.
        scheme: scheme name or alias.

    Returns:
        The index, or None when the sentence is legal.

    Example:
    >>> find_illegal(["O", "I-PER", "I-PER"], "IOB2")
    1
    """
    found = _violation(list(tags), normalize_scheme(scheme))
    return None if found is None else found[0]


def _spans(tags, scheme):
    """Chunks as (type, start, end) with end exclusive, read the conlleval way."""
    spans, open_kind = [], None
    for i, tag in enumerate(tags):
        parsed = _parse(tag, scheme)
        if parsed is None:
            raise DataError(
                f"tag {tag!r} is not an {scheme} tag (expected {_expected(scheme)})"
            )
        prefix, kind = parsed
        if prefix == "O":
            open_kind = None
            continue
        if prefix in _OPENS or kind != open_kind:
            spans.append([kind, i, i + 1])
        else:
            spans[-1][2] = i + 1
        open_kind = None if prefix in _CLOSES else kind
    return [tuple(span) for span in spans]


def _encode(spans, length, scheme):
    """Tags in the scheme for chunks (type, start, end) over `length` tokens."""
    tags = ["O"] * length
    previous_end, previous_kind = None, None
    for kind, start, end in spans:
        tags[start:end] = [f"I-{kind}"] * (end - start)
        if scheme == "IOB2":
            tags[start] = f"B-{kind}"
        elif scheme == "IOB1":
            if previous_end == start and previous_kind == kind:
                tags[start] = f"B-{kind}"
        elif end - start == 1:
            tags[start] = f"S-{kind}"
        else:
            tags[start], tags[end - 1] = f"B-{kind}", f"E-{kind}"
        previous_end, previous_kind = end, kind
    return tags


def convert(tags, source, target):
    """Converts one sentence's tags between schemes (exact for legal input).

    Args:
        tags: list of tag strings in the `source` scheme.
        source: scheme name or alias of `tags`.
        target: scheme name or alias wanted.

    Returns:
        A new list of tags in `target`.

    Example:
    >>> convert(["I-PER", "I-PER", "O", "I-LOC"], "IOB1", "IOBES")
    ['B-PER', 'E-PER', 'O', 'S-LOC']
    """
    source, target = normalize_scheme(source), normalize_scheme(target)
    tags = list(tags)
    return _encode(_spans(tags, source), len(tags), target)


def repair(tags, scheme):
    """Rewrites illegal tags the conlleval way and returns legal tags.

    IOB2: an `I-X` that cannot continue a chunk becomes `B-X`. IOB1: a `B-X`
    not right after a chunk of type X becomes `I-X`. IOBES: chunks are read
    leniently (`I-X`/`E-X` without an open X chunk start one; a chunk left open
    ends) and written back with proper `B-`/`I-`/`E-`/`S-`.

    Args:
        tags: list of tag strings.
        scheme: scheme name or alias.

    Returns:
        A new, legal list of tags (equal to `tags` when they were legal).
    """
    return convert(tags, scheme, scheme)


def allowed_transitions(labels, scheme):
    """Boolean CRF constraints for a label vocabulary.

    Labels that all follow the scheme get its rules. When no label follows it
    (e.g. UPOS tags such as NOUN, VERB) or `scheme` is None, everything is
    allowed. A mix of both is a RecipeError naming the odd labels.

    Args:
        labels: tag strings in vocabulary order (index i = CRF tag i).
        scheme: scheme name or alias, or None.

    Returns:
        (start (n,), transitions (n, n) [from, to], end (n,)) as np.bool_ arrays.
    """
    n = len(labels)
    everything = (np.ones(n, bool), np.ones((n, n), bool), np.ones(n, bool))
    if scheme is None:
        return everything
    scheme = normalize_scheme(scheme)
    parsed = [_parse(label, scheme) for label in labels]
    odd = [label for label, p in zip(labels, parsed) if p is None]
    if len(odd) == n:
        return everything
    if odd:
        raise RecipeError(
            f"labels {odd[:5]} are not {scheme} tags while others are "
            f"(expected {_expected(scheme)} for every label); check the scheme"
        )
    start = np.array([_allowed(None, p, scheme) for p in parsed])
    trans = np.array([[_allowed(a, b, scheme) for b in parsed] for a in parsed])
    end = np.array([_allowed(p, None, scheme) for p in parsed])
    return start, trans.reshape(n, n), end


def check_tags(sequences, scheme, path=None, lines=None):
    """Raises DataError for the first illegal tag in a list of sentences.

    Args:
        sequences: list of tag lists, one per sentence.
        scheme: scheme name or alias.
        path: file the tags came from (for the message), or None.
        lines: optional 1-based line number of each sentence's first token;
            the error then names the token's own line.

    Example message:
    `train.txt:12: tag 'I-PER' after 'O' is illegal in IOB2 (use data.repair_tags: true ...)`
    """
    scheme = normalize_scheme(scheme)
    for s, tags in enumerate(sequences):
        found = _violation(list(tags), scheme)
        if found is None:
            continue
        index, message = found
        if _parse(tags[index], scheme) is None:
            message += "; is the data's scheme right?"
        else:
            message += " (use data.repair_tags: true to convert it explicitly)"
        if lines is not None:
            raise DataError(located(path or "<data>", lines[s] + index, message))
        where = f"sentence {s + 1}, token {index + 1}: "
        raise DataError(located(path, None, where + message) if path else where + message)
