"""The task-kind interface: everything that differs between task kinds.

A task kind is one package `seqtasks/tasks/<kind>/` whose `KIND` object is a
`TaskKind`: it names the dataset columns it reads, makes its preprocessor,
builds its model (backbone + head), scores a split with the metric the field
reports, and turns predictions into results and text. Everything outside the
task packages (api, training, CLI, run directory, inference, ensembles) is
written once against this interface and never asks which kind it has.

Example:

```python
kind = registry.task_kind(recipe.task)
dataset, scheme = kind.prepare(load_data(recipe.data, kind.columns, kind.label_columns), recipe)
preprocessor = kind.preprocessor_class.from_recipe(recipe).fit(dataset["train"])
model = kind.build_model(recipe, preprocessor, backbone, scheme)
scores = kind.score(kind.predict(model, batches), gold, preprocessor.labels, scheme)
```
"""

import numpy as np


class TaskKind:
    """The base of the task kinds (one instance, `KIND`, per kind package).

    Attributes:
        name: the kind's name (its package name and its key in `registry.HEADS`).
        columns: the dataset columns the kind needs (after `data.columns` renaming).
        label_column: the column holding the labels (a `ClassLabel`, or a
            sequence of them for per-token labels).
        per_token: whether there is a label per token (batches then carry
            per-token labels and padding weights).
        preprocessor_class: the kind's `seqtasks.data.preprocessor.Preprocessor`.
    """

    name = None
    columns = ()
    label_column = None
    per_token = False
    preprocessor_class = None
    # Whether `build_model` takes the shared `Backbone` (kinds with a model of
    # their own, such as language models that carry their state, say False).
    uses_backbone = True
    # Whether the training split is scored after training (translation: no,
    # decoding 29,000 training sentences costs minutes and says little).
    score_train = True

    @property
    def label_columns(self):
        return (self.label_column,)

    def data_columns(self, recipe):
        """`(columns, label_columns)` to load for `recipe` (by default the
        kind's own; a language model conditioned on a label adds its column)."""
        return self.columns, self.label_columns

    # -- data -------------------------------------------------------------------------
    def prepare(self, dataset, recipe, paths=None):
        """Kind-specific checks and conversions of the loaded data.

        Args:
            dataset: the `DatasetDict` from `seqtasks.data.sources.load_data`.
            recipe: the `Recipe` (its `data` section may be filled in, so that
                the saved recipe records what was applied).
            paths: split -> file name, for error messages.

        Returns:
            `(dataset, scheme)`: scheme is the label scheme the model is trained
            in (span schemes of NER/chunking), or None.
        """
        return dataset, None

    def max_example_length(self, recipe):
        """Most tokens per training example (`split_long_examples`), or None for no bound."""
        return recipe.data.max_length

    def example_weights(self, recipe, encoded, num_labels):
        """Per-example training weights (e.g. class weights), or None."""
        return None

    def batches(self, encoded, recipe, training=False, example_weights=None):
        """The batches `model.fit` trains on (`training`) or validates on.

        Args:
            encoded: an encoded split.
            recipe: the `Recipe`.
            training: the training batches (shuffled, length-bucketed) or the
                validation batches.
            example_weights: per-example weights of the training split, or None.

        Returns:
            A `seqtasks.data.batching.Batches` (or an object with its `dataset`,
            `len`, `num_tokens` and `padding_fraction`); None for validation
            skips Keras' own validation pass (the dev metric is computed anyway).
        """
        from seqtasks.data.batching import Batches

        t = recipe.train
        if training:
            return Batches(encoded, t.batch_size, shuffle=True, seed=recipe.seed, bucket_batches=t.bucket_batches,
                           example_weights=example_weights, per_token=self.per_token)
        return Batches(encoded, max(t.batch_size, 64), per_token=self.per_token)

    # -- model ------------------------------------------------------------------------
    def build_model(self, recipe, preprocessor, backbone, scheme=None):
        """The kind's `keras.Model` on `backbone` (not compiled)."""
        raise NotImplementedError

    def load_model(self, path):
        """A saved model of this kind (`model.keras`), never executing code from
        the file (`safe_mode`)."""
        import importlib

        import keras

        import seqtasks.encoders.backbone  # noqa: F401  (registers the saved classes)
        import seqtasks.layers  # noqa: F401

        importlib.import_module(f"seqtasks.tasks.{self.name}.model")
        return keras.saving.load_model(path, compile=False, safe_mode=True)

    # -- prediction and scoring -------------------------------------------------------
    def predict(self, model, batches):
        """Predictions for every example of `batches`, in their original order:
        a list of per-token label-id arrays (per-token kinds) or one array
        with a row per example."""
        return per_example(model.predict_on_batch, batches)

    def outputs(self, model, batches):
        """The model's scores before decoding, per example (ensembles average them)."""
        return per_example(lambda inputs: model(inputs, training=False), batches)

    def combine(self, members, outputs):
        """Predictions from the outputs of several members of an ensemble."""
        raise NotImplementedError

    def main_metric(self, scheme=None):
        """The name of the dev metric that early stopping watches."""
        return "accuracy"

    def score(self, predictions, gold, labels, scheme=None):
        """The metrics dict of predictions against encoded gold labels."""
        raise NotImplementedError

    def confusion_pairs(self, predictions, gold):
        """`(true, predicted)` flat label-id arrays for a confusion matrix."""
        raise NotImplementedError

    def gold(self, encoded):
        """What `score` compares predictions with (translation: the reference texts)."""
        return encoded["labels"]

    def model_metrics(self, recipe, model, encoded, preprocessor, directory=None, splits=None):
        """Figures of a trained model beside `score`'s, `{split: {name: value}}`
        (translation: beam search, perplexity, decoding speed); `directory`
        receives plots when given."""
        return {}

    # What `extra_metrics` adds under "baseline" (None: the kind has no baseline).
    baseline = None

    def extra_metrics(self, recipe, dataset):
        """Metrics beside the model's in metrics.json (e.g. a baseline), a dict."""
        return {}

    def callbacks(self, recipe, preprocessor, directory):
        """Extra training callbacks of the kind (e.g. samples written each epoch), a list."""
        return []

    def generate(self, loaded, **settings):
        """Texts generated by a loaded model (language models); others refuse."""
        from seqtasks.errors import SeqtasksError

        raise SeqtasksError(f"{loaded.directory}: a {self.name} model cannot generate")

    def translate(self, loaded, texts, **settings):
        """Translations by a loaded model (translators); others refuse."""
        from seqtasks.errors import SeqtasksError

        raise SeqtasksError(f"{loaded.directory}: a {self.name} model cannot translate")

    # -- results ----------------------------------------------------------------------
    def check_options(self, loaded, tag_scheme=None, **options):
        """Raises `SeqtasksError` for a prediction option this model cannot honour
        (kinds that take options override it)."""
        from seqtasks.errors import SeqtasksError

        if tag_scheme is not None:
            raise SeqtasksError(
                f"{loaded.directory}: tag_scheme {tag_scheme!r} needs a tagger trained with a "
                "span scheme (data.target_scheme), this model has none")
        for name, value in options.items():
            if value is not None:
                raise SeqtasksError(f"{loaded.directory}: a {self.name} model takes no option {name}")

    def feature_columns(self, recipe, token_features):
        """`{feature: column}` of token-feature columns in CoNLL prediction input."""
        return {}

    def tokenize(self, text, units):
        """Raw text -> `[(token, start, end)]` the way the kind's training texts
        were split (the same `preprocess.units` function by default)."""
        from seqtasks.data.tokenize import tokenize

        return tokenize(text, units)

    def model_tokens(self, preprocessor, tokens):
        """Token lists as the model saw them in training (e.g. truncated)."""
        return tokens

    def results(self, loaded, items, predictions, **options):
        """`predict`'s output dicts from the predictions of `items`
        (`(text, [(token, start, end)])` per input)."""
        raise NotImplementedError

    def format_results(self, results, fmt):
        """`results` as text in `fmt` ("text", "conll", "json")."""
        raise NotImplementedError


def per_example(run, batches):
    """`run` over each batch of `batches` (a `Batches` without shuffling), split
    back into examples in their original order (unpadded for per-token outputs).

    Returns:
        A list of per-example arrays (per-token batches) or one stacked array.
    """
    results = [None] * len(batches.lengths)
    for idx, inputs in batches:
        output = np.asarray(run(inputs))
        for row, i in enumerate(idx):
            results[i] = output[row, : batches.lengths[i]] if batches.per_token else output[row]
    return results if batches.per_token else np.stack(results)
