"""Kills a tiny training with SIGKILL mid-epoch, resumes it, and prints its
history beside an uninterrupted run's (issue 25; docs/RESULTS.md, session 24).

Usage: python benchmarks/kill_and_resume.py OUTPUT_FOLDER
Uses the helpers of tests/test_run_safety.py (a tagger killed after batch 15,
a stream language model in the middle of epoch 2).
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_run_safety import metrics_of, train_subprocess  # noqa: E402


def main(folder):
    folder = Path(folder)
    for which, kill in (("tagging", "batch:15"), ("lm", "epoch:1")):
        whole = metrics_of(train_subprocess(which, folder / f"{which}_whole"))
        killed = train_subprocess(which, folder / f"{which}_run", kill=kill)
        resumed = metrics_of(train_subprocess(which, folder / f"{which}_run", resume=True))
        print(which, "killed with exit status", killed.returncode)
        histories = [json.loads((folder / f"{which}_{name}" / "history.json").read_text())
                     for name in ("whole", "run")]
        for key in histories[0]:
            print(which, key, "uninterrupted", histories[0][key], "resumed", histories[1][key])
        floats = [{k: v for k, v in m.items() if isinstance(v, float)} for m in (whole, resumed)]
        print(which, "test uninterrupted", floats[0], "resumed", floats[1])


if __name__ == "__main__":
    main(sys.argv[1])
