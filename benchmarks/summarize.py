"""Prints a markdown results table from run directories' metrics.json.

Usage: python benchmarks/summarize.py runs/*/
"""

import json
import sys
from pathlib import Path

MAIN = {"tagging": ["accuracy", "f1", "f1_strict"], "classification": ["accuracy", "macro_f1"],
        "translation": ["bleu", "chrf"]}
SCALE = {"translation": 1}  # sacrebleu already reports percentages; the others are fractions


def row(directory):
    metrics = json.loads((Path(directory) / "metrics.json").read_text())
    names = [m for m in MAIN[metrics["task"]] if m in metrics["test"]]
    scale = SCALE.get(metrics["task"], 100)
    test = ", ".join(f"{m} {scale * metrics['test'][m]:.2f}" for m in names)
    if metrics.get("train_with_dev"):  # dev was training data: no held-out dev score, no best epoch
        dev, epochs = "- (trained on train + dev)", f"{metrics['epochs_run']} (last kept)"
    else:
        dev = ", ".join(f"{m} {scale * metrics['validation'][m]:.2f}" for m in names)
        epochs = f"{metrics['epochs_run']} ({metrics.get('best_epoch')})"
    baseline = metrics.get("baseline", {}).get("test")
    base = (f"acc {100 * baseline['accuracy']:.2f}, macro-F1 {100 * baseline['macro_f1']:.2f}"
            if baseline else "")
    return (f"| {metrics['recipe']} | {test} | {dev} | {base} | {epochs} "
            f"| {metrics['train_seconds'] / 60:.1f} | {metrics['train_tokens_per_second']:.0f} "
            f"| {metrics['predict_tokens_per_second']:.0f} | {metrics['padding_fraction']:.3f} |")


def main(paths):
    print("| recipe | test | dev | TF-IDF baseline (test) | epochs (best) | train min | train tok/s "
          "| predict tok/s | padding |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path in paths:
        if (Path(path) / "metrics.json").exists():
            print(row(path))


if __name__ == "__main__":
    main(sys.argv[1:])
