import numpy as np
import pytest

from seqtasks.data.vectors import embedding_matrix, read_vectors
from seqtasks.errors import DataError

GLOVE = "the 0.1 0.2 0.3\ncat 1.0 -1.0 0.5\nParis 2.0 2.0 2.0\nDOG 3.0 0.0 -3.0\n"
WORD2VEC = "4 3\n" + GLOVE.replace("\n", " \n")  # gensim writes a trailing space


def _write(tmp_path, text, name="vectors.txt", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode(encoding))
    return path


@pytest.mark.parametrize("text", [GLOVE, WORD2VEC], ids=["glove", "word2vec"])
def test_read_vectors_both_formats(tmp_path, text):
    vectors, dim = read_vectors(_write(tmp_path, text))
    assert dim == 3
    assert sorted(vectors) == ["DOG", "Paris", "cat", "the"]
    np.testing.assert_allclose(vectors["cat"], [1.0, -1.0, 0.5])
    assert vectors["cat"].dtype == np.float32


def test_read_vectors_keeps_only_vocabulary_and_lowercases(tmp_path):
    path = _write(tmp_path, GLOVE)
    vectors, dim = read_vectors(path, vocabulary={"cat", "paris", "bird"}, lowercase=True)
    assert dim == 3 and sorted(vectors) == ["cat", "paris"]
    np.testing.assert_allclose(vectors["paris"], [2.0, 2.0, 2.0])
    assert read_vectors(path, vocabulary={"paris"})[0] == {}


def test_embedding_matrix_rows(tmp_path):
    path = _write(tmp_path, WORD2VEC)
    tokens = ["<pad>", "[UNK]", "the", "paris", "Dog", "cat", "zebra"]
    matrix, found = embedding_matrix(path, tokens, lowercase_match=True, seed=3)
    assert matrix.shape == (7, 3) and matrix.dtype == np.float32
    assert found == 4  # the, paris (Paris), Dog (DOG), cat
    np.testing.assert_array_equal(matrix[0], 0.0)
    np.testing.assert_allclose(matrix[2], [0.1, 0.2, 0.3])
    np.testing.assert_allclose(matrix[3], [2.0, 2.0, 2.0])
    np.testing.assert_allclose(matrix[4], [3.0, 0.0, -3.0])
    for unknown in (1, 6):
        assert np.all(matrix[unknown] != 0.0)
    assert not np.allclose(matrix[1], matrix[6])
    again, _ = embedding_matrix(path, tokens, lowercase_match=True, seed=3)
    np.testing.assert_array_equal(again, matrix)


def test_exact_form_wins_over_lowercased(tmp_path):
    path = _write(tmp_path, "paris 1 1\nParis 2 2\n")
    matrix, found = embedding_matrix(path, ["", "Paris", "PARIS"], lowercase_match=True)
    np.testing.assert_allclose(matrix[1:], [[2, 2], [1, 1]])
    assert found == 2


def test_case_sensitive_by_default(tmp_path):
    _, found = embedding_matrix(_write(tmp_path, GLOVE), ["", "paris", "The"])
    assert found == 0


def test_unknown_rows_are_scaled_like_found_vectors(tmp_path):
    lines = "".join(f"w{i} " + " ".join(f"{v:.4f}" for v in np.full(50, 5.0 * (-1) ** i)) + "\n"
                    for i in range(4))
    tokens = [""] + [f"w{i}" for i in range(4)] + [f"new{i}" for i in range(40)]
    matrix, found = embedding_matrix(_write(tmp_path, lines), tokens)
    assert found == 4
    assert 3.5 < np.std(matrix[5:]) < 6.5


def test_bad_dimension_line_is_named(tmp_path):
    path = _write(tmp_path, "the 0.1 0.2 0.3\ncat 1.0 -1.0\n")
    with pytest.raises(DataError, match=r"vectors\.txt:2: expected 3 values after the word, found 2"):
        read_vectors(path)


def test_word2vec_header_dimension_is_checked(tmp_path):
    path = _write(tmp_path, "2 4\nthe 0.1 0.2 0.3\n")
    with pytest.raises(DataError, match=r":2: expected 4 values after the word, found 3"):
        read_vectors(path)


def test_dim_mismatch_names_the_file(tmp_path):
    path = _write(tmp_path, GLOVE)
    with pytest.raises(DataError, match=r"vectors\.txt:1: expected vectors of dimension 100, found 3"):
        embedding_matrix(path, ["", "cat"], dim=100)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty file"),
        (b"\n\n", "empty file"),
        (b"the 0.1 0.2\ncaf\xe9 0.3 0.4\n", r":2: expected UTF-8"),
        (b"the 0.1 0.2\ncat 0.3 x\n", r":2: expected a number, found 'x'"),
    ],
)
def test_malformed_files(tmp_path, content, message):
    with pytest.raises(DataError, match=message):
        read_vectors(_write(tmp_path, content))


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_vectors(tmp_path / "nope.txt")
