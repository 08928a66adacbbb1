"""Prints a markdown table of language-model runs (encoder comparisons, clipping demos).

Usage: python benchmarks/lm_compare_table.py runs/lm_compare/*/
"""

import json
import sys
from pathlib import Path

import yaml


def row(directory):
    directory = Path(directory)
    metrics = json.loads((directory / "metrics.json").read_text())
    encoder = yaml.safe_load((directory / "recipe.yaml").read_text())["model"]["encoder"]
    split = "test" if "test" in metrics else "validation"
    baseline = metrics.get("baseline", {}).get(split, {})
    return (f"| {directory.name} | {encoder['kind']} | {encoder['layers']}x{encoder['units']} "
            f"| {'yes' if encoder.get('residual') else 'no'} | {metrics['params'] / 1e6:.2f} M "
            f"| {metrics['epochs_run']} ({metrics.get('best_epoch')}) | {metrics[split]['loss']:.3f} "
            f"| {baseline.get('loss', float('nan')):.3f} | {metrics['train_seconds'] / 60:.1f} "
            f"| {metrics['train_tokens_per_second']:.0f} |")


def main(paths):
    print("| run | encoder | layers x units | residual | trained params | epochs (best) "
          "| loss (nats/token) | KN baseline | train min | train tok/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for path in paths:
        if (Path(path) / "metrics.json").exists():
            print(row(path))


if __name__ == "__main__":
    main(sys.argv[1:])
