"""Ensembles: several trained runs of one task that predict together.

Members are run directories trained on the same labels (typically one recipe
with different seeds). Each member encodes the input with its own
preprocessor, so members may differ in vocabulary, preprocessing or model
size. Their scores are averaged before decoding, as their task kind's
`combine` says (classification and softmax tagging: the mean probabilities;
CRF tagging: the mean emission and transition scores, decoded by Viterbi).
"""

from seqtasks.errors import SeqtasksError
from seqtasks.scoring import score_split


class Ensemble:
    """Several loaded runs of one task that predict and evaluate together.

    Args:
        members: `LoadedModel`s (see `seqtasks.load`), at least two, with the
            same task, label list (in the same order), tokenisation units,
            head and label scheme.

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
                    ("head", first.model.head, member.model.head),
                    ("label scheme", first.scheme, member.scheme)):
                if mine != theirs:
                    raise SeqtasksError(
                        f"{member.directory}: cannot join an ensemble with {first.directory} "
                        f"(its {what} {theirs} differ from {mine})")
        self.members = members
        self.kind = first.kind
        self.task = first.task
        self.labels = first.labels
        self.scheme = first.scheme
        self.recipe = first.recipe
        self.directory = first.directory

    def feature_columns(self):
        """The token-feature columns any member reads (CoNLL input for `predict`)."""
        columns = {}
        for member in self.members:
            columns.update(member.feature_columns())
        return columns

    def predict(self, inputs, batch_size=64, **options):
        """Predicts for raw strings or token lists like `LoadedModel.predict`,
        from the members' averaged scores (options as there).

        Returns:
            The same dicts as `LoadedModel.predict`; for classification the
            probabilities are the members' mean.
        """
        first = self.members[0]
        self.kind.check_options(first, **options)
        items, features = first.read_inputs(inputs)
        outputs = [self.kind.outputs(m.model, m.input_batches(items, features, batch_size))
                   for m in self.members]
        return self.kind.results(first, items, self.kind.combine(self.members, outputs), **options)

    def evaluate(self, split="test", data=None):
        """Scores the ensemble on a split of the first member's recipe data (or of `data`).

        Returns:
            The task's metrics dict, as `LoadedModel.evaluate`.
        """
        split_data = self.members[0].split_data(split, data)
        pairs = [member.encode_split(split_data, split) for member in self.members]
        encoded, labels = [e for e, _ in pairs], pairs[0][1]

        def predict(_):
            # each member predicts its own encoding of the split (same examples, same order)
            outputs = [self.kind.outputs(m.model, _batches(self.kind, e))
                       for m, e in zip(self.members, encoded)]
            return self.kind.combine(self.members, outputs)

        metrics, _, _ = score_split(self.kind, predict, encoded[0], labels, self.scheme)
        return metrics


def _batches(kind, encoded, batch_size=64):
    from seqtasks.data.batching import Batches

    return Batches(encoded, batch_size, per_token=kind.per_token)
