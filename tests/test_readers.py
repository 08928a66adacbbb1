"""Readers: tiny inline files for every format and every bad case; real CoNLL-2003 counts."""

import pytest

from seqtasks.data import readers
from seqtasks.data.card_data import read_card
from seqtasks.data.cards import card_file, default_data_root, load_card
from seqtasks.errors import DataError, RecipeError

CONLLU = """# sent_id = a
# text = I don't know.
1\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_\t_
2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
2\tdo\tdo\tAUX\tVBP\t_\t4\taux\t_\t_
3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_
3.1\tknow\tknow\tVERB\tVB\t_\t_\t_\t_\t_
4\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\t_

# sent_id = b
1\tGo\tgo\tVERB\tVB\t_\t0\troot\t_\t_
"""

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O

Peter NNP B-NP B-PER
"""


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_conllu_skips_ranges_and_empty_nodes(tmp_path):
    data = readers.read_conllu({"train": write(tmp_path, "a.conllu", CONLLU)})["train"]
    assert data["tokens"] == [["I", "do", "n't", "know"], ["Go"]]
    names = data.features["tags"].feature.names
    assert [[names[i] for i in tags] for tags in data["tags"]] == [["PRON", "AUX", "PART", "VERB"], ["VERB"]]
    assert data["source_line"] == [3, 11]


def test_conllu_xpos(tmp_path):
    data = readers.read_conllu({"train": write(tmp_path, "a.conllu", CONLLU)}, tag_column="xpos")["train"]
    assert data.features["tags"].feature.names == ["PRP", "RB", "VB", "VBP"]


def test_conllu_wrong_column_count(tmp_path):
    path = write(tmp_path, "bad.conllu", CONLLU.replace("2\tdo\tdo\tAUX", "2\tdo\tAUX"))
    with pytest.raises(DataError) as error:
        readers.read_conllu({"train": path})
    assert str(error.value) == f"{path}:5: expected 10 tab-separated columns, found 9"


def test_tag_names_are_union_over_splits(tmp_path):
    test = write(tmp_path, "test.txt", "Rome NNP B-NP B-LOC\n")
    data = readers.read_conll_columns({"train": write(tmp_path, "t.txt", CONLL), "test": test})
    assert data["train"].features["tags"].feature.names == ["B-LOC", "B-ORG", "B-PER", "O"]
    assert data["test"]["tags"] == [[0]]


def test_conll_columns_docstart_and_lines(tmp_path):
    data = readers.read_conll_columns({"train": write(tmp_path, "t.txt", CONLL)}, tag_column=2)["train"]
    assert data["tokens"] == [["EU", "rejects"], ["Peter"]]
    assert data.features["tags"].feature.names == ["B-NP", "B-VP"]
    assert data["source_line"] == [3, 6]


def test_conll_columns_docstart_at_end_without_newline(tmp_path):
    text = "EU NNP I-NP I-ORG\n\nPeter NNP I-NP I-PER\n\n-DOCSTART- -X- O O"
    data = readers.read_conll_columns({"train": write(tmp_path, "eng.train", text)})["train"]
    assert data["tokens"] == [["EU"], ["Peter"]]


def test_conll_columns_inconsistent_columns(tmp_path):
    path = write(tmp_path, "t.txt", CONLL.replace("rejects VBZ B-VP O", "rejects VBZ O"))
    with pytest.raises(DataError) as error:
        readers.read_conll_columns({"train": path})
    assert str(error.value) == f"{path}:4: expected 4 columns as in line 1, found 3"


def test_empty_split(tmp_path):
    path = write(tmp_path, "empty.txt", "-DOCSTART- -X- -X- O\n\n")
    with pytest.raises(DataError, match="empty.txt: expected at least one example, found no sentences"):
        readers.read_conll_columns({"train": path})


def test_invalid_utf8(tmp_path):
    path = write(tmp_path, "latin.txt", "EU NNP B-NP B-ORG\nM\xfcller NNP B-NP B-PER\n", encoding="latin-1")
    with pytest.raises(DataError) as error:
        readers.read_conll_columns({"train": path})
    assert str(error.value) == f"{path}:2: not valid UTF-8 (byte 0xfc at column 2)"


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.txt: cannot read the file"):
        readers.read_conll_columns({"train": tmp_path / "nope.txt"})


def test_csv_classification_strips_and_maps_labels(tmp_path):
    path = write(tmp_path, "train.tsv", "sentence\tlabel\nnice film \t1\nnull \t0\n")
    data = readers.read_csv_classification(
        {"train": path}, delimiter="\t", columns={"text": "sentence", "label": "label"}, labels=["neg", "pos"]
    )["train"]
    assert data["text"] == ["nice film", "null"]
    assert data["label"] == [1, 0]
    assert data.features["label"].names == ["neg", "pos"]


def test_csv_bad_label_and_empty_text(tmp_path):
    path = write(tmp_path, "train.csv", "text,label\ngood,pos\nbad,neutral\n")
    with pytest.raises(DataError) as error:
        readers.read_csv_classification({"train": path}, labels=["neg", "pos"])
    assert str(error.value) == f"{path}:3: expected a label in ['neg', 'pos'], found 'neutral'"
    path = write(tmp_path, "empty.csv", "text,label\ngood,pos\n ,neg\n")
    with pytest.raises(DataError) as error:
        readers.read_csv_classification({"train": path})
    assert str(error.value) == f"{path}:3: expected a non-empty text, found an empty one"


def test_label_first(tmp_path):
    path = write(tmp_path, "stsa", "1 a fine film\n0 dull \\/ slow\n")
    data = readers.read_label_first({"train": path}, labels=["negative", "positive"])["train"]
    assert data["text"] == ["a fine film", "dull \\/ slow"]
    assert data["label"] == [1, 0]
    with pytest.raises(DataError, match=r"stsa2:2: expected a label in \['negative', 'positive'\], found '3'"):
        readers.read_label_first({"train": write(tmp_path, "stsa2", "1 ok\n3 what\n")}, labels=["negative", "positive"])
    with pytest.raises(DataError, match="stsa3:1: expected a non-empty text"):
        readers.read_label_first({"train": write(tmp_path, "stsa3", "1\n")})


def make_class_folder(tmp_path):
    folder = tmp_path / "names"
    folder.mkdir()
    (folder / "A.txt").write_text("\n".join(f"a{i}" for i in range(20)) + "\nshared\nshared\n")
    (folder / "B.txt").write_text("\n".join(f"b{i}" for i in range(30)) + "\nshared \n")
    return folder


def test_class_folder_split(tmp_path):
    folder = make_class_folder(tmp_path)
    data = readers.read_class_folder(folder, seed=7, fractions=[0.8, 0.1, 0.1])
    assert data["train"].features["label"].names == ["A", "B"]
    assert sum(len(split) for split in data.values()) == 52  # repeated (name, class) pairs kept once
    where = {split: set(data[split]["text"]) for split in data}
    assert not where["train"] & where["validation"] and not where["train"] & where["test"]
    assert not where["validation"] & where["test"]
    shared = [split for split in data for text in data[split]["text"] if text == "shared"]
    assert len(shared) == 2 and len(set(shared)) == 1  # both classes of "shared", one split
    assert sorted(data["validation"]["label"]) == [0, 0, 1, 1, 1]  # stratified
    again = readers.read_class_folder(folder, seed=7, fractions=[0.8, 0.1, 0.1])
    assert again["train"]["text"] == data["train"]["text"]


def test_class_folder_empty_line(tmp_path):
    folder = make_class_folder(tmp_path)
    (folder / "C.txt").write_text("c1\n\nc2\n")
    with pytest.raises(DataError, match="C.txt:2: expected a non-empty text"):
        readers.read_class_folder(folder)


def test_parallel_text(tmp_path):
    files = {"train": {"source": write(tmp_path, "t.en", "a dog .\na cat .\n"), "target": write(tmp_path, "t.de", "ein hund .\neine katze .\n")}}
    data = readers.read_parallel_text(files)["train"]
    assert data["source"] == ["a dog .", "a cat ."] and data["target"][1] == "eine katze ."
    files["train"]["target"] = write(tmp_path, "short.de", "ein hund .\n")
    with pytest.raises(DataError, match="short.de:2: expected 2 lines as in .*t.en \\(line-aligned\\), found 1"):
        readers.read_parallel_text(files)


def test_lines_and_plain_text(tmp_path):
    path = write(tmp_path, "ptb.txt", " the cat \n a dog \n")
    assert readers.read_lines({"train": path})["train"]["text"] == ["the cat", "a dog"]
    names = write(tmp_path, "names.txt", "\n".join(f"n{i}" for i in range(20)) + "\n")
    split = readers.read_lines({"all": names}, seed=1, fractions=[0.8, 0.1, 0.1])
    assert [len(split[s]) for s in ("train", "validation", "test")] == [16, 2, 2]
    assert sorted(sum((list(split[s]["text"]) for s in split), [])) == sorted(f"n{i}" for i in range(20))
    doc = readers.read_plain_text({"all": write(tmp_path, "doc.txt", "abcdefghi\n")}, fractions=[0.9, 0.1])
    assert doc["train"]["text"] == ["abcdefghi"] and doc["validation"]["text"] == ["\n"]
    with pytest.raises(RecipeError, match="summing to 1"):
        readers.read_lines({"all": names}, fractions=[0.5, 0.1])


needs_data = pytest.mark.skipif(default_data_root() is None, reason="shared data root absent")


@needs_data
def test_conll2003_real_counts_and_iob1_tokens_equal():
    iob2 = read_card("conll2003")
    iob1 = read_card("conll2003_iob1")
    card = load_card("conll2003")
    for split, counts in card.counts.items():
        assert len(iob2[split]) == counts["sentences"]
        assert sum(len(t) for t in iob2[split]["tokens"]) == counts["tokens"]
        assert iob1[split]["tokens"] == iob2[split]["tokens"]
    assert iob2["train"].features["tags"].feature.names == card.labels
    first = iob2["train"][0]
    assert first["source_line"] == 3 and first["tokens"][0] == "EU"
    chunks = read_card("conll2003", tag_column=2)["train"].features["tags"].feature.names
    assert "B-NP" in chunks and "B-ORG" not in chunks
    assert card_file(card, card.files["train"]).name == "train.txt"


def test_conll_readers_number_documents(tmp_path):
    """`-DOCSTART-` lines (CoNLL) and `# newdoc` comments (CoNLL-U) start a
    document; `document` is its index in the file (train + dev keeps them apart)."""
    path = tmp_path / "train.txt"
    path.write_text("-DOCSTART- -X- O\n\nEU NNP B-ORG\n\nPeter NNP B-PER\n\n"
                    "-DOCSTART- -X- O\n\nBonn NNP B-LOC\n-DOCSTART- -X- O\n\nIt PRP O\n")
    data = readers.read_conll_columns({"train": str(path)})
    assert list(data["train"]["document"]) == [0, 0, 1, 2]
    conllu = tmp_path / "train.conllu"
    row = "1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n\n"
    conllu.write_text(f"# newdoc id = a\n{row}{row}# newdoc id = b\n{row}", encoding="utf-8")
    assert list(readers.read_conllu({"train": str(conllu)})["train"]["document"]) == [0, 0, 1]


@needs_data
def test_conll2003_documents():
    data = read_card("conll2003")
    assert {split: len(set(data[split]["document"])) for split in data} == \
        {"train": 946, "validation": 216, "test": 231}
