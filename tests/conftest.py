"""Test setup: few CPU threads, quiet TensorFlow, a throw-away Hugging Face cache."""

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# `datasets` caches under HF_HOME; keep it out of the user's home during tests.
_HF = tempfile.mkdtemp(prefix="seqtasks-hf-")
os.environ["HF_HOME"] = _HF
os.environ["HF_DATASETS_CACHE"] = os.path.join(_HF, "datasets")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest  # noqa: E402


def pytest_configure(config):
    import tensorflow as tf

    # Two cores are shared by the whole suite; more threads only add contention.
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(2)
    except RuntimeError:
        pass  # already initialised by an earlier import


@pytest.fixture(scope="session")
def data_root():
    """The benchmark data root, or skip the test when it is absent."""
    from seqtasks.data.cards import default_data_root

    root = default_data_root()
    if root is None or not root.exists():
        pytest.skip("benchmark data root (../shared/data) is absent")
    return root
