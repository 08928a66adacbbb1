"""Classification results: the label and each class' probability; written as
text (label TAB class=probability ...) or JSON lines."""

import json

import numpy as np


def class_result(probabilities, labels):
    """One input's result dict: `label` and `probabilities` by class name."""
    best = int(np.argmax(probabilities))
    return {"label": labels[best],
            "probabilities": {name: float(p) for name, p in zip(labels, probabilities)}}


def format_results(results, fmt):
    """Classification results as text ("text" or "conll": one line each) or "json"."""
    if fmt == "json":
        return "\n".join(json.dumps(r, ensure_ascii=False) for r in results)
    return "\n".join(f"{r['label']}\t" + " ".join(f"{k}={v:.3f}" for k, v in r["probabilities"].items())
                     for r in results)
