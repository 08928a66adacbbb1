"""Test setup: few CPU threads, quiet TensorFlow, a throw-away Hugging Face cache."""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # the JAX pass of CI sets KERAS_BACKEND=jax
# XLA's CPU flags for the JAX pass and for every JAX subprocess of the suite (`jax_env`).
# One thread per op (two xdist workers share two cores). The suite's models are tiny and
# most of a JAX test is compiling (every batch shape of every train/predict function), so
# XLA skips its expensive LLVM optimisations (tests/test_classification.py: 247 s -> 163 s,
# same results), its newer CPU fusion emitters (MLIR) and splitting a small module: the EWT
# slice of tests/test_pos_pipeline.py (58 compiles) went from 72 s (50 s compiling) to 32 s
# (9 s), the same test accuracy (docs/EXPERIMENTS.md, sessions 29 and 40).
JAX_XLA_FLAGS = ("--xla_cpu_multi_thread_eigen=false --xla_backend_optimization_level=0 "
                 "--xla_llvm_disable_expensive_passes=true --xla_cpu_use_fusion_emitters=false "
                 "--xla_cpu_parallel_codegen_split_count=1")
if os.environ["KERAS_BACKEND"] == "jax":
    os.environ.setdefault("XLA_FLAGS", JAX_XLA_FLAGS)
# `datasets` caches under HF_HOME; keep it out of the user's home during tests.
_HF = tempfile.mkdtemp(prefix="seqtasks-hf-")
# Removed when the process (controller or xdist worker) exits, so runs leave no cache behind.
atexit.register(shutil.rmtree, _HF, ignore_errors=True)
os.environ["HF_HOME"] = _HF
os.environ["HF_DATASETS_CACHE"] = os.path.join(_HF, "datasets")
os.environ["SEQTASKS_CACHE"] = os.path.join(_HF, "seqtasks")  # checksum cache (issue 25)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

# A guard against a hung subprocess, not a speed check: a slow or shared machine
# ran the two-device training past 400 s, so the bound is generous.
SUBPROCESS_TIMEOUT = 1200
REPO = Path(__file__).resolve().parent.parent
CRF_RECIPE = REPO / "recipes" / "ner_conll2003_bilstm_crf.yaml"
# Small model, 1000 training sentences, 4 epochs (about 45 s on a loaded 2-core machine).
SMALL = ["data.limit.train=1000", "data.limit.validation=300", "data.limit.test=300",
         "model.embedding.dim=32", "model.char_features.embedding_dim=16", "model.char_features.dim=24",
         "model.encoder.units=32", "model.encoder.layers=1", "train.epochs=4",
         "train.learning_rate=0.01", "train.verbose=0", "evaluate.plots=false",
         "train.train_with_dev=false"]  # the recipe trains on train + dev; the slice tests score dev


def jax_env(extra_xla_flags="", **env):
    """This process' environment for a JAX subprocess (also from the TensorFlow pass):
    `KERAS_BACKEND=jax`, XLA's flags (the caller's `XLA_FLAGS`, else `JAX_XLA_FLAGS`)
    followed by `extra_xla_flags`, and `env`.

    Returns:
        A dict for `subprocess.run(..., env=...)`.
    """
    flags = f"{os.environ.get('XLA_FLAGS', JAX_XLA_FLAGS)} {extra_xla_flags}".strip()
    return dict(os.environ, KERAS_BACKEND="jax", XLA_FLAGS=flags, **env)


def run_cli(*args, cwd=REPO, env=None):
    """`python -m seqtasks ARGS` in a subprocess with this checkout importable.

    Returns:
        The `subprocess.CompletedProcess`, with text stdout and stderr.
    """
    full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
    full_env["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "seqtasks", *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)


BACKEND = os.environ["KERAS_BACKEND"]


def pytest_configure(config):
    # Two cores are shared by the whole suite; more threads only add contention.
    # (On JAX, XLA_FLAGS above keeps XLA's CPU client to one thread per op.)
    if BACKEND != "tensorflow":
        return  # and TensorFlow is not imported: the JAX pass must run without it
    import tensorflow as tf

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


@pytest.fixture(scope="session")
def crf_run(data_root, tmp_path_factory):
    """The NER CRF recipe trained briefly on a CoNLL-2003 slice (shared by the NER tests)."""
    import seqtasks

    return seqtasks.train(CRF_RECIPE, overrides=SMALL, output=tmp_path_factory.mktemp("ner") / "run")


# The two-logical-device trainings are the longest files; run them first so
# that the two xdist workers do not end with one of them alone on one core.
_FIRST = ("test_tagger_distributed.py", "test_crf_distributed.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        return _FIRST.index(item.path.name) if item.path.name in _FIRST else len(_FIRST)

    items.sort(key=rank)  # a stable sort keeps the rest in their order
    # A test meaningful on one back end only says so with a marker and a reason:
    # `@pytest.mark.tf_only(reason=...)` or `@pytest.mark.jax_only(reason=...)`.
    for item in items:
        for name, backend in (("tf_only", "tensorflow"), ("jax_only", "jax")):
            marker = item.get_closest_marker(name)
            if marker is not None and BACKEND != backend:
                reason = marker.kwargs.get("reason", f"{backend} back end only")
                item.add_marker(pytest.mark.skip(reason=f"{name}: {reason}"))
