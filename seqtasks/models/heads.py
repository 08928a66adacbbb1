"""Task heads: functions from the backbone's output tensor to the model output."""

import keras


def _hidden(x, hidden, dropout, name):
    if hidden:
        x = keras.layers.Dense(hidden, activation="tanh", name=f"{name}_hidden")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


def token_softmax_head(sequence, num_labels, hidden=0, dropout=0.0, name="tags"):
    """Per-token softmax (optionally a tanh hidden layer first).

    A plain `Dense` on the 3-D tensor, not `TimeDistributed` (which returns a
    wrong shape when the sequence length changes between calls).

    Args:
        sequence: (batch, time, features) tensor.
        num_labels: number of tags.
        hidden: width of the tanh hidden layer (0 = none).
        dropout: dropout before the output layer.

    Returns:
        (batch, time, num_labels) probabilities in float32.
    """
    x = _hidden(sequence, hidden, dropout, name)
    return keras.layers.Dense(num_labels, activation="softmax", dtype="float32", name=name)(x)


def crf_head(sequence, mask, num_labels, hidden=0, dropout=0.0, constraints=None, name="crf"):
    """Emission scores followed by a linear-chain CRF layer.

    Args:
        sequence: (batch, time, features) tensor.
        mask: (batch, time) boolean padding mask.
        num_labels: number of tags.
        hidden, dropout: as in `token_softmax_head`.
        constraints: None or `(allowed_start, allowed_transitions, allowed_end)`
            boolean arrays from `seqtasks.data.schemes.allowed_transitions`.

    Returns:
        (batch, time, num_labels) float32 emissions (the CRF layer passes them
        through; the model computes the loss and decodes with the layer).
    """
    from seqtasks.layers.crf import CRF

    x = _hidden(sequence, hidden, dropout, name)
    emissions = keras.layers.Dense(num_labels, dtype="float32", name=f"{name}_emissions")(x)
    kwargs = {}
    if constraints is not None:
        start, trans, end = constraints
        kwargs = {"allowed_start": [bool(v) for v in start],
                  "allowed_transitions": [[bool(v) for v in row] for row in trans],
                  "allowed_end": [bool(v) for v in end]}
    return CRF(num_labels, name=name, **kwargs)(emissions, mask=mask)


def classifier_head(sequence, mask, num_labels, pooling="last", bidirectional=True, hidden=0,
                    dropout=0.0, name="label"):
    """Pools a sequence into one vector and classifies it.

    Args:
        sequence: (batch, time, features) tensor.
        mask: (batch, time) boolean padding mask (pooling ignores padding).
        num_labels: number of classes.
        pooling: "last", "mean", "max" or "attention".
        bidirectional: whether `sequence` is [forward, backward] (for "last").
        hidden, dropout: as in `token_softmax_head`.

    Returns:
        (batch, num_labels) class probabilities in float32.
    """
    from seqtasks.layers.pooling import SequencePooling

    pooled = SequencePooling(mode=pooling, bidirectional=bidirectional, name="pooling")(
        sequence, mask=mask)  # (batch, features)
    x = _hidden(pooled, hidden, dropout, name)
    return keras.layers.Dense(num_labels, activation="softmax", dtype="float32", name=name)(x)
