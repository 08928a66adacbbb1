"""Strings -> integer ids: the only place that knows about vocabularies.

A `Preprocessor` is fitted on the training split only (DESIGN.md section 2):
a token vocabulary (id 0 = padding, id 1 = unknown), a character vocabulary
(same reserved ids), one value vocabulary per token feature (e.g. POS tags
given as input to a chunker; same reserved ids) and the label names taken from
the `ClassLabel` feature. It never builds Keras layers; it saves to and loads
from JSON. Each task kind subclasses it with where its tokens and labels are
(`token_lists`, `label_column`, `encode_labels`).

Example:

```python
pre = TaggingPreprocessor(lowercase=False, min_frequency=1).fit(dataset_dict["train"])
example = pre.encode_tokens(["The", "cat"])   # {"token_ids": ..., "char_ids": ...}
```
"""

import collections
import json
import logging
import re

import numpy as np
from tqdm.auto import tqdm

from seqtasks.errors import DataError

PAD, UNK = "<pad>", "<unk>"
LOG = logging.getLogger("seqtasks")
_DIGIT_RE = re.compile(r"\d")


class Preprocessor:
    """Vocabularies for tokens, characters and token features; label names.

    Args:
        units: "word" or "char" (characters are the tokens), how raw text is split.
        lowercase: lowercase tokens before looking them up (characters keep case).
        normalize_digits: map every digit to 0 before looking tokens up.
        min_frequency: tokens seen fewer times in training become unknown.
        max_vocabulary: keep at most this many tokens (most frequent first).
        max_length: truncate longer examples (the count is reported).
        max_word_length: characters kept per word for character features.
        use_chars: whether `char_ids` are produced.
        token_features: names of per-token input columns, each encoded into
            one slice of `feature_ids`.
        tokens, chars, labels, feature_values: the fitted vocabularies (from JSON).
    """

    label_column = None  # the dataset column with the labels (set by each kind)

    def __init__(self, units="word", lowercase=False, normalize_digits=False, min_frequency=1,
                 max_vocabulary=None, max_length=None, max_word_length=20, use_chars=False,
                 token_features=(), tokens=None, chars=None, labels=None, feature_values=None):
        self.units = units
        self.lowercase = lowercase
        self.normalize_digits = normalize_digits
        self.min_frequency = min_frequency
        self.max_vocabulary = max_vocabulary
        self.max_length = max_length
        self.max_word_length = max_word_length
        self.use_chars = use_chars
        self.tokens = list(tokens or [])
        self.chars = list(chars or [])
        self.labels = list(labels or [])
        self.token_features = list(token_features or [])
        self.feature_values = {name: list(values) for name, values in (feature_values or {}).items()}
        self._index()

    def _index(self):
        self.token_index = {t: i for i, t in enumerate(self.tokens)}
        self.char_index = {c: i for i, c in enumerate(self.chars)}
        self.feature_index = {name: {v: i for i, v in enumerate(values)}
                              for name, values in self.feature_values.items()}

    # -- what each task kind defines ------------------------------------------------
    def token_lists(self, split):
        """The token strings of each example of a `datasets.Dataset`."""
        raise NotImplementedError

    def encode_labels(self, split, examples):
        """The split's label ids, cut to the encoded `examples` where they are per token."""
        raise NotImplementedError

    # -- fitting ------------------------------------------------------------------
    def fit(self, train):
        """Builds the vocabularies from the training `datasets.Dataset`.

        Returns:
            `self`.
        """
        token_counts, char_counts = collections.Counter(), collections.Counter()
        for tokens in self.token_lists(train):
            token_counts.update(self._norm(t) for t in tokens)
            if self.use_chars:
                for t in tokens:
                    char_counts.update(t)
        kept = [t for t, n in token_counts.most_common() if n >= self.min_frequency]
        if self.max_vocabulary:
            kept = kept[: self.max_vocabulary - 2]
        self.tokens = [PAD, UNK] + sorted(kept, key=lambda t: (-token_counts[t], t))
        self.chars = [PAD, UNK] + sorted(char_counts, key=lambda c: (-char_counts[c], c))
        feature = train.features[self.label_column]
        self.labels = list(getattr(feature, "feature", feature).names)  # Sequence(ClassLabel) -> names
        self.feature_values = {}
        for name in self.token_features:
            counts = collections.Counter(v for row in _feature_rows(train, name) for v in row)
            self.feature_values[name] = [PAD, UNK] + sorted(counts, key=lambda v: (-counts[v], v))
        self._index()
        return self

    def _norm(self, token):
        if self.lowercase:
            token = token.lower()
        if self.normalize_digits:
            token = _DIGIT_RE.sub("0", token)
        return token

    # -- encoding -----------------------------------------------------------------
    def encode_tokens(self, tokens, features=None):
        """Maps a list of token strings to `token_ids` (and `char_ids`, `feature_ids`).

        Args:
            tokens: the token strings.
            features: `{name: per-token values}` for each of `token_features`.

        Returns:
            A dict of int32 arrays: `token_ids` (time,), `char_ids` (time, chars)
            when characters are used, `feature_ids` (time, features) when the
            preprocessor has token features.
        """
        ids = np.fromiter((self.token_index.get(self._norm(t), 1) for t in tokens),
                          dtype=np.int32, count=len(tokens))
        out = {"token_ids": ids}
        if self.token_features:
            out["feature_ids"] = self._encode_features(tokens, features or {})
        if self.use_chars:
            chars = np.zeros((len(tokens), self.max_word_length), dtype=np.int32)
            for i, token in enumerate(tokens):
                row = [self.char_index.get(c, 1) for c in token[: self.max_word_length]]
                chars[i, : len(row)] = row
            out["char_ids"] = chars
        return out

    def _encode_features(self, tokens, features):
        missing = [name for name in self.token_features if name not in features]
        if missing:
            raise DataError(f"input: this model also reads the token features {self.token_features}; "
                            f"missing {missing} (give CoNLL input with those columns, or dicts "
                            f"with 'tokens' and {', '.join(repr(m) for m in missing)})")
        ids = np.zeros((len(tokens), len(self.token_features)), dtype=np.int32)
        for k, name in enumerate(self.token_features):
            values = features[name]
            if len(values) != len(tokens):
                raise DataError(f"input: feature {name!r} has {len(values)} values for {len(tokens)} tokens")
            index = self.feature_index[name]
            ids[:, k] = [index.get(str(v), 1) for v in values]
        return ids

    def encode_split(self, dataset, split_name="split"):
        """Encodes a whole split.

        Returns:
            A dict with `token_ids` (list of arrays), `char_ids` (list or None),
            `feature_ids` (list or None) and `labels` (as `encode_labels` gives them).
        """
        token_lists = self.token_lists(dataset)
        feature_rows = {name: _feature_rows(dataset, name) for name in self.token_features}
        truncated = 0
        examples = []
        # A progress bar for long splits (tqdm hides it when stderr is not a terminal).
        for i, tokens in enumerate(tqdm(token_lists, desc=f"encoding {split_name}", unit="ex", leave=False,
                                        disable=None if len(token_lists) > 5000 else True)):
            features = {name: rows[i] for name, rows in feature_rows.items()}
            if self.max_length and len(tokens) > self.max_length:
                truncated += 1
                tokens = tokens[: self.max_length]
                features = {name: values[: self.max_length] for name, values in features.items()}
            examples.append(self.encode_tokens(tokens, features))
        if truncated:
            LOG.warning("%s: truncated %d of %d examples longer than max_length=%d",
                        split_name, truncated, len(token_lists), self.max_length)
        for i, e in enumerate(examples):
            if len(e["token_ids"]) == 0:
                raise DataError(f"{split_name}: example {i + 1} has no tokens (empty text)")
        return {
            "token_ids": [e["token_ids"] for e in examples],
            "char_ids": [e["char_ids"] for e in examples] if self.use_chars else None,
            "feature_ids": [e["feature_ids"] for e in examples] if self.token_features else None,
            "labels": self.encode_labels(dataset, examples),
        }

    # -- saving -------------------------------------------------------------------
    def get_config(self):
        return {
            "units": self.units, "lowercase": self.lowercase,
            "normalize_digits": self.normalize_digits,
            "min_frequency": self.min_frequency, "max_vocabulary": self.max_vocabulary,
            "max_length": self.max_length, "max_word_length": self.max_word_length,
            "use_chars": self.use_chars, "token_features": self.token_features,
            "tokens": self.tokens, "chars": self.chars, "labels": self.labels,
            "feature_values": self.feature_values,
        }

    def to_json(self):
        return json.dumps(self.get_config(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text):
        return cls(**json.loads(text))

    @classmethod
    def from_recipe(cls, recipe):
        """An unfitted preprocessor with the recipe's `preprocess` settings."""
        p = recipe.preprocess
        return cls(units=p.units, lowercase=p.lowercase, normalize_digits=p.normalize_digits,
                   min_frequency=p.min_frequency, max_vocabulary=p.max_vocabulary,
                   max_length=p.max_length, max_word_length=p.max_word_length,
                   use_chars=recipe.model.char_features.kind != "none",
                   token_features=recipe.data.features)


def _feature_rows(dataset, name):
    """The per-token values of a feature column as strings (ClassLabel ids -> names)."""
    feature = dataset.features[name]
    inner = getattr(feature, "feature", feature)
    rows = dataset[name]
    if hasattr(inner, "int2str"):
        return [[inner.int2str(int(v)) for v in row] for row in rows]
    return [[str(v) for v in row] for row in rows]
