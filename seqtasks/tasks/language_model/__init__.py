"""Language models (word or character level, texts or streams): perplexity, sampling."""

from seqtasks.tasks.language_model.kind import LanguageModelKind

KIND = LanguageModelKind()
