"""Rotatable 3D views of point clouds, with a static fallback. Introduced in lab 1 (critical points: lab 4).

``show_cloud``, ``show_clouds`` and ``show_critical_points`` display a view; the ``*_figure`` functions build the
same view and return it without displaying it (a plotly ``Figure`` or a matplotlib ``Figure``).

Which kind of view, from ``$COURSE_VIEWS``:

- ``interactive``: a plotly figure you can rotate and zoom. JupyterLab draws it with the ``jupyterlab-plotly``
  extension that comes with the pinned plotly, offline (the output holds the data, never a CDN link).
- ``static``: a matplotlib image (``course_utils.plots``); it survives every export: nbgrader feedback HTML,
  nbconvert, CI logs.
- ``auto`` (default): interactive inside a Jupyter kernel with plotly installed, static under CI (``$CI``) and
  when nbgrader executes the notebook (``$NBGRADER_EXECUTION``, set by ``autograde`` and ``validate``).
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Union

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    import matplotlib.figure
    import plotly.graph_objects

ViewMode = Literal["interactive", "static"]
Figure = Union["plotly.graph_objects.Figure", "matplotlib.figure.Figure"]

MODE_VARIABLE = "COURSE_VIEWS"
MODES = ("interactive", "static", "auto")
#: Browsers allow about 16 live WebGL contexts per page and each rotatable view uses one: larger grids are static.
MAX_INTERACTIVE_CLOUDS = 12
HIGHLIGHT_COLOR = "red"
FAINT_COLOR = "#9e9e9e"
PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"


def view_mode(mode: str | None = None) -> ViewMode:
    """The view to draw: ``mode`` if given, else ``$COURSE_VIEWS`` (``interactive``, ``static`` or ``auto``)."""
    requested = (mode or os.environ.get(MODE_VARIABLE) or "auto").strip().lower()
    if requested not in MODES:
        raise ValueError(f"{MODE_VARIABLE} must be one of {', '.join(MODES)}, got {requested!r}")
    if requested == "auto":
        return "interactive" if _interactive_possible() else "static"
    return requested  # type: ignore[return-value]


def _interactive_possible() -> bool:
    """Inside a Jupyter kernel, plotly installed, and no CI run or nbgrader execution."""
    if _truthy(os.environ.get("CI")) or os.environ.get("NBGRADER_EXECUTION"):
        return False
    return _in_kernel() and importlib.util.find_spec("plotly") is not None


def _truthy(value: str | None) -> bool:
    return bool(value) and value.strip().lower() not in ("0", "false", "no")


def _in_kernel() -> bool:
    """True in a Jupyter kernel (a ZMQ shell); False in plain Python and in the IPython terminal."""
    return hasattr(_ipython_shell(), "kernel")  # never imports IPython just to find out


# --- input checks: one-line messages a student can act on ---------------------------------------------------------


def _as_cloud(points: ArrayLike, name: str = "points") -> np.ndarray:
    cloud = np.asarray(points)
    if cloud.ndim == 3 and cloud.shape[0] == 1 and cloud.shape[2] == 3:
        raise ValueError(f"{name} must be one cloud of shape (P, 3), got a batch {cloud.shape}: pass {name}[0]")
    if cloud.ndim != 2 or cloud.shape[1] != 3:
        hint = ": did you transpose?" if cloud.ndim == 2 and cloud.shape[0] == 3 else ""
        raise ValueError(f"{name} must have shape (P, 3), got {cloud.shape}{hint}")
    if cloud.shape[0] == 0:
        raise ValueError(f"{name} is empty: a cloud needs at least one point")
    if not np.issubdtype(cloud.dtype, np.number) or not np.isfinite(cloud).all():
        raise ValueError(f"{name} must hold finite numbers (dtype {cloud.dtype})")
    return cloud.astype(np.float32, copy=False)


def _as_indices(selection: ArrayLike, n_points: int, name: str = "highlight") -> np.ndarray:
    """Sorted unique point indices from an index array (duplicates allowed) or a boolean mask of length P."""
    values = np.asarray(selection)
    if values.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (point indices or a boolean mask of length {n_points}), got shape {values.shape}"
        )
    if values.dtype == bool:
        if len(values) != n_points:
            raise ValueError(f"{name} is a boolean mask of length {len(values)}, but the cloud has {n_points} points")
        return np.flatnonzero(values)
    if values.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{name} must hold integer point indices, got dtype {values.dtype}")
    if values.min() < 0 or values.max() >= n_points:
        raise ValueError(f"{name} holds indices outside 0..{n_points - 1} (min {values.min()}, max {values.max()})")
    return np.unique(values)


def _as_color(color: str | ArrayLike | None, n_points: int) -> str | np.ndarray | None:
    """None, one colour name, or one value per point (mapped through a colour scale)."""
    if color is None or isinstance(color, str):
        return color
    values = np.asarray(color)
    if values.shape != (n_points,):
        raise ValueError(
            f"color must be one colour name or {n_points} values (one per point), got shape {values.shape}"
        )
    return values


# --- figures --------------------------------------------------------------------------------------------------------


def cloud_figure(
    points: ArrayLike,
    title: str | None = None,
    color: str | ArrayLike | None = None,
    highlight: ArrayLike | None = None,
    size: float = 2.0,
    mode: str | None = None,
) -> Figure:
    """One cloud (P, 3), coloured by height unless ``color`` is given; ``highlight`` indices drawn red on top.

    ``highlight``: point indices (duplicates are fine) or a boolean mask of length P. Returns a plotly or a
    matplotlib ``Figure`` depending on ``mode`` (default: ``view_mode()``); nothing is displayed.
    """
    cloud = _as_cloud(points)
    color = _as_color(color, len(cloud))
    marked = None if highlight is None else _as_indices(highlight, len(cloud))
    if view_mode(mode) == "static":
        return _static_cloud(cloud, title, color, marked, size)
    import plotly.graph_objects as go

    figure = go.Figure(_cloud_traces(cloud, color, marked, size))
    return _layout(figure, title, height=480, limit=_limit([cloud]))


def critical_points_figure(
    points: ArrayLike, critical_indices: ArrayLike, title: str | None = None, size: float = 2.0, mode: str | None = None
) -> Figure:
    """The faint full cloud with its critical points highlighted (see ``show_critical_points``)."""
    cloud = _as_cloud(points)
    critical = _as_indices(critical_indices, len(cloud), name="critical_indices")
    caption = f"{len(critical)} of {len(cloud)} points are critical"
    title = f"{title}: {caption}" if title else caption
    if view_mode(mode) == "static":
        return _static_cloud(cloud, title, FAINT_COLOR + "55", critical, size)
    import plotly.graph_objects as go

    figure = go.Figure(_cloud_traces(cloud, FAINT_COLOR, critical, size, opacity=0.25, name="critical point"))
    return _layout(figure, title, height=480, limit=_limit([cloud]))


def clouds_figure(
    clouds: Sequence[ArrayLike],
    titles: Sequence[str] | None = None,
    columns: int = 5,
    size: float = 1.5,
    mode: str | None = None,
) -> Figure:
    """A grid of clouds (at most ``MAX_INTERACTIVE_CLOUDS`` rotatable ones; more are drawn static)."""
    if len(clouds) == 0:
        raise ValueError("clouds is empty: pass a list of (P, 3) arrays")
    if titles is not None and len(titles) != len(clouds):
        raise ValueError(f"got {len(clouds)} clouds but {len(titles)} titles")
    if columns < 1:
        raise ValueError(f"columns must be at least 1, got {columns}")
    checked = [_as_cloud(cloud, name=f"clouds[{index}]") for index, cloud in enumerate(clouds)]
    if view_mode(mode) == "static" or len(checked) > MAX_INTERACTIVE_CLOUDS:
        return _static_grid(checked, titles, columns, size)
    from plotly.subplots import make_subplots

    columns = min(columns, len(checked))
    rows = -(-len(checked) // columns)
    figure = make_subplots(
        rows=rows,
        cols=columns,
        specs=[[{"type": "scene"}] * columns] * rows,
        subplot_titles=list(titles) if titles else None,
        horizontal_spacing=0.01,
        vertical_spacing=0.06,
    )
    for index, cloud in enumerate(checked):
        for trace in _cloud_traces(cloud, None, None, size):
            figure.add_trace(trace, row=index // columns + 1, col=index % columns + 1)
    figure.update_scenes(xaxis_visible=False, yaxis_visible=False, zaxis_visible=False)
    return _layout(figure, None, height=260 * rows, limit=_limit(checked), axis_titles=False)


def _cloud_traces(
    cloud: np.ndarray,
    color: str | np.ndarray | None,
    marked: np.ndarray | None,
    size: float,
    opacity: float = 1.0,
    name: str = "highlight",
) -> list:
    import plotly.graph_objects as go

    marker = {"size": size, "opacity": opacity, "color": cloud[:, 2] if color is None else color}
    if not isinstance(marker["color"], str):
        marker["colorscale"] = "Viridis"
    hover = "point %{customdata}<br>x %{x:.2f}, y %{y:.2f}, z %{z:.2f}<extra></extra>"
    traces = [
        go.Scatter3d(
            x=cloud[:, 0],
            y=cloud[:, 1],
            z=cloud[:, 2],
            mode="markers",
            marker=marker,
            customdata=np.arange(len(cloud), dtype=np.int32),  # the point's index, shown on hover
            hovertemplate=hover,
            name="cloud",
            showlegend=False,
        )
    ]
    if marked is not None and len(marked):
        points = cloud[marked]
        traces.append(
            go.Scatter3d(
                x=points[:, 0],
                y=points[:, 1],
                z=points[:, 2],
                mode="markers",
                name=name,
                marker={"size": size * 2, "color": HIGHLIGHT_COLOR},
                customdata=marked.astype(np.int32),
                hovertemplate=hover,
                showlegend=False,
            )
        )
    return traces


def _limit(clouds: list[np.ndarray]) -> float:
    """Half the side of the cube every cloud fits in (as ``plots.plot_cloud``)."""
    return max(float(np.abs(cloud).max()) for cloud in clouds) or 1.0


def _layout(figure, title: str | None, height: int, limit: float, axis_titles: bool = True):
    """Same scale on every axis, z up, a camera slightly above the horizon."""
    axis = {"range": [-limit, limit]}
    figure.update_scenes(
        xaxis=axis,
        yaxis=axis,
        zaxis=axis,
        aspectmode="cube",
        camera={"eye": {"x": 1.4, "y": 1.4, "z": 0.9}, "up": {"x": 0, "y": 0, "z": 1}},
    )
    if axis_titles:
        figure.update_scenes(xaxis_title="x", yaxis_title="y", zaxis_title="z (up)")
    figure.update_layout(title=title, height=height, margin={"l": 0, "r": 0, "t": 40 if title else 30, "b": 0})
    return figure


def _static_cloud(
    cloud: np.ndarray, title: str | None, color: str | np.ndarray | None, marked: np.ndarray | None, size: float
) -> matplotlib.figure.Figure:
    import matplotlib.pyplot as plt

    from course_utils import plots

    figure = plt.figure(figsize=(4.5, 4.5))
    plots.plot_cloud(
        cloud, title=title, ax=figure.add_subplot(projection="3d"), color=color, size=size, highlight=marked
    )
    plt.close(figure)  # displayed once, by show_*; the inline backend must not show it again at the end of the cell
    return figure


def _static_grid(
    clouds: list[np.ndarray], titles: Sequence[str] | None, columns: int, size: float
) -> matplotlib.figure.Figure:
    import matplotlib.pyplot as plt

    from course_utils import plots

    figure = plots.plot_clouds(clouds, titles, columns=min(columns, len(clouds)), size=size)
    plt.close(figure)
    return figure


# --- display --------------------------------------------------------------------------------------------------------


def show_cloud(
    points: ArrayLike,
    title: str | None = None,
    color: str | ArrayLike | None = None,
    highlight: ArrayLike | None = None,
    size: float = 2.0,
    mode: str | None = None,
) -> None:
    """Display one point cloud (P, 3): rotatable in JupyterLab, a static image elsewhere (``$COURSE_VIEWS``).

    ``color``: a colour name or one value per point (default: height z); ``highlight``: point indices or a boolean
    mask, drawn red on top.
    """
    _display(cloud_figure(points, title=title, color=color, highlight=highlight, size=size, mode=mode))


def show_clouds(
    clouds: Sequence[ArrayLike], titles: Sequence[str] | None = None, columns: int = 5, mode: str | None = None
) -> None:
    """Display a small grid of clouds with optional titles (e.g. one object per class)."""
    _display(clouds_figure(clouds, titles=titles, columns=columns, mode=mode))


def show_critical_points(
    points: ArrayLike, critical_indices: ArrayLike, title: str | None = None, mode: str | None = None
) -> None:
    """Display a cloud faintly with its critical points on top. Introduced in lab 4.

    The critical points are those that win PointNet's global max pool for at least one feature:
    ``np.argmax(point_features, axis=0)`` for per-point features (P, F); duplicates are fine.
    """
    _display(critical_points_figure(points, critical_indices, title=title, mode=mode))


def _display(figure: Figure) -> None:
    """Show a figure built by a ``*_figure`` function in the notebook; plain Python has nowhere to show it."""
    if _ipython_shell() is None:
        return
    from IPython.display import Image, display

    if hasattr(figure, "to_plotly_json"):
        display(plotly_bundle(figure), raw=True)
    else:
        display(Image(data=figure_png(figure)))  # PNG bytes: shows under every matplotlib backend (also "agg")


def _ipython_shell():
    return sys.modules["IPython"].get_ipython() if "IPython" in sys.modules else None


def figure_png(figure: matplotlib.figure.Figure, dpi: int = 100) -> bytes:
    """A matplotlib figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def plotly_bundle(figure: plotly.graph_objects.Figure) -> dict:
    """The output JupyterLab's plotly extension renders (data only, no plotly.js), plus a line for other viewers."""
    import plotly.io as pio

    spec = {**json.loads(pio.to_json(figure, validate=False)), "config": {"displaylogo": False, "responsive": True}}
    return {
        PLOTLY_MIMETYPE: spec,
        "text/plain": f"<rotatable 3D view: shown in JupyterLab; set {MODE_VARIABLE}=static for an image>",
    }
