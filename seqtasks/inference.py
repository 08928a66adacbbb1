"""A loaded run directory: predict on raw text or tokens, evaluate on a split."""

import logging

import numpy as np

from seqtasks import evaluation
from seqtasks.data.batching import Batches
from seqtasks.data.preprocessing import Preprocessor, tokenize
from seqtasks.data.schemes import convert, normalize_scheme
from seqtasks.errors import DataError, SeqtasksError
from seqtasks.recipe import Recipe

LOG = logging.getLogger("seqtasks")


class LoadedModel:
    """A trained model with its preprocessor and resolved recipe.

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
        import keras

        import seqtasks.layers  # noqa: F401  (registers the custom layers)
        import seqtasks.tasks  # noqa: F401

        self.directory = directory
        self.recipe = Recipe.from_yaml(directory / "recipe.yaml")
        self.preprocessor = Preprocessor.from_json(
            (directory / "preprocessor.json").read_text(encoding="utf-8"))
        # safe_mode: loading never executes code stored in the file.
        self.model = keras.saving.load_model(directory / "model.keras", compile=False, safe_mode=True)
        self.task = self.recipe.task
        self.scheme = self.recipe.data.target_scheme if self.task == "tagging" else None
        self.labels = self.preprocessor.labels

    # -- prediction ---------------------------------------------------------------
    def feature_columns(self):
        """`{feature: column}` of the model's token features in CoNLL input.

        The columns the training data was read from (the recipe's reader
        options over its card's); for data without column positions (hub, a
        user's `DatasetDict`), the columns after the token, in order.

        Returns:
            A dict, empty for a model without token features.
        """
        from seqtasks.data.readers import TAG_COLUMNS, feature_column_indices

        from seqtasks.data.document_features import derived

        computed = derived(self.preprocessor.token_features)
        names = [name for name in self.preprocessor.token_features if name not in computed]
        if not names:
            return {}
        reader = dict(self.recipe.data.reader or {})
        if self.recipe.data.card:
            from seqtasks.data.cards import load_card

            reader = {**(load_card(self.recipe.data.card).reader or {}), **reader}
        columns = reader.get("feature_columns") or {}
        if all(name in columns for name in names):
            return dict(feature_column_indices("recipe", {n: columns[n] for n in names}, TAG_COLUMNS))
        return {name: k + 1 for k, name in enumerate(names)}

    def predict(self, inputs, batch_size=64, tag_scheme=None):
        """Predicts for one or many raw strings or token lists.

        Args:
            inputs: a string, a list of strings (raw text, tokenised here), a
                list of token lists (kept as they are), or a list of dicts with
                `tokens` and the model's token features (e.g. `{"tokens": [...],
                "pos": [...]}`), which a model trained with `data.features` needs.
                Document features (`doc_casing`) are computed, taking all the
                inputs as one document, or grouping dicts by a `document` key.
            batch_size: examples per batch.
            tag_scheme: for a tagger trained with a span scheme, the scheme of
                the returned `tags` ("IOB1", "IOB2"/"BIO" or "IOBES"/"BIOES");
                None keeps the scheme the model was trained in
                (`data.target_scheme`). The entities do not change.

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
        self.check_tag_scheme(tag_scheme)
        items, features = self.read_inputs(inputs)
        groups = self.sentence_groups(items, features)
        predictions = evaluation.predict_batches(self.model,
                                                 self.input_batches(items, features, batch_size, groups))
        predictions = ungroup(predictions, groups, items)
        return self.results(items, self.postprocess_inputs(items, features, predictions), tag_scheme)

    def check_tag_scheme(self, tag_scheme):
        """Raises `SeqtasksError` when `tag_scheme` is asked of a model without
        a span scheme (a classifier, or a tagger like POS)."""
        if tag_scheme is None:
            return
        normalize_scheme(tag_scheme)
        if not self.scheme:
            raise SeqtasksError(
                f"{self.directory}: tag_scheme {tag_scheme!r} needs a tagger trained with a "
                "span scheme (data.target_scheme), this model has none")

    def sentence_groups(self, items, features):
        """Indices of the inputs read as one example (`data.join_sentences`: consecutive
        inputs of one document, as in training), or None for one input per example."""
        limit = self.recipe.data.join_sentences if self.task == "tagging" else 0
        if not limit:
            return None
        from seqtasks.data.context import sentence_groups

        return sentence_groups([len(toks) for _, toks in items], _document_ids(features), limit)

    def postprocess_inputs(self, items, features, predictions):
        """The recipe's decoding step (`model.head.consistency`) on the predicted
        label ids of `read_inputs`' items, grouped into documents as there."""
        if self.task != "tagging" or not self.scheme or self.recipe.model.head.consistency == "none":
            return predictions
        from seqtasks.decoding import consistent_ids

        return consistent_ids(predictions, self.labels, _token_rows(items), _document_ids(features))

    def read_inputs(self, inputs, document_features=None):
        """`predict`'s inputs as `(items, features)`: `(text, [(token, start, end)])`
        per input, and the token features given with each (`{}` when none).

        The document features this model reads (or those named in
        `document_features`, for an ensemble) are computed here over one
        document: all the inputs, or those sharing a dict input's `document` key.
        """
        from seqtasks.data import document_features as docs

        if isinstance(inputs, str):
            inputs = [inputs]
        features = [dict(x) if isinstance(x, dict) else {} for x in inputs]
        items = [self._split(x["tokens"] if isinstance(x, dict) else x) for x in inputs]
        names = docs.derived(self.preprocessor.token_features if document_features is None else document_features)
        if names:
            computed = docs.compute(names, _token_rows(items), _document_ids(features))
            for row, f in enumerate(features):
                for name, rows in computed.items():
                    f.setdefault(name, rows[row])
        return items, features

    def input_batches(self, items, features, batch_size=64, groups=None):
        """`Batches` of `read_inputs`' items, encoded by this model's preprocessor
        (each of `groups` joined into one example)."""
        tokens = self._model_tokens(items)
        if groups is not None:
            from seqtasks.data.context import join_rows

            tokens = join_rows(tokens, groups)
            names = [n for n in self.preprocessor.token_features if n in features[0]]
            joined = {n: join_rows([f[n] for f in features], groups) for n in names}
            features = [{n: joined[n][g] for n in names} for g in range(len(groups))]
        encoded = [self.preprocessor.encode_tokens(toks, f) for toks, f in zip(tokens, features)]
        return Batches({key: [e[key] for e in encoded] if key in encoded[0] else None
                        for key in ("token_ids", "char_ids", "feature_ids")},
                       batch_size, tagging=self.task == "tagging")

    def results(self, items, predictions, tag_scheme=None):
        """`predict`'s output dicts from predicted label ids (tagging) or
        probabilities (classification) of `read_inputs`' items, with the tags
        converted to `tag_scheme` when given."""
        if self.task == "classification":
            return [self._class_result(p) for p in predictions]
        return [self._tag_result(text, toks, p, tag_scheme) for (text, toks), p in zip(items, predictions)]

    def _model_tokens(self, items):
        """Token lists as the model saw them in training: a classifier's inputs
        are truncated to `max_length` (as `encode_split` does, so predict agrees
        with evaluate); a tagger keeps every token, since each needs a tag."""
        tokens = _token_rows(items)
        limit = self.preprocessor.max_length
        if self.task != "classification" or not limit:
            return tokens
        longer = sum(len(t) > limit for t in tokens)
        if longer:
            LOG.warning("input: truncated %d of %d texts longer than max_length=%d",
                        longer, len(tokens), limit)
        return [t[:limit] for t in tokens]

    def _split(self, item):
        if isinstance(item, str):
            if not item.strip():
                raise DataError("input: empty text (expected at least one token)")
            toks = tokenize(item, self.preprocessor.units)
            return item, toks
        tokens = [str(t) for t in item]
        if not tokens:
            raise DataError("input: empty token list (expected at least one token)")
        offsets, pos = [], 0
        for t in tokens:
            offsets.append((t, pos, pos + len(t)))
            pos += len(t) + 1
        return " ".join(tokens), offsets

    def _class_result(self, probabilities):
        best = int(np.argmax(probabilities))
        return {"label": self.labels[best],
                "probabilities": {name: float(p) for name, p in zip(self.labels, probabilities)}}

    def _tag_result(self, text, toks, ids, tag_scheme=None):
        tags = [self.labels[i] for i in ids]
        result = {"tokens": [t for t, _, _ in toks], "tags": tags}
        if self.scheme:
            from seqeval.metrics.sequence_labeling import get_entities

            result["entities"] = [
                {"text": text[toks[s][1]: toks[e][2]], "type": kind,
                 "start": toks[s][1], "end": toks[e][2]}
                for kind, s, e in get_entities(tags)]
            if tag_scheme:
                result["tags"] = convert(tags, self.scheme, tag_scheme)
        return result

    # -- evaluation ---------------------------------------------------------------
    def evaluate(self, split="test", data=None):
        """Scores the model on a split of its recipe's data (or of `data`)."""
        split_data = self.split_data(split, data)
        encoded, labels = self.encode_split(split_data, split)
        predictions = evaluation.predict_batches(self.model, Batches(encoded, 64))
        predictions, gold = self.postprocess_split(split_data, predictions, encoded["labels"])
        return evaluation.score(self.task, predictions, gold, labels, self.scheme)

    def postprocess_split(self, split_data, predictions, gold):
        """The recipe's steps before scoring a split (document consistency, joined
        sentences cut back); returns `(predictions, gold)`."""
        from seqtasks.decoding import split_postprocess

        if self.task != "tagging":
            return predictions, gold
        post = split_postprocess(self.recipe.model.head.consistency, self.labels, self.scheme, split_data)
        return post(predictions, gold) if post else (predictions, gold)

    def split_data(self, split, data=None):
        """One split of the recipe's data (or of `data`), its label scheme applied."""
        from seqtasks.pipeline import prepare_data

        dataset, _, _ = prepare_data(self.recipe, data)
        if split not in dataset:
            raise DataError(f"split '{split}' not in the data (has: {', '.join(dataset)})")
        return dataset[split]

    def encode_split(self, split_data, split):
        """A split encoded by this model's preprocessor, its labels mapped to the
        model's label ids; returns `(encoded, label_names)`."""
        column = "tags" if self.task == "tagging" else "label"
        feature = split_data.features[column]
        names = list(getattr(feature, "feature", feature).names)
        encoded = self.preprocessor.encode_split(split_data, split)
        remap, labels = self._label_map(names)
        if self.task == "tagging":
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


def ungroup(predictions, groups, items):
    """Per-example predictions of joined inputs cut back into one per input."""
    if groups is None:
        return predictions
    from seqtasks.data.context import split_rows

    return split_rows(predictions, [[len(items[r][1]) for r in group] for group in groups])


def _token_rows(items):
    """The token strings of `read_inputs`' items."""
    return [[t for t, _, _ in toks] for _, toks in items]


def _document_ids(features):
    """Each input's document (`document` key of a dict input; else all one document)."""
    return [f.get("document", 0) for f in features]
