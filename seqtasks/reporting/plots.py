"""Training curves and confusion matrices, saved as PNG files.

Figures are made with `matplotlib.figure.Figure` and the Agg canvas directly,
never through `pyplot`: no window can open, no global figure list grows, and
the process-wide backend is left alone. Files are written to a temporary name
in the same folder and renamed, so a crash never leaves half a PNG.
"""

import os
import tempfile

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import confusion_matrix


def _save(figure, path):
    """Writes `figure` to `path` as a PNG, atomically."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    FigureCanvasAgg(figure)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".png")
    try:
        with os.fdopen(handle, "wb") as stream:
            figure.savefig(stream, format="png")
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; a plot is an ordinary file
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


# Logged beside the series but drawn as marks on every panel, not as a panel.
RATE_KEYS = ("learning_rate", "lr")


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _series_names(history):
    """`loss` first, then metrics, without their `val_` twins and the learning rate."""
    names = []
    for key in history:
        base = key[4:] if key.startswith("val_") else key
        if base not in names and base not in RATE_KEYS:
            names.append(base)
    return sorted(names, key=lambda name: (name != "loss", names.index(name)))


def rate_changes(history):
    """`[(epoch, factor)]`: the 1-based epochs whose learning rate differs from
    the epoch before, with new / old (e.g. 0.5 for a plateau cut)."""
    rates = next(([float(r) for r in history[k]] for k in RATE_KEYS if k in history), [])
    return [(i + 1, rates[i] / rates[i - 1]) for i in range(1, len(rates))
            if rates[i] != rates[i - 1] and rates[i - 1]]


def plot_history(history, path, best_epoch=None):
    """Plots loss and each metric against the epoch, train and `val_` together.

    The best epoch (the one whose weights were kept) is a dashed line and each
    learning-rate change a dotted one, on every panel. Losses use a log scale,
    so the first epoch's loss does not flatten the rest; metric axes span the
    values from epoch 2 on (an off-scale first epoch is noted in the corner).

    Args:
        history: `{name: [value per epoch]}`, as `keras.callbacks.History.history`
            (`val_<name>` keys are drawn on the same axes as `<name>`;
            `learning_rate` marks where the rate changed).
        path: the PNG file to write.
        best_epoch: the 1-based best epoch, or None.

    Returns:
        The `matplotlib.figure.Figure`, one axes per panel.

    Example:

    >>> plot_history({"loss": [0.9, 0.5], "val_loss": [1.0, 0.7]}, "plots/history.png", best_epoch=2)
    """
    if not history:
        raise ValueError("plot_history: `history` has no series. Received: history={}")
    names = _series_names(history)
    if not names:
        raise ValueError(f"plot_history: `history` has only a learning rate. Received keys: {list(history)}")
    changes = rate_changes(history)
    figure = Figure(figsize=(5 * len(names), 3.6), layout="constrained")
    for axes, name in zip(np.atleast_1d(figure.subplots(1, len(names))), names):
        series = []
        for key, label in ((name, "train"), (f"val_{name}", "validation")):
            if key in history:
                values = [float(value) for value in history[key]]
                series.append(values)
                axes.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=label)
        if best_epoch:
            axes.axvline(best_epoch, color="black", linestyle="--", linewidth=1, label=f"best epoch {best_epoch}")
        for n, (epoch, factor) in enumerate(changes):
            axes.axvline(epoch - 0.5, color="tab:red", linestyle=":", linewidth=1,
                         label="learning rate changed" if n == 0 else None)
            axes.annotate(f"lr x{factor:.3g}", (epoch - 0.5, 1.0), xycoords=("data", "axes fraction"),
                          fontsize=7, color="tab:red", ha="left", va="top", rotation=90)
        _scale(axes, name, series)
        axes.set_title(name)
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    _save(figure, path)
    return figure


def _scale(axes, name, series):
    """Log scale for losses; metric axes fitted to epochs 2 and later."""
    values = [v for s in series for v in s if np.isfinite(v)]
    if "loss" in name or "perplexity" in name:
        if values and min(values) > 0:
            axes.set_yscale("log")
        return
    later = [v for s in series for v in s[1:] if np.isfinite(v)]
    if len(later) < 2:
        return
    low, high = min(later), max(later)
    pad = (high - low) * 0.1 or abs(high) * 0.01 or 0.01
    axes.set_ylim(low - pad, high + pad)
    if any(s and np.isfinite(s[0]) and not low - pad <= s[0] <= high + pad for s in series):
        axes.text(0.01, 0.01, "epoch 1 off the scale", transform=axes.transAxes, fontsize=7, va="bottom")


def plot_confusion(y_true, y_pred, labels, path, normalize="true"):
    """Plots a confusion matrix with the class names on both axes.

    Args:
        y_true: gold class ids (indices into `labels`) or class names.
        y_pred: predicted class ids or names, the same kind as `y_true`.
        labels: the class names, in id order.
        path: the PNG file to write.
        normalize: `"true"` (rows sum to 1), `"pred"` (columns), `"all"` or
            `None` (counts), as in `sklearn.metrics.confusion_matrix`.

    Example:

    >>> plot_confusion([0, 1, 1], [0, 1, 0], ["neg", "pos"], "plots/confusion.png")
    """
    if normalize not in ("true", "pred", "all", None):
        raise ValueError(f"plot_confusion: `normalize` must be 'true', 'pred', 'all' or None. "
                         f"Received: normalize={normalize!r}")
    labels = [str(label) for label in labels]
    y_true, y_pred = list(y_true), list(y_pred)
    by_name = bool(y_true) and isinstance(y_true[0], str)
    matrix = confusion_matrix(y_true, y_pred, labels=labels if by_name else list(range(len(labels))),
                              normalize=normalize)
    n = len(labels)
    # About 0.3 inch per class keeps 50 names legible; small sets stay readable.
    side = max(5.0, 0.3 * n + 2.5)
    font = 9 if n <= 20 else 8 if n <= 35 else 7
    figure = Figure(figsize=(side + 1.0, side), layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(matrix, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    figure.colorbar(image, ax=axes, shrink=0.8)
    axes.set_xticks(range(n), labels, rotation=90, fontsize=font)
    axes.set_yticks(range(n), labels, fontsize=font)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if n <= 20:  # numbers in the cells only while they fit
        _annotate(axes, matrix, normalize)
    _save(figure, path)


def _annotate(axes, matrix, normalize):
    high = matrix.max() / 2 if matrix.size else 0
    for (row, column), value in np.ndenumerate(matrix):
        if value:
            text = f"{value:.2f}" if normalize else f"{int(value)}"
            axes.text(column, row, text, ha="center", va="center", fontsize=7,
                      color="white" if value > high else "black")


def plot_gradient_norm(norms, epoch_ends, clipnorm, path):
    """Plots the global gradient norm of each training step on a log scale,
    with the epochs and the clipping threshold marked.

    Args:
        norms: one float per step (inf / nan are drawn at the top edge, in red).
        epoch_ends: the step count at the end of each epoch.
        clipnorm: the optimizer's clipping norm (a dashed line), or None.
        path: the PNG file to write.

    Example:

    >>> plot_gradient_norm([0.5, 2.0, 40.0], [3], 5.0, "plots/gradient_norm.png")
    """
    values = np.asarray(norms, dtype=np.float64)
    finite = np.isfinite(values) & (values > 0)
    figure = Figure(figsize=(8, 3.6), layout="constrained")
    axes = figure.subplots()
    steps = np.arange(1, len(values) + 1)
    axes.plot(steps[finite], values[finite], linewidth=0.8, label="global gradient norm (before clipping)")
    if (~finite).any() and finite.any():
        axes.scatter(steps[~finite], np.full((~finite).sum(), values[finite].max()), color="red", s=10,
                     label="not finite")
    if clipnorm:
        axes.axhline(clipnorm, color="black", linestyle="--", linewidth=0.8, label=f"clipnorm {clipnorm:g}")
    for end in epoch_ends[:-1]:
        axes.axvline(end + 0.5, color="grey", alpha=0.3, linewidth=0.8)
    if finite.any():
        axes.set_yscale("log")
    axes.set_xlabel("training step (grey lines: epochs)")
    axes.set_ylabel("gradient norm")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left")
    _save(figure, path)


def plot_attention(weights, source_tokens, target_tokens, path):
    """Plots an attention map: a row per target token, a column per source token.

    Args:
        weights: `(len(target_tokens), len(source_tokens))` attention weights.
        source_tokens: the source tokens (x axis).
        target_tokens: the target tokens (y axis).
        path: the PNG file to write.

    Example:

    >>> plot_attention(np.eye(3), ["ein", "hund", "."], ["a", "dog", "."], "plots/attention_1.png")
    """
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (len(target_tokens), len(source_tokens)):
        raise ValueError(f"plot_attention: weights of shape {weights.shape} do not match "
                         f"{len(target_tokens)} target x {len(source_tokens)} source tokens")
    # Long sentences: at most 60 tokens a side stay legible; the rest is cut.
    weights = weights[:60, :60]
    source_tokens, target_tokens = source_tokens[:60], target_tokens[:60]
    width, height = max(4.0, 0.35 * len(source_tokens) + 2.0), max(3.0, 0.3 * len(target_tokens) + 1.5)
    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    figure.colorbar(image, ax=axes, shrink=0.8)
    axes.set_xticks(range(len(source_tokens)), source_tokens, rotation=90, fontsize=8)
    axes.set_yticks(range(len(target_tokens)), target_tokens, fontsize=8)
    axes.set_xlabel("source")
    axes.set_ylabel("translation")
    _save(figure, path)
