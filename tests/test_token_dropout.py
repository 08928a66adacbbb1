"""Word dropout: uniform and singleton (rare-word) replacement by the unknown id."""

import datasets
import numpy as np
import pytest

from seqtasks.data.preprocessing import Preprocessor
from seqtasks.errors import RecipeError
from seqtasks.layers.token_dropout import TokenDropout
from seqtasks.recipe import Recipe


def _replaced(layer, ids, training=True):
    out = np.asarray(layer(ids, training=training))
    return out != ids


def test_singletons_replaced_at_their_own_rate():
    ids = np.tile(np.arange(0, 20, dtype="int32"), (500, 1))  # 0 = padding, 1 = unknown
    replaced = _replaced(TokenDropout(0.0, rare_rate=0.5, rare_from=10, seed=3), ids)
    assert not replaced[:, :10].any()  # padding, unknown and frequent words untouched
    assert 0.45 < replaced[:, 10:].mean() < 0.55
    both = _replaced(TokenDropout(0.1, rare_rate=0.5, rare_from=10, seed=3), ids)
    assert not both[:, :2].any()
    assert 0.07 < both[:, 2:10].mean() < 0.13 and 0.45 < both[:, 10:].mean() < 0.55
    assert not _replaced(TokenDropout(0.1, rare_rate=0.5, rare_from=10), ids, training=False).any()


def test_token_dropout_arguments_and_config():
    with pytest.raises(ValueError, match=r"TokenDropout rare_rate=0.5 needs rare_from \(the first rare id\), received None"):
        TokenDropout(0.1, rare_rate=0.5)
    with pytest.raises(ValueError, match=r"TokenDropout rare_rate must be in \[0, 1\), received rare_rate=1.0"):
        TokenDropout(0.1, rare_rate=1.0, rare_from=5)
    layer = TokenDropout(0.1, rare_rate=0.5, rare_from=7, seed=1)
    clone = TokenDropout.from_config(layer.get_config())
    assert (clone.rate, clone.rare_rate, clone.rare_from) == (0.1, 0.5, 7)


def test_preprocessor_marks_where_singletons_start():
    train = datasets.Dataset.from_dict(
        {"tokens": [["a", "b", "a", "c"], ["a", "b", "d"]], "tags": [[0, 0, 0, 0], [0, 0, 0]]},
        features=datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                    "tags": datasets.Sequence(datasets.ClassLabel(names=["O"]))}))
    pre = Preprocessor().fit(train)
    assert pre.tokens[2:] == ["a", "b", "c", "d"] and pre.singletons_from == 4
    assert Preprocessor.from_json(pre.to_json()).singletons_from == 4


def test_singleton_dropout_is_checked_and_reaches_the_model():
    with pytest.raises(RecipeError, match=r"'model.embedding.singleton_dropout' must be in \[0, 1\), found 1.0"):
        Recipe.from_dict({"model": {"embedding": {"singleton_dropout": 1.0}}})
    from seqtasks.models.build import build_backbone

    recipe = Recipe.from_dict({"model": {"embedding": {"dim": 4, "word_dropout": 0.1, "singleton_dropout": 0.5},
                                         "encoder": {"units": 4, "layers": 1}}})
    pre = Preprocessor(tokens=["<pad>", "<unk>", "a", "b", "c"], labels=["O"], singletons_from=3)
    layer = build_backbone(recipe.model, pre).get_layer("word_dropout")
    assert (layer.rate, layer.rare_rate, layer.rare_from) == (0.1, 0.5, 3)
