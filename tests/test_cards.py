"""Data cards: every card loads, matches MANIFEST.sha256, and verification catches tampering."""

import json
import shutil

import pytest

from seqtasks.data import card_data, cards
from seqtasks.errors import DataError, RecipeError

NAMES = {
    "ud_english_ewt", "conll2003", "conll2003_iob1", "sst2_glue", "sst_binary_sentences",
    "multi30k", "ptb", "makemore_names", "names_18lang", "tinyshakespeare",
}
TASKS = {"tagging", "classification", "translation", "language_model", "generation"}
needs_data = pytest.mark.skipif(cards.default_data_root() is None, reason="shared data root absent")


def test_every_card_loads():
    loaded = cards.list_cards()
    assert {card.name for card in loaded} == NAMES
    for card in loaded:
        assert card.path.stem == card.name
        assert card.task in TASKS and card.format in cards_formats()
        assert card.licence and card.citation and card.prose.startswith("#")
        assert set(card.counts) <= {"train", "validation", "test"} and "train" in card.counts
        assert card.hub is None or {"id", "revision"} <= set(card.hub)
        if card.format == "class_folder":
            assert card.split["seed"] == 1234 and card.split["fractions"] == [0.8, 0.1, 0.1]
    assert cards.load_card("conll2003").scheme == "IOB2"
    assert cards.load_card("conll2003_iob1").scheme == "IOB1"


def cards_formats():
    return set(card_data.READERS)


def test_unknown_card_lists_known():
    with pytest.raises(RecipeError, match="unknown data card 'nope'.*conll2003, conll2003_iob1"):
        cards.load_card("nope")


def test_card_table():
    rows = {row["name"]: row for row in cards.card_table()}
    assert rows["tinyshakespeare"]["splits"] == "train/validation"
    assert rows["conll2003"]["format"] == "conll_columns"
    assert "sst2_glue" in cards.format_card_table()


def test_bad_header(tmp_path, monkeypatch):
    (tmp_path / "x.md").write_text("---\nname: x\n---\nprose\n")
    monkeypatch.setenv("SEQTASKS_CARDS", str(tmp_path))
    with pytest.raises(DataError, match=r"x.md:1: expected header keys .*missing \['title'"):
        cards.load_card("x")


def test_missing_file_names_card_file_and_places(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQTASKS_DATA", str(tmp_path / "env"))
    card = cards.load_card("ptb")
    with pytest.raises(DataError) as error:
        cards.card_file(card, "ptb/nope.txt", root=tmp_path / "explicit")
    message = str(error.value)
    assert "'ptb'" in message and str(tmp_path / "explicit" / "ptb/nope.txt") in message
    assert "\n" not in message
    with pytest.raises(DataError, match=r"env/ptb/nope.txt not found.*SEQTASKS_DATA"):
        cards.card_file(card, "ptb/nope.txt")


@needs_data
def test_an_explicit_root_that_lacks_a_file_never_falls_back(tmp_path, monkeypatch):
    """Issue 25 item 4: a mistyped or incomplete data root is an error naming
    the file, in training and in `data verify`, though ../shared/data has it."""
    import seqtasks
    from conftest import run_cli

    monkeypatch.delenv("SEQTASKS_DATA", raising=False)
    card = cards.load_card("sst_binary_sentences")
    assert (cards.default_data_root() / card.files["train"]).exists()
    with pytest.raises(DataError, match=str(tmp_path / "sst_binary_sentences") + "/"):
        card_data.read_card(card, tmp_path)
    recipe = {"name": "x", "task": "classification",
              "data": {"card": "sst_binary_sentences", "root": str(tmp_path / "typo")}}
    with pytest.raises(DataError, match="typo/sst_binary_sentences/.* not found"):
        seqtasks.train(recipe, output=tmp_path / "run")
    assert not (tmp_path / "run.partial").exists() and not (tmp_path / "run.lock").exists()
    done = run_cli("data", "verify", "sst_binary_sentences", "--data-root", tmp_path)
    assert done.returncode == 1 and "FAILED" in done.stdout
    assert str(tmp_path / "sst_binary_sentences") + "/" in done.stdout


def test_resolve_data_root_order(tmp_path, monkeypatch):
    explicit, env = tmp_path / "a", tmp_path / "b"
    explicit.mkdir(), env.mkdir()
    monkeypatch.setenv("SEQTASKS_DATA", str(env))
    assert cards.resolve_data_root(explicit) == explicit
    assert cards.resolve_data_root() == env == cards.default_data_root()


@needs_data
def test_checksums_match_manifest_and_files():
    root = cards.default_data_root()
    manifest = {}
    for line in (root / "MANIFEST.sha256").read_text().splitlines():
        digest, path = line.split(None, 1)
        manifest[path.removeprefix("./")] = digest
    seen = set()
    for card in cards.list_cards():
        for relpath, digest in card.sha256.items():
            assert manifest[relpath] == digest, (card.name, relpath)
            assert cards.sha256_of(root / relpath) == digest, (card.name, relpath)
            seen.add(relpath)
        for split_files in card.files.values():
            for relpath in split_files.values() if isinstance(split_files, dict) else [split_files]:
                assert relpath in card.sha256 or (root / relpath).is_dir(), (card.name, relpath)
    assert seen == set(manifest)  # every data file is covered by a card


@needs_data
def test_small_cards_verify():
    for name in ("sst_binary_sentences", "names_18lang", "tinyshakespeare"):
        assert card_data.verify_card(name) == []


@needs_data
def test_verify_reports_tampering(tmp_path):
    card = cards.load_card("sst_binary_sentences")
    root = cards.default_data_root()
    for relpath in card.sha256:
        (tmp_path / relpath).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / relpath, tmp_path / relpath)
    assert card_data.verify_card(card, tmp_path) == []
    target = tmp_path / "sst_binary_sentences/stsa.binary.dev"
    data = bytearray(target.read_bytes())
    data[0] = ord("0") if data[0] == ord("1") else ord("1")
    target.write_bytes(bytes(data))
    problems = card_data.verify_card(card, tmp_path)
    assert len(problems) == 1 and "sst_binary_sentences/stsa.binary.dev: sha256" in problems[0]
    # Reading the card for training refuses it, naming the file.
    with pytest.raises(DataError, match=f"{target}: sha256 .* does not match data card 'sst_binary_sentences'"):
        card_data.read_card(card, tmp_path)
    target.write_bytes(target.read_bytes() + b"1 one more line\n")
    card.sha256["sst_binary_sentences/stsa.binary.dev"] = cards.sha256_of(target)
    assert card_data.verify_card(card, tmp_path) == [
        "sst_binary_sentences: split validation examples: counted 873, card says 872"
    ]


def test_checksums_are_cached_by_path_size_and_mtime(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQTASKS_CACHE", str(tmp_path / "cache"))
    target = tmp_path / "f.txt"
    target.write_text("one\n")
    first = cards.cached_sha256(target)
    assert first == cards.sha256_of(target)
    calls = []
    original = cards.sha256_of
    monkeypatch.setattr(cards, "sha256_of", lambda path: calls.append(path) or original(path))
    assert cards.cached_sha256(target) == first and calls == []  # a repeat check reads nothing
    target.write_text("two\n")  # same size, new mtime
    import os

    os.utime(target, ns=(1, 1))
    assert cards.cached_sha256(target) != first and len(calls) == 1
    assert len(json.loads((tmp_path / "cache" / "sha256.json").read_text())) == 1  # old entry dropped
