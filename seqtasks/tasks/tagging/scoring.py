"""Tagging metrics as the field reports them: token accuracy, seqeval span F1."""

import numpy as np

from seqtasks.reporting.metrics import per_label_report


def token_accuracy(true_sequences, predicted_sequences):
    """Fraction of tokens whose predicted tag equals the gold tag (padding excluded)."""
    true = np.concatenate([np.asarray(t) for t in true_sequences])
    pred = np.concatenate([np.asarray(p) for p in predicted_sequences])
    return float((true == pred).mean())


def tagging_scores(true_sequences, predicted_sequences, labels):
    """Token accuracy plus the per-tag report, for tag-id sequences."""
    true = np.concatenate([np.asarray(t) for t in true_sequences])
    pred = np.concatenate([np.asarray(p) for p in predicted_sequences])
    return {"accuracy": float((true == pred).mean()), "per_tag": per_label_report(true, pred, labels)}


def span_scores(true_tags, predicted_tags, scheme="IOB2"):
    """seqeval span scores for tag-string sequences.

    `f1`/`precision`/`recall` are the conlleval-compatible default that papers
    report; `f1_strict` uses seqeval's strict mode with the recorded scheme
    (a span counts only when its boundary tags are legal in that scheme).

    Args:
        true_tags: list of lists of tag strings.
        predicted_tags: same shape as `true_tags`.
        scheme: "IOB1", "IOB2" or "IOBES" (IOB1 is scored as conlleval does).

    Returns:
        A dict with `f1`, `precision`, `recall`, `f1_strict`, `accuracy` and
        `per_type` (precision/recall/F1/support per entity type).
    """
    from seqeval import metrics as sm
    from seqeval import scheme as ss

    strict_scheme = {"IOB2": ss.IOB2, "IOBES": ss.IOBES, "IOB1": ss.IOB2}[scheme.upper()]
    if scheme.upper() == "IOB1":
        from seqtasks.data.schemes import convert

        true_tags = [convert(t, "IOB1", "IOB2") for t in true_tags]
        predicted_tags = [convert(p, "IOB1", "IOB2") for p in predicted_tags]
    report = sm.classification_report(true_tags, predicted_tags, output_dict=True, zero_division=0)
    per_type = {k: {m: float(v) for m, v in values.items()} for k, values in report.items()
                if not k.endswith(" avg")}
    return {
        "f1": float(sm.f1_score(true_tags, predicted_tags, zero_division=0)),
        "precision": float(sm.precision_score(true_tags, predicted_tags, zero_division=0)),
        "recall": float(sm.recall_score(true_tags, predicted_tags, zero_division=0)),
        "f1_strict": float(sm.f1_score(true_tags, predicted_tags, mode="strict",
                                       scheme=strict_scheme, zero_division=0)),
        "accuracy": float(sm.accuracy_score(true_tags, predicted_tags)),
        "per_type": per_type,
    }


def score(predictions, gold, labels, scheme=None):
    """Token accuracy and the per-tag report; span scores too for span schemes.

    Args:
        predictions: per-sentence predicted tag-id arrays.
        gold: per-sentence gold tag-id arrays.
        labels: the tag names.
        scheme: the span scheme (IOB1, IOB2, IOBES), or None (e.g. POS).

    Returns:
        A dict of metrics (`accuracy`, `per_tag`; with a scheme `f1`, `precision`,
        `recall`, `f1_strict`, `per_type`).
    """
    scores = tagging_scores(gold, predictions, labels)
    if scheme:
        names = np.asarray(labels)
        scores.update(span_scores([list(names[g]) for g in gold], [list(names[p]) for p in predictions],
                                  scheme))
    return scores
