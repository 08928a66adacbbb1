"""Starting the Keras back end quietly on machines that have no GPU.

TensorFlow's CUDA build logs, at import and at the first operation, lines such
as `failed call to cuInit: ... UNKNOWN ERROR (303)` (an error line) and `Could
not find cuda drivers on your machine` on every CPU-only machine. They alarm
newcomers and stand before seqtasks' own one-line errors. Where a GPU could be
used they carry real information, so they are only silenced where none is
wanted: no NVIDIA device node, or `CUDA_VISIBLE_DEVICES` set to "" or "-1".

Example:

```python
quiet_environment()   # before TensorFlow is imported (the CLI's first step)
keras = import_keras()
```
"""

import glob
import os
import sys


def gpu_wanted():
    """True when a GPU could be used: an NVIDIA device node exists (or WSL's
    `/dev/dxg`) and `CUDA_VISIBLE_DEVICES` does not hide every device."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/dev/dxg")


def quiet_environment():
    """Sets TensorFlow's C++ log level, unless the user set it: errors only
    (2) with a GPU, nothing (3) without one, which drops the cuInit line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if gpu_wanted() else "3")


def import_keras():
    """Imports Keras (and its back end); without a GPU, the lines TensorFlow
    writes to the process' stderr while it loads are discarded (they are
    written before its log level is read). Python exceptions still propagate.

    Returns:
        The `keras` module.
    """
    if "keras" in sys.modules or gpu_wanted():
        import keras

        return keras
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (an embedded interpreter)
        import keras

        return keras
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            import keras
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return keras
