"""Token streams for truncated backpropagation through time (TBPTT).

A stream split (`data.stream`) is one sequence: `<bos>`, then every text's
tokens and its `<eos>`. For training it is cut into `streams` contiguous rows
of equal length (the tokens past the last full row, fewer than `streams`,
are left out, as in Zaremba et al. 2014), and each epoch walks the rows
window by window: batch k holds steps `k * window ... (k + 1) * window` of
every row, so row r of batch k + 1 continues row r of batch k and the model
carries its state across (`LanguageModel`, `carry` input). The first window
of each epoch has `carry = 0`: the state starts from zeros each epoch.

Evaluation cuts the stream into `rows` rows (1: the whole split as one
sequence) padded at the end, and scores every token exactly once.

Example:

```python
train = StreamBatches(encoded["train"]["labels"], streams=20, window=35)
model.fit(train.dataset(), epochs=13)
inputs, targets, weights = stream_rows(encoded["test"]["labels"], rows=1)
```
"""

import numpy as np

from seqtasks.errors import DataError
from seqtasks.tasks.language_model.preprocessor import BOS_ID, PAD_ID


def token_stream(labels):
    """`<bos>` followed by every text's targets (its tokens, then `<eos>`): int32 `(n + 1,)`."""
    return np.concatenate([np.asarray([BOS_ID], np.int32), *[np.asarray(row, np.int32) for row in labels]])


def stream_rows(labels, rows=1):
    """The stream cut into `rows` rows for evaluation, every target in exactly one row.

    Row r reads `stream[r * L : (r + 1) * L]` and predicts the next token of
    each, `stream[r * L + 1 : (r + 1) * L + 1]`; the last row is padded
    (weight 0).

    Returns:
        `(inputs, targets, weights)`: int32, int32 and float32 `(rows, L)`.
    """
    stream = token_stream(labels)
    n = len(stream) - 1  # the targets
    rows = max(1, min(rows, n))
    length = -(-n // rows)
    padded = np.full(rows * length + 1, PAD_ID, np.int32)
    padded[: n + 1] = stream
    inputs = padded[:-1].reshape(rows, length)
    targets = padded[1:].reshape(rows, length)
    weights = (np.arange(rows * length) < n).reshape(rows, length).astype(np.float32)
    return inputs, targets, weights


class StreamBatches:
    """The training windows of a stream split, with the interface of `Batches`
    that training reads (`dataset`, `len`, `num_tokens`, `padding_fraction`).

    Args:
        labels: the split's encoded targets (`encoded["labels"]`).
        streams: rows per batch (the recipe's `train.batch_size`).
        window: time steps per batch (`train.bptt_window`).
    """

    per_token = True

    def __init__(self, labels, streams, window):
        stream = token_stream(labels)
        length = (len(stream) - 1) // streams
        if length < 1:
            raise DataError(f"train: {len(stream) - 1} tokens cannot fill {streams} streams "
                            f"(train.batch_size); use a smaller batch size or more data")
        self.inputs = stream[: streams * length].reshape(streams, length)
        self.targets = stream[1: streams * length + 1].reshape(streams, length)
        self.streams, self.window = streams, window
        self._epoch = 0  # set by callbacks.TrainingState; every epoch walks the same windows

    def __len__(self):
        return -(-self.inputs.shape[1] // self.window)

    @property
    def num_tokens(self):
        return int(self.targets.size)

    def padding_fraction(self, epoch=0):
        return 0.0

    def make_batch(self, k):
        """Window `k`: `(inputs, targets, sample_weight)`."""
        cut = slice(k * self.window, (k + 1) * self.window)
        ids = self.inputs[:, cut]
        inputs = {"token_ids": ids, "padding_mask": np.ones_like(ids),
                  "carry": np.full((self.streams,), int(k > 0), np.int32)}
        return inputs, self.targets[:, cut], np.ones(ids.shape, np.float32)

    def dataset(self, prefetch=4):
        """The windows as `fit` input: a `tf.data.Dataset` on TensorFlow, a
        `keras.utils.PyDataset` elsewhere; in order, every epoch."""
        import keras

        if keras.backend.backend() != "tensorflow":
            return _py_dataset(self)
        import tensorflow as tf

        from seqtasks.data.generator_dataset import generator_dataset

        def generate():
            self._epoch += 1
            for k in range(len(self)):
                yield self.make_batch(k)

        matrix = tf.TensorSpec((None, None), tf.int32)
        signature = ({"token_ids": matrix, "padding_mask": matrix, "carry": tf.TensorSpec((None,), tf.int32)},
                     matrix, tf.TensorSpec((None, None), tf.float32))
        # No sharding policy here (as before this helper): the default one.
        return generator_dataset(generate, signature, len(self), prefetch, shard_by_data=False)


def _py_dataset(batches):
    import keras

    class Windows(keras.utils.PyDataset):
        def __len__(self):
            return len(batches)

        def __getitem__(self, k):
            return batches.make_batch(k)

    return Windows()
