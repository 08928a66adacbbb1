"""The language-model CLI end to end: `seqtasks train`, `generate`, `predict`, `baseline`
on a tiny run, and one-line errors (exit 2) for bad generation input."""

import csv

import pytest

from conftest import run_cli

SYLLABLES = ["ma", "ri", "an", "el", "jo", "sa"]


class InProcess:
    """`cli.main` in this process, shaped like a `CompletedProcess`."""

    def __init__(self, capsys, *args):
        from seqtasks import cli

        capsys.readouterr()
        self.returncode = cli.main([str(a) for a in args])
        captured = capsys.readouterr()
        self.stdout, self.stderr = captured.out, captured.err


def assert_one_line_error(result, needle):
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [l for l in result.stderr.splitlines() if l.startswith("seqtasks: error:")]
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def write_names(path, n, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text"])
        for k in rng.integers(0, 30, n):
            writer.writerow(["".join(rng.choice(SYLLABLES) for _ in range(1 + k % 3))])


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lm_cli")
    for split, n, seed in [("train", 300, 0), ("validation", 60, 1), ("test", 60, 2)]:
        write_names(folder / f"{split}.csv", n, seed)
    recipe = folder / "recipe.yaml"
    recipe.write_text(f"""name: tiny_lm_cli
task: language_model
data:
  files: {{format: csv, train: {folder / 'train.csv'}, validation: {folder / 'validation.csv'},
          test: {folder / 'test.csv'}}}
preprocess: {{units: char}}
model:
  embedding: {{dim: 16}}
  encoder: {{kind: gru, units: 24, layers: 1, bidirectional: false, dropout: 0.0}}
  head: {{kind: lm, tie_weights: true}}
train: {{epochs: 2, batch_size: 16, learning_rate: 0.01, verbose: 0}}
evaluate: {{plots: false, samples: 2, sample_length: 10, ngram_order: 2}}
""")
    return folder, recipe


@pytest.fixture(scope="module")
def trained(lm_run):
    """`seqtasks train` of the tiny recipe (in a subprocess: the real command line)."""
    folder, recipe = lm_run
    result = run_cli("train", recipe, "--output", folder / "run")
    assert result.returncode == 0, result.stderr[-3000:]
    return folder / "run", result


def test_train_prints_lm_metrics_and_the_ngram_baseline(trained):
    run, result = trained
    assert "test: loss=" in result.stdout and "perplexity=" in result.stdout
    assert "baseline (interpolated Kneser-Ney 2-gram) test: loss=" in result.stdout
    assert (run / "samples.txt").read_text().count("== epoch") == 2


def test_generate_prints_the_samples_and_repeats_with_the_seed(trained, capsys):
    run, _ = trained
    result = run_cli("generate", run, "--prompt", "ma", "--num", "3", "--seed", "4", "--max-length", "8")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and all(line.startswith("ma") for line in lines)
    again = InProcess(capsys, "generate", run, "--prompt", "ma", "--num", "3", "--seed", "4", "--max-length", "8")
    assert again.returncode == 0 and again.stdout == result.stdout
    greedy = InProcess(capsys, "generate", run, "--num", "2", "--temperature", "0", "--top-k", "3")
    assert greedy.returncode == 0 and len(set(greedy.stdout.splitlines())) == 1


def test_predict_prints_the_perplexity_of_each_text(trained, capsys):
    run, _ = trained
    result = InProcess(capsys, "predict", run, "mari", "jo")
    assert result.returncode == 0
    assert [line.split("\t")[-1] for line in result.stdout.splitlines()] == ["mari", "jo"]
    assert result.stdout.startswith("perplexity=")


def test_baseline_command(lm_run, capsys):
    _, recipe = lm_run
    result = InProcess(capsys, "baseline", recipe)
    assert result.returncode == 0 and '"perplexity"' in result.stdout


@pytest.mark.parametrize("args, needle", [
    (["--top-p", "0"], "top_p (--top-p) must be in (0, 1] (1 = off), received 0.0"),
    (["--top-p", "1.5"], "top_p (--top-p) must be in (0, 1] (1 = off), received 1.5"),
    (["--prompt", ""], "prompt (--prompt) must be a non-empty text"),
    (["--prompt", "maX!"], "the prompt has char tokens the model does not know: 'X', '!'"),
    (["--top-k", "-1"], "top_k (--top-k) must be a whole number of at least 0"),
    (["--max-length", "0"], "max_length (--max-length) must be"),
])
def test_bad_generation_input(trained, args, needle, capsys):
    run, _ = trained
    assert_one_line_error(InProcess(capsys, "generate", run, *args), needle)


def test_generate_needs_a_run_directory(tmp_path, capsys):
    assert_one_line_error(InProcess(capsys, "generate", tmp_path / "nothing"), "not a run directory")
