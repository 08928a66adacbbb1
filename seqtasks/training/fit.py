"""`model.fit` with callbacks, then the scores of every split (called by `api.train`).

Written once for every task kind: what differs by kind comes from the
`TaskKind` (`seqtasks.tasks.base`).
"""

import logging
import platform
import sys
import time
from dataclasses import dataclass

import numpy as np

from seqtasks.encoders.cudnn import warn_if_not_cudnn_eligible
from seqtasks.registry import LR_SCHEDULES, REGULARIZERS, resolve
from seqtasks.run_dir import write_json
from seqtasks.scoring import score_split

LOG = logging.getLogger("seqtasks")


@dataclass
class FitResult:
    metrics: dict
    history: dict


def configure(recipe):
    """Seed, threads, determinism and precision policy, before any model is built.

    The same seed gives the same run on CPU: `set_random_seed` seeds Python,
    NumPy and the back end, and on TensorFlow op determinism makes the
    kernels that could reduce in a varying order (on CPU a few
    scatter/segment ops; costs nothing measurable here) run in a fixed one.
    """
    import keras

    from seqtasks.memory_allocator import keep_freed_memory

    keep_freed_memory()  # fewer page faults per step (docs/EXPERIMENTS.md, session 38)
    if recipe.train.threads and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(recipe.train.threads)
        except RuntimeError:
            LOG.warning("train.threads ignored: TensorFlow was already initialised")
    keras.utils.set_random_seed(recipe.seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        # CPU only: with op determinism Keras turns XLA (`jit_compile`, "auto"
        # = on with a GPU) off and cuDNN picks slower kernels, so on GPUs the
        # speed wins and runs are not promised to repeat bit for bit.
        if not tf.config.list_physical_devices("GPU"):
            tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy("mixed_float16" if recipe.train.mixed_precision
                                            else "float32")


def fit_and_evaluate(recipe, kind, dataset, preprocessor, scheme, directory):
    """Builds, trains and evaluates the model; writes model, history and plots.

    Args:
        recipe: the resolved `Recipe`.
        kind: the recipe's `TaskKind`.
        dataset: the prepared `DatasetDict`.
        preprocessor: the fitted preprocessor.
        scheme: the label scheme (span schemes) or None.
        directory: the run's working directory.

    Returns:
        A `FitResult` with the metrics dict (metrics.json) and the history.
    """
    t = recipe.train
    encoded = {name: preprocessor.encode_split(split, name) for name, split in dataset.items()}
    from seqtasks.data.lengths import split_long_examples

    encoded["train"], split_count = split_long_examples(encoded["train"], kind.max_example_length(recipe),
                                                        kind.per_token)
    weights = kind.example_weights(recipe, encoded["train"], len(preprocessor.labels))
    train = kind.batches(encoded["train"], recipe, training=True, example_weights=weights)
    validation = kind.batches(encoded["validation"], recipe)  # None: no Keras validation pass
    monitor_name = "val_" + kind.main_metric(scheme)
    monitor = monitor_name if t.monitor == "auto" else t.monitor
    mode = "min" if "loss" in monitor else "max"
    import contextlib

    import keras

    from seqtasks.training.distribution import strategy_scope

    # On JAX one DataParallel scope covers building, compiling and fitting (it
    # shards the variables when they are made and the batches when `fit` reads
    # them); on TensorFlow the strategy's scope covers building and compiling,
    # and `fit` distributes by itself.
    on_jax = keras.backend.backend() == "jax"
    with strategy_scope(t) if on_jax else contextlib.nullcontext():
        model, schedule_callbacks = _compiled_model(recipe, kind, preprocessor, scheme, len(train), monitor, mode,
                                                    scoped=not on_jax)
        warn_if_not_cudnn_eligible(model, recipe)
        from seqtasks.training.callbacks import kill_point, make_callbacks

        callbacks, dev_metric, run_history, state = make_callbacks(
            recipe, kind, train, encoded["validation"], preprocessor.labels, scheme, directory, monitor, mode,
            schedule_callbacks)
        callbacks = _with_run_callbacks(callbacks, recipe, kind, preprocessor, directory, model)
        LOG.info("model: %s parameters (%s trainable); %d training batches per epoch",
                 f"{_count(model.weights):,}", f"{_count(model.trainable_weights):,}", len(train))
        initial_epoch = state.restore(model)  # 0 unless resuming
        run_history.completed = initial_epoch
        if state.finished:
            # Killed after training, while evaluating or saving: evaluate the kept weights.
            LOG.info("resuming after training (%d epochs): evaluating and saving", initial_epoch)
            run_history.on_train_begin()
        else:
            start = time.perf_counter()
            # An interrupted fit that had already stopped (early stopping, time
            # limit) runs no more epochs: only `on_train_end` (best weights back).
            epochs = initial_epoch if state.state and state.state.get("stopped") else t.epochs
            model.fit(train.dataset(), validation_data=validation and validation.dataset(), epochs=epochs,
                      initial_epoch=initial_epoch, callbacks=callbacks, verbose=log_verbosity(t.verbose),
                      shuffle=False)  # Batches shuffles itself, with length bucketing
            state.finish(state.train_seconds + time.perf_counter() - start)
            kill_point("evaluate")  # a test hook: killed after training, before evaluation
        train_seconds = state.train_seconds
    history = run_history.history
    metrics = {"task": recipe.task, "kind": kind.name, "recipe": recipe.name, "scheme": scheme,
               "long_examples_split": split_count}
    metrics.update(_evaluate_splits(recipe, kind, model, encoded, preprocessor.labels, scheme, directory))
    held_out = [s for s in metrics if s in encoded and s != "train"]
    for split, figures in kind.model_metrics(recipe, model, encoded, preprocessor, directory, held_out).items():
        metrics[split].update(figures)
    metrics.update(_run_figures(model, train, train_seconds, dev_metric, run_history, t.train_with_dev))
    metrics.update(kind.extra_metrics(recipe, dataset))
    model.save(directory / "model.keras")
    write_json(directory / "history.json", history)
    if recipe.evaluate.plots:
        from seqtasks.reporting.plots import plot_history

        plot_history(history, directory / "plots" / "training_curves.png", best_epoch=metrics["best_epoch"])
    return FitResult(metrics, history)


def _with_run_callbacks(callbacks, recipe, kind, preprocessor, directory, model):
    """`make_callbacks`' list with the kind's callbacks (before `TrainingState`,
    which stays last) and the gradient-norm log (first, so that the history
    callbacks see `max_gradient_norm`). A callback that declares `every_step`
    sets `model` to one training step per call: Keras calls batch hooks once
    per call of the train function."""
    callbacks = callbacks[:-1] + kind.callbacks(recipe, preprocessor, directory) + callbacks[-1:]
    if recipe.train.log_gradient_norm:
        from seqtasks.training.gradient_norm import GradientNormLog

        callbacks.insert(0, GradientNormLog(directory, plots=recipe.evaluate.plots))
    if any(getattr(c, "every_step", False) for c in callbacks):
        model.steps_per_execution = 1
    return callbacks


def log_verbosity(verbose, stream=None):
    """`train.verbose` for `model.fit`: a progress bar (1) becomes one line per
    epoch (2) when the output is not a terminal, where each bar update would be
    another line of carriage returns and escape codes in the log file."""
    stream = stream if stream is not None else sys.stdout
    if verbose == 1 and not (hasattr(stream, "isatty") and stream.isatty()):
        return 2
    return verbose


def _count(weights):
    return int(sum(np.prod(w.shape) for w in weights))


def _compiled_model(recipe, kind, preprocessor, scheme, steps_per_epoch, monitor, mode, scoped=True):
    """The task model, built and compiled inside the distribution strategy's
    scope (`scoped`; else in the caller's), with its regularizer; returns
    `(model, schedule_callbacks)`."""
    from seqtasks.encoders.build import build_backbone
    from seqtasks.training.schedules import build_optimizer

    t = recipe.train
    import contextlib

    from seqtasks.training.distribution import strategy_scope

    with strategy_scope(t) if scoped else contextlib.nullcontext():
        backbone = build_backbone(recipe.model, preprocessor) if kind.uses_backbone else None
        model = kind.build_model(recipe, preprocessor, backbone, scheme)
        schedule, callbacks = resolve(LR_SCHEDULES, t.lr_schedule, "train.lr_schedule")(
            t, steps_per_epoch, monitor, mode)
        model.compile(optimizer=build_optimizer(t, schedule), steps_per_execution=steps_per_execution(t))
    regularizer = resolve(REGULARIZERS, t.regularizer.kind, "train.regularizer.kind")
    if regularizer is not None:
        regularizer(t.regularizer.epsilon).attach(model)
    return model, callbacks


def steps_per_execution(train):
    """Training steps per call of the compiled train function for a `TrainRecipe`.

    "auto" is 32 on TensorFlow: the steps run in one `tf.while_loop`, so
    Keras' Python work between steps (callbacks, logs, the next call) runs
    once per 32 steps; the steps and their results are the same (a test
    compares). It is 1 on JAX, which would compile its multi-step function
    for each combination of the length-bucketed batches' shapes.
    (`fit_and_evaluate` also sets 1 when a callback declares `every_step`:
    gradient-norm logging, the resume tests' kill switch.) Under a `tf.distribute` strategy
    (`MirroredStrategy`, even over one device) it is always 1: there the
    multi-step loop fails in TF 2.21 / Keras 3.15 ("You must feed a value for
    placeholder tensor ..." inside the optimizer's update; keras-team/keras
    issue 19246), so an explicit value is overridden with a warning. Call it
    in the strategy's scope.

    Args:
        train: the recipe's `train` section.

    Returns:
        An integer of at least 1.
    """
    import keras

    from seqtasks.training.distribution import in_strategy

    if in_strategy():
        if train.steps_per_execution not in ("auto", 1):
            LOG.warning("train.steps_per_execution=%s ignored: one step per call under a distribution "
                        "strategy", train.steps_per_execution)
        return 1
    if train.steps_per_execution != "auto":
        return train.steps_per_execution
    return 32 if keras.backend.backend() == "tensorflow" else 1


def _evaluate_splits(recipe, kind, model, encoded, labels, scheme, directory):
    """Scores train and the recipe's evaluation splits; the test confusion plot."""
    metrics = {}
    held_out = [s for s in recipe.evaluate.splits if s in encoded and s != "train"
                and not (recipe.train.train_with_dev and s == "validation")]  # dev was trained on
    batch_size = max(recipe.train.batch_size, 64)
    for name in (["train"] if kind.score_train else []) + held_out:
        metrics[name], predictions, speed = score_split(kind, lambda b: kind.predict(model, b), encoded[name],
                                                        labels, scheme, batch_size)
        if name == "test" or "predict_tokens_per_second" not in metrics:
            metrics["predict_tokens_per_second"] = speed
        pairs = (kind.confusion_pairs(predictions, encoded[name]["labels"])
                 if recipe.evaluate.plots and name == "test" else None)
        if pairs is not None:  # None: the kind has no confusion matrix (language models)
            from seqtasks.reporting.plots import plot_confusion

            path = directory / "plots" / f"confusion_{name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            plot_confusion(*pairs, labels, path)
    return metrics


def _run_figures(model, train, train_seconds, dev_metric, run_history, train_with_dev=False):
    """Speed, size and epoch figures of a finished `fit` for metrics.json."""
    history = run_history.history
    # Epoch wall time without the dev-metric pass (the Keras val_loss pass stays in).
    fit_seconds = train_seconds - dev_metric.seconds
    values = history.get(dev_metric.name)
    return {
        "train_seconds": train_seconds,
        "train_tokens_per_second": train.num_tokens * run_history.epochs_this_run / max(fit_seconds, 1e-9),
        "padding_fraction": train.padding_fraction(),
        "params": _count(model.trainable_weights),
        "epochs_run": len(next(iter(history.values()), [])),
        "best_epoch": (None if train_with_dev or not values  # the lowest loss, else the highest score
                       else int((np.argmin if "loss" in dev_metric.name else np.argmax)(values)) + 1),
        "train_with_dev": train_with_dev,
        "versions": versions(),
    }


def versions():
    """The versions of Python, seqtasks, Keras (and its back end) and `datasets`."""
    import datasets
    import keras

    from seqtasks.version import __version__

    found = {"python": platform.python_version(), "seqtasks": __version__,
             "keras": keras.__version__, "backend": keras.backend.backend(),
             "datasets": datasets.__version__, "machine": f"{platform.machine()} {platform.system()}"}
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        found["tensorflow"] = tf.__version__
    return found
