"""The language-model task kind: next-token prediction on texts or streams,
perplexity, sampling, and an n-gram baseline beside the model."""

import dataclasses
import logging

from seqtasks.errors import SeqtasksError
from seqtasks.tasks.base import TaskKind
from seqtasks.tasks.language_model import output, scoring
from seqtasks.tasks.language_model.preprocessor import LanguageModelPreprocessor

LOG = logging.getLogger("seqtasks")


class LanguageModelKind(TaskKind):
    """Language models on a `text` column, at word (`space`, `word`) or character
    (`char`) level, one example per text or one stream per split (`data.stream`).

    The metric is the mean negative log-likelihood per predicted token
    (`loss`, in nats; `<eos>` included), with `perplexity` and
    `bits_per_token`; early stopping watches the dev loss. The model is not a
    backbone + head: it carries its recurrent state (`LanguageModel`).
    """

    name = "language_model"
    columns = ("text",)
    label_column = None
    per_token = True
    preprocessor_class = LanguageModelPreprocessor
    baseline = "interpolated Kneser-Ney n-gram"
    uses_backbone = False

    @property
    def label_columns(self):
        return ()

    def data_columns(self, recipe):
        """The text column, and the label column of `data.condition` when the
        model is conditioned on one (loaded as a `ClassLabel`)."""
        condition = recipe.data.condition
        return (self.columns + (condition,), (condition,)) if condition else (self.columns, ())

    def prepare(self, dataset, recipe, paths=None):
        """Streams carry a state per row, which replicas would split: `train.distribute:
        auto` becomes `none` for them (written into the saved recipe)."""
        if recipe.data.stream and recipe.train.distribute == "auto":
            recipe.train.distribute = "none"
        return dataset, None

    def max_example_length(self, recipe):
        """None for a stream: it is cut into bptt windows, never padded to its length (cutting
        it at data.max_length would only be joined again, after a misleading message)."""
        return None if recipe.data.stream else super().max_example_length(recipe)

    def batches(self, encoded, recipe, training=False, example_weights=None):
        """Training: stream windows (`data.stream`) or bucketed texts. No Keras
        validation pass: the dev loss comes from the exact evaluation each epoch."""
        if not training:
            return None
        if recipe.data.stream:
            from seqtasks.tasks.language_model.streams import StreamBatches

            return StreamBatches(encoded["labels"], recipe.train.batch_size, recipe.train.bptt_window)
        return super().batches(encoded, recipe, training, example_weights)

    def build_model(self, recipe, preprocessor, backbone=None, scheme=None):
        from seqtasks.tasks.language_model.model import LanguageModel

        m, t = recipe.model, recipe.train
        stream = ({"streams": t.batch_size, "window": t.bptt_window, "eval_rows": recipe.evaluate.stream_rows}
                  if recipe.data.stream else None)
        head = {"kind": m.head.kind, "tie_weights": m.head.tie_weights, "dropout": m.head.dropout}
        condition = ({"classes": len(preprocessor.labels), "dim": m.head.condition_dim}
                     if preprocessor.condition else None)
        return LanguageModel(len(preprocessor.tokens), m.embedding.dim, m.embedding.dropout,
                             m.embedding.word_dropout, dataclasses.asdict(m.encoder), head, stream,
                             condition=condition, name="language_model")

    def predict(self, model, batches):
        """Per-token NLLs, one array per example: a split of a stream model is
        scored as one stream (state carried), anything else text by text."""
        from seqtasks.tasks.language_model import nll  # Keras: imported when a model exists

        if model.stream and batches.labels is not None:
            window = max(model.stream["window"], nll.EVAL_WINDOW)
            return nll.stream_nll(model, batches.labels, model.stream["eval_rows"], window)
        if model.condition and batches.feature_ids is None:
            raise SeqtasksError("this language model is conditioned on a label (data.condition): texts given "
                                "without their label cannot be scored; evaluate it on a split of its data, "
                                "or generate with --condition")
        return nll.sequence_nll(model, batches)

    def outputs(self, model, batches):
        raise SeqtasksError("language models cannot be combined into an ensemble")

    def combine(self, members, outputs):
        raise SeqtasksError("language models cannot be combined into an ensemble")

    def main_metric(self, scheme=None):
        return "loss"

    def score(self, predictions, gold, labels, scheme=None):
        return scoring.lm_scores(predictions)

    def confusion_pairs(self, predictions, gold):
        return None  # no confusion matrix over a vocabulary

    def extra_metrics(self, recipe, dataset):
        """The Kneser-Ney baseline (`evaluate.ngram_order`; order 5 when
        `evaluate.baseline` asks for one without an order)."""
        order = recipe.evaluate.ngram_order or (5 if recipe.evaluate.baseline else None)
        if not order:
            return {}
        from seqtasks.tasks.language_model.baseline import kneser_ney_baseline

        return {"baseline": kneser_ney_baseline(recipe, dataset, order)}

    def callbacks(self, recipe, preprocessor, directory):
        """Samples into `samples.txt` after each epoch (`evaluate.samples`)."""
        if not recipe.evaluate.samples:
            return []
        from seqtasks.tasks.language_model.generate import SampleCallback

        return [SampleCallback(preprocessor, directory / "samples.txt", recipe.evaluate.samples,
                               recipe.evaluate.sample_length, recipe.seed)]

    def generate(self, loaded, prompt=None, num=10, max_length=200, temperature=1.0, top_k=0, top_p=1.0,
                 seed=0, condition=None):
        """Sampled texts (see `generate.generate_texts`)."""
        from seqtasks.tasks.language_model.generate import generate_texts

        texts, speed = generate_texts(loaded.model, loaded.preprocessor, prompt, num, max_length, temperature,
                                      top_k, top_p, seed, where=str(loaded.directory), condition=condition)
        LOG.info("generated %d texts, %.0f tokens/s (a model's first call also traces the sampler)",
                 len(texts), speed)
        return texts

    def results(self, loaded, items, predictions):
        return [output.text_result(text, nll) for (text, _), nll in zip(items, predictions)]

    def format_results(self, results, fmt):
        return output.format_results(results, fmt)
