"""The tagging preprocessor: tokens are given, a label (tag) per token."""

import numpy as np

from seqtasks.data.preprocessor import Preprocessor


class TaggingPreprocessor(Preprocessor):
    """Vocabularies of a tagging dataset (`tokens`, `tags` and token-feature columns).

    Example:

    ```python
    pre = TaggingPreprocessor(lowercase=True).fit(dataset["train"])
    encoded = pre.encode_split(dataset["validation"], "validation")   # labels: one array per sentence
    ```
    """

    label_column = "tags"

    def token_lists(self, split):
        return split["tokens"]

    def encode_labels(self, split, examples):
        return [np.asarray(t[: len(e["token_ids"])], dtype=np.int32)
                for t, e in zip(split["tags"], examples)]
