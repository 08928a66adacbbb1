"""Ensembles: several trained runs of one task that predict together.

Members are run directories trained on the same labels (typically one recipe
with different seeds). Each member encodes the input with its own
preprocessor, so members may differ in vocabulary, preprocessing or model
size. Their scores are averaged before decoding:

- classification: the mean of the class probabilities;
- tagging with a softmax head: the mean of the per-token tag probabilities;
- tagging with a CRF head: the mean of the emission scores and of the
  start/transition/end scores, decoded by Viterbi. Averaging log-potentials
  gives a CRF again (a product of experts), so constraints and decoding work
  as for one model.
"""

import numpy as np

from seqtasks import evaluation
from seqtasks.data.batching import Batches
from seqtasks.errors import SeqtasksError
from seqtasks.inference import ungroup


class Ensemble:
    """Several loaded runs of one task that predict and evaluate together.

    Args:
        members: `LoadedModel`s (see `seqtasks.load`), at least two, with the
            same task, label list (in the same order), tokenisation units and,
            for tagging, the same head and label scheme.

    Example:

    ```python
    ensemble = seqtasks.load(["runs/sst2_seed1", "runs/sst2_seed2", "runs/sst2_seed3"])
    ensemble.predict("a gripping, funny film")
    # [{"label": "positive", "probabilities": {"negative": 0.04, "positive": 0.96}}]
    ensemble.evaluate("test")["accuracy"]
    ```
    """

    def __init__(self, members):
        members = list(members)
        if len(members) < 2:
            raise SeqtasksError(f"an ensemble needs at least two run directories, "
                                f"received {len(members)}")
        first = members[0]
        for member in members[1:]:
            for what, mine, theirs in (
                    ("task", first.task, member.task),
                    ("labels", list(first.labels), list(member.labels)),
                    ("units", first.preprocessor.units, member.preprocessor.units),
                    ("head", _head(first), _head(member)),
                    ("label scheme", first.scheme, member.scheme)):
                if mine != theirs:
                    raise SeqtasksError(
                        f"{member.directory}: cannot join an ensemble with {first.directory} "
                        f"(its {what} {theirs} differ from {mine})")
        self.members = members
        self.task = first.task
        self.labels = first.labels
        self.scheme = first.scheme
        self.recipe = first.recipe
        self._crf = _mean_crf(members) if _head(first) == "crf" else None

    def feature_columns(self):
        """The first member's `feature_columns` (CoNLL input for `predict`)."""
        return self.members[0].feature_columns()

    def predict(self, inputs, batch_size=64, tag_scheme=None):
        """Predicts for raw strings or token lists like `LoadedModel.predict`,
        from the members' averaged scores (`tag_scheme` as there).

        Returns:
            The same dicts as `LoadedModel.predict`; for classification the
            probabilities are the members' mean.
        """
        first = self.members[0]
        first.check_tag_scheme(tag_scheme)
        items, features = first.read_inputs(
            inputs, [n for m in self.members for n in m.preprocessor.token_features])
        groups = first.sentence_groups(items, features)
        scores = [evaluation.predict_scores(m.model, m.input_batches(items, features, batch_size, groups))
                  for m in self.members]
        predictions = ungroup(self._decode(scores), groups, items)
        return first.results(items, first.postprocess_inputs(items, features, predictions), tag_scheme)

    def evaluate(self, split="test", data=None):
        """Scores the ensemble on a split of the first member's recipe data (or of `data`).

        Returns:
            The task's metrics dict, as `LoadedModel.evaluate`.
        """
        split_data = self.members[0].split_data(split, data)
        encoded = [member.encode_split(split_data, split) for member in self.members]
        scores = [evaluation.predict_scores(member.model, Batches(e, 64))
                  for member, (e, _) in zip(self.members, encoded)]
        gold, labels = encoded[0][0]["labels"], encoded[0][1]
        predictions, gold = self.members[0].postprocess_split(split_data, self._decode(scores), gold)
        return evaluation.score(self.task, predictions, gold, labels, self.scheme)

    def _decode(self, scores):
        """Member scores -> label ids (tagging) or mean probabilities (classification)."""
        if self.task == "classification":
            return np.mean(scores, axis=0)
        mean = [np.mean(per_example, axis=0) for per_example in zip(*scores)]
        if self._crf is None:
            return [m.argmax(-1).astype(np.int32) for m in mean]
        lengths = [len(m) for m in mean]
        padded = np.zeros((len(mean), max(lengths), len(self.labels)), np.float32)
        for i, m in enumerate(mean):
            padded[i, : len(m)] = m
        mask = np.arange(padded.shape[1])[None, :] < np.asarray(lengths)[:, None]
        tags = np.asarray(self._crf.decode(padded, mask))
        return [row[:n].astype(np.int32) for row, n in zip(tags, lengths)]


def _head(member):
    return getattr(member.model, "head", None)


def _mean_crf(members):
    """A CRF layer whose start/transition/end scores are the members' mean
    (the constraints are the first member's; `Ensemble` checked the labels agree)."""
    layers = [m.model.get_layer("crf") for m in members]
    crf = layers[0].__class__.from_config(layers[0].get_config())
    crf.build((None, None, layers[0].num_tags))
    crf.set_weights([np.mean(ws, axis=0) for ws in zip(*(l.get_weights() for l in layers))])
    return crf
