"""Prediction batches padded to fixed widths: few shapes, the same predictions."""

import numpy as np
import pytest

from seqtasks.data.batching import Batches, fixed_width
from test_components import build, small_recipe, tagging_data


def test_fixed_width_steps():
    assert [fixed_width(n) for n in (1, 8, 9, 12, 13, 17, 25, 33, 49, 65, 97, 129, 200)] == [
        8, 8, 12, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256]
    # never more than 1.5x the length above the smallest width
    assert all(n <= fixed_width(n) <= max(8, 1.5 * n) for n in range(1, 600))


def test_fixed_widths_pad_time_and_chars_only():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, size=100)
    encoded = {"token_ids": [rng.integers(2, 50, size=n) for n in lengths],
               "char_ids": [np.pad(rng.integers(1, 9, size=(n, 5)), ((0, 0), (0, 15))) for n in lengths]}
    exact = Batches(encoded, 16)
    fixed = Batches(encoded, 16, fixed_widths=True)
    widths = set()
    for (idx, a), (idx2, b) in zip(exact, fixed):
        np.testing.assert_array_equal(idx, idx2)
        width = b["token_ids"].shape[1]
        widths.add(width)
        assert width == fixed_width(a["token_ids"].shape[1])
        assert b["char_ids"].shape[1:] == (width, 8)  # 5 real chars -> width 8 (stored: 20)
        t, w = a["char_ids"].shape[1:]
        for key in ("token_ids", "padding_mask"):
            np.testing.assert_array_equal(b[key][:, :t], a[key])
            assert not b[key][:, t:].any()
        np.testing.assert_array_equal(b["char_ids"][:, :t, :w], a["char_ids"])
        assert not b["char_ids"][:, t:].any() and not b["char_ids"][:, :, w:].any()
    assert widths <= {8, 12, 16, 24, 32, 48}
    assert exact.padding_fraction() < fixed.padding_fraction() < 0.5


@pytest.mark.parametrize("head", ["crf", "softmax"])
def test_fixed_widths_predict_the_same(head):
    from seqtasks.registry import task_kind

    recipe = small_recipe(head={"kind": head, "hidden": 3},
                          char_features={"kind": "cnn", "embedding_dim": 3, "dim": 3})
    model, pre, _ = build(recipe, tagging_data())
    encoded = pre.encode_split(tagging_data()["train"], "train")
    kind = task_kind("tagging")
    exact = kind.predict(model, Batches(encoded, 2))
    fixed = kind.predict(model, Batches(encoded, 2, fixed_widths=True))
    assert [len(p) for p in fixed] == [len(t) for t in encoded["token_ids"]]
    for a, b in zip(exact, fixed):
        np.testing.assert_array_equal(a, b)
    # and the scores the ensemble averages agree to float rounding
    for a, b in zip(kind.outputs(model, Batches(encoded, 2)),
                    kind.outputs(model, Batches(encoded, 2, fixed_widths=True))):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
