"""Learning-rate schedules (registry.LR_SCHEDULES) and the optimizer.

Each schedule is a function of the recipe's `train` block and the steps per
epoch returning `(optimizer_schedule, callbacks)`: a step-indexed schedule
lives in the optimizer (so `--resume` and distribution strategies carry it as
they carry the step counter); the plateau schedule is a callback on dev.

Example:

```python
schedule, callbacks = resolve(LR_SCHEDULES, "step")(recipe.train, steps_per_epoch=len(train))
```
"""

from seqtasks.registry import OPTIMIZERS, resolve


def none(t, steps_per_epoch, monitor=None, mode="max"):
    """A constant rate."""
    return None, []


def plateau(t, steps_per_epoch, monitor=None, mode="max"):
    """Halves the rate when the dev metric has not improved for half the patience."""
    import keras

    return None, [keras.callbacks.ReduceLROnPlateau(monitor, mode=mode, factor=0.5,
                                                    patience=max(1, t.early_stopping_patience // 2))]


def cosine(t, steps_per_epoch, monitor=None, mode="max"):
    """Cosine decay from `learning_rate` to 0 over all epochs."""
    import keras

    return keras.optimizers.schedules.CosineDecay(t.learning_rate, decay_steps=t.epochs * steps_per_epoch), []


def step(t, steps_per_epoch, monitor=None, mode="max"):
    """The rate times `lr_step_factor` after each epoch in `lr_step_epochs`."""
    import keras

    # The schedule reads the step counter before it is incremented, and
    # `x <= boundary` keeps the old value: epoch E's last step is E * steps - 1.
    boundaries = [epoch * steps_per_epoch - 1 for epoch in t.lr_step_epochs]
    values = [t.learning_rate * t.lr_step_factor ** i for i in range(len(boundaries) + 1)]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values), []


def build_optimizer(t, schedule=None):
    """The optimizer named in `train.optimizer` with clipping by norm.

    With `train.log_gradient_norm` it also keeps each step's gradient norm
    (`training.gradient_norm`). With `train.ema_momentum` the optimizer also keeps an exponential moving
    average of the weights (Polyak averaging); `SwapEMAWeights` in the
    training callbacks makes the dev metric, checkpoints and the saved model
    use it.

    Args:
        t: the recipe's `train` block.
        schedule: a step-indexed learning-rate schedule, or None for `learning_rate`.
    """
    cls = resolve(OPTIMIZERS, t.optimizer, "train.optimizer")
    if t.log_gradient_norm:
        from seqtasks.training.gradient_norm import with_gradient_norm

        cls = with_gradient_norm(cls)
    kwargs = {"learning_rate": t.learning_rate}
    if t.global_clipnorm:
        kwargs["global_clipnorm"] = t.global_clipnorm
    elif t.clipnorm:
        kwargs["clipnorm"] = t.clipnorm
    if t.weight_decay:
        kwargs["weight_decay"] = t.weight_decay
    if t.ema_momentum:
        kwargs.update(use_ema=True, ema_momentum=t.ema_momentum)
    optimizer = cls(**kwargs)
    if schedule is not None:
        optimizer.learning_rate = schedule
    return optimizer
