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


def plot_model_graph(model, figsize=(7, 6)):
    """Draw a Keras Functional model's layer graph with matplotlib (no graphviz needed). Introduced in lab 2.

    Layers are placed by depth (inputs at the top); an arrow joins each layer to the layers it feeds.
    """
    depth: dict[str, int] = {}
    edges: list[tuple[str, str]] = []
    for layer in model.layers:
        parents = []
        for node in layer._inbound_nodes:
            parents += [tensor._keras_history.operation.name for tensor in node.input_tensors]
        edges += [(parent, layer.name) for parent in parents]
        depth[layer.name] = 1 + max((depth.get(parent, 0) for parent in parents), default=-1)
    rows: dict[int, list[str]] = {}
    for name, level in depth.items():
        rows.setdefault(level, []).append(name)
    position = {}
    for level, names in rows.items():
        for index, name in enumerate(names):
            position[name] = ((index + 1) / (len(names) + 1), -level)
    fig, ax = plt.subplots(figsize=figsize)
    for parent, child in edges:
        (x0, y0), (x1, y1) = position[parent], position[child]
        ax.annotate("", xy=(x1, y1 + 0.15), xytext=(x0, y0 - 0.15), arrowprops={"arrowstyle": "->", "color": "gray"})
    by_name = {layer.name: layer for layer in model.layers}
    for name, (x, y) in position.items():
        label = f"{name}\n{type(by_name[name]).__name__}"
        ax.text(x, y, label, ha="center", va="center", fontsize=8,
                bbox={"boxstyle": "round", "facecolor": "#e8f0fe", "edgecolor": "#4a6fa5"})  # fmt: skip
    ax.set_xlim(0, 1), ax.set_ylim(-max(rows) - 0.6, 0.6), ax.axis("off")
    ax.set_title(model.name)
    return fig
