"""The auxiliary language-model objective (Rei 2017): its loss against a numpy
reference, padding, and its place in the encoder."""

import numpy as np
import pytest

from test_components import check_tagger, small_recipe


def _softmax_ce(logits, target):
    logits = logits - logits.max(axis=-1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    return -log_probs[target]


def _reference_loss(layer, sequence, token_ids, mask, vocabulary_size):
    """Mean cross-entropy of next words (forward half) and previous words
    (backward half) over real target tokens, rare ids counted as <unk> (1)."""
    width = sequence.shape[-1] // 2
    targets = np.where(token_ids < vocabulary_size, token_ids, 1)
    losses = []
    for direction, (hidden, logits) in enumerate(zip(layer.hidden_layers, layer.logit_layers)):
        w1, b1 = (np.asarray(v) for v in hidden.weights)
        w2, b2 = (np.asarray(v) for v in logits.weights)
        for b in range(sequence.shape[0]):
            for t in range(sequence.shape[1]):
                source = t + 1 if direction == 0 else t - 1
                if not (0 <= source < sequence.shape[1] and mask[b, t] and mask[b, source]):
                    continue
                state = sequence[b, t, :width] if direction == 0 else sequence[b, t, width:]
                scores = np.tanh(state @ w1 + b1) @ w2 + b2
                losses.append(_softmax_ce(scores, targets[b, source]))
    return float(np.mean(losses))


def test_loss_matches_reference_and_padding_changes_nothing():
    from seqtasks.layers.lm_objective import LanguageModelObjective

    rng = np.random.default_rng(0)
    lengths = [5, 3, 1]
    token_ids = rng.integers(2, 12, size=(3, 5)).astype("int32")  # ids 8..11 are "rare"
    mask = np.arange(5)[None, :] < np.asarray(lengths)[:, None]
    token_ids[~mask] = 0
    sequence = rng.normal(size=(3, 5, 8)).astype("float32")
    layer = LanguageModelObjective(vocabulary_size=8, weight=0.5, hidden=4)

    out = layer(sequence, token_ids, mask=mask, training=True)
    np.testing.assert_array_equal(np.asarray(out), sequence)  # passed through unchanged
    assert len(layer.losses) == 1
    expected = _reference_loss(layer, sequence, token_ids, mask, vocabulary_size=8)
    np.testing.assert_allclose(float(layer.losses[0]), 0.5 * expected, rtol=1e-5)

    # Three more padding steps (with garbage states) give the same loss.
    padded_ids = np.pad(token_ids, ((0, 0), (0, 3)))
    padded_seq = np.concatenate([sequence, rng.normal(size=(3, 3, 8)).astype("float32")], axis=1)
    layer(padded_seq, padded_ids, mask=padded_ids != 0, training=True)
    np.testing.assert_allclose(float(layer.losses[0]), 0.5 * expected, rtol=1e-5)

    # Prediction adds no loss.
    layer(sequence, token_ids, mask=mask, training=False)
    assert layer.losses == []


def test_vocabulary_size_is_checked():
    from seqtasks.layers.lm_objective import LanguageModelObjective

    with pytest.raises(ValueError, match="vocabulary_size must be >= 2, received vocabulary_size=1"):
        LanguageModelObjective(vocabulary_size=1)


@pytest.mark.parametrize("bidirectional", [True, False], ids=["bi", "uni"])
def test_recipe_puts_the_objective_on_the_first_layer(bidirectional, tmp_path):
    """`model.lm_objective.weight` adds the loss on the first encoder layer's
    output (above it each direction has seen both sides of a word), capped to
    the vocabulary, in training only; a saved model predicts the same."""
    import keras

    recipe = small_recipe(encoder={"bidirectional": bidirectional},
                          lm_objective={"weight": 0.1, "vocabulary_size": 5000, "hidden": 5})
    model, inputs = check_tagger(recipe)
    backbone = model.get_layer("backbone")
    lm = backbone.get_layer("encoder_lm_objective")
    first = backbone.get_layer("encoder_bi_0" if bidirectional else "encoder_lstm_0")
    assert lm.input[0] is first.output
    assert lm.vocabulary_size == backbone.vocabulary_size < 5000  # capped to the vocabulary
    assert lm.bidirectional == bidirectional
    model(inputs, training=True)
    assert len(model.losses) == 1 and float(model.losses[0]) > 0
    model(inputs, training=False)
    assert model.losses == []
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(loaded.predict_on_batch(inputs), model.predict_on_batch(inputs))

    plain = small_recipe(encoder={"bidirectional": bidirectional})
    model, _ = check_tagger(plain)
    assert not any("lm_objective" in layer.name for layer in model.get_layer("backbone").layers)
