"""The classification preprocessor: raw text split into units, one label per text."""

import numpy as np

from seqtasks.data.preprocessor import Preprocessor
from seqtasks.data.tokenize import tokenize


class ClassificationPreprocessor(Preprocessor):
    """Vocabularies of a classification dataset (`text`, `label`); the text is
    split into words or characters (`preprocess.units`).

    Example:

    ```python
    pre = ClassificationPreprocessor(units="char").fit(dataset["train"])
    encoded = pre.encode_split(dataset["test"], "test")   # labels: an int array
    ```
    """

    label_column = "label"

    def token_lists(self, split):
        return [[t for t, _, _ in tokenize(text, self.units)] for text in split["text"]]

    def encode_labels(self, split, examples):
        return np.asarray(split["label"], dtype=np.int32)
