"""Keeping freed memory in the process instead of handing it back to the system.

With glibc's default settings the heap grows in small steps (a top pad of
128 KB) and is trimmed when its top is free, so TensorFlow's tensors land on
fresh pages step after step: on this project's 2-core CPU a training epoch of
the bare tagger took about 600 k minor page faults and 1.5-2 s of system time
(docs/EXPERIMENTS.md, session 38). A 256 MB top pad, no trimming and a fixed
32 MB mmap threshold cut the faults about tenfold and made training 9-60%
and prediction up to 40% faster there. The cost: the process keeps memory at
its high-water mark. glibc on Linux only; elsewhere, and with the environment
variable `SEQTASKS_MALLOC_DEFAULTS=1`, nothing changes. TensorFlow's generator
dataset resets the mmap threshold when its first iterator starts, so
`data.generator_dataset` sets it again each epoch
(`keep_after_tensorflow_generator`).

Example:

```python
keep_freed_memory()   # once, early (the CLI's first step; `fit.configure`)
```
"""

import ctypes
import os
import sys

# mallopt(3) parameters.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
SETTINGS = ((_M_TOP_PAD, 256 << 20), (_M_TRIM_THRESHOLD, 2**31 - 1), (_M_MMAP_THRESHOLD, 32 << 20))

_kept = False  # whether keep_freed_memory() took effect in this process


def keep_freed_memory():
    """Sets glibc's top pad, trim and mmap thresholds (`SETTINGS`) for this process.

    Returns:
        True when glibc accepted all three; False where nothing was changed
        (not Linux, no glibc, or `SEQTASKS_MALLOC_DEFAULTS=1`).
    """
    if not sys.platform.startswith("linux") or os.environ.get("SEQTASKS_MALLOC_DEFAULTS") == "1":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    global _kept
    _kept = all([mallopt(parameter, value) == 1 for parameter, value in SETTINGS])
    return _kept


def keep_after_tensorflow_generator():
    """Sets `SETTINGS` again where `keep_freed_memory()` took effect before.

    TensorFlow's generator dataset (`tf.data.Dataset.from_generator`) sets
    glibc's mmap threshold to 128 KB when its first iterator starts (its
    `ApplyPython311MemoryPatch`), which undoes ours: every tensor above 128 KB
    is then mapped and unmapped again each step (docs/EXPERIMENTS.md, session
    39). Call it from the generator's body, which runs after that point.

    Returns:
        True when the settings were set again.

    Example:

    ```python
    def generate():
        keep_after_tensorflow_generator()
        yield from batches
    ```
    """
    return _kept and keep_freed_memory()
