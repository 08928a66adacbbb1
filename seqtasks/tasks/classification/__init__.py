"""Text classification (sentiment, surname -> language): pooled heads, accuracy and macro F1."""

from seqtasks.tasks.classification.kind import ClassificationKind

KIND = ClassificationKind()
