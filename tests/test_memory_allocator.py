"""glibc's allocator settings (seqtasks.memory_allocator)."""

import sys

import pytest

from seqtasks import memory_allocator


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_glibc_accepts_the_settings():
    assert memory_allocator.keep_freed_memory() is True


def test_the_environment_variable_keeps_the_defaults(monkeypatch):
    monkeypatch.setenv("SEQTASKS_MALLOC_DEFAULTS", "1")
    assert memory_allocator.keep_freed_memory() is False


def test_settings_are_valid_mallopt_values():
    # mallopt takes a C int; the mmap threshold may not exceed 32 MB on 64-bit glibc.
    values = dict(memory_allocator.SETTINGS)
    assert all(0 < v < 2**31 for v in values.values())
    assert values[memory_allocator._M_MMAP_THRESHOLD] <= 32 << 20


def test_setting_again_only_where_the_settings_took_effect(monkeypatch):
    monkeypatch.setattr(memory_allocator, "_kept", False)
    assert memory_allocator.keep_after_tensorflow_generator() is False
    monkeypatch.setenv("SEQTASKS_MALLOC_DEFAULTS", "1")
    memory_allocator.keep_freed_memory()
    assert memory_allocator.keep_after_tensorflow_generator() is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_setting_again_after_keep_freed_memory(monkeypatch):
    monkeypatch.setattr(memory_allocator, "_kept", False)
    assert memory_allocator.keep_freed_memory() is True
    assert memory_allocator.keep_after_tensorflow_generator() is True


@pytest.mark.tf_only(reason="TensorFlow's generator dataset resets glibc's mmap threshold; other back ends use PyDataset")
def test_every_tensorflow_generator_dataset_sets_the_settings_again(monkeypatch):
    # TensorFlow lowers the mmap threshold to 128 KB when a generator dataset's
    # first iterator starts; each epoch's generator must set ours again.
    import numpy as np

    from seqtasks.data.batching import Batches
    from seqtasks.tasks.language_model.streams import StreamBatches
    from seqtasks.tasks.translation.batching import PairBatches

    calls = []
    monkeypatch.setattr(memory_allocator, "_kept", True)
    monkeypatch.setattr(memory_allocator, "keep_freed_memory", lambda: calls.append(1) or True)
    tagged = Batches({"token_ids": [np.array([2, 3]), np.array([4])], "labels": [np.array([0, 1]), np.array([1])]}, 1)
    stream = StreamBatches([np.arange(40) % 7], streams=2, window=5)
    pairs = PairBatches({"token_ids": [np.array([2, 3])], "target_ids": [np.array([1, 4])],
                         "labels": [np.array([4, 2])]}, 1)
    for dataset in (tagged.dataset(), stream.dataset(), pairs.dataset()):
        for _epoch in range(2):
            assert len(list(dataset)) > 0
    assert len(calls) == 6  # three datasets, two epochs each
