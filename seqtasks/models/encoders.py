"""Stacked (bi)directional RNN encoders, chosen by name from the registry."""

import keras

from seqtasks.layers.lm_objective import LanguageModelObjective
from seqtasks.registry import ENCODERS, resolve


def rnn_encoder(x, mask, kind="lstm", units=128, layers=2, bidirectional=True, dropout=0.0,
                residual=False, variational=False, recurrent_dropout=0.0, lm_objective=None,
                token_ids=None, name="encoder"):
    """Applies `layers` stacked recurrent layers to a sequence.

    The RNN layers keep their default activations and, by default,
    `recurrent_dropout=0`, so that LSTM/GRU stay eligible for the fused cuDNN
    kernel on GPU; dropout is applied between layers instead. `variational`
    shares each sequence's dropout mask across its time steps (Gal &
    Ghahramani 2016; Reimers & Gurevych 2017 find it the best dropout for
    BiLSTM-CRF taggers) and keeps cuDNN; `recurrent_dropout` adds Keras'
    variational dropout on the recurrent state, which rules cuDNN out.

    Args:
        x: (batch, time, features) tensor.
        mask: (batch, time) boolean padding mask, passed explicitly to every layer.
        kind: registry name: "simple_rnn", "lstm" or "gru".
        units: units per direction.
        layers: number of stacked layers.
        bidirectional: run each layer in both directions (outputs concatenated).
        dropout: dropout rate after each layer.
        residual: add each layer's input to its output (from the second layer on,
            where the widths agree).
        variational: one dropout mask per sequence and feature, the same at
            every time step (`SpatialDropout1D`), instead of one per token.
        recurrent_dropout: dropout rate on the recurrent state (Keras RNN
            `recurrent_dropout`, also one mask per sequence); not cuDNN-eligible.
        lm_objective: None, or keyword arguments of
            `seqtasks.layers.lm_objective.LanguageModelObjective` (vocabulary_size,
            weight, hidden): the first layer's output also predicts the
            neighbouring words of `token_ids` in training (Rei 2017).
        token_ids: (batch, time) int tensor, the targets of `lm_objective`.
        name: prefix of the layer names.

    Returns:
        (batch, time, units * directions) tensor.

    Example:

    ```python
    h = rnn_encoder(embedded, mask, kind="gru", units=64, layers=2)
    ```
    """
    rnn_cls = resolve(ENCODERS, kind, "encoder")
    for i in range(layers):
        rnn = rnn_cls(units, return_sequences=True, recurrent_dropout=recurrent_dropout,
                      name=f"{name}_{kind}_{i}")
        layer = keras.layers.Bidirectional(rnn, name=f"{name}_bi_{i}") if bidirectional else rnn
        y = layer(x, mask=mask)  # (batch, time, units * directions)
        if lm_objective and i == 0:
            # The first layer only: above it, each direction has seen both sides.
            y = LanguageModelObjective(bidirectional=bidirectional, name=f"{name}_lm_objective",
                                       **lm_objective)(y, token_ids, mask=mask)
        if residual and i > 0:
            y = keras.layers.Add(name=f"{name}_residual_{i}")([x, y])
        if dropout:
            drop = keras.layers.SpatialDropout1D if variational else keras.layers.Dropout
            y = drop(dropout, name=f"{name}_dropout_{i}")(y)
        x = y
    return x

