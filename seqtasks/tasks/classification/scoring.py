"""Classification metrics: accuracy, macro F1 and the per-class report."""

import numpy as np
from sklearn.metrics import classification_report, f1_score


def classification_scores(true, predicted, labels):
    """Accuracy, macro F1 and the scikit-learn report for class ids."""
    true, predicted = np.asarray(true), np.asarray(predicted)
    return {
        "accuracy": float((true == predicted).mean()),
        "macro_f1": float(f1_score(true, predicted, average="macro", labels=range(len(labels)),
                                   zero_division=0)),
        "report": classification_report(true, predicted, labels=range(len(labels)),
                                        target_names=list(labels), output_dict=True,
                                        zero_division=0),
    }
