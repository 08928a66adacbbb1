"""load_data: every source kind, normalisation of splits, columns and labels (offline)."""

import dataclasses
import os
import socket

import datasets
import pytest

from seqtasks.data.cards import default_data_root
from seqtasks.data.sources import load_data
from seqtasks.errors import RecipeError


@dataclasses.dataclass
class Data:
    """Stands in for the recipe's DataRecipe (same attribute names)."""

    card: str = None
    root: str = None
    files: dict = None
    disk: str = None
    hub: dict = None
    columns: dict = dataclasses.field(default_factory=dict)
    reader: dict = dataclasses.field(default_factory=dict)
    limit: dict = dataclasses.field(default_factory=dict)
    split_seed: int = 1234
    labels: list = None


# The columns each task kind reads (`kind.columns`, `kind.label_columns`).
TAGGING = (("tokens", "tags"), ("tags",))
CLASSIFICATION = (("text", "label"), ("label",))
LANGUAGE_MODEL = (("text",), ())


@pytest.fixture(autouse=True)
def hf_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))


def tagging_dict():
    rows = {"words": [["EU", "rejects"], ["Peter"], ["Rome"]], "ner": [["B-ORG", "O"], ["B-PER"], ["B-LOC"]], "id": [1, 2, 3]}
    return datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows), "dev": datasets.Dataset.from_dict(rows)})


def test_user_data_with_column_mapping():
    data = load_data(Data(columns={"tokens": "words", "tags": "ner"}), *TAGGING, user_data=tagging_dict())
    assert set(data) == {"train", "validation"}
    assert data["train"].column_names == ["tokens", "tags"]
    assert data["train"].features["tags"].feature.names == ["B-LOC", "B-ORG", "B-PER", "O"]
    assert data["validation"]["tags"][0] == [1, 3]


def test_missing_columns_names_found():
    with pytest.raises(RecipeError, match=r"lacks columns \['tokens', 'tags'\] \(found \['words', 'ner', 'id'\]\)"):
        load_data(Data(), *TAGGING, user_data=tagging_dict())
    with pytest.raises(RecipeError, match=r"names columns \['nope'\] that are not in the data"):
        load_data(Data(columns={"tokens": "nope"}), *TAGGING, user_data=tagging_dict())


def test_exactly_one_source(tmp_path):
    with pytest.raises(RecipeError, match=r"exactly one of .* received \['card', 'disk'\]"):
        load_data(Data(card="ptb", disk=str(tmp_path)), *LANGUAGE_MODEL)
    with pytest.raises(RecipeError, match="received none of them"):
        load_data(Data(), *LANGUAGE_MODEL)


def classification_rows(n=20):
    return {"sentence": [f"text {i}" for i in range(n)], "label": ["pos" if i % 2 else "neg" for i in range(n)]}


@pytest.mark.parametrize("fmt", ["json", "csv", "parquet"])
def test_files_formats_and_validation_carving(tmp_path, fmt):
    path = tmp_path / f"train.{fmt}"
    getattr(datasets.Dataset.from_dict(classification_rows()), f"to_{fmt}")(str(path))
    recipe = Data(files={"format": fmt, "train": str(path)}, columns={"text": "sentence"}, split_seed=3)
    with pytest.warns(UserWarning, match="no validation split"):
        data = load_data(recipe, *CLASSIFICATION)
    assert (len(data["train"]), len(data["validation"])) == (18, 2)
    assert data["train"].features["label"].names == ["neg", "pos"]
    assert sorted(list(data["train"]["text"]) + list(data["validation"]["text"])) == sorted(classification_rows()["sentence"])


def test_int_tags_need_labels(tmp_path):
    path = tmp_path / "train.json"
    datasets.Dataset.from_dict({"tokens": [["a", "b"]], "tags": [[0, 1]]}).to_json(str(path))
    files = {"format": "json", "train": str(path), "valid": str(path)}
    with pytest.raises(RecipeError, match=r"holds non-string labels \(int64\) without label names; give the class names in order as data.labels"):
        load_data(Data(files=files), *TAGGING)
    data = load_data(Data(files=files, labels=["O", "B-X"]), *TAGGING)
    assert data["validation"].features["tags"].feature.names == ["O", "B-X"]
    with pytest.raises(RecipeError, match="label index 1 but data.labels has 1 names"):
        load_data(Data(files=files, labels=["O"]), *TAGGING)


def test_conll_files_with_reader_override(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n")
    files = {"format": "conll", "train": str(path), "dev": str(path)}
    data = load_data(Data(files=files, reader={"tag_column": 2}, limit={"train": 1}), *TAGGING)
    assert len(data["train"]) == 1 and len(data["validation"]) == 2
    assert data["train"].features["tags"].feature.names == ["B-NP", "B-VP"]
    assert data["train"].column_names == ["tokens", "tags", "source_line", "document"]


def test_load_from_disk_round_trip(tmp_path):
    saved = datasets.DatasetDict(
        {split: datasets.Dataset.from_dict(classification_rows(4)) for split in ("train", "validation", "test")}
    )
    saved = saved.rename_column("sentence", "text")
    saved.save_to_disk(str(tmp_path / "saved"))
    data = load_data(Data(disk=str(tmp_path / "saved")), *CLASSIFICATION)
    assert set(data) == {"train", "validation", "test"}
    assert list(data["test"]["label"]) == [0, 1, 0, 1]


@pytest.mark.skipif(default_data_root() is None, reason="shared data root absent")
def test_card_source_with_limit():
    data = load_data(Data(card="sst_binary_sentences", limit={"train": 5}), *CLASSIFICATION)
    assert len(data["train"]) == 5 and len(data["validation"]) == 872
    assert data["train"].features["label"].names == ["negative", "positive"]


def network_available():
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        return False
    try:
        socket.create_connection(("huggingface.co", 443), timeout=3).close()
        return True
    except OSError:
        return False


@pytest.mark.network
@pytest.mark.skipif(not network_available(), reason="offline (HF_HUB_OFFLINE or no network)")
def test_hub_source():
    data = load_data(Data(hub={"id": "stanfordnlp/sst2", "revision": "main"}, columns={"text": "sentence"}), *CLASSIFICATION)
    assert data["train"].features["label"].names == ["negative", "positive"]
