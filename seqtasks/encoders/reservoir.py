"""Echo state network encoder (registry.ENCODERS["reservoir"]): stacked fixed random reservoirs.

Each layer is a `seqtasks.layers.reservoir.Reservoir`: its input and recurrent
weights are drawn once and never trained, so a model with this encoder trains
only what is around it (the embedding and the head, the "readout"). It plugs
into every task kind as the recurrent stacks do: taggers and classifiers call
it on the functional graph, language models carry its state (`call_with_state`).

Example:

```python
encoder = ReservoirStack(units=512, layers=1, bidirectional=False, spectral_radius=0.9, leak_rate=0.5)
states = encoder(embedded, padding_mask)   # (batch, time, 512)
```
"""

import keras

from seqtasks.layers.reservoir import Reservoir


class ReservoirStack:
    """`layers` stacked reservoirs, built from the recipe's `model.encoder` block.

    Args:
        units: reservoir size per direction.
        layers: number of stacked reservoirs (layer `i` draws its weights with seed `seed + i`).
        bidirectional: run each layer in both directions (outputs concatenated;
            the backward reservoir has weights of its own).
        dropout: dropout rate after each layer.
        residual: add each layer's input to its output (from the second layer on).
        spectral_radius: the largest absolute eigenvalue of each recurrent matrix.
        leak_rate: the leak rate `a` in (0, 1] (smaller: slower dynamics).
        input_scaling: scale of the input weights and bias.
        sparsity: fraction of zero recurrent weights, in [0, 1).
        seed: seed of the fixed random weights.
        name: prefix of the layer names.
        **other_encoders_keys: keys of `model.encoder` that only the RNN stacks
            read (`variational`, `recurrent_dropout`), ignored here.
    """

    kind = "reservoir"

    def __init__(self, units=128, layers=1, bidirectional=True, dropout=0.0, residual=False,
                 spectral_radius=0.9, leak_rate=1.0, input_scaling=1.0, sparsity=0.9, seed=0,
                 name="encoder", **other_encoders_keys):
        self.units = units
        self.layers = layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.residual = residual
        self.reservoir = {"spectral_radius": spectral_radius, "leak_rate": leak_rate,
                          "input_scaling": input_scaling, "sparsity": sparsity}
        self.seed = seed
        self.name = name

    def reservoir_layer(self, i, return_state=False):
        """The `i`-th reservoir (one direction)."""
        return Reservoir(self.units, seed=self.seed + i, return_sequences=True, return_state=return_state,
                         name=f"{self.name}_reservoir_{i}", **self.reservoir)

    def _after(self, i, x, y):
        """The residual connection and dropout after layer `i` (input `x`, output `y`)."""
        if self.residual and i > 0:
            y = keras.layers.Add(name=f"{self.name}_residual_{i}")([x, y])
        if self.dropout:
            y = keras.layers.Dropout(self.dropout, name=f"{self.name}_dropout_{i}")(y)
        return y

    def __call__(self, x, mask):
        """x (batch, time, features), mask (batch, time) bool -> (batch, time, units * directions)."""
        for i in range(self.layers):
            layer = self.reservoir_layer(i)
            if self.bidirectional:
                layer = keras.layers.Bidirectional(layer, name=f"{self.name}_bi_{i}")
            x = self._after(i, x, layer(x, mask=mask))
        return x

    def state_sizes(self):
        """The widths of the state tensors, one per layer."""
        return [self.units] * self.layers

    def call_with_state(self, x, mask, states):
        """A unidirectional stack run from `states`; returns `(outputs, final_states)`
        (see `seqtasks.encoders.rnn.RecurrentStack.call_with_state`)."""
        if self.bidirectional:
            raise ValueError(f"{self.name}: a bidirectional encoder cannot carry its state forward")
        final = []
        for i in range(self.layers):
            y, state = self.reservoir_layer(i, return_state=True)(x, mask=mask, initial_state=states[i])
            final.append(state)
            x = self._after(i, x, y)
        return x, final
