"""Plots the labs share: point clouds, training curves, confusion matrices. Introduced in lab 1.

Static matplotlib figures render in JupyterLab, in exported HTML feedback and in CI alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np


def plot_cloud(points, title: str | None = None, ax=None, color=None, size: float = 2.0, highlight=None):
    """Scatter one point cloud (P, 3) in 3D; ``highlight`` is an index array drawn in red on top."""
    points = np.asarray(points)
    if ax is None:
        fig = plt.figure(figsize=(4, 4))
        ax = fig.add_subplot(projection="3d")
    ax.scatter(points[:, 0], points[:, 1], points[:, 2], s=size, c=color if color is not None else points[:, 2])
    if highlight is not None:
        marked = points[np.asarray(highlight)]
        ax.scatter(marked[:, 0], marked[:, 1], marked[:, 2], s=size * 6, c="red")
    ax.set_box_aspect((1, 1, 1))
    limit = float(np.abs(points).max()) or 1.0
    for setter in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
        setter(-limit, limit)
    ax.set_xlabel("x"), ax.set_ylabel("y"), ax.set_zlabel("z (up)")
    if title:
        ax.set_title(title)
    return ax


def plot_clouds(clouds: Sequence, titles: Sequence[str] | None = None, columns: int = 5, size: float = 1.5):
    """A grid of point clouds with optional titles."""
    rows = int(np.ceil(len(clouds) / columns))
    fig = plt.figure(figsize=(3 * columns, 3 * rows))
    for index, cloud in enumerate(clouds):
        ax = fig.add_subplot(rows, columns, index + 1, projection="3d")
        plot_cloud(cloud, title=titles[index] if titles else None, ax=ax, size=size)
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def plot_history(histories: Mapping[str, Mapping[str, Sequence[float]]], metrics: Sequence[str] = ("loss",)):
    """Train/validation curves of several runs: ``{"run name": history.history, ...}``, one panel per metric."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for index, (name, history) in enumerate(histories.items()):
            color = f"C{index}"
            if metric in history:
                ax.plot(history[metric], color=color, label=f"{name} (train)")
            if f"val_{metric}" in history:
                ax.plot(history[f"val_{metric}"], color=color, linestyle="--", label=f"{name} (val)")
        ax.set_xlabel("epoch"), ax.set_ylabel(metric), ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def plot_confusion(y_true, y_pred, class_names: Sequence[str], ax=None, normalize: bool = True):
    """Confusion matrix (rows: true class, columns: predicted), row-normalised by default."""
    n = len(class_names)
    matrix = np.zeros((n, n))
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    if normalize:
        matrix = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.6 * n + 2, 0.6 * n + 1.5))
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ax.set_xticks(range(n), class_names, rotation=45, ha="right"), ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted"), ax.set_ylabel("true")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            f"{value:.2f}" if normalize else f"{int(value)}",
            ha="center",
            va="center",
            fontsize=8,
            color="white" if value > matrix.max() / 2 else "black",
        )
    plt.colorbar(image, ax=ax, fraction=0.046)
    return ax
