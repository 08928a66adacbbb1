"""The translation preprocessor: a source and a target vocabulary, each with
`<pad>`, `<unk>`, `<bos>`, `<eos>`, fitted on the training pairs only."""

import base64
import collections
import io
import logging

import numpy as np

from seqtasks.data.preprocessor import PAD, UNK, Preprocessor
from seqtasks.data.tokenize import tokenize
from seqtasks.errors import DataError

BOS, EOS = "<bos>", "<eos>"
# Ids fixed by position in both vocabularies.
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
RESERVED = (PAD, UNK, BOS, EOS)
LOG = logging.getLogger("seqtasks")
# SentencePiece's word-start marker: a text is its pieces joined, the marker made a space.
WORD_START = "\u2581"


def join_tokens(tokens):
    """Target tokens -> text: subword pieces (marked by SentencePiece's word
    start) are joined back into words, whole words are joined by spaces."""
    if any(t.startswith(WORD_START) for t in tokens):
        return "".join(tokens).replace(WORD_START, " ").strip()
    return " ".join(tokens)


def _train_sentencepiece(texts, size, what):
    """A unigram SentencePiece model (serialised bytes) of `texts`."""
    try:
        import sentencepiece as spm
    except ImportError:
        from seqtasks.errors import RecipeError

        raise RecipeError("preprocess.subwords: sentencepiece needs the package: "
                          "pip install 'seqtasks[subwords]'") from None
    stream = io.BytesIO()
    # hard_vocab_limit off: a small training split may not hold `size` pieces.
    spm.SentencePieceTrainer.train(sentence_iterator=iter(texts), model_writer=stream, vocab_size=size,
                                   model_type="unigram", character_coverage=1.0, hard_vocab_limit=False,
                                   bos_id=-1, eos_id=-1, pad_id=-1, unk_id=0, minloglevel=2,
                                   num_threads=1)
    LOG.info("sentencepiece: %s model of %d pieces trained", what, size)
    return stream.getvalue()


def _vocabulary(token_lists, min_frequency, max_vocabulary):
    counts = collections.Counter(t for tokens in token_lists for t in tokens)
    kept = sorted((t for t, n in counts.items() if n >= min_frequency and t not in RESERVED),
                  key=lambda t: (-counts[t], t))
    if max_vocabulary:
        kept = kept[: max(max_vocabulary - len(RESERVED), 0)]
    return list(RESERVED) + kept


class TranslationPreprocessor(Preprocessor):
    """Vocabularies of the `source` and `target` columns, split into `preprocess.units`.

    A pair becomes `token_ids = source ids + <eos>` (so that even an empty
    source line has one token to attend to), `target_ids = <bos> + target ids`
    (the teacher-forced decoder input) and `labels = target ids + <eos>` (what
    each step predicts). `self.tokens` is the source vocabulary,
    `self.target_tokens` the target one; `labels` (the names the scorer
    indexes) is the target vocabulary, so predictions are detokenised with it.
    Training pairs longer than `preprocess.max_length` tokens on either side
    are cut (counted in a warning).

    Example:

    ```python
    pre = TranslationPreprocessor(units="space", min_frequency=2).fit(dataset["train"])
    pre.encode_tokens("ein hund .".split())["token_ids"]     # [ids..., 3]
    pre.detokenize([5, 9, 3])                                # "a dog"
    ```
    """

    label_column = None

    def __init__(self, target_tokens=None, subwords="none", subword_vocabulary=8000, subword_models=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.target_tokens = list(target_tokens or [])
        self.target_index = {t: i for i, t in enumerate(self.target_tokens)}
        self.subwords, self.subword_vocabulary = subwords, int(subword_vocabulary)
        # {"source": base64 model, "target": ...}: kept in preprocessor.json, so
        # the run directory holds everything needed to translate.
        self.subword_models = dict(subword_models or {})
        self._pieces = {}

    @classmethod
    def from_recipe(cls, recipe):
        pre = super().from_recipe(recipe)
        pre.subwords, pre.subword_vocabulary = recipe.preprocess.subwords, recipe.preprocess.subword_vocabulary
        return pre

    def _processor(self, side):
        if side not in self._pieces:
            import sentencepiece as spm

            self._pieces[side] = spm.SentencePieceProcessor(
                model_proto=base64.b64decode(self.subword_models[side]))
        return self._pieces[side]

    def split_text(self, text, side="source"):
        """A raw text -> its tokens (`preprocess.units`) or subword pieces."""
        if self.subwords == "sentencepiece":
            return self._processor(side).encode(self._norm(text), out_type=str)
        return [self._norm(t) for t, _, _ in tokenize(text, self.units)]

    def token_lists(self, split, column="source"):
        return [self.split_text(text, column) for text in split[column]]

    def fit(self, train):
        """Both vocabularies from the training pairs (reserved tokens first; then
        by frequency, ties alphabetical), cut by `min_frequency` and `max_vocabulary`.

        Returns:
            `self`.
        """
        if self.subwords == "sentencepiece":
            self._pieces = {}
            self.subword_models = {
                side: base64.b64encode(_train_sentencepiece((self._norm(t) for t in train[side]),
                                                            self.subword_vocabulary, side)).decode("ascii")
                for side in ("source", "target")}
        self.tokens = _vocabulary(self.token_lists(train, "source"), self.min_frequency, self.max_vocabulary)
        self.target_tokens = _vocabulary(self.token_lists(train, "target"), self.min_frequency,
                                         self.max_vocabulary)
        self.labels = self.target_tokens
        self.chars, self.feature_values = [], {}
        self._index()
        self.target_index = {t: i for i, t in enumerate(self.target_tokens)}
        return self

    def _index(self):
        super()._index()
        self.labels = list(getattr(self, "target_tokens", self.labels) or self.labels)

    def encode_tokens(self, tokens, features=None):
        """`{"token_ids": source ids + <eos>}` for a list of source token strings."""
        ids = [self.token_index.get(self._norm(t), UNK_ID) for t in tokens]
        return {"token_ids": np.asarray(ids + [EOS_ID], dtype=np.int32)}

    def target_ids(self, tokens):
        return [self.target_index.get(self._norm(t), UNK_ID) for t in tokens]

    def unknown(self, tokens):
        """The source tokens not in the vocabulary (in order, once each)."""
        return list(dict.fromkeys(t for t in tokens if self._norm(t) not in self.token_index))

    def encode_split(self, dataset, split_name="split"):
        """Encodes a split of pairs.

        Returns:
            A dict with `token_ids` (source ids + <eos>), `target_ids`
            (<bos> + target ids), `labels` (target ids + <eos>) and
            `references` (the target texts as written, for BLEU).
        """
        sources, targets = self.token_lists(dataset, "source"), self.token_lists(dataset, "target")
        cut = 0
        out = {"token_ids": [], "target_ids": [], "labels": [], "char_ids": None, "feature_ids": None}
        for i, (source, target) in enumerate(zip(sources, targets)):
            if not source or not target:
                raise DataError(f"{split_name}: pair {i + 1} has an empty {'source' if not source else 'target'}")
            if self.max_length and max(len(source), len(target)) > self.max_length:
                cut += 1
                source, target = source[: self.max_length], target[: self.max_length]
            out["token_ids"].append(self.encode_tokens(source)["token_ids"])
            ids = self.target_ids(target)
            out["target_ids"].append(np.asarray([BOS_ID] + ids, dtype=np.int32))
            out["labels"].append(np.asarray(ids + [EOS_ID], dtype=np.int32))
        if cut:
            LOG.warning("%s: cut %d of %d pairs longer than max_length=%d", split_name, cut, len(sources),
                        self.max_length)
        # Subwords: the reference is the text as written (whitespace normalised),
        # never pieces put back together.
        out["references"] = ([" ".join(self._norm(text).split()) for text in dataset["target"]]
                             if self.subwords == "sentencepiece" else [join_tokens(t) for t in targets])
        return out

    def detokenize(self, ids):
        """Target ids -> text (reserved tokens but `<unk>` dropped; see `join_tokens`)."""
        return join_tokens([self.target_tokens[i] for i in ids if i > EOS_ID or i == UNK_ID])

    def get_config(self):
        config = super().get_config()
        config.update(target_tokens=self.target_tokens, subwords=self.subwords,
                      subword_vocabulary=self.subword_vocabulary, subword_models=self.subword_models)
        return config
