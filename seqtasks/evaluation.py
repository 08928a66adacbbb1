"""Prediction over encoded batches and the task's scores on a split."""

import time

import numpy as np

from seqtasks import metrics


def predict_batches(model, batches):
    """Runs the model over `batches` (a `Batches` without shuffling).

    Returns:
        Tagging: a list of int arrays (one per example, unpadded).
        Classification: a (num_examples, num_labels) array of probabilities.
        Both in the original example order.
    """
    return _per_example(model.predict_on_batch, batches)


def predict_scores(model, batches):
    """The model's scores before decoding, per example, in the original order.

    Returns:
        Classification: a (num_examples, num_labels) array of probabilities.
        Tagging: a list of (length, num_labels) arrays: tag probabilities for a
        softmax head, emission scores for a CRF head (whose transitions stay
        in the CRF layer).
    """
    return _per_example(lambda inputs: model(inputs, training=False), batches)


def _per_example(run, batches):
    """`run` over each batch, split back into unpadded examples in their original order."""
    results = [None] * len(batches.lengths)
    for idx, inputs in batches:
        output = np.asarray(run(inputs))
        for row, i in enumerate(idx):
            results[i] = output[row, : batches.lengths[i]] if batches.tagging else output[row]
    return results if batches.tagging else np.stack(results)


def score(task, predictions, gold, labels, scheme=None):
    """The task's metrics for predictions against gold labels.

    Args:
        task: "tagging" or "classification".
        predictions: output of `predict_batches`.
        gold: encoded labels (list of arrays, or int array).
        labels: label names.
        scheme: span scheme for NER/chunking (span F1 is added), or None.

    Returns:
        A dict of metrics (see `seqtasks.metrics`).
    """
    if task == "classification":
        return metrics.classification_scores(gold, predictions.argmax(-1), labels)
    scores = metrics.tagging_scores(gold, predictions, labels)
    if scheme:
        names = np.asarray(labels)
        spans = metrics.span_scores([list(names[g]) for g in gold],
                                    [list(names[p]) for p in predictions], scheme)
        scores.update(spans)
    return scores


def main_metric(task, scheme=None):
    """The name of the metric that early stopping watches (on the dev split)."""
    if task == "classification":
        return "accuracy"
    return "f1" if scheme else "accuracy"


def timed_predict(model, batches):
    """`predict_batches` plus the tokens per second it ran at."""
    start = time.perf_counter()
    predictions = predict_batches(model, batches)
    seconds = time.perf_counter() - start
    return predictions, batches.num_tokens / max(seconds, 1e-9)
