"""Tagging (POS, NER, chunking): softmax or CRF heads, span schemes, seqeval F1."""

from seqtasks.tasks.tagging.kind import TaggingKind

KIND = TaggingKind()
