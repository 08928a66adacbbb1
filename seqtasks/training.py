"""Model.fit with callbacks, then evaluation of every split (called by `pipeline.train`)."""

import logging
import platform
import time
from dataclasses import dataclass

import numpy as np

from seqtasks import evaluation
from seqtasks.data.batching import Batches
from seqtasks.decoding import split_postprocess
from seqtasks.run_dir import write_json

LOG = logging.getLogger("seqtasks")


@dataclass
class FitResult:
    metrics: dict
    history: dict


def configure(recipe):
    """Seed, threads and precision policy, before any model is built."""
    import keras
    import tensorflow as tf

    if recipe.train.threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(recipe.train.threads)
        except RuntimeError:
            LOG.warning("train.threads ignored: TensorFlow was already initialised")
    keras.utils.set_random_seed(recipe.seed)
    keras.mixed_precision.set_global_policy("mixed_float16" if recipe.train.mixed_precision
                                            else "float32")


def load_preprocessor(directory):
    from seqtasks.data.preprocessing import Preprocessor

    return Preprocessor.from_json((directory / "preprocessor.json").read_text(encoding="utf-8"))


def strategy_for(train):
    """MirroredStrategy over the visible GPUs when asked (or "auto" with >1 GPU)."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if train.distribute == "mirrored" or (train.distribute == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def class_weights(labels, num_labels):
    """'balanced' per-example weights: n / (k * count(class))."""
    counts = np.bincount(labels, minlength=num_labels).astype(np.float64)
    per_class = len(labels) / (num_labels * np.maximum(counts, 1))
    return per_class[labels].astype(np.float32)


def make_callbacks(recipe, train, dev, dev_gold, labels, scheme, directory, dev_postprocess=None):
    """The training callbacks, in order; returns `(callbacks, dev_metric, run_history)`.

    `DevMetric` comes before `RunHistory`, early stopping and checkpoints, so
    the dev metric is in the logs they read; with `train.ema_momentum` a
    `SwapEMAWeights` before it makes all of them see the averaged weights.
    `ResumeState` comes last: on `--resume` it restores the state of the
    callbacks before it (best value, patience, best weights) and the shuffle
    order of the training batches `train`.
    """
    import keras

    from seqtasks.callbacks import DevMetric, ResumeState, RunHistory

    dev_metric = DevMetric(dev, dev_gold, labels, recipe.task, scheme, dev_postprocess)
    run_history = RunHistory(directory / "history.json")  # epochs before a resume included
    monitor = dev_metric.name if recipe.train.monitor == "auto" else recipe.train.monitor
    mode = "min" if "loss" in monitor else "max"
    best_path = directory / "checkpoints" / "best.weights.h5"
    # BackupAndRestore first: it backs up the weights being trained, before an
    # EMA swap puts the averaged weights in the model for everything after it
    # (dev metric, early stopping's best weights, the best checkpoint).
    callbacks = [keras.callbacks.BackupAndRestore(str(directory / "backup"))]
    if recipe.train.ema_momentum:
        callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    callbacks += [dev_metric, run_history, keras.callbacks.TerminateOnNaN(),
                  *_selection_callbacks(recipe.train, monitor, mode, best_path)]
    if recipe.train.time_limit_minutes:
        from seqtasks.callbacks import TimeLimit

        callbacks.append(TimeLimit(recipe.train.time_limit_minutes))
    callbacks.append(ResumeState(run_history, monitor, mode, best_path, train, list(callbacks)))
    return callbacks, dev_metric, run_history


def _selection_callbacks(t, monitor, mode, best_path):
    """The callbacks that read the dev metric: early stopping, the best
    checkpoint and the plateau schedule. With `train_with_dev` dev is training
    data, so none of them runs; the last epoch's weights are checkpointed."""
    import keras

    if t.train_with_dev:
        return [keras.callbacks.ModelCheckpoint(str(best_path.with_name("last.weights.h5")),
                                                save_weights_only=True)]
    callbacks = [
        keras.callbacks.EarlyStopping(monitor, mode=mode, patience=t.early_stopping_patience,
                                      restore_best_weights=True, verbose=1),
        keras.callbacks.ModelCheckpoint(str(best_path), monitor=monitor, mode=mode, save_best_only=True,
                                        save_weights_only=True),
    ]
    if t.lr_schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor, mode=mode, factor=0.5,
                                                           patience=max(1, t.early_stopping_patience // 2)))
    return callbacks


def fit_and_evaluate(recipe, dataset, preprocessor, scheme, directory):
    """Builds, trains and evaluates the model; writes model, history and plots.

    Returns:
        A `FitResult` with the metrics dict (metrics.json) and the history.
    """
    t = recipe.train
    encoded = {name: preprocessor.encode_split(split, name) for name, split in dataset.items()}
    weights = (class_weights(encoded["train"]["labels"], len(preprocessor.labels))
               if recipe.task == "classification" and t.class_weight == "balanced" else None)
    train = Batches(encoded["train"], t.batch_size, shuffle=True, seed=recipe.seed,
                    bucket_batches=t.bucket_batches, example_weights=weights)
    evals = {name: Batches(e, max(t.batch_size, 64)) for name, e in encoded.items()}
    model = _compiled_model(recipe, preprocessor, scheme, steps_per_epoch=len(train))
    posts = _postprocess_steps(recipe, dataset, preprocessor.labels, scheme)
    callbacks, dev_metric, run_history = make_callbacks(
        recipe, train, evals["validation"], encoded["validation"]["labels"], preprocessor.labels, scheme,
        directory, posts.get("validation"))
    start = time.perf_counter()
    model.fit(train.dataset(), validation_data=evals["validation"].dataset(),
              epochs=t.epochs, callbacks=callbacks, verbose=t.verbose,
              shuffle=False)  # Batches shuffles itself, with length bucketing
    train_seconds = time.perf_counter() - start
    history = run_history.history
    metrics = {"task": recipe.task, "recipe": recipe.name, "scheme": scheme}
    metrics.update(_evaluate_splits(recipe, model, evals, encoded, preprocessor.labels, scheme,
                                    directory, posts))
    metrics.update(_run_figures(model, train, train_seconds, dev_metric, run_history, t.train_with_dev))
    if recipe.evaluate.baseline and recipe.task == "classification":
        from seqtasks.baseline import tfidf_logistic_regression

        analyzer = "char_wb" if recipe.preprocess.units == "char" else "word"
        metrics["baseline"] = tfidf_logistic_regression(dataset, analyzer=analyzer, seed=recipe.seed)
    model.save(directory / "model.keras")
    write_json(directory / "history.json", history)
    if recipe.evaluate.plots:
        from seqtasks.plots import plot_history

        plot_history(history, directory / "plots" / "training_curves.png")
    return FitResult(metrics, history)


def _postprocess_steps(recipe, dataset, labels, scheme):
    """`{split: (predictions, gold) -> (predictions, gold)}` for tagging splits
    that need one (document consistency, joined sentences cut back)."""
    if recipe.task != "tagging":
        return {}
    return {name: split_postprocess(recipe.model.head.consistency, labels, scheme, split)
            for name, split in dataset.items()}


def _run_figures(model, train, train_seconds, dev_metric, run_history, train_with_dev=False):
    """Speed, size and epoch figures of a finished `fit` for metrics.json."""
    from seqtasks.models.build import count_params

    history = run_history.history
    # Epoch wall time without the dev-metric pass (the Keras val_loss pass stays in).
    fit_seconds = train_seconds - dev_metric.seconds
    return {
        "train_seconds": train_seconds,
        "train_tokens_per_second": train.num_tokens * run_history.epochs_this_run / max(fit_seconds, 1e-9),
        "padding_fraction": train.padding_fraction(),
        "params": count_params(model),
        "epochs_run": len(next(iter(history.values()), [])),
        "best_epoch": None if train_with_dev else _best_epoch(history, dev_metric.name),
        "train_with_dev": train_with_dev,
        "versions": versions(),
    }


def _compiled_model(recipe, preprocessor, scheme, steps_per_epoch):
    """The task model, built and compiled inside the distribution strategy's scope."""
    import keras

    from seqtasks.models.build import build_model, build_optimizer

    t = recipe.train
    with strategy_for(t).scope():
        model = build_model(recipe, preprocessor, scheme)
        optimizer = build_optimizer(t)
        schedule = _learning_rate_schedule(t, steps_per_epoch)
        if schedule is not None:
            optimizer.learning_rate = schedule
        model.compile(optimizer=optimizer)
    model.adversarial_epsilon = t.adversarial_epsilon
    model.adversarial_norm = t.adversarial_norm
    model.virtual_adversarial_epsilon = t.virtual_adversarial_epsilon
    return model


def _learning_rate_schedule(t, steps_per_epoch):
    """The optimizer's step-indexed schedule for `train.lr_schedule` (None for
    'none' and 'plateau', which keep a constant rate or change it from a callback).

    A schedule on optimizer steps rather than a callback: it lives in the
    optimizer, so `--resume` and distribution strategies carry it as they carry
    the step counter.
    """
    import keras

    if t.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(t.learning_rate, decay_steps=t.epochs * steps_per_epoch)
    if t.lr_schedule == "step":
        # The schedule reads the step counter before it is incremented, and
        # `x <= boundary` keeps the old value: epoch E's last step is E * steps - 1.
        boundaries = [epoch * steps_per_epoch - 1 for epoch in t.lr_step_epochs]
        values = [t.learning_rate * t.lr_step_factor ** i for i in range(len(boundaries) + 1)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    return None


def _evaluate_splits(recipe, model, evals, encoded, labels, scheme, directory, posts):
    """Scores train and the recipe's evaluation splits (after each split's decoding
    step in `posts`, if any); the test confusion plot."""
    metrics = {}
    held_out = [s for s in recipe.evaluate.splits if s in evals and s != "train"
                and not (recipe.train.train_with_dev and s == "validation")]  # dev was trained on
    for name in ["train"] + held_out:
        predictions, speed = evaluation.timed_predict(model, evals[name])
        gold = encoded[name]["labels"]
        if posts.get(name):
            predictions, gold = posts[name](predictions, gold)
        metrics[name] = evaluation.score(recipe.task, predictions, gold, labels, scheme)
        if name == "test" or "predict_tokens_per_second" not in metrics:
            metrics["predict_tokens_per_second"] = speed
        if recipe.evaluate.plots and name == "test":
            _confusion_plot(recipe.task, predictions, gold, labels,
                            directory / "plots" / f"confusion_{name}.png")
    return metrics


def _best_epoch(history, name):
    values = history.get(name)
    return int(np.argmax(values)) + 1 if values else None


def _confusion_plot(task, predictions, gold, labels, path):
    from seqtasks.plots import plot_confusion

    path.parent.mkdir(parents=True, exist_ok=True)
    if task == "classification":
        true, pred = np.asarray(gold), predictions.argmax(-1)
    else:
        true, pred = np.concatenate(gold), np.concatenate(predictions)
    plot_confusion(true, pred, labels, path)


def versions():
    import datasets
    import keras
    import tensorflow as tf

    return {"python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "datasets": datasets.__version__,
            "machine": f"{platform.machine()} {platform.system()}"}
