"""The command line through subprocess: train -> predict / evaluate, show, data, and bad input.

Bad input must give exit code 2, one `seqtasks: error:` line that names the
file (and line), no traceback, and no run directory (nor `.partial`) left.
TensorFlow writes a few log lines of its own to stderr, so the tests look for
the `seqtasks: error:` line rather than an empty stderr.

Each subprocess that imports TensorFlow costs 10-20 s on the shared 2-core
machine, so the variants of one error path run in-process through
`seqtasks.cli.main` (same parsing, same error handling, the exit code is its
return value) and one of each path also runs as a real process.
"""

import json
import random
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import run_cli

REPO = Path(__file__).resolve().parents[1]
WORDS = {"DET": ["the", "a"], "NOUN": ["cat", "dog", "tree"], "VERB": ["sees", "likes"], "PUNCT": ["."]}


class InProcess:
    """`cli.main` run in this process, shaped like a `CompletedProcess`."""

    def __init__(self, capsys, *args):
        from seqtasks import cli

        capsys.readouterr()
        self.returncode = cli.main([str(a) for a in args])
        captured = capsys.readouterr()
        self.stdout, self.stderr = captured.out, captured.err


def error_lines(result):
    return [line for line in result.stderr.splitlines() if line.startswith("seqtasks: error:")]


def assert_user_error(result, *needles):
    """Exit 2, exactly one error line containing every needle, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert str(needle) in lines[0], (needle, lines[0])
    return lines[0]


def conllu(sentences):
    """CoNLL-U text (10 columns) for `[(tokens, tags), ...]`."""
    blocks = []
    for n, (tokens, tags) in enumerate(sentences):
        rows = [f"# sent_id = {n}"]
        rows += [f"{i}\t{t}\t{t}\t{g}\t_\t_\t0\tdep\t_\t_" for i, (t, g) in enumerate(zip(tokens, tags), 1)]
        blocks.append("\n".join(rows) + "\n")
    return "\n".join(blocks)


def sentences(n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        tags = ["DET", "NOUN", "VERB", "DET", "NOUN", "PUNCT"]
        out.append(([rng.choice(WORDS[t]) for t in tags], tags))
    return out


def write_recipe(folder, files, name="tiny_cli", train_epochs=1, **extra):
    recipe = {
        "name": name,
        "task": "tagging",
        "data": {"files": files},
        "model": {"embedding": {"dim": 8}, "encoder": {"kind": "gru", "units": 8, "layers": 1, "dropout": 0.0}},
        "train": {"epochs": train_epochs, "batch_size": 16, "learning_rate": 0.02, "verbose": 0},
        "evaluate": {"plots": False},
        **extra,
    }
    path = Path(folder) / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return path


def write_corpus(folder, overrides=None):
    """Good train/validation/test CoNLL-U files; `overrides` maps split -> raw bytes."""
    files = {"format": "conllu"}
    for seed, (split, n) in enumerate((("train", 60), ("validation", 10), ("test", 10))):
        path = Path(folder) / f"{split}.conllu"
        data = (overrides or {}).get(split)
        if data is None:
            path.write_text(conllu(sentences(n, seed)), encoding="utf-8")
        else:
            path.write_bytes(data)
        files[split] = str(path)
    return files


def no_run_left(folder, name="run"):
    return not (Path(folder) / name).exists() and not (Path(folder) / f"{name}.partial").exists()


# -- train, predict, evaluate end to end --------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    recipe = write_recipe(folder, write_corpus(folder), train_epochs=3)
    result = run_cli("train", recipe, "--output", folder / "run", "--set", "train.epochs=1")
    assert result.returncode == 0, result.stderr[-3000:]
    return folder, folder / "run", result


def test_train_prints_metrics_and_writes_run(trained):
    folder, run, result = trained
    assert "test: accuracy=" in result.stdout and "validation: accuracy=" in result.stdout
    assert f"run directory: {run}" in result.stdout
    assert not error_lines(result) and "Traceback" not in result.stderr
    for name in ("model.keras", "preprocessor.json", "recipe.yaml", "metrics.json", "history.json", "run.json"):
        assert (run / name).is_file(), name
    assert json.loads((run / "run.json").read_text()) == {"seqtasks": "0.2.0", "format": 2, "kind": "tagging"}
    assert not (folder / "run.partial").exists()
    saved = yaml.safe_load((run / "recipe.yaml").read_text())
    assert saved["train"]["epochs"] == 1  # the --set override is in the resolved recipe
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == 1


def test_predict_text_and_conll_input(trained):
    folder, run, _ = trained
    conll = folder / "input.conll"
    # Tokens are kept as given (no re-tokenisation of "cat." or "a-b").
    conll.write_text("# a comment\ncat.\tX\nsees\tX\n\na-b\nthe\n", encoding="utf-8")
    result = run_cli("predict", run, "the dog sees a tree.", "--input", conll, "--format", "json")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [r["tokens"] for r in rows] == [["the", "dog", "sees", "a", "tree", "."], ["cat.", "sees"],
                                           ["a-b", "the"]]
    assert all(len(r["tags"]) == len(r["tokens"]) for r in rows)
    assert set(t for r in rows for t in r["tags"]) <= set(WORDS)


@pytest.mark.parametrize("fmt", ["text", "conll"])
def test_predict_formats(trained, fmt, capsys):
    _, run, _ = trained
    result = InProcess(capsys, "predict", run, "the cat sees a dog .", "a tree", "--format", fmt)
    assert result.returncode == 0, result.stderr[-3000:]
    # the speed line goes to stderr, counting the 6 + 2 tokens predicted
    assert "predicted 2 examples, 8 tokens in " in result.stderr
    assert "tokens/s including start-up" in result.stderr
    out = result.stdout.strip()
    if fmt == "text":
        lines = out.splitlines()
        assert len(lines) == 2
        assert [pair.rsplit("/", 1)[0] for pair in lines[0].split()] == ["the", "cat", "sees", "a", "dog", "."]
        assert all(pair.rsplit("/", 1)[1] in WORDS for pair in lines[0].split())
    else:
        blocks = out.split("\n\n")
        assert len(blocks) == 2
        rows = [line.split("\t") for line in blocks[1].splitlines()]
        assert [r[0] for r in rows] == ["a", "tree"] and all(r[1] in WORDS for r in rows)


def test_evaluate_matches_metrics(trained, capsys):
    _, run, _ = trained
    result = InProcess(capsys, "evaluate", run, "--split", "test")
    assert result.returncode == 0, result.stderr[-3000:]
    scores = json.loads(result.stdout)
    metrics = json.loads((run / "metrics.json").read_text())
    assert scores["test"]["accuracy"] == metrics["test"]["accuracy"]


# -- show and data ------------------------------------------------------------------------


def test_show_prints_resolved_recipe(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: shown\nmodel: {encoder: {kind: gru}}\n", encoding="utf-8")
    result = run_cli("show", path, "--set", "train.epochs=4")
    assert result.returncode == 0, result.stderr
    shown = yaml.safe_load(result.stdout)
    assert shown["name"] == "shown" and shown["model"]["encoder"]["kind"] == "gru"
    assert shown["train"]["epochs"] == 4
    assert shown["model"]["encoder"]["units"] == 128  # defaults written out
    assert "early_stopping_patience" in shown["train"]


def test_show_shipped_recipe():
    result = run_cli("show", REPO / "recipes" / "pos_ud_ewt_bilstm.yaml")
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["data"]["card"] == "ud_english_ewt"


def test_data_list():
    result = run_cli("data", "list")
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()[1:] if line.strip()]
    for name in ("ud_english_ewt", "conll2003", "sst2_glue", "multi30k", "ptb", "names_18lang"):
        assert name in names
    assert result.stdout.splitlines()[0].split()[:3] == ["name", "task", "format"]


def test_data_verify_ewt(data_root):
    result = run_cli("data", "verify", "ud_english_ewt")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ud_english_ewt: ok" in result.stdout


def test_data_verify_tampered_copy(data_root, tmp_path):
    shutil.copytree(data_root / "makemore_names", tmp_path / "makemore_names")
    target = tmp_path / "makemore_names" / "names.txt"
    target.chmod(0o644)
    target.write_bytes(target.read_bytes() + b"zelda\n")
    result = run_cli("data", "verify", "makemore_names", "--data-root", tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "makemore_names: FAILED" in result.stdout
    assert "makemore_names/names.txt" in result.stdout
    assert "LICENSE" not in result.stdout  # only the changed file is named
    assert "Traceback" not in result.stderr


def test_data_verify_tampered_card_without_data(tmp_path):
    # Never skips: a card of our own, pointing at a small file in a tmp data root.
    cards, root = tmp_path / "cards", tmp_path / "root"
    (root / "mini").mkdir(parents=True)
    cards.mkdir()
    (root / "mini" / "train.conllu").write_text(conllu(sentences(3, 0)), encoding="utf-8")
    header = {"name": "mini", "title": "mini", "task": "tagging", "format": "conllu",
              "files": {"train": "mini/train.conllu"}, "sha256": {"mini/train.conllu": "0" * 64},
              "counts": {"train": {"sentences": 3}}, "licence": "none", "citation": "none"}
    (cards / "mini.md").write_text("---\n" + yaml.safe_dump(header) + "---\n\nA test card.\n",
                                   encoding="utf-8")
    result = run_cli("data", "verify", "mini", "--data-root", root, env={"SEQTASKS_CARDS": str(cards)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "mini/train.conllu" in result.stdout and "Traceback" not in result.stderr


# -- bad input: exit 2, one line, the file named, nothing left behind ----------------------

GOOD = conllu(sentences(5, 0))
BAD_DATA = {
    # CoNLL-U: line 3 has 9 columns.
    "conllu_columns": ("conllu", "validation", ("# c\n1\tthe\tthe\tDET\t_\t_\t0\tdep\t_\t_\n"
                                                "2\tcat\tcat\tNOUN\t_\t_\t0\tdep\t_\n\n").encode(), ":3:"),
    # CoNLL columns: line 2 has 3 columns where line 1 had 2.
    "conll_columns": ("conll", "train", b"the DET\ncat NOUN extra\n\n", ":2:"),
    "empty_split": ("conllu", "test", b"# only a comment\n\n", "empty split"),
    # latin-1 "caf\xe9" on line 2.
    "encoding": ("conllu", "train", ("1\tthe\tthe\tDET\t_\t_\t0\tdep\t_\t_\n"
                                     "2\tcaf\u00e9\tx\tNOUN\t_\t_\t0\tdep\t_\t_\n\n").encode("latin-1"),
                 ":2:"),
}


def bad_corpus(tmp_path, case):
    fmt, split, data, _ = BAD_DATA[case]
    files = write_corpus(tmp_path, {split: data})
    if fmt == "conll":
        for name in ("train", "validation", "test"):
            if name != split:
                Path(files[name]).write_text("the DET\ncat NOUN\n\n", encoding="utf-8")
        files["format"] = "conll"
    return files, Path(files[split])


@pytest.mark.parametrize("case", list(BAD_DATA))
def test_bad_data_file(case, tmp_path, capsys):
    files, bad = bad_corpus(tmp_path, case)
    recipe = write_recipe(tmp_path, files)
    result = InProcess(capsys, "train", recipe, "--output", tmp_path / "run")
    line = assert_user_error(result, bad, BAD_DATA[case][3])
    assert no_run_left(tmp_path), line


def test_bad_data_file_subprocess_default_output(tmp_path):
    # A real process; without --output the run would go to runs/<name> in the working directory.
    files, bad = bad_corpus(tmp_path, "encoding")
    recipe = write_recipe(tmp_path, files)
    result = run_cli("train", recipe, cwd=tmp_path)
    assert_user_error(result, bad)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


BAD_RECIPES = {
    "unknown_key": ("name: x\ntrian: {epochs: 3}\n", ["did you mean 'train'"]),
    "wrong_type": ("name: x\ntrain: {epochs: ten}\n", ["train.epochs", "'ten'"]),
    "unknown_component": ("name: x\nmodel: {encoder: {kind: transformer}}\n",
                          ["transformer", "simple_rnn", "lstm", "gru"]),
    "bad_yaml": ("name: [x\n", ["not valid YAML"]),
}


@pytest.mark.parametrize("case", list(BAD_RECIPES))
@pytest.mark.parametrize("command", ["train", "show"])
def test_bad_recipe(case, command, tmp_path, capsys):
    text, needles = BAD_RECIPES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    if command == "train":  # in-process: `train` imports scikit-learn before reading the recipe
        result = InProcess(capsys, "train", path, "--output", tmp_path / "run")
    else:
        result = run_cli("show", path)
    assert_user_error(result, path, *needles)
    assert no_run_left(tmp_path)


def test_set_missing_key(tmp_path, capsys):
    recipe = write_recipe(tmp_path, write_corpus(tmp_path))
    result = InProcess(capsys, "train", recipe, "--output", tmp_path / "run", "--set", "train.epochz=3")
    assert_user_error(result, "train.epochz", "did you mean 'epochs'")
    assert no_run_left(tmp_path)
    assert_user_error(run_cli("show", recipe, "--set", "model.encoder.size=3"), "model.encoder.size")
    assert_user_error(run_cli("show", recipe, "--set", "train.epochs"), "key=value")


def test_missing_recipe_file(tmp_path):
    assert_user_error(run_cli("show", tmp_path / "nope.yaml"), "nope.yaml", "not found")


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_not_a_run_directory(command, tmp_path, capsys):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "recipe.yaml").write_text("name: x\n", encoding="utf-8")
    extra = ["some text"] if command == "predict" else []
    assert_user_error(InProcess(capsys, command, tmp_path / "half", *extra), tmp_path / "half",
                      "not a run directory", "model.keras")
    assert_user_error(InProcess(capsys, command, tmp_path / "missing", *extra), tmp_path / "missing",
                      "not a run directory")


def old_run_directory(trained, tmp_path):
    """A copy of the trained run as seqtasks 0.1.0 saved it: no `run.json`."""
    _, run, _ = trained
    old = tmp_path / "old_run"
    shutil.copytree(run, old)
    (old / "run.json").unlink()
    return old


def old_run_message(directory):
    return (f"{directory}: saved by seqtasks 0.1.0 (run directory format 1), which seqtasks 0.2.0 cannot "
            "load (format 2); load it with seqtasks 0.1.0 (git checkout aa263cf) or train its recipe again "
            "with this version")


def test_run_directory_of_an_older_version_is_refused(trained, tmp_path, capsys):
    import seqtasks
    from seqtasks.errors import SeqtasksError

    old = old_run_directory(trained, tmp_path)
    with pytest.raises(SeqtasksError) as info:
        seqtasks.load(old)
    assert str(info.value) == old_run_message(old)
    for command, extra in (("evaluate", []), ("predict", ["the cat"])):
        result = InProcess(capsys, command, old, *extra)
        line = assert_user_error(result)
        assert line == f"seqtasks: error: {old_run_message(old)}"


def test_run_directory_of_an_older_version_subprocess(trained, tmp_path):
    old = old_run_directory(trained, tmp_path)
    assert assert_user_error(run_cli("evaluate", old)) == f"seqtasks: error: {old_run_message(old)}"


def test_baseline_of_a_tagging_recipe(tmp_path, capsys):
    recipe = write_recipe(tmp_path, write_corpus(tmp_path))
    line = assert_user_error(InProcess(capsys, "baseline", recipe))
    assert line == f"seqtasks: error: {recipe}: task 'tagging' has no baseline"


def test_not_a_run_directory_subprocess(tmp_path):
    assert_user_error(run_cli("evaluate", tmp_path), tmp_path, "not a run directory")


def test_predict_bad_input_file(trained, tmp_path):
    _, run, _ = trained
    bad = tmp_path / "in.txt"
    bad.write_bytes(b"fine line\ncaf\xe9\n")
    assert_user_error(run_cli("predict", run, "--input", bad), f"{bad}:2", "UTF-8")


def test_predict_tag_scheme_needs_a_span_tagger(trained, capsys):
    _, run, _ = trained  # a POS-style tagger: no span scheme
    assert_user_error(InProcess(capsys, "predict", run, "the cat", "--tag-scheme", "IOB2"),
                      str(run), "tag_scheme 'IOB2' needs a tagger trained with a span scheme")
