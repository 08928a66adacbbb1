"""Raw text -> tokens with character offsets (`preprocess.units`).

Example:

```python
word_tokens("Don't panic, it's 3.5 km.")   # [("Don't", 0, 5), ("panic", 6, 11), (",", 11, 12), ...]
char_tokens("ab")                          # [("a", 0, 1), ("b", 1, 2)]
```
"""

import re

# Words with inner hyphens/apostrophes stay whole; every other symbol is a token.
# Numbers keep their decimal point or comma ("3.5", "1,000").
_TOKEN_RE = re.compile(r"\d+(?:[.,]\d+)*|\w+(?:[-'’]\w+)*|n't|[^\w\s]")
_SPACE_RE = re.compile(r"\S+")


def word_tokens(text):
    """Regex word tokens of `text` as `(token, start, end)`, `text[start:end] == token`."""
    return [(m.group(), m.start(), m.end()) for m in _TOKEN_RE.finditer(text)]


def treebank_tokens(text):
    """Penn Treebank tokens of one sentence of raw text, with offsets.

    NLTK's `TreebankWordTokenizer` (the conventions of the Penn Treebank, which
    UD English-EWT and CoNLL-2003 follow): clitics split ("can't" -> "ca",
    "n't"; "it's" -> "it", "'s"), abbreviations such as "U.K." kept whole, a
    sentence-final period split off. Quotes keep their characters (`"` stays
    `"`, not PTB's `` `` ``).

    Args:
        text: one sentence of raw text.

    Returns:
        A list of `(token, start, end)` with `text[start:end] == token`.

    Example:
    >>> [t for t, _, _ in treebank_tokens("I can't visit the U.K. today.")]
    ['I', 'ca', "n't", 'visit', 'the', 'U.K.', 'today', '.']
    """
    from nltk.tokenize import TreebankWordTokenizer

    return [(text[start:end], start, end) for start, end in TreebankWordTokenizer().span_tokenize(text)]


def char_tokens(text):
    """Every character of `text` as a token `(char, i, i + 1)`."""
    return [(ch, i, i + 1) for i, ch in enumerate(text)]


def space_tokens(text):
    """The whitespace-separated tokens of already tokenised text (PTB), with offsets."""
    return [(m.group(), m.start(), m.end()) for m in _SPACE_RE.finditer(text)]


def tokenize(text, units="word"):
    """Splits raw text into tokens with character offsets.

    Args:
        text: the raw string.
        units: a name in `registry.UNITS` ("word" or "char").

    Returns:
        A list of `(token, start, end)` tuples.
    """
    from seqtasks.registry import UNITS, resolve

    return resolve(UNITS, units, "preprocess.units")(text)
