"""The translation task kind (seq2seq with attention; BLEU)."""

from seqtasks.tasks.translation.kind import TranslationKind

KIND = TranslationKind()
