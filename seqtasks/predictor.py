"""A loaded run directory: predict on raw text or tokens, evaluate on a split.

Written once for every task kind; the kind (`seqtasks.tasks.base.TaskKind`)
turns predictions into results and scores.
"""

import logging

import numpy as np

from seqtasks import run_dir as rd
from seqtasks.config.recipe import Recipe
from seqtasks.data.batching import Batches
from seqtasks.errors import DataError, SeqtasksError
from seqtasks.registry import task_kind
from seqtasks.scoring import score_split

LOG = logging.getLogger("seqtasks")


def _saved(path, load, *args):
    """`load(*args)`, with a damaged file of the run directory (truncated,
    overwritten, not what its name says) reported as one line naming it."""
    import zipfile

    def damaged(why):
        return SeqtasksError(f"{path}: cannot be loaded, the file is damaged or not a seqtasks run file "
                             f"({why}); train the run again or restore the file")

    # Keras calls a file that is not a zip archive "File not found"; say what it is.
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise damaged("not a .keras zip archive: truncated or overwritten")
    try:
        return load(*args)
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as error:
        raise damaged(" ".join(str(error).split())[:120] or type(error).__name__) from None


class LoadedModel:
    """A trained model with its preprocessor, resolved recipe and task kind.

    Args:
        directory: a complete run directory.

    Example:

    ```python
    tagger = seqtasks.load("runs/ner_conll2003_bilstm_crf")
    tagger.predict("Angela Merkel visited Paris.")
    # [{"tokens": [...], "tags": [...], "entities": [{"text": "Angela Merkel",
    #   "type": "PER", "start": 0, "end": 13}, ...]}]
    ```
    """

    def __init__(self, directory):
        self.directory = directory
        self.recipe = Recipe.from_yaml(directory / "recipe.yaml")
        self.kind = task_kind(self.recipe.task)
        self.task = self.recipe.task
        self.preprocessor = _saved(directory / "preprocessor.json", rd.load_preprocessor, directory, self.kind)
        self.model = _saved(directory / "model.keras", self.kind.load_model, directory / "model.keras")
        self.scheme = self.recipe.data.target_scheme
        self.labels = self.preprocessor.labels

    # -- prediction ---------------------------------------------------------------
    def feature_columns(self):
        """`{feature: column}` of the model's token features in CoNLL input ({} for none)."""
        return self.kind.feature_columns(self.recipe, self.preprocessor.token_features)

    def predict(self, inputs, batch_size=64, **options):
        """Predicts for one or many raw strings or token lists.

        Args:
            inputs: a string, a list of strings (raw text, tokenised here), a
                list of token lists (kept as they are), or a list of dicts with
                `tokens` and the model's token features (e.g. `{"tokens": [...],
                "pos": [...]}`), which a model trained with `data.features` needs.
            batch_size: examples per batch.
            **options: the task kind's options; taggers: `tag_scheme`, the scheme
                of the returned `tags` ("IOB1", "IOB2"/"BIO" or "IOBES"/"BIOES";
                None keeps `data.target_scheme`; the entities do not change).

        Returns:
            A list with one dict per input. Tagging: `tokens`, `tags` and, for
            span schemes, `entities` (`text`, `type`, `start`, `end` character
            offsets; for token-list input the offsets refer to the tokens joined
            by single spaces). Classification: `label` and `probabilities`.

        Example:
        >>> model = seqtasks.load("runs/ner_conll2003_bilstm_crf")
        >>> model.predict("EU rejects German call .", tag_scheme="IOB2")[0]["tags"]
        ['B-ORG', 'O', 'B-MISC', 'O', 'O']
        """
        self.kind.check_options(self, **options)
        items, features = self.read_inputs(inputs)
        predictions = self.kind.predict(self.model, self.input_batches(items, features, batch_size))
        return self.kind.results(self, items, predictions, **options)

    def generate(self, prompt=None, num=10, max_length=200, temperature=1.0, top_k=0, top_p=1.0, seed=0,
                 condition=None):
        """Generates texts with a language model (other kinds raise `SeqtasksError`).

        Args:
            prompt: text to continue (None: from the start).
            num: number of texts, sampled together.
            max_length: most tokens sampled per text.
            temperature: divides the logits; 0 takes the most probable token.
            top_k: sample among the k most probable tokens (0 = all).
            top_p: sample among the most probable tokens holding this much
                probability (1 = all).
            seed: the same seed gives the same texts.
            condition: for a model trained with `data.condition`, the class of
                the texts (e.g. "Russian"), or a list of `num` classes.

        Returns:
            A list of `num` strings, each the prompt and its continuation.

        Example:
        >>> seqtasks.load("runs/lm_makemore_names_char_lstm").generate(prompt="em", num=3, seed=1)
        ['emra', 'emari', 'emmerick']
        """
        return self.kind.generate(self, prompt=prompt, num=num, max_length=max_length, temperature=temperature,
                                  top_k=top_k, top_p=top_p, seed=seed, condition=condition)

    def translate(self, texts, beam=None, nbest=1, attention=None):
        """Translates raw texts with a translator (other kinds raise `SeqtasksError`).

        Args:
            texts: a string or a list of strings in the source language.
            beam: beam size (None: the recipe's `evaluate.beam_size`; 1 = greedy).
            nbest: hypotheses per text (at most `beam`).
            attention: a PNG path for the attention map of the first text.

        Returns:
            A list of dicts with `source`, `translation`, `unknown` (source words
            the model does not know), `score` and, for `nbest > 1`, `nbest`.

        Example:
        >>> seqtasks.load("runs/translate_multi30k_de_en_gru_attention").translate(
        ...     ["ein mann fährt fahrrad ."], beam=5)[0]["translation"]
        'a man rides a bike .'
        """
        return self.kind.translate(self, texts, beam=beam, nbest=nbest, attention=attention)

    def read_inputs(self, inputs):
        """`predict`'s inputs as `(items, features)`: `(text, [(token, start, end)])`
        per input, and the token features given with each (`{}` when none)."""
        if isinstance(inputs, str):
            inputs = [inputs]
        features = [dict(x) if isinstance(x, dict) else {} for x in inputs]
        items = [self._split(x["tokens"] if isinstance(x, dict) else x) for x in inputs]
        return items, features

    def input_batches(self, items, features, batch_size=64):
        """`Batches` of `read_inputs`' items, encoded by this model's preprocessor.

        On JAX the batches are padded to fixed widths: `jit` compiles the
        model once per batch shape, so a one-off prediction would pay a
        compilation for almost every batch. TensorFlow's predict function
        stops retracing after a few shapes (`reduce_retracing`), and there
        the extra padding cost more CPU than it saved (docs/RESULTS.md)."""
        import keras

        tokens = self.kind.model_tokens(self.preprocessor, [[t for t, _, _ in toks] for _, toks in items])
        encoded = [self.preprocessor.encode_tokens(toks, f) for toks, f in zip(tokens, features)]
        return Batches({key: [e[key] for e in encoded] if key in encoded[0] else None
                        for key in ("token_ids", "char_ids", "feature_ids")},
                       batch_size, per_token=self.kind.per_token,
                       fixed_widths=keras.backend.backend() == "jax")

    def _split(self, item):
        if isinstance(item, str):
            if not item.strip():
                raise DataError("input: empty text (expected at least one token)")
            return item, self.kind.tokenize(item, self.preprocessor.units)
        tokens = [str(t) for t in item]
        if not tokens:
            raise DataError("input: empty token list (expected at least one token)")
        offsets, pos = [], 0
        for t in tokens:
            offsets.append((t, pos, pos + len(t)))
            pos += len(t) + 1
        return " ".join(tokens), offsets

    # -- evaluation ---------------------------------------------------------------
    def evaluate(self, split="test", data=None):
        """Scores the model on a split of its recipe's data, of `data`, or on a file.

        Args:
            split: the split to score ("dev" and "valid" mean "validation").
            data: None (the recipe's data), a `datasets.DatasetDict`, or the path
                of one file read the way the training data was read (e.g. a
                `.conllu` file for a UD tagger); a file is scored as a whole.

        Returns:
            The task's metrics dict.

        Example:
        >>> seqtasks.load("runs/pos_ud_ewt_bilstm").evaluate(data="my_sentences.conllu")["accuracy"]
        """
        encoded, labels = self.encode_split(self.split_data(split, data), split)
        metrics, _, _ = score_split(self.kind, lambda b: self.kind.predict(self.model, b), encoded,
                                    labels, self.scheme)
        metrics.update(self.kind.model_metrics(self.recipe, self.model, {split: encoded}, self.preprocessor,
                                               splits=[split]).get(split, {}))
        return metrics

    def split_data(self, split, data=None):
        """One split of the recipe's data (or of `data`), prepared as in training."""
        from seqtasks.data.prepare import prepare_data, prepare_evaluation_data
        from seqtasks.data.sources import SPLIT_ALIASES

        split = SPLIT_ALIASES.get(split, split)
        if data is None:
            dataset, _, _ = prepare_data(self.recipe)
        else:  # the user's data: only scored, so no train split is needed
            dataset = prepare_evaluation_data(self.recipe, data, split)
        if split not in dataset:
            raise DataError(f"split '{split}' not in the data (has: {', '.join(dataset)})")
        return dataset[split]

    def encode_split(self, split_data, split):
        """A split encoded by this model's preprocessor, its labels mapped to the
        model's label ids; returns `(encoded, label_names)`."""
        if self.kind.label_column is None:  # a kind without label names (language models)
            return self.preprocessor.encode_split(split_data, split), self.labels
        feature = split_data.features[self.kind.label_column]
        names = list(getattr(feature, "feature", feature).names)
        encoded = self.preprocessor.encode_split(split_data, split)
        remap, labels = self._label_map(names)
        if self.kind.per_token:
            encoded["labels"] = [remap[l] for l in encoded["labels"]]
        else:
            encoded["labels"] = remap[encoded["labels"]]
        return encoded, labels

    def _label_map(self, names):
        """Dataset label ids -> model label ids, by name.

        Labels the model does not know get new ids past the model's own (which
        it never predicts, so they count as errors) and are reported.
        """
        labels = list(self.labels)
        unknown = [n for n in names if n not in labels]
        if unknown:
            LOG.warning("labels unknown to the model (always counted wrong): %s", ", ".join(unknown))
            labels += unknown
        index = {name: i for i, name in enumerate(labels)}
        return np.asarray([index[n] for n in names], dtype=np.int32), labels
