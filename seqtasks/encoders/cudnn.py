"""Whether the recurrent layers of a built model can use the fused cuDNN kernel.

On a GPU, Keras runs `LSTM` and `GRU` through cuDNN only when the layer keeps
its defaults: tanh activation, sigmoid recurrent activation, `use_bias=True`,
`unroll=False`, `recurrent_dropout=0` (and `reset_after=True` for a GRU), and
the mask is strictly right-padded with no all-padding row (the batches of
`seqtasks.data.batching` are). Otherwise TensorFlow falls back to a loop
several times slower, or raises. The encoders keep these defaults; a recipe
loses them with `model.encoder.recurrent_dropout` (DESIGN.md section 5).

Example:

```python
problems = cudnn_problems(model)   # [] when every LSTM/GRU is eligible
```
"""

import logging

LOG = logging.getLogger("seqtasks")

# The attribute each layer must keep, and the value cuDNN needs.
_NEEDS = {
    "activation": "tanh",
    "recurrent_activation": "sigmoid",
    "use_bias": True,
    "unroll": False,
    "recurrent_dropout": 0.0,
}


def recurrent_layers(model):
    """Every `LSTM`/`GRU` layer of `model`, nested models and `Bidirectional`
    wrappers included (found by class name: no Keras import needed here)."""
    found = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        for inner in (getattr(layer, "forward_layer", None), getattr(layer, "backward_layer", None), layer):
            if inner is not None and type(inner).__name__ in ("LSTM", "GRU") and inner not in found:
                found.append(inner)
    return found


def cudnn_problems(model):
    """The reasons the model's LSTM/GRU layers cannot use cuDNN on a GPU.

    Args:
        model: a built Keras model.

    Returns:
        A list of one-line strings `"<layer>: <setting> is <value>, cuDNN needs <value>"`;
        empty when every LSTM/GRU layer is eligible (or there is none).
    """
    problems = []
    for layer in recurrent_layers(model):
        config = layer.get_config()
        needs = dict(_NEEDS, **({"reset_after": True} if type(layer).__name__ == "GRU" else {}))
        for key, wanted in needs.items():
            value = config.get(key)
            if value != wanted:
                problems.append(f"{layer.name}: {key} is {value!r}, cuDNN needs {wanted!r}")
        if getattr(layer, "use_cudnn", "auto") is False:
            problems.append(f"{layer.name}: use_cudnn is False")
    return problems


def warn_if_not_cudnn_eligible(model, recipe):
    """Logs one warning when a recipe's LSTM/GRU layers lose cuDNN on GPUs.

    Args:
        model: the built task model.
        recipe: its `Recipe` (named in the warning).

    Returns:
        The problems found (see `cudnn_problems`).
    """
    problems = cudnn_problems(model)
    if problems:
        LOG.warning("recipe %s: the recurrent layers cannot use the fused cuDNN kernel on GPU (several times "
                    "slower there): %s", recipe.name, "; ".join(problems[:3]) + (" ..." if len(problems) > 3 else ""))
    return problems
