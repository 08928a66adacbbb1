"""`model.fit` with callbacks, then the scores of every split (called by `api.train`).

Written once for every task kind: what differs by kind comes from the
`TaskKind` (`seqtasks.tasks.base`).
"""

import logging
import platform
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
    """Seed, threads and precision policy, before any model is built."""
    import keras

    if recipe.train.threads and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(recipe.train.threads)
        except RuntimeError:
            LOG.warning("train.threads ignored: TensorFlow was already initialised")
    keras.utils.set_random_seed(recipe.seed)
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
    weights = kind.example_weights(recipe, encoded["train"], len(preprocessor.labels))
    train = kind.batches(encoded["train"], recipe, training=True, example_weights=weights)
    validation = kind.batches(encoded["validation"], recipe)  # None: no Keras validation pass
    monitor_name = "val_" + kind.main_metric(scheme)
    monitor = monitor_name if t.monitor == "auto" else t.monitor
    mode = "min" if "loss" in monitor else "max"
    from seqtasks.training.callbacks import make_callbacks
    from seqtasks.training.distribution import strategy_scope

    # Built, compiled and fitted in one scope: a JAX distribution shards the
    # variables when they are made and the batches when `fit` reads them.
    with strategy_scope(t):
        model, schedule_callbacks = _compiled_model(recipe, kind, preprocessor, scheme, len(train), monitor,
                                                    mode)
        warn_if_not_cudnn_eligible(model, recipe)
        callbacks, dev_metric, run_history = make_callbacks(
            recipe, kind, train, encoded["validation"], preprocessor.labels, scheme, directory, monitor, mode,
            schedule_callbacks)
        callbacks += kind.callbacks(recipe, preprocessor, directory)
        start = time.perf_counter()
        model.fit(train.dataset(), validation_data=validation and validation.dataset(), epochs=t.epochs,
                  callbacks=callbacks, verbose=t.verbose, shuffle=False)  # Batches shuffles, with length buckets
        train_seconds = time.perf_counter() - start
    history = run_history.history
    metrics = {"task": recipe.task, "kind": kind.name, "recipe": recipe.name, "scheme": scheme}
    metrics.update(_evaluate_splits(recipe, kind, model, encoded, preprocessor.labels, scheme, directory))
    metrics.update(_run_figures(model, train, train_seconds, dev_metric, run_history, t.train_with_dev))
    metrics.update(kind.extra_metrics(recipe, dataset))
    model.save(directory / "model.keras")
    write_json(directory / "history.json", history)
    if recipe.evaluate.plots:
        from seqtasks.reporting.plots import plot_history

        plot_history(history, directory / "plots" / "training_curves.png")
    return FitResult(metrics, history)


def _compiled_model(recipe, kind, preprocessor, scheme, steps_per_epoch, monitor, mode):
    """The task model, built and compiled (inside the caller's distribution
    scope), with its regularizer; returns `(model, schedule_callbacks)`."""
    from seqtasks.encoders.build import build_backbone
    from seqtasks.training.schedules import build_optimizer

    t = recipe.train
    backbone = build_backbone(recipe.model, preprocessor) if kind.uses_backbone else None
    model = kind.build_model(recipe, preprocessor, backbone, scheme)
    schedule, callbacks = resolve(LR_SCHEDULES, t.lr_schedule, "train.lr_schedule")(
        t, steps_per_epoch, monitor, mode)
    model.compile(optimizer=build_optimizer(t, schedule))
    regularizer = resolve(REGULARIZERS, t.regularizer.kind, "train.regularizer.kind")
    if regularizer is not None:
        regularizer(t.regularizer.epsilon).attach(model)
    return model, callbacks


def _evaluate_splits(recipe, kind, model, encoded, labels, scheme, directory):
    """Scores train and the recipe's evaluation splits; the test confusion plot."""
    metrics = {}
    held_out = [s for s in recipe.evaluate.splits if s in encoded and s != "train"
                and not (recipe.train.train_with_dev and s == "validation")]  # dev was trained on
    batch_size = max(recipe.train.batch_size, 64)
    for name in ["train"] + held_out:
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
        "params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
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
