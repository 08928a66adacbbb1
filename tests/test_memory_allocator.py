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
