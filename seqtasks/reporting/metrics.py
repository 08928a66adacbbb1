"""Metrics shared by the task kinds: scikit-learn's per-label report."""

import numpy as np
from sklearn.metrics import classification_report


def per_label_report(true, pred, labels):
    """scikit-learn precision/recall/F1 per label, as a dict (labels by name)."""
    present = sorted(set(np.unique(true)) | set(np.unique(pred)))
    return classification_report(true, pred, labels=present, target_names=[labels[i] for i in present],
                                 output_dict=True, zero_division=0)
