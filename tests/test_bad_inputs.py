"""The bad-input corpus (issue 25): every user-caused failure is exit code 2,
exactly one `seqtasks: error:` line on stderr (the file and line where there
is one), no traceback, nothing printed on stdout and nothing left behind (no
run directory, no `.partial`, the run directory used for prediction unchanged).

The CLI runs in-process (`seqtasks.cli.main`, the same parsing and error
handling as the console script); one tiny tagger is trained once for the
`predict` / `evaluate` cases. `test_argument_errors_come_before_tensorflow`
runs a separate interpreter, because this one has TensorFlow loaded already.
"""

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from test_cli import write_corpus, write_recipe

REPO = Path(__file__).resolve().parents[1]


def run_main(capsys, *args):
    """`cli.main(args)` -> `(exit code, stdout, stderr)`; argparse errors exit too."""
    from seqtasks import cli

    capsys.readouterr()
    try:
        code = cli.main([str(a) for a in args])
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line(capsys, expected, *args):
    """Exit 2, stderr is exactly `seqtasks: error: <expected>`, stdout empty."""
    code, out, err = run_main(capsys, *args)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, err[-3000:])
    assert lines == [f"seqtasks: error: {expected}"], err[-3000:]
    assert out == "", out


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))


# -- training: recipe values and --set -------------------------------------------------------

@pytest.fixture
def corpus(tmp_path):
    """A recipe on good CoNLL-U files; returns `(recipe path, files)`."""
    files = write_corpus(tmp_path)
    return write_recipe(tmp_path, files), files


RECIPE_CASES = {
    # --set value -> the message after "<recipe>: " (None: the message has no recipe prefix)
    "data.limit.train=0": "'data.limit.train' must be a whole number of examples, at least 1, found 0",
    "data.limit.train=-5": "'data.limit.train' must be a whole number of examples, at least 1, found -5",
    "data.limit.train=abc": "'data.limit.train' must be a whole number of examples, at least 1, found 'abc'",
    "data.limit.validation=2.5": ("'data.limit.validation' must be a whole number of examples, at least 1, "
                                  "found 2.5"),
    "model.encoder.dropout=1.5": "'model.encoder.dropout' must be in [0, 1), found 1.5",
    "model.encoder.dropout=-0.5": "'model.encoder.dropout' must be in [0, 1), found -0.5",
    "model.embedding.dropout=1.5": "'model.embedding.dropout' must be in [0, 1), found 1.5",
    "model.head.dropout=-0.5": "'model.head.dropout' must be in [0, 1), found -0.5",
    "model.embedding.word_dropout=1": "'model.embedding.word_dropout' must be in [0, 1), found 1.0",
    "train.learning_rate=-0.001": "'train.learning_rate' must be above 0, found -0.001",
    "train.learning_rate=0": "'train.learning_rate' must be above 0, found 0.0",
    "train.clipnorm=-1": "'train.clipnorm' must be above 0, found -1.0",
    "train.weight_decay=-0.1": "'train.weight_decay' must be at least 0, found -0.1",
    "preprocess.max_length=-1": "'preprocess.max_length' must be at least 1, found -1",
    "preprocess.max_word_length=0": "'preprocess.max_word_length' must be at least 1, found 0",
    "preprocess.min_frequency=0": "'preprocess.min_frequency' must be at least 1, found 0",
    "train.early_stopping_patience=-1": "'train.early_stopping_patience' must be at least 0, found -1",
    "train.threads=0": "'train.threads' must be at least 1, found 0",
    "train.verbose=3": "'train.verbose' must be 0 (silent), 1 (progress bar) or 2 (one line per epoch), found 3",
    "train.batch_size=0": "'train.batch_size' must be at least 1, found 0",
    "train.epochs=ten": "'train.epochs' must be an integer, found 'ten'",
    "model.encoder.kind=transformer": "unknown model.encoder.kind 'transformer'; known: simple_rnn, lstm, gru, "
                                      "reservoir",
    "train.epochs=[[": None,
    "train.epochs={a": None,
}
SET_ONLY = {  # messages that start with the --set argument, not the recipe file
    "train.epochs=[[": "--set train.epochs=[[: the value is not valid YAML (expected the node content, but found "
                       "'<stream end>')",
    "train.epochs={a": "--set train.epochs={a: the value is not valid YAML (expected ',' or '}', but got "
                       "'<stream end>')",
}


@pytest.mark.parametrize("override", list(RECIPE_CASES))
def test_bad_recipe_value(override, corpus, tmp_path, capsys):
    recipe, _ = corpus
    expected = SET_ONLY.get(override) or f"{recipe}: {RECIPE_CASES[override]}"
    assert_one_line(capsys, expected, "train", recipe, "--output", tmp_path / "run", "--set", override)
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_limit_of_a_split_the_data_lacks(corpus, tmp_path, capsys):
    recipe, _ = corpus
    assert_one_line(capsys, "data.limit names split 'tset'; the data has ['train', 'validation', 'test']",
                    "train", recipe, "--output", tmp_path / "run", "--set", "data.limit.tset=5")
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


# -- training: malformed data files ----------------------------------------------------------

ROW = "1\tthe\tthe\tDET\t_\t_\t0\tdep\t_\t_\n"


def tagging_case(tmp_path, split, data, fmt="conllu"):
    """A recipe whose `split` file holds `data` (bytes); returns `(recipe, bad path)`."""
    files = write_corpus(tmp_path, {split: data})
    if fmt == "conll":
        for name in ("train", "validation", "test"):
            if name != split:
                Path(files[name]).write_text("the DET\ncat NOUN\n\n", encoding="utf-8")
        files["format"] = "conll"
    return write_recipe(tmp_path, files), Path(files[split])


def classification_case(tmp_path, fmt, text, delimiter=None):
    """A classifier recipe on `data.files` of format `fmt`; the train file holds `text`."""
    suffix = {"csv": ".tsv" if delimiter == "\t" else ".csv", "json": ".jsonl"}[fmt]
    good = {"csv": f"text{delimiter or ','}label\ngood film{delimiter or ','}pos\nbad film{delimiter or ','}neg\n",
            "json": '{"text": "good film", "label": "pos"}\n{"text": "bad film", "label": "neg"}\n'}[fmt]
    files = {"format": fmt}
    for split in ("train", "validation", "test"):
        path = tmp_path / f"{split}{suffix}"
        path.write_text(text if split == "train" else good, encoding="utf-8")
        files[split] = str(path)
    extra = {"reader": {"delimiter": delimiter}} if delimiter else {}
    recipe = write_recipe(tmp_path, files, task="classification")
    if extra:
        values = yaml.safe_load(recipe.read_text(encoding="utf-8"))
        values["data"].update(extra)
        recipe.write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
    return recipe, Path(files["train"])


DATA_CASES = {
    # name: (builder, message after "<bad file>")
    "conllu_nine_columns": (lambda t: tagging_case(t, "validation", (ROW + ROW.rsplit("\t", 1)[0] + "\n\n").encode()),
                            ":2: expected 10 tab-separated columns, found 9"),
    "conllu_latin1": (lambda t: tagging_case(t, "train", (ROW + "2\tcaf\u00e9\tx\tNOUN\t_\t_\t0\tdep\t_\t_\n\n")
                                             .encode("latin-1")),
                      ":2: not valid UTF-8 (byte 0xe9 at column 6)"),
    "conllu_empty_split": (lambda t: tagging_case(t, "test", b"# only a comment\n\n"),
                           ": expected at least one example, found no sentences (empty split)"),
    "conll_extra_column": (lambda t: tagging_case(t, "train", b"the DET\ncat NOUN extra\n\n", "conll"),
                           ":2: expected 2 columns as in line 1, found 3"),
    "tsv_extra_field": (lambda t: classification_case(t, "csv", "text\tlabel\ngood film\tpos\nbad\tneg\textra\n",
                                                      "\t"),
                        ":3: expected 2 fields separated by '\\t', found 3"),
    "csv_extra_field": (lambda t: classification_case(t, "csv", "text,label\ngood,pos\nbad,neg,x\nok,pos\n"),
                        ":3: expected 2 fields separated by ',', found 3"),
    "csv_empty_label": (lambda t: classification_case(t, "csv", "text,label\ngood film,pos\nbad film,\n"),
                        ":3: expected a label in column 'label', found an empty one"),
    "jsonl_malformed": (lambda t: classification_case(t, "json", '{"text": "good", "label": "pos"}\n'
                                                                 '{"text": "bad", "label": \n'),
                        ":2: not valid JSON lines (Expecting value, column 26); expected one JSON object per line"),
    "json_array_malformed": (lambda t: classification_case(t, "json", '[\n {"text": "good", "label": "pos"},\n'
                                                                      ' {"text": "bad" "label": "neg"}\n]\n'),
                             ":3: not valid JSON (Expecting ',' delimiter, column 17)"),
}


@pytest.mark.parametrize("case", list(DATA_CASES))
def test_bad_data_file(case, tmp_path, capsys):
    build, message = DATA_CASES[case]
    recipe, bad = build(tmp_path)
    assert_one_line(capsys, f"{bad}{message}", "train", recipe, "--output", tmp_path / "run")
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_data_file_is_a_folder(tmp_path, capsys):
    files = write_corpus(tmp_path)
    os.remove(files["validation"])
    os.mkdir(files["validation"])
    recipe = write_recipe(tmp_path, files)
    assert_one_line(capsys, f"{files['validation']}: cannot read the file (Is a directory)",
                    "train", recipe, "--output", tmp_path / "run")
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_byte_order_mark_is_not_a_token(tmp_path):
    from seqtasks.data.readers import read_conll_columns, read_conllu

    conll = tmp_path / "bom.txt"
    conll.write_bytes("\ufeff-DOCSTART- O\n\nEU B-ORG\nrejects O\n\n".encode("utf-8"))
    dataset = read_conll_columns({"train": conll})
    assert dataset["train"]["tokens"] == [["EU", "rejects"]]
    assert dataset["train"]["document"] == [0]
    ud = tmp_path / "bom.conllu"
    ud.write_bytes(("\ufeff" + ROW + "\n").encode("utf-8"))
    assert read_conllu({"train": ud})["train"]["tokens"] == [["the"]]


# -- training: the user's disk ---------------------------------------------------------------

def test_full_disk_leaves_nothing(corpus, tmp_path, capsys, monkeypatch):
    from seqtasks import run_dir

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(run_dir, "write_text", full)
    recipe, _ = corpus
    output = tmp_path / "run"
    assert_one_line(capsys, f"{output}.partial/preprocessor.json: No space left on device",
                    "train", recipe, "--output", output)
    assert not output.exists() and not Path(f"{output}.partial").exists()


def test_read_only_output_folder(corpus, tmp_path, capsys, monkeypatch):
    # Simulated: the tests may run as root, for whom chmod does not forbid writing.
    output = tmp_path / "readonly" / "run"
    real_mkdir = Path.mkdir

    def read_only(self, *args, **kwargs):
        if str(self).startswith(str(output.parent)):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    recipe, _ = corpus
    # The first thing written is the run's lock file beside the output.
    assert_one_line(capsys, f"{output.parent}: Read-only file system", "train", recipe, "--output", output)
    assert not output.parent.exists()


# -- predict and evaluate --------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny POS-style tagger trained in-process (one epoch)."""
    from seqtasks import cli

    folder = tmp_path_factory.mktemp("bad_inputs")
    files = write_corpus(folder)
    recipe = write_recipe(folder, files)
    assert cli.main(["train", str(recipe), "--output", str(folder / "run")]) == 0
    return folder / "run", files


@pytest.fixture
def run(trained):
    """The trained run; the test fails if a case changed anything in it."""
    directory, _ = trained
    before = listing(directory)
    yield directory
    assert listing(directory) == before


def damaged_copy(trained, tmp_path, name, data):
    directory, _ = trained
    copy = tmp_path / "damaged"
    shutil.copytree(directory, copy)
    (copy / name).write_bytes(data(copy / name))
    return copy


def test_predict_empty_text(run, capsys):
    assert_one_line(capsys, "predict: text 1 is empty (expected at least one token)", "predict", run, "")
    assert_one_line(capsys, "predict: text 2 is empty (expected at least one token)", "predict", run, "the cat",
                    "   ")


def test_predict_nothing_to_predict(run, capsys):
    assert_one_line(capsys, "predict: give texts as arguments or a file with --input", "predict", run)


def test_predict_input_is_a_folder(run, tmp_path, capsys):
    assert_one_line(capsys, f"{tmp_path}: is a folder; expected an input file (one text per line, or CoNLL)",
                    "predict", run, "--input", tmp_path)


def test_predict_input_missing(run, tmp_path, capsys):
    assert_one_line(capsys, f"{tmp_path / 'nope.txt'}: an input file (one text per line, or CoNLL) not found",
                    "predict", run, "--input", tmp_path / "nope.txt")


def test_predict_plain_text_given_as_conllu(run, tmp_path, capsys):
    path = tmp_path / "raw.conllu"
    path.write_text("The cat sat on the mat.\nIt slept.\n", encoding="utf-8")
    assert_one_line(capsys, f"{path}:1: expected a CoNLL-U word line (10 tab-separated columns, an ID first), "
                            "found 'The cat sat on the mat.'; for plain text use --input-format text",
                    "predict", run, "--input", path)


def test_predict_input_not_utf8(run, tmp_path, capsys):
    path = tmp_path / "in.txt"
    path.write_bytes(b"fine line\ncaf\xe9\n")
    assert_one_line(capsys, f"{path}:2: not valid UTF-8 (byte 0xe9 at column 4)", "predict", run, "--input", path)


def test_predict_input_only_blank_lines(run, tmp_path, capsys):
    path = tmp_path / "blank.txt"
    path.write_text("\n  \n", encoding="utf-8")
    assert_one_line(capsys, f"predict: give texts as arguments or a file with --input ({path} has no text)",
                    "predict", run, "--input", path)


def test_predict_tag_scheme_of_a_pos_tagger(run, capsys):
    assert_one_line(capsys, f"{run}: tag_scheme 'IOB2' needs a tagger trained with a span scheme "
                            "(data.target_scheme), this model has none",
                    "predict", run, "the cat", "--tag-scheme", "IOB2")


@pytest.mark.parametrize("what", ["truncated", "garbage", "empty"])
def test_damaged_model_file(what, trained, tmp_path, capsys):
    data = {"truncated": lambda p: p.read_bytes()[: p.stat().st_size // 2],
            "garbage": lambda p: bytes(range(256)) * 40, "empty": lambda p: b""}[what]
    copy = damaged_copy(trained, tmp_path, "model.keras", data)
    for command, extra in (("predict", ["the cat"]), ("evaluate", [])):
        assert_one_line(capsys, f"{copy / 'model.keras'}: cannot be loaded, the file is damaged or not a seqtasks "
                                "run file (not a .keras zip archive: truncated or overwritten); train the run "
                                "again or restore the file", command, copy, *extra)


def test_zip_that_is_not_a_model(trained, tmp_path, capsys):
    import zipfile

    def other_zip(path):
        with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
            archive.writestr("notes.txt", "not a model")
        return (tmp_path / "other.zip").read_bytes()

    copy = damaged_copy(trained, tmp_path, "model.keras", other_zip)
    code, out, err = run_main(capsys, "predict", copy, "the cat")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"seqtasks: error: {copy / 'model.keras'}: cannot be loaded, the file is damaged "
                          "or not a seqtasks run file ("), err


def test_damaged_preprocessor_file(trained, tmp_path, capsys):
    copy = damaged_copy(trained, tmp_path, "preprocessor.json", lambda p: p.read_bytes()[:40])
    code, out, err = run_main(capsys, "predict", copy, "the cat")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"seqtasks: error: {copy / 'preprocessor.json'}: cannot be loaded"), err


def test_damaged_run_json(trained, tmp_path, capsys):
    copy = damaged_copy(trained, tmp_path, "run.json", lambda p: b"{not json")
    assert_one_line(capsys, f"{copy / 'run.json'}: not valid JSON", "predict", copy, "the cat")


def test_missing_model_file(trained, tmp_path, capsys):
    copy = damaged_copy(trained, tmp_path, "model.keras", lambda p: b"")
    (copy / "model.keras").unlink()
    assert_one_line(capsys, f"{copy}: not a run directory (missing model.keras)", "evaluate", copy)


def test_ensemble_member_missing(run, tmp_path, capsys):
    assert_one_line(capsys, f"{tmp_path / 'other'}: not a run directory (no such directory)",
                    "predict", run, "the cat", "--ensemble", tmp_path / "other")


def test_evaluate_input_is_a_folder(run, tmp_path, capsys):
    assert_one_line(capsys, f"{tmp_path}: is a folder; expected a data file to evaluate on",
                    "evaluate", run, "--input", tmp_path)


def test_evaluate_input_missing(run, tmp_path, capsys):
    assert_one_line(capsys, f"{tmp_path / 'x.conllu'}: a data file to evaluate on not found",
                    "evaluate", run, "--input", tmp_path / "x.conllu")


def test_evaluate_input_malformed(run, tmp_path, capsys):
    path = tmp_path / "mine.conllu"
    path.write_text(ROW + ROW.rsplit("\t", 2)[0] + "\n\n", encoding="utf-8")
    assert_one_line(capsys, f"{path}:2: expected 10 tab-separated columns, found 8", "evaluate", run, "--input", path)


def test_evaluate_input_plain_text(run, tmp_path, capsys):
    path = tmp_path / "mine.conllu"
    path.write_text("The cat sat.\n", encoding="utf-8")
    assert_one_line(capsys, f"{path}:1: expected 10 tab-separated columns, found 1", "evaluate", run, "--input", path)


# -- argument errors: exit 2 from argparse, before TensorFlow is imported ----------------------

ARGUMENT_CASES = {
    "bad_split": (["evaluate", "RUN", "--split", "tset"],
                  "seqtasks evaluate: error: argument --split: invalid choice: 'tset' (choose from "
                  "'train', 'validation', 'dev', 'test')"),
    "bad_tag_scheme": (["predict", "RUN", "the cat", "--tag-scheme", "BIO3"],
                       "seqtasks predict: error: argument --tag-scheme: invalid choice: 'BIO3'"),
    "bad_format": (["predict", "RUN", "the cat", "--format", "xml"],
                   "seqtasks predict: error: argument --format: invalid choice: 'xml'"),
    "bad_number": (["generate", "RUN", "--num", "many"],
                   "seqtasks generate: error: argument --num: invalid int value: 'many'"),
}


@pytest.mark.parametrize("case", list(ARGUMENT_CASES))
def test_argument_error(case, run, capsys):
    args, expected = ARGUMENT_CASES[case]
    code, out, err = run_main(capsys, *[run if a == "RUN" else a for a in args])
    assert code == 2 and out == "", err
    # argparse's format: the usage (wrapped over a few lines), then one error line.
    assert err.splitlines()[0].startswith("usage: seqtasks "), err
    assert err.splitlines()[-1].startswith(expected), err
    assert "Traceback" not in err and sum("error:" in line for line in err.splitlines()) == 1, err


PROBE = """
import json, sys
from seqtasks import cli
codes = []
for args in json.loads(sys.argv[1]):
    try:
        codes.append(cli.main(args))
    except SystemExit as exit_:
        codes.append(exit_.code)
print(json.dumps({"codes": codes, "imported": sorted(m for m in ("tensorflow", "keras", "jax", "torch")
                                                         if m in sys.modules)}))
"""


def test_argument_errors_come_before_tensorflow(run):
    cases = [["predict", str(run), ""], ["predict", str(run), "the cat", "   "],
             ["predict", str(run), "the cat", "--tag-scheme", "IOB2"],
             ["predict", str(run), "the cat", "--tag-scheme", "BIO3"],
             ["predict", str(run), "--input", str(run)],
             ["evaluate", str(run), "--split", "tset"], ["evaluate", str(run), "--input", str(run)],
             ["evaluate", str(run.parent / "missing")], ["generate", str(run.parent / "missing")],
             ["train", str(run / "recipe.yaml"), "--set", "train.learning_rate=-1"]]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(cases)], capture_output=True, text=True,
                            env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    probe = json.loads(result.stdout.splitlines()[-1])
    assert probe == {"codes": [2] * len(cases), "imported": []}, result.stderr[-3000:]
