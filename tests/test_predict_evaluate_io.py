"""The newcomer fixes of issue 25: evaluate on your own file, Treebank
tokenisation of raw text for taggers, one output line per input line, a
readable training log, a quiet back end without a GPU, useful plots."""

import contextlib
import io
import json
import logging
from pathlib import Path

import pytest
import yaml

from test_cli import write_corpus, write_recipe


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny tagger trained in-process for 2 epochs with `train.verbose: 1`
    while stdout is not a terminal; returns `(run, files, stdout, log messages)`."""
    from seqtasks import cli

    folder = tmp_path_factory.mktemp("io")
    files = write_corpus(folder)
    recipe = write_recipe(folder, files, train_epochs=2)
    records, logger = Records(), logging.getLogger("seqtasks")
    logger.addHandler(records)
    level = logger.level
    logger.setLevel(logging.INFO)
    stdout = io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout):
            code = cli.main(["train", str(recipe), "--output", str(folder / "run"), "--set", "train.verbose=1"])
    finally:
        logger.removeHandler(records)
        logger.setLevel(level)
    assert code == 0
    return folder / "run", files, stdout.getvalue(), records.messages


def run_main(capsys, *args):
    from seqtasks import cli

    capsys.readouterr()
    code = cli.main([str(a) for a in args])
    return code, capsys.readouterr()


# -- 12. the training log ---------------------------------------------------------------------

def test_log_has_one_line_per_epoch_off_a_terminal(trained):
    _, _, stdout, _ = trained
    assert "\r" not in stdout and "\x1b" not in stdout  # no progress bar redrawn
    epoch_lines = [line for line in stdout.splitlines() if line.startswith("4/4 - ")]
    assert [line for line in stdout.splitlines() if line.startswith("Epoch ")] == ["Epoch 1/2", "Epoch 2/2"]
    assert len(epoch_lines) == 2 and all("val_accuracy:" in line for line in epoch_lines)


def test_log_gives_data_vocabulary_and_parameters_before_training(trained):
    run, _, _, messages = trained
    assert messages[0] == ("data: train 60 / validation 10 / test 10 examples; "
                           "vocabulary: 10 word tokens, 4 labels")
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    params = f"{metrics['params']:,}"
    assert messages[1] == f"model: {params} parameters ({params} trainable); 4 training batches per epoch"


def test_log_verbosity():
    from seqtasks.training.fit import log_verbosity

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert [log_verbosity(v, io.StringIO()) for v in (0, 1, 2)] == [0, 2, 2]
    assert [log_verbosity(v, Terminal()) for v in (0, 1, 2)] == [0, 1, 2]


@pytest.mark.parametrize("visible, devices, level", [(None, [], "3"), ("-1", ["/dev/nvidia0"], "3"),
                                                     ("", ["/dev/nvidia0"], "3"), (None, ["/dev/nvidia0"], "2"),
                                                     ("0", ["/dev/nvidia0"], "2")])
def test_backend_log_level_depends_on_a_gpu(visible, devices, level, monkeypatch):
    from seqtasks import backend

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    monkeypatch.setattr(backend.glob, "glob", lambda pattern: list(devices))
    monkeypatch.setattr(backend.os.path, "exists", lambda path: False)
    backend.quiet_environment()
    import os

    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == level
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")  # the user's own setting wins
    backend.quiet_environment()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


# -- 8. evaluate on your own file -------------------------------------------------------------

def test_evaluate_input_file_matches_the_test_split(trained, tmp_path, capsys):
    run, files, _, _ = trained
    code, out = run_main(capsys, "evaluate", run)
    assert code == 0
    on_split = json.loads(out.out)["test"]
    mine = tmp_path / "mine.conllu"
    mine.write_bytes(Path(files["test"]).read_bytes())
    code, out = run_main(capsys, "evaluate", run, "--input", mine)
    assert code == 0, out.err
    assert json.loads(out.out) == {str(mine): on_split}


def test_evaluate_dev_is_validation(trained, capsys):
    run, _, _, _ = trained
    _, dev = run_main(capsys, "evaluate", run, "--split", "dev")
    _, validation = run_main(capsys, "evaluate", run, "--split", "validation")
    assert json.loads(dev.out)["validation"] == json.loads(validation.out)["validation"]


def test_evaluate_data_of_a_card_trained_run_needs_no_train_split(trained, tmp_path):
    """A run whose recipe names a data card is scored on the user's own
    `DatasetDict` (only a test split) or file, and the card is not read."""
    import shutil

    import seqtasks

    run, files, _, _ = trained
    card_run = tmp_path / "card_run"
    shutil.copytree(run, card_run)
    recipe = yaml.safe_load((card_run / "recipe.yaml").read_text(encoding="utf-8"))
    recipe["data"]["files"] = None
    recipe["data"]["card"] = "ud_english_ewt"
    recipe["data"]["root"] = str(tmp_path / "no_data_here")  # reading the card would fail
    recipe["data"]["limit"] = {"test": 1}  # the user's data is not cut
    (card_run / "recipe.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    expected = seqtasks.evaluate(run, "test")
    from seqtasks.data.readers import read_conllu

    only_test = read_conllu({"test": files["test"]})
    assert list(only_test) == ["test"]
    assert seqtasks.evaluate(card_run, "test", data=only_test)["accuracy"] == expected["accuracy"]
    assert seqtasks.evaluate(card_run, data=files["test"])["accuracy"] == expected["accuracy"]


# -- 9. tokenisation of raw text --------------------------------------------------------------

def test_treebank_tokens_follow_ud_english():
    from seqtasks.data.tokenize import treebank_tokens

    text = "I can't visit the U.K. today, it's \"late\"."
    tokens = treebank_tokens(text)
    assert [t for t, _, _ in tokens] == ["I", "ca", "n't", "visit", "the", "U.K.", "today", ",", "it", "'s",
                                         '"', "late", '"', "."]
    assert all(text[start:end] == token for token, start, end in tokens)


def test_taggers_split_raw_text_by_treebank_rules_classifiers_by_their_own():
    from seqtasks.registry import task_kind

    assert [t for t, _, _ in task_kind("tagging").tokenize("We can't.", "word")] == ["We", "ca", "n't", "."]
    assert [t for t, _, _ in task_kind("classification").tokenize("We can't.", "word")] == ["We", "can't", "."]
    assert [t for t, _, _ in task_kind("tagging").tokenize("ab", "char")] == ["a", "b"]


def test_predict_help_says_texts_need_not_be_tokenised(capsys):
    from seqtasks import cli

    with pytest.raises(SystemExit):
        cli.main(["predict", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "need not be tokenised" in help_text and "TreebankWordTokenizer" in help_text


# -- 10. one output line per input line ---------------------------------------------------------

@pytest.mark.parametrize("fmt", ["text", "json"])
def test_blank_input_lines_keep_their_place(trained, tmp_path, capsys, fmt):
    run, _, _, _ = trained
    path = tmp_path / "in.txt"
    path.write_text("the cat sees a dog .\n\na dog likes the tree .\n   \nthe tree .\n", encoding="utf-8")
    code, out = run_main(capsys, "predict", run, "--input", path, "--format", fmt)
    assert code == 0, out.err
    lines = out.out.rstrip("\n").split("\n")
    assert len(lines) == 5
    if fmt == "text":
        assert [line.split()[0].split("/")[0] if line else "" for line in lines] == ["the", "", "a", "", "the"]
    else:
        rows = [json.loads(line) for line in lines]
        assert [r.get("tokens", [None])[0] for r in rows] == ["the", None, "a", None, "the"]


# -- 13. plots ----------------------------------------------------------------------------------

def test_plot_marks_best_epoch_and_rate_changes_and_scales_axes(tmp_path):
    from seqtasks.reporting.plots import plot_history, rate_changes

    history = {"loss": [5.0, 0.5, 0.3, 0.25, 0.24], "val_loss": [3.0, 0.6, 0.4, 0.38, 0.39],
               "accuracy": [0.1, 0.90, 0.93, 0.94, 0.95], "val_accuracy": [0.1, 0.88, 0.91, 0.92, 0.915],
               "learning_rate": [1e-3, 1e-3, 1e-3, 5e-4, 5e-4]}
    assert rate_changes(history) == [(4, 0.5)]
    figure = plot_history(history, tmp_path / "curves.png", best_epoch=4)
    loss, accuracy = figure.axes
    assert [a.get_title() for a in figure.axes] == ["loss", "accuracy"]  # no learning-rate panel
    assert loss.get_yscale() == "log" and accuracy.get_yscale() == "linear"
    low, high = accuracy.get_ylim()
    assert 0.85 < low < 0.88 and 0.95 < high < 0.98  # epoch 1 (0.1) is off the scale
    for axes in figure.axes:
        labels = [line.get_label() for line in axes.get_lines()]
        assert "best epoch 4" in labels and "learning rate changed" in labels
        best = next(line for line in axes.get_lines() if line.get_label() == "best epoch 4")
        assert list(best.get_xdata()) == [4, 4]
    assert (tmp_path / "curves.png").exists()
