import os

import numpy as np
import pytest

from seqtasks.reporting.plots import plot_confusion, plot_history

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path):
    with open(path, "rb") as stream:
        return stream.read(8) == PNG_MAGIC


def test_plot_history_writes_only_the_png(tmp_path):
    history = {"loss": [1.0, 0.6, 0.4], "accuracy": [0.5, 0.7, 0.8],
               "val_loss": [1.1, 0.8, 0.7], "val_accuracy": [0.4, 0.6, 0.7]}
    path = tmp_path / "history.png"
    plot_history(history, path)
    assert _is_png(path)
    assert os.listdir(tmp_path) == ["history.png"]


def test_plot_history_overwrites_and_handles_single_series(tmp_path):
    path = tmp_path / "plots" / "history.png"  # folder is created
    plot_history({"loss": [1.0]}, path)
    plot_history({"val_loss": [2.0, 1.0]}, str(path))
    assert _is_png(path)
    assert os.listdir(path.parent) == ["history.png"]


def test_plot_history_rejects_empty(tmp_path):
    with pytest.raises(ValueError, match="no series"):
        plot_history({}, tmp_path / "history.png")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("classes", [3, 40])
def test_plot_confusion(tmp_path, classes):
    rng = np.random.default_rng(0)
    labels = [f"class_{i}" for i in range(classes)]
    y_true = rng.integers(0, classes, size=200)
    y_pred = np.where(rng.random(200) < 0.7, y_true, rng.integers(0, classes, size=200))
    path = tmp_path / "confusion.png"
    plot_confusion(y_true, y_pred, labels, path)
    assert _is_png(path)
    assert os.listdir(tmp_path) == ["confusion.png"]


def test_plot_confusion_names_and_counts(tmp_path):
    path = tmp_path / "confusion.png"
    plot_confusion(["a", "b", "b"], ["a", "b", "a"], ["a", "b", "c"], path, normalize=None)
    assert _is_png(path)


def test_failed_save_leaves_nothing(tmp_path):
    with pytest.raises(ValueError):
        plot_confusion([0, 1], [0, 1], ["a", "b"], tmp_path / "c.png", normalize="rows")
    # A history value that cannot be drawn fails before anything is written.
    with pytest.raises((TypeError, ValueError)):
        plot_history({"loss": ["not a number"]}, tmp_path / "h.png")
    assert os.listdir(tmp_path) == []


def test_crash_while_writing_leaves_no_partial_file(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    def broken_savefig(self, stream, **kwargs):
        stream.write(PNG_MAGIC)  # half a file, then the crash
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        plot_history({"loss": [1.0, 0.5]}, tmp_path / "history.png")
    assert os.listdir(tmp_path) == []


def test_plots_get_ordinary_file_modes(tmp_path):
    """Issue 25 item 14: 0644 under the usual umask 022, not mkstemp's 0600."""
    old = os.umask(0o022)
    try:
        plot_history({"loss": [1.0, 0.5]}, tmp_path / "curves.png")
    finally:
        os.umask(old)
    assert (tmp_path / "curves.png").stat().st_mode & 0o777 == 0o644
