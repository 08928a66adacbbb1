"""Word dropout: uniform replacement of real tokens by the unknown id."""

import numpy as np
import pytest

from seqtasks.config.recipe import Recipe
from seqtasks.errors import RecipeError
from seqtasks.layers.token_dropout import TokenDropout
from seqtasks.tasks.tagging.preprocessor import TaggingPreprocessor


def _replaced(layer, ids, training=True):
    out = np.asarray(layer(ids, training=training))
    return out != ids


def test_real_tokens_replaced_at_the_rate():
    ids = np.tile(np.arange(0, 20, dtype="int32"), (500, 1))  # 0 = padding, 1 = unknown
    replaced = _replaced(TokenDropout(0.1, seed=3), ids)
    assert not replaced[:, :2].any()  # padding and unknown untouched
    assert 0.07 < replaced[:, 2:].mean() < 0.13
    out = np.asarray(TokenDropout(0.1, seed=3)(ids, training=True))
    assert set(np.unique(out[replaced])) == {1}  # replaced by the unknown id
    assert not _replaced(TokenDropout(0.1), ids, training=False).any()
    assert not _replaced(TokenDropout(0.0), ids).any()


def test_token_dropout_arguments_and_config():
    with pytest.raises(ValueError, match=r"TokenDropout rate must be in \[0, 1\), received rate=1.0"):
        TokenDropout(1.0)
    layer = TokenDropout(0.1, unknown_id=1, seed=1)
    clone = TokenDropout.from_config(layer.get_config())
    assert (clone.rate, clone.unknown_id, clone.seed) == (0.1, 1, 1)


def test_word_dropout_is_checked_and_reaches_the_model():
    with pytest.raises(RecipeError) as info:
        Recipe.from_dict({"model": {"embedding": {"word_dropout": 1.0}}})
    assert str(info.value) == "recipe: 'model.embedding.word_dropout' must be in [0, 1), found 1.0"
    from seqtasks.encoders.build import build_backbone

    recipe = Recipe.from_dict({"model": {"embedding": {"dim": 4, "word_dropout": 0.1},
                                         "encoder": {"units": 4, "layers": 1}}})
    pre = TaggingPreprocessor(tokens=["<pad>", "<unk>", "a", "b", "c"], labels=["O"])
    layer = build_backbone(recipe.model, pre).get_layer("word_dropout")
    assert isinstance(layer, TokenDropout) and layer.rate == 0.1
    none = Recipe.from_dict({"model": {"embedding": {"dim": 4}, "encoder": {"units": 4, "layers": 1}}})
    assert not any(isinstance(l, TokenDropout) for l in build_backbone(none.model, pre).layers)
