"""The classification task kind: one label per text (sentiment, surname -> language)."""

import logging

import numpy as np

from seqtasks.tasks.base import TaskKind
from seqtasks.tasks.classification import output, scoring
from seqtasks.tasks.classification.preprocessor import ClassificationPreprocessor

LOG = logging.getLogger("seqtasks")


class ClassificationKind(TaskKind):
    """Text classification: `text` + `label`, a pooled classifier head,
    accuracy and macro F1, and a TF-IDF baseline beside the model."""

    name = "classification"
    columns = ("text", "label")
    label_column = "label"
    per_token = False
    preprocessor_class = ClassificationPreprocessor
    baseline = "tf-idf + logistic regression"

    def example_weights(self, recipe, encoded, num_labels):
        """'balanced' class weights per example: n / (k * count(class)), or None."""
        if recipe.train.class_weight != "balanced":
            return None
        labels = encoded["labels"]
        counts = np.bincount(labels, minlength=num_labels).astype(np.float64)
        per_class = len(labels) / (num_labels * np.maximum(counts, 1))
        return per_class[labels].astype(np.float32)

    def build_model(self, recipe, preprocessor, backbone, scheme=None):
        from seqtasks.tasks.classification.model import Classifier

        head = recipe.model.head
        block = {"kind": head.kind, "pooling": head.pooling, "hidden": head.hidden, "dropout": head.dropout}
        return Classifier(backbone, len(preprocessor.labels), head=block, name="classifier")

    def predict(self, model, batches):
        """Class probabilities (n, num_labels): the softmax of the model's logits."""
        return _softmax(super().predict(model, batches))

    def combine(self, members, outputs):
        """The members' mean class probabilities."""
        return np.mean([_softmax(o) for o in outputs], axis=0)

    def score(self, predictions, gold, labels, scheme=None):
        return scoring.classification_scores(gold, predictions.argmax(-1), labels)

    def confusion_pairs(self, predictions, gold):
        return np.asarray(gold), predictions.argmax(-1)

    def extra_metrics(self, recipe, dataset):
        """The TF-IDF + logistic regression baseline (`evaluate.baseline`)."""
        if not recipe.evaluate.baseline:
            return {}
        from seqtasks.reporting.baseline import tfidf_logistic_regression

        analyzer = "char_wb" if recipe.preprocess.units == "char" else "word"
        return {"baseline": tfidf_logistic_regression(dataset, analyzer=analyzer, seed=recipe.seed)}

    def model_tokens(self, preprocessor, tokens):
        """Inputs truncated to `max_length` (as `encode_split` does, so predict
        agrees with evaluate)."""
        limit = preprocessor.max_length
        if not limit:
            return tokens
        longer = sum(len(t) > limit for t in tokens)
        if longer:
            LOG.warning("input: truncated %d of %d texts longer than max_length=%d",
                        longer, len(tokens), limit)
        return [t[:limit] for t in tokens]

    def results(self, loaded, items, predictions):
        return [output.class_result(p, loaded.labels) for p in predictions]

    def format_results(self, results, fmt):
        return output.format_results(results, fmt)


def _softmax(logits):
    import keras

    return np.asarray(keras.ops.softmax(keras.ops.convert_to_tensor(np.asarray(logits, np.float32)), axis=-1))
