"""The tagging task kind: a label per token (POS, NER, chunking)."""

import numpy as np

from seqtasks.errors import SeqtasksError
from seqtasks.tasks.base import TaskKind
from seqtasks.tasks.tagging import output, scoring
from seqtasks.tasks.tagging.preprocessor import TaggingPreprocessor


class TaggingKind(TaskKind):
    """Sequence labelling: `tokens` + `tags`, a softmax or CRF head, token
    accuracy and (for span schemes) seqeval span F1."""

    name = "tagging"
    columns = ("tokens", "tags")
    label_column = "tags"
    per_token = True
    preprocessor_class = TaggingPreprocessor

    def prepare(self, dataset, recipe, paths=None):
        """Checks the tags in their declared span scheme and converts them to
        `data.target_scheme` (no scheme declared: the tags are used as they are)."""
        from seqtasks.tasks.tagging.prepare import apply_scheme, declared_scheme

        declared, card_paths = declared_scheme(recipe)
        if not declared or declared.lower() == "none":
            return dataset, None
        dataset, scheme = apply_scheme(dataset, declared, recipe.data.target_scheme,
                                       recipe.data.repair_tags, paths or card_paths)
        recipe.data.scheme, recipe.data.target_scheme = declared, scheme
        return dataset, scheme

    def build_model(self, recipe, preprocessor, backbone, scheme=None):
        from seqtasks.tasks.tagging.model import Tagger

        head = recipe.model.head
        block = {"kind": head.kind, "hidden": head.hidden, "dropout": head.dropout}
        if head.kind == "crf":
            block["constraints"] = _constraints(preprocessor.labels, scheme) if head.constrain else None
        return Tagger(backbone, len(preprocessor.labels), head=block, name="tagger")

    def combine(self, members, outputs):
        """The members' mean tag probabilities (softmax heads) or mean emission
        and transition scores decoded by Viterbi (CRF heads: averaging
        log-potentials gives a CRF again, a product of experts)."""
        import keras

        crf_head = members[0].model.head == "crf"
        if not crf_head:
            outputs = [[np.asarray(keras.ops.softmax(o, axis=-1)) for o in member] for member in outputs]
        mean = [np.mean(per_example, axis=0) for per_example in zip(*outputs)]
        if not crf_head:
            return [m.argmax(-1).astype(np.int32) for m in mean]
        lengths = [len(m) for m in mean]
        padded = np.zeros((len(mean), max(lengths), mean[0].shape[-1]), np.float32)
        for i, m in enumerate(mean):
            padded[i, : len(m)] = m
        mask = np.arange(padded.shape[1])[None, :] < np.asarray(lengths)[:, None]
        tags = np.asarray(_mean_crf(members).decode(padded, mask))
        return [row[:n].astype(np.int32) for row, n in zip(tags, lengths)]

    def main_metric(self, scheme=None):
        return "f1" if scheme else "accuracy"

    def score(self, predictions, gold, labels, scheme=None):
        return scoring.score(predictions, gold, labels, scheme)

    def confusion_pairs(self, predictions, gold):
        return np.concatenate(gold), np.concatenate(predictions)

    def tokenize(self, text, units):
        """Taggers train on treebank tokens (UD, CoNLL), so raw text is split by
        the Penn Treebank conventions ("can't" -> "ca" "n't", "U.K." whole),
        not by the `word` regex that classifiers train and predict with."""
        if units == "word":
            from seqtasks.data.tokenize import treebank_tokens

            return treebank_tokens(text)
        return super().tokenize(text, units)

    def check_options(self, loaded, tag_scheme=None):
        """`tag_scheme` needs a tagger trained with a span scheme."""
        if tag_scheme is None:
            return
        from seqtasks.data.schemes import normalize_scheme

        normalize_scheme(tag_scheme)
        if not loaded.scheme:
            raise SeqtasksError(
                f"{loaded.directory}: tag_scheme {tag_scheme!r} needs a tagger trained with a "
                "span scheme (data.target_scheme), this model has none")

    def results(self, loaded, items, predictions, tag_scheme=None):
        return [output.tag_result(text, tokens, [loaded.labels[i] for i in ids], loaded.scheme, tag_scheme)
                for (text, tokens), ids in zip(items, predictions)]

    def format_results(self, results, fmt):
        return output.format_results(results, fmt)

    def feature_columns(self, recipe, token_features):
        """`{feature: column}` of a model's token features in CoNLL input: the
        columns the training data was read from (the recipe's reader options
        over its card's); for data without column positions (hub, a user's
        `DatasetDict`), the columns after the token, in order."""
        from seqtasks.data.readers import TAG_COLUMNS, feature_column_indices

        if not token_features:
            return {}
        reader = dict(recipe.data.reader or {})
        if recipe.data.card:
            from seqtasks.data.cards import load_card

            reader = {**(load_card(recipe.data.card).reader or {}), **reader}
        columns = reader.get("feature_columns") or {}
        if all(name in columns for name in token_features):
            return dict(feature_column_indices("recipe", {n: columns[n] for n in token_features},
                                               TAG_COLUMNS))
        return {name: k + 1 for k, name in enumerate(token_features)}


def _constraints(labels, scheme):
    """CRF transition constraints of the span scheme (None without one, e.g. POS)."""
    if not scheme:
        return None
    from seqtasks.data.schemes import allowed_transitions

    return allowed_transitions(labels, scheme)


def _mean_crf(members):
    """A CRF layer whose start/transition/end scores are the members' mean
    (the constraints are the first member's; the ensemble checked the labels agree)."""
    layers = [m.model.get_layer("crf") for m in members]
    crf = layers[0].__class__.from_config(layers[0].get_config())
    crf.build((None, None, layers[0].num_tags))
    crf.set_weights([np.mean(ws, axis=0) for ws in zip(*(l.get_weights() for l in layers))])
    return crf
