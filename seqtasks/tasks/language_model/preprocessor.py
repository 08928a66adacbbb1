"""The language-model preprocessor: texts split into units, a vocabulary with
`<pad>`, `<unk>`, `<bos>` and `<eos>`, and next-token targets."""

import collections

import numpy as np

from seqtasks.data.preprocessor import PAD, UNK, Preprocessor
from seqtasks.errors import DataError
from seqtasks.data.tokenize import tokenize

BOS, EOS = "<bos>", "<eos>"
# Ids fixed by position in every language-model vocabulary.
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
RESERVED = (PAD, UNK, BOS, EOS)


class LanguageModelPreprocessor(Preprocessor):
    """Vocabulary of a text column (`text`), split into `preprocess.units`.

    Each text becomes `token_ids = <bos> t1 ... tn` and, one step ahead,
    `labels = t1 ... tn <eos>`: the model reads a token and predicts the
    next. Streams (`data.stream`) are made of the same labels: `<bos>` and
    then every text's labels, one after the other. Words of the text that are
    spelt like a reserved token map to it (PTB writes its unknown words as
    `<unk>`, which is then the vocabulary's own).

    Example:

    ```python
    pre = LanguageModelPreprocessor(units="char").fit(dataset["train"])
    pre.encode_tokens(list("emma"))["token_ids"]   # [2, 5, 9, 9, 4]: <bos> e m m a
    ```
    """

    label_column = None

    def __init__(self, condition=None, **kwargs):
        super().__init__(**kwargs)
        # The label column the model is conditioned on (`data.condition`);
        # its class names are `labels`, its ids the one `feature_ids` column.
        self.condition = condition

    def token_lists(self, split):
        return [[t for t, _, _ in tokenize(text, self.units)] for text in split["text"]]

    def fit(self, train):
        """The vocabulary of the training texts (reserved tokens first; then by
        frequency, ties in alphabetical order), cut by `min_frequency` and
        `max_vocabulary`.

        Returns:
            `self`.
        """
        counts = collections.Counter(self._norm(t) for tokens in self.token_lists(train) for t in tokens)
        kept = sorted((t for t, n in counts.items() if n >= self.min_frequency and t not in RESERVED),
                      key=lambda t: (-counts[t], t))
        if self.max_vocabulary:
            kept = kept[: max(self.max_vocabulary - len(RESERVED), 0)]
        self.tokens = list(RESERVED) + kept
        self.chars, self.labels, self.feature_values = [], [], {}
        if self.condition:
            self.labels = list(train.features[self.condition].names)
        self._index()
        return self

    def encode_split(self, dataset, split_name="split"):
        """As `Preprocessor.encode_split`; a conditioned model's texts also get
        `feature_ids`: their class id at every step, `(time, 1)`."""
        encoded = super().encode_split(dataset, split_name)
        if self.condition:
            classes = dataset[self.condition]  # ClassLabel ids, in `labels` order
            encoded["feature_ids"] = [np.full((len(ids), 1), c, dtype=np.int32)
                                      for ids, c in zip(encoded["token_ids"], classes)]
        return encoded

    def condition_id(self, value, where="generate"):
        """The class id of a condition value (a one-line error naming the known ones)."""
        if not self.condition:
            raise DataError(f"{where}: this language model is not conditioned on a label "
                            f"(trained without data.condition); leave --condition out")
        if value not in self.labels:
            raise DataError(f"{where}: unknown condition {value!r}; this model knows "
                            f"{', '.join(self.labels)}")
        return self.labels.index(value)
    def ids(self, tokens):
        """Token strings -> vocabulary ids (`<unk>` for unknown ones)."""
        return [self.token_index.get(self._norm(t), UNK_ID) for t in tokens]

    def encode_tokens(self, tokens, features=None):
        """`{"token_ids": <bos> + ids}` for a list of token strings."""
        return {"token_ids": np.asarray([BOS_ID] + self.ids(tokens), dtype=np.int32)}

    def encode_labels(self, split, examples):
        """The next-token targets: each example's ids after `<bos>`, then `<eos>`."""
        return [np.append(e["token_ids"][1:], np.int32(EOS_ID)).astype(np.int32) for e in examples]

    def unknown(self, tokens):
        """The tokens of `tokens` that are not in the vocabulary (in order, once each)."""
        return list(dict.fromkeys(t for t in tokens if self._norm(t) not in self.token_index))

    def get_config(self):
        return {**super().get_config(), "condition": self.condition}

    @classmethod
    def from_recipe(cls, recipe):
        pre = super().from_recipe(recipe)
        pre.condition = recipe.data.condition
        return pre

    def detokenize(self, ids):
        """Token ids -> text: characters joined as they are, words with spaces."""
        words = [self.tokens[i] for i in ids]
        return "".join(words) if self.units == "char" else " ".join(words)
