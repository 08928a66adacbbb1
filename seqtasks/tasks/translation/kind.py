"""The translation task kind: a seq2seq attention translator, BLEU and chrF."""

import logging

from seqtasks.errors import SeqtasksError
from seqtasks.tasks.base import TaskKind
from seqtasks.tasks.translation import output, scoring
from seqtasks.tasks.translation.preprocessor import TranslationPreprocessor

LOG = logging.getLogger("seqtasks")


class TranslationKind(TaskKind):
    """Translation of a `source` column into a `target` column (pick them with
    `data.languages` from a `translation` column or language-named columns).

    The dev metric is greedy corpus BLEU (sacrebleu, `tokenize="none"`), so
    early stopping keeps the epoch that translates best; after training the
    held-out splits are also decoded with beam search (`evaluate.beam_size`)
    and their perplexity, chrF and decoding speeds are reported. The model is
    not a backbone + head (`Translator`).
    """

    name = "translation"
    columns = ("source", "target")
    label_column = None
    per_token = True
    preprocessor_class = TranslationPreprocessor
    uses_backbone = False
    score_train = False

    @property
    def label_columns(self):
        return ()

    def batches(self, encoded, recipe, training=False, example_weights=None):
        """Pairs bucketed by length; validation batches give Keras' teacher-forced `val_loss`."""
        from seqtasks.tasks.translation.batching import PairBatches

        t = recipe.train
        if training:
            return PairBatches(encoded, t.batch_size, shuffle=True, seed=recipe.seed,
                               bucket_batches=t.bucket_batches)
        return PairBatches(encoded, max(t.batch_size, 64))

    def build_model(self, recipe, preprocessor, backbone=None, scheme=None):
        import dataclasses

        from seqtasks.tasks.translation.model import Translator

        m, e = recipe.model, recipe.evaluate
        limits = {"max_length_a": e.max_length_a, "max_length_b": e.max_length_b,
                  "max_output_length": e.max_output_length}
        return Translator(len(preprocessor.tokens), len(preprocessor.target_tokens), m.embedding.dim,
                          m.embedding.dropout, dataclasses.asdict(m.encoder), dataclasses.asdict(m.decoder),
                          limits, name="translator")

    def predict(self, model, batches):
        """Greedy translations (the dev metric each epoch): per example, `[(ids, score)]`."""
        from seqtasks.tasks.translation.batching import PairBatches

        limits = model.limits
        # The shared scorer makes plain `Batches`; decoding reads only the sources.
        sources = PairBatches({"token_ids": batches.token_ids}, batches.batch_size)
        return scoring.decode(model, sources, **limits)

    def outputs(self, model, batches):
        raise SeqtasksError("translators cannot be combined into an ensemble")

    def combine(self, members, outputs):
        raise SeqtasksError("translators cannot be combined into an ensemble")

    def gold(self, encoded):
        return encoded["references"]

    def main_metric(self, scheme=None):
        return "bleu"

    def score(self, predictions, gold, labels, scheme=None):
        """Corpus BLEU and chrF of the best hypotheses against the reference texts."""
        return scoring.bleu_chrf(scoring.texts(predictions, labels), list(gold))

    def confusion_pairs(self, predictions, gold):
        return None

    def model_metrics(self, recipe, model, encoded, preprocessor, directory=None, splits=None):
        """Per held-out split: beam-search BLEU/chrF (`evaluate.beam_size`),
        teacher-forced perplexity, greedy and beam sentences/s; attention maps
        of the first dev sentences into `plots/`."""
        from seqtasks.tasks.translation.batching import PairBatches

        e = recipe.evaluate
        limits = {"max_length_a": e.max_length_a, "max_length_b": e.max_length_b,
                  "max_output_length": e.max_output_length}
        batch_size = max(recipe.train.batch_size, 64)
        found = {}
        for split in splits or [s for s in e.splits if s in encoded and s != "train"]:
            data = encoded[split]
            figures = scoring.perplexity(model, PairBatches(data, batch_size))
            greedy, figures["greedy_sentences_per_second"] = scoring.timed_decode(
                model, data, batch_size, **limits)
            if e.beam_size > 1:
                beam, speed = scoring.timed_decode(model, data, batch_size, beam_size=e.beam_size,
                                                   length_penalty=e.length_penalty, **limits)
                scores = scoring.bleu_chrf(scoring.texts(beam, preprocessor.target_tokens), data["references"])
                figures["beam"] = {"beam_size": e.beam_size, "length_penalty": e.length_penalty,
                                   "sentences_per_second": speed,
                                   **{k: v for k, v in scores.items() if not k.endswith("signature")}}
            found[split] = figures
        if directory is not None and e.plots and e.attention_plots and "validation" in encoded:
            from seqtasks.tasks.translation.attention_maps import plot_attention_maps

            plot_attention_maps(model, preprocessor, encoded["validation"], e.attention_plots,
                                directory / "plots", limits)
        return found

    def translate(self, loaded, texts, beam=None, nbest=1, attention=None):
        """Translations of raw source texts (see `LoadedModel.translate`)."""
        return output.translate(loaded, texts, beam=beam, nbest=nbest, attention=attention)

    def results(self, loaded, items, predictions, **options):
        raise SeqtasksError(f"{loaded.directory}: a translation model translates: use `seqtasks translate` "
                            "or `.translate(...)`")

    def format_results(self, results, fmt):
        return output.format_results(results, fmt)

