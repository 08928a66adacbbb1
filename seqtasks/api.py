"""train / evaluate / load: the one place that joins data, task kind, training and run directory.

The CLI only parses arguments and calls these functions; the Python API is the
same functions (`seqtasks.train`, `seqtasks.evaluate`, `seqtasks.load`).

Example:

```python
import seqtasks

run = seqtasks.train("recipes/pos_ud_ewt_bilstm.yaml", overrides=["train.epochs=1"])
print(run.metrics["test"]["accuracy"])
tagger = seqtasks.load(run.directory)
tagger.predict(["Time flies like an arrow ."])
```
"""

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from seqtasks import run_dir as rd
from seqtasks.config.recipe import Recipe
from seqtasks.data.prepare import prepare_data
from seqtasks.errors import RecipeError, SeqtasksError, environment_error
from seqtasks.registry import task_kind

LOG = logging.getLogger("seqtasks")


@dataclass
class Run:
    """A finished training run."""

    directory: Path
    recipe: Recipe
    metrics: dict
    history: dict

    def load(self):
        """The trained model, ready to predict (see `LoadedModel`)."""
        return load(self.directory)


def resolve_recipe(recipe, overrides=(), data_root=None):
    """A `Recipe` from a path, a dict or a `Recipe`, with overrides applied."""
    if isinstance(recipe, Recipe):
        recipe = Recipe.from_dict(recipe.to_dict(), overrides)
    elif isinstance(recipe, dict):
        recipe = Recipe.from_dict(recipe, overrides)
    elif isinstance(recipe, (str, Path)):
        recipe = Recipe.from_yaml(recipe, overrides)
    else:
        raise RecipeError(f"expected a recipe path, dict or Recipe, received {type(recipe).__name__}")
    if data_root is not None:
        recipe.data.root = str(data_root)
    return recipe


def train(recipe, overrides=(), data=None, output=None, data_root=None, resume=False):
    """Trains a recipe to completion and writes its run directory.

    Args:
        recipe: a recipe path, dict or `Recipe`.
        overrides: `"dotted.key=value"` strings (as `--set` on the CLI).
        data: optional `datasets.DatasetDict` to train on instead of the
            recipe's data source.
        output: the run directory (default `runs/<recipe name>`, numbered when taken).
        data_root: where the data cards' files are (overrides `data.root`).
        resume: continue the interrupted run in `<output>.partial`.

    Returns:
        A `Run` with the directory, resolved recipe, metrics and history.
    """
    from seqtasks.training import fit

    recipe = resolve_recipe(recipe, overrides, data_root)
    final, partial = rd.choose_output(output, recipe.name, resume)
    if resume:
        recipe = Recipe.from_yaml(partial / "recipe.yaml")
    started = False
    try:
        # Data first: bad input is reported before TensorFlow starts up.
        dataset, scheme, unseen = prepare_data(recipe, data)
        if recipe.train.train_with_dev:
            from seqtasks.data.prepare import with_dev

            dataset = with_dev(dataset)
        from seqtasks.backend import import_keras

        import_keras()  # after the data checks: bad data is reported before TensorFlow starts
        fit.configure(recipe)
        kind = task_kind(recipe.task)
        preprocessor = (rd.load_preprocessor(partial, kind) if resume
                        else kind.preprocessor_class.from_recipe(recipe).fit(dataset["train"]))
        LOG.info("%s", data_summary(dataset, preprocessor))
        partial.mkdir(parents=True, exist_ok=True)
        rd.write_text(partial / "preprocessor.json", preprocessor.to_json())
        rd.write_text(partial / "recipe.yaml", recipe.to_yaml())
        rd.write_stamp(partial, kind)
        started = True
        result = fit.fit_and_evaluate(recipe, kind, dataset, preprocessor, scheme, partial)
    except BaseException as err:
        # Bad input (or a full or read-only disk) found before the first epoch
        # ended leaves nothing worth resuming.
        user_caused = isinstance(err, SeqtasksError) or environment_error(err) is not None
        bad_input = user_caused and not (partial / "history.json").exists()
        if (not started or bad_input) and not resume:
            shutil.rmtree(partial, ignore_errors=True)
        elif started:
            LOG.error("training stopped; continue it with --resume (run kept in %s)", partial)
        raise
    result.metrics["unseen_labels"] = unseen
    rd.write_json(partial / "metrics.json", result.metrics)
    rd.finish(partial, final)
    return Run(final, recipe, result.metrics, result.history)


def data_summary(dataset, preprocessor):
    """One line with the examples per split and the vocabulary sizes, logged
    before the model is built (the first epoch can be minutes away)."""
    splits = " / ".join(f"{name} {len(split):,}" for name, split in dataset.items())
    sizes = [f"{len(preprocessor.tokens):,} {preprocessor.units} tokens"]
    if getattr(preprocessor, "use_chars", False) and preprocessor.units != "char":
        sizes.append(f"{len(preprocessor.chars):,} characters")
    if preprocessor.labels:
        sizes.append(f"{len(preprocessor.labels):,} labels")
    sizes += [f"{len(values):,} {name} values" for name, values in preprocessor.feature_values.items()]
    return f"data: {splits} examples; vocabulary: {', '.join(sizes)}"


def load(directory):
    """Loads a run directory for prediction, or several as an ensemble.

    Args:
        directory: a run directory, or a list of them: their averaged scores
            predict together (see `seqtasks.ensemble.Ensemble`).

    Returns:
        A `seqtasks.predictor.LoadedModel`, or an `Ensemble` for a list.
    """
    several = isinstance(directory, (list, tuple))
    # Checked before the slow TensorFlow import.
    directories = [rd.check_run_dir(d) for d in (directory if several else [directory])]
    from seqtasks.ensemble import Ensemble
    from seqtasks.predictor import LoadedModel

    models = [LoadedModel(d) for d in directories]
    return Ensemble(models) if several else models[0]


def evaluate(directory, split="test", data=None, data_root=None):
    """Scores a saved run (or, for a list of runs, their ensemble) on one split
    of its recipe's data, of `data`, or on one file.

    Args:
        directory: a run directory, or a list of them (an ensemble).
        split: the split ("dev" means "validation").
        data: None (the recipe's data), a `datasets.DatasetDict`, or a file
            (e.g. `my.conllu`) read as the run's training data was read and
            scored as a whole; no train split is needed.
        data_root: where the data cards' files are.

    Returns:
        The task's metrics dict for that split.

    Example:
    >>> seqtasks.evaluate("runs/pos_ud_ewt_bilstm", data="my_sentences.conllu")["accuracy"]
    """
    model = load(directory)
    if data_root is not None:
        model.recipe.data.root = str(data_root)
    return model.evaluate(split, data=data)


def predict(directory, inputs):
    """`load(directory).predict(inputs)`."""
    return load(directory).predict(inputs)
