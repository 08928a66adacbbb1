"""Tagger: a backbone plus a per-token head (softmax or CRF)."""

import keras

from seqtasks.tasks.model import TaskModel


@keras.saving.register_keras_serializable(package="seqtasks")
class Tagger(TaskModel):
    """Sequence labelling model (POS, NER, chunking).

    Trained with plain `model.fit` on `(inputs, tags, sample_weight)` batches
    where the padding becomes a zero `sample_weight`. With the CRF head the loss
    is the CRF negative log-likelihood; `predict` returns the best tag ids for
    both heads (Viterbi for the CRF).

    Args:
        backbone: a `seqtasks.encoders.backbone.Backbone`.
        num_labels: number of tags.
        head: `{"kind": "softmax" | "crf", "hidden": 0, "dropout": 0.0,
            "constraints": None}` (constraints: CRF only, `(allowed_start,
            allowed_transitions, allowed_end)`).

    Example:

    ```python
    tagger = Tagger(Backbone(vocabulary_size=100), num_labels=17, head={"kind": "crf"})
    tagger.compile()
    tagger.fit(train_batches.dataset(), epochs=2)
    tags = tagger.predict_on_batch(inputs)   # (batch, time) int32
    ```
    """

    kind_name = "tagging"
