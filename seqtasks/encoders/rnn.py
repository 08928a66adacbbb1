"""Stacked (bi)directional RNN encoders (registry.ENCODERS: simple_rnn | lstm | gru).

An encoder is built from the recipe's `model.encoder` block (every key but
`kind`) and called on the functional graph: `encoder(x, mask) -> states`.
Adding an encoder = one class with that call + one line in `registry.ENCODERS`.

Example:

```python
encoder = GRUStack(units=64, layers=2, bidirectional=True, dropout=0.3)
states = encoder(embedded, padding_mask)   # (batch, time, 128)
```
"""

import logging

import keras

from seqtasks.layers import recurrent

LOG = logging.getLogger("seqtasks")


class RecurrentStack:
    """`layers` stacked recurrent layers of one Keras RNN class.

    The RNN layers keep their default activations and, by default,
    `recurrent_dropout=0`, so that LSTM/GRU stay eligible for the fused cuDNN
    kernel on GPU; dropout is applied between layers instead. `variational`
    shares each sequence's dropout mask across its time steps (Gal &
    Ghahramani 2016; Reimers & Gurevych 2017 find it the best dropout for
    BiLSTM-CRF taggers) and keeps cuDNN; `recurrent_dropout` adds Keras'
    variational dropout on the recurrent state, which rules cuDNN out.

    Args:
        units: units per direction.
        layers: number of stacked layers.
        bidirectional: run each layer in both directions (outputs concatenated).
        dropout: dropout rate after each layer.
        residual: add each layer's input to its output (from the second layer on,
            where the widths agree).
        variational: one dropout mask per sequence and feature, the same at
            every time step (`SpatialDropout1D`), instead of one per token.
        recurrent_dropout: dropout rate on the recurrent state (not cuDNN-eligible).
        name: prefix of the layer names.
        **other_encoders_keys: keys of `model.encoder` that other encoders read
            (the reservoir's `spectral_radius`, ...), ignored here.
    """

    rnn_class = None  # the Keras layer name, set by the subclasses below
    cudnn = False  # whether the layer has a fused cuDNN kernel on GPU

    def __init__(self, units=128, layers=2, bidirectional=True, dropout=0.0, residual=False,
                 variational=False, recurrent_dropout=0.0, name="encoder", **other_encoders_keys):
        self.units = units
        self.layers = layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.residual = residual
        self.variational = variational
        self.recurrent_dropout = recurrent_dropout
        self.name = name
        if recurrent_dropout and self.cudnn:
            LOG.warning("model.encoder.recurrent_dropout=%s: the %s layers cannot use the fused cuDNN "
                        "kernel on GPU (slower there); model.encoder.variational keeps it",
                        recurrent_dropout, self.rnn_class)

    def recurrent_layer(self, i, **options):
        """The `i`-th recurrent layer (one direction); `options` go to the Keras layer."""
        # seqtasks' subclasses of the Keras layers: the same weights and cuDNN
        # path, with a leaner loop on TensorFlow CPUs (seqtasks.layers.recurrent).
        rnn_cls = getattr(recurrent, self.rnn_class)
        return rnn_cls(self.units, return_sequences=True, recurrent_dropout=self.recurrent_dropout,
                       name=f"{self.name}_{self.kind}_{i}", **options)

    @property
    def kind(self):
        return self.rnn_class.lower().replace("simplernn", "simple_rnn")

    def __call__(self, x, mask):
        """x (batch, time, features), mask (batch, time) bool -> (batch, time, units * directions)."""
        for i in range(self.layers):
            rnn = self.recurrent_layer(i)
            layer = keras.layers.Bidirectional(rnn, name=f"{self.name}_bi_{i}") if self.bidirectional else rnn
            y = layer(x, mask=mask)  # (batch, time, units * directions)
            if self.residual and i > 0:
                y = keras.layers.Add(name=f"{self.name}_residual_{i}")([x, y])
            if self.dropout:
                drop = keras.layers.SpatialDropout1D if self.variational else keras.layers.Dropout
                y = drop(self.dropout, name=f"{self.name}_dropout_{i}")(y)
            x = y
        return x

    # -- carrying the state (language models) -----------------------------------------
    def state_sizes(self):
        """The widths of the recurrent state tensors, layer by layer (an LSTM has two: h, c)."""
        return [self.units] * (2 if self.rnn_class == "LSTM" else 1) * self.layers

    def call_with_state(self, x, mask, states):
        """A unidirectional stack run from given states, returning its final states.

        Language models carry the state from one window of a long text to the
        next (truncated backpropagation through time) and from one sampled
        token to the next.

        Args:
            x: (batch, time, features).
            mask: (batch, time) bool.
            states: tensors of the widths `state_sizes()`, each (batch, width).

        Returns:
            `(outputs, final_states)`: (batch, time, units) and a list like `states`.
        """
        if self.bidirectional:
            raise ValueError(f"{self.name}: a bidirectional encoder cannot carry its state forward")
        per_layer = len(states) // self.layers
        final = []
        for i in range(self.layers):
            rnn = self.recurrent_layer(i, return_state=True)
            y, *new = rnn(x, mask=mask, initial_state=list(states[i * per_layer:(i + 1) * per_layer]))
            final += new
            if self.residual and i > 0:
                y = keras.layers.Add(name=f"{self.name}_residual_{i}")([x, y])
            if self.dropout:
                drop = keras.layers.SpatialDropout1D if self.variational else keras.layers.Dropout
                y = drop(self.dropout, name=f"{self.name}_dropout_{i}")(y)
            x = y
        return x, final


class SimpleRNNStack(RecurrentStack):
    """Stacked Elman RNNs (`keras.layers.SimpleRNN`, as `seqtasks.layers.recurrent.SimpleRNN`)."""

    rnn_class = "SimpleRNN"


class LSTMStack(RecurrentStack):
    """Stacked LSTMs (`keras.layers.LSTM`, as `seqtasks.layers.recurrent.LSTM`)."""

    rnn_class = "LSTM"
    cudnn = True


class GRUStack(RecurrentStack):
    """Stacked GRUs (`keras.layers.GRU`, `reset_after=True`: cuDNN-eligible)."""

    rnn_class = "GRU"
    cudnn = True
