"""Tag schemes: conversions, illegal tags, repairs and CRF constraints."""

import numpy as np
import pytest

from seqtasks.data import schemes
from seqtasks.errors import DataError, RecipeError

IOB1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "B-ORG", "I-ORG", "O", "I-MISC"]
IOB2 = ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "B-ORG", "I-ORG", "O", "B-MISC"]
IOBES = ["B-PER", "E-PER", "S-PER", "O", "S-LOC", "S-ORG", "B-ORG", "E-ORG", "O", "S-MISC"]
BY_SCHEME = {"IOB1": IOB1, "IOB2": IOB2, "IOBES": IOBES}


@pytest.mark.parametrize("source", ["IOB1", "IOB2", "IOBES"])
@pytest.mark.parametrize("target", ["IOB1", "IOB2", "IOBES"])
def test_convert_every_pair(source, target):
    assert schemes.convert(BY_SCHEME[source], source, target) == BY_SCHEME[target]


def test_aliases_and_unknown_scheme():
    assert schemes.convert(IOB2, "bio", "bioes") == IOBES
    assert schemes.normalize_scheme("Iob2") == "IOB2"
    with pytest.raises(RecipeError, match="'BILOU'.*IOB1, IOB2 \\(BIO\\), IOBES"):
        schemes.normalize_scheme("BILOU")


def test_round_trips_on_small_cases():
    cases = [[], ["O"], ["I-X"], ["I-X", "B-X", "B-X"], ["I-A-B", "I-A-B", "O", "I-C"]]
    for tags in cases:
        assert schemes.find_illegal(tags, "IOB1") is None
        iob2 = schemes.convert(tags, "IOB1", "IOB2")
        assert schemes.find_illegal(iob2, "IOB2") is None
        assert schemes.convert(iob2, "IOB2", "IOB1") == tags
        iobes = schemes.convert(iob2, "IOB2", "IOBES")
        assert schemes.find_illegal(iobes, "IOBES") is None
        assert schemes.convert(iobes, "IOBES", "IOB2") == iob2
    # the type keeps its own dashes
    assert schemes.convert(["I-A-B"], "IOB1", "IOBES") == ["S-A-B"]


@pytest.mark.parametrize(
    "tags, scheme, index",
    [
        (["O", "B-PER", "I-PER"], "IOB2", None),
        (["I-PER"], "IOB2", 0),
        (["O", "I-PER"], "IOB2", 1),
        (["B-LOC", "I-PER"], "IOB2", 1),
        (["B-LOC", "I-LOC", "I-PER"], "IOB2", 2),
        (["B-PER", "E-PER"], "IOB2", 1),  # not an IOB2 tag
        (["O", "I-PER", "B-PER"], "IOB1", None),
        (["B-PER"], "IOB1", 0),
        (["O", "B-PER"], "IOB1", 1),
        (["I-LOC", "B-PER"], "IOB1", 1),
        (["S-PER", "B-LOC", "I-LOC", "E-LOC", "O"], "IOBES", None),
        (["I-PER", "E-PER"], "IOBES", 0),
        (["B-PER", "O"], "IOBES", 1),
        (["B-PER", "E-LOC"], "IOBES", 1),
        (["S-PER", "E-PER"], "IOBES", 1),
        (["O", "B-PER"], "IOBES", 1),  # chunk left open at the end
        (["B-PER", "I-PER"], "IOBES", 1),
    ],
)
def test_find_illegal(tags, scheme, index):
    assert schemes.find_illegal(tags, scheme) == index


def test_repair():
    assert schemes.repair(["O", "I-PER", "B-LOC", "I-ORG"], "IOB2") == ["O", "B-PER", "B-LOC", "B-ORG"]
    assert schemes.repair(["B-PER", "O", "B-LOC", "B-LOC"], "IOB1") == ["I-PER", "O", "I-LOC", "B-LOC"]
    assert schemes.repair(["B-PER", "O", "I-LOC", "E-LOC", "I-ORG"], "IOBES") == [
        "S-PER", "O", "B-LOC", "E-LOC", "S-ORG"
    ]
    for scheme, tags in BY_SCHEME.items():
        assert schemes.repair(tags, scheme) == tags  # legal input is kept
    with pytest.raises(DataError, match="'E-PER' is not an IOB2 tag"):
        schemes.repair(["B-PER", "E-PER"], "IOB2")


def _index(labels):
    return {label: i for i, label in enumerate(labels)}.__getitem__


def test_allowed_transitions_iob2():
    labels = ["B-LOC", "B-PER", "I-LOC", "I-PER", "O"]
    start, trans, end = schemes.allowed_transitions(labels, "BIO")
    ix = _index(labels)
    assert start.dtype == np.bool_ and trans.shape == (5, 5)
    assert not start[ix("I-PER")] and start[ix("B-PER")] and start[ix("O")]
    assert not trans[ix("O"), ix("I-PER")]
    assert not trans[ix("B-LOC"), ix("I-PER")] and not trans[ix("I-LOC"), ix("I-PER")]
    assert trans[ix("B-PER"), ix("I-PER")] and trans[ix("I-PER"), ix("I-PER")]
    assert trans[ix("I-PER"), ix("B-PER")] and trans[ix("O"), ix("B-LOC")]
    assert end.all()


def test_allowed_transitions_iobes_and_iob1():
    labels = ["B-X", "E-X", "I-X", "O", "S-X"]
    start, trans, end = schemes.allowed_transitions(labels, "IOBES")
    ix = _index(labels)
    assert list(start) == [True, False, False, True, True]
    assert list(end) == [False, True, False, True, True]
    assert not trans[ix("B-X"), ix("O")] and trans[ix("B-X"), ix("E-X")]
    assert not trans[ix("E-X"), ix("I-X")] and trans[ix("E-X"), ix("S-X")]
    labels = ["B-X", "I-X", "I-Y", "O"]
    start, trans, end = schemes.allowed_transitions(labels, "IOB1")
    ix = _index(labels)
    assert not start[ix("B-X")] and start[ix("I-X")]
    assert trans[ix("O"), ix("I-X")] and not trans[ix("O"), ix("B-X")]
    assert trans[ix("I-X"), ix("B-X")] and not trans[ix("I-Y"), ix("B-X")]


def test_allowed_transitions_outside_the_scheme():
    start, trans, end = schemes.allowed_transitions(["ADJ", "NOUN", "VERB"], "IOB2")
    assert start.all() and trans.all() and end.all() and trans.shape == (3, 3)
    assert schemes.allowed_transitions(["B-X", "O"], None)[1].all()
    with pytest.raises(RecipeError, match="'NOUN'"):
        schemes.allowed_transitions(["B-X", "I-X", "NOUN", "O"], "IOB2")


def test_check_tags_messages():
    good = [["B-PER", "I-PER"], ["O"]]
    schemes.check_tags(good, "IOB2", path="train.txt", lines=[1, 4])
    bad = [["B-PER", "I-PER"], ["O", "O", "I-PER"]]
    with pytest.raises(DataError) as info:
        schemes.check_tags(bad, "IOB2", path="train.txt", lines=[1, 4])
    assert str(info.value) == (
        "train.txt:6: tag 'I-PER' after 'O' is illegal in IOB2 "
        "(use data.repair_tags: true to convert it explicitly)"
    )
    with pytest.raises(DataError, match="sentence 2, token 3: tag 'I-PER'"):
        schemes.check_tags(bad, "IOB2")
    with pytest.raises(DataError, match="^x.txt: sentence 1, token 1: tag 'S-PER' is not"):
        schemes.check_tags([["S-PER"]], "IOB2", path="x.txt")


# ---- the real CoNLL-2003 files: IOB1 originals against the IOB2 copies ------

def _read_columns(path):
    """Sentences as lists of whitespace-split rows, documents markers dropped."""
    sentences, current = [], []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            row = line.split()
            if not row:
                if current:
                    sentences.append(current)
                current = []
            elif row[0] != "-DOCSTART-":
                current.append(row)
    if current:
        sentences.append(current)
    return sentences


@pytest.mark.parametrize(
    "iob1_name, iob2_name",
    [("eng.train", "train.txt"), ("eng.testa", "valid.txt"), ("eng.testb", "test.txt")],
)
def test_conll2003_iob1_converts_to_iob2_files(data_root, iob1_name, iob2_name):
    iob1_path = data_root / "conll2003" / "iob1" / iob1_name
    iob2_path = data_root / "conll2003" / "iob2" / iob2_name
    if not (iob1_path.exists() and iob2_path.exists()):
        pytest.skip("CoNLL-2003 files are absent")
    old, new = _read_columns(iob1_path), _read_columns(iob2_path)
    assert len(old) == len(new) > 3000
    for old_rows, new_rows in zip(old, new):
        assert [r[0] for r in old_rows] == [r[0] for r in new_rows]
        tags = [r[-1] for r in old_rows]
        assert schemes.find_illegal(tags, "IOB1") is None
        converted = schemes.convert(tags, "IOB1", "IOB2")
        assert converted == [r[-1] for r in new_rows]
        assert schemes.convert(converted, "IOB2", "IOB1") == tags
        assert schemes.convert(schemes.convert(converted, "BIO", "BIOES"), "BIOES", "BIO") == converted
