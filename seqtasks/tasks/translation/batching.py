"""Pairs -> right-padded, length-bucketed batches for teacher-forced training.

Each batch is `(inputs, labels, sample_weight)` with
`inputs = {"token_ids": (b, ts), "padding_mask": (b, ts), "target_ids": (b, tt)}`
(`target_ids` = <bos> + target, the decoder's input), `labels` (b, tt) the
target + <eos>, and `sample_weight` (b, tt) 1 at real target tokens and 0 at
padding (never a fake label). Buckets are made by source length (the target
length follows it closely), as `seqtasks.data.batching.Batches` does.
"""

import numpy as np

from seqtasks.data.batching import Batches, _pad, _round_up


class PairBatches(Batches):
    """`Batches` of encoded pairs (see the module docstring).

    Args:
        encoded: the dict from `TranslationPreprocessor.encode_split` (or only
            `token_ids` for translating).
        batch_size, shuffle, seed, bucket_batches: as in `Batches`.
    """

    def __init__(self, encoded, batch_size=32, shuffle=False, seed=0, bucket_batches=50):
        super().__init__({"token_ids": encoded["token_ids"], "labels": encoded.get("labels")}, batch_size,
                         shuffle=shuffle, seed=seed, bucket_batches=bucket_batches, per_token=True)
        self.target_ids = encoded.get("target_ids")
        if self.labels is not None:
            self.target_lengths = np.fromiter((len(t) for t in self.labels), dtype=np.int64,
                                              count=len(self.labels))

    @property
    def num_target_tokens(self):
        return int(self.target_lengths.sum())

    def make_batch(self, idx, multiple=1):
        """One batch of pairs; `multiple` rounds both widths up (see `Batches.make_batch`)."""
        lengths = self.lengths[idx]
        width = _round_up(int(lengths.max()), multiple)
        inputs = {"token_ids": _pad(self.token_ids, idx, lengths, width),
                  "padding_mask": (np.arange(width)[None, :] < lengths[:, None]).astype(np.int32)}
        if self.labels is None:
            return inputs, None, None
        target_lengths = self.target_lengths[idx]
        target_width = _round_up(int(target_lengths.max()), multiple)
        inputs["target_ids"] = _pad(self.target_ids, idx, target_lengths, target_width)
        labels = _pad(self.labels, idx, target_lengths, target_width)
        weight = (np.arange(target_width)[None, :] < target_lengths[:, None]).astype(np.float32)
        return inputs, labels, weight

    def _tf_dataset(self, prefetch=4):
        import tensorflow as tf

        from seqtasks.data.generator_dataset import generator_dataset

        def generate():
            epoch = self._epoch
            self._epoch += 1
            for idx in self.batch_indices(epoch):
                yield self.make_batch(idx)

        spec = tf.TensorSpec((None, None), tf.int32)
        signature = ({"token_ids": spec, "padding_mask": spec, "target_ids": spec}, spec,
                     tf.TensorSpec((None, None), tf.float32))
        return generator_dataset(generate, signature, len(self), prefetch)
