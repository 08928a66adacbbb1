"""Decoding from sequence-to-sequence models: batched greedy and beam search (`search`)."""
