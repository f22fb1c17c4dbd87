"""course_utils.views: which view is drawn, what it contains, and the messages for wrong inputs (no browser)."""

from __future__ import annotations

import json

import matplotlib
import matplotlib.figure
import numpy as np
import plotly.graph_objects as go
import pytest

from course_utils import views

matplotlib.use("agg")
N_POINTS = 64


@pytest.fixture
def cloud() -> np.ndarray:
    return np.random.default_rng(0).uniform(-1, 1, size=(N_POINTS, 3)).astype(np.float32)


@pytest.fixture(autouse=True)
def no_view_environment(monkeypatch):
    for name in ("COURSE_VIEWS", "CI", "NBGRADER_EXECUTION"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def displayed(monkeypatch) -> list:
    """Pretend to run in a Jupyter kernel and collect what would be displayed."""
    import IPython.display

    shown = []
    monkeypatch.setattr(views, "_ipython_shell", lambda: type("Shell", (), {"kernel": object()})())
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append(obj))
    return shown


# --- mode ------------------------------------------------------------------------------------------------------------


def test_auto_is_static_outside_a_kernel():
    assert views.view_mode() == "static"


def test_auto_is_interactive_in_a_kernel(monkeypatch):
    monkeypatch.setattr(views, "_in_kernel", lambda: True)
    assert views.view_mode() == "interactive"
    monkeypatch.setenv("CI", "false")
    assert views.view_mode() == "interactive"


@pytest.mark.parametrize(("variable", "value"), [("CI", "true"), ("NBGRADER_EXECUTION", "autograde")])
def test_auto_is_static_under_ci_and_nbgrader(monkeypatch, variable, value):
    monkeypatch.setattr(views, "_in_kernel", lambda: True)
    monkeypatch.setenv(variable, value)
    assert views.view_mode() == "static"


def test_environment_variable_and_argument_choose_the_mode(monkeypatch):
    monkeypatch.setenv("COURSE_VIEWS", "Interactive")
    assert views.view_mode() == "interactive"
    assert views.view_mode("static") == "static"
    monkeypatch.setenv("COURSE_VIEWS", "3d")
    with pytest.raises(ValueError, match="COURSE_VIEWS must be one of interactive, static, auto, got '3d'"):
        views.view_mode()


# --- static ----------------------------------------------------------------------------------------------------------


def test_static_views_are_matplotlib_figures(monkeypatch, cloud):
    monkeypatch.setenv("COURSE_VIEWS", "static")
    figure = views.cloud_figure(cloud, title="chair", highlight=[0, 1])
    assert isinstance(figure, matplotlib.figure.Figure)
    assert figure.axes[0].get_title() == "chair"
    grid = views.clouds_figure([cloud] * 3, ["a", "b", "c"])
    assert len(grid.axes) == 3
    critical = views.critical_points_figure(cloud, [3, 3, 5])
    assert critical.axes[0].get_title() == f"2 of {N_POINTS} points are critical"


def test_static_show_displays_one_png(monkeypatch, cloud, displayed):
    import matplotlib.pyplot as plt

    monkeypatch.setenv("COURSE_VIEWS", "static")
    open_before = plt.get_fignums()
    views.show_cloud(cloud, title="chair")
    assert len(displayed) == 1
    assert displayed[0].format == "png" and displayed[0].data.startswith(b"\x89PNG")
    assert plt.get_fignums() == open_before, "the inline backend would show the figure a second time"


# --- interactive -----------------------------------------------------------------------------------------------------


def test_interactive_cloud_holds_every_point(cloud):
    figure = views.cloud_figure(cloud, title="chair", mode="interactive")
    assert isinstance(figure, go.Figure)
    assert len(figure.data) == 1 and len(figure.data[0].x) == N_POINTS
    assert figure.layout.title.text == "chair"
    assert figure.layout.scene.aspectmode == "cube"


def test_interactive_highlight_is_a_second_trace(cloud):
    figure = views.cloud_figure(cloud, highlight=[5, 2, 5], mode="interactive")
    assert len(figure.data) == 2
    np.testing.assert_array_equal(figure.data[1].customdata, [2, 5])
    np.testing.assert_allclose(figure.data[1].x, cloud[[2, 5], 0])
    mask = np.zeros(N_POINTS, dtype=bool)
    mask[[1, 7]] = True
    assert len(views.cloud_figure(cloud, highlight=mask, mode="interactive").data[1].x) == 2


def test_interactive_critical_points(cloud):
    figure = views.critical_points_figure(cloud, np.array([9, 4, 9, 9]), title="desk", mode="interactive")
    background, critical = figure.data
    assert len(background.x) == N_POINTS and background.marker.opacity < 1
    assert len(critical.x) == 2
    assert figure.layout.title.text == f"desk: 2 of {N_POINTS} points are critical"


def test_interactive_grid_has_one_scene_per_cloud(cloud):
    figure = views.clouds_figure([cloud, cloud[:10], cloud], ["a", "b", "c"], columns=2, mode="interactive")
    assert [len(trace.x) for trace in figure.data] == [N_POINTS, 10, N_POINTS]
    assert [trace.scene for trace in figure.data] == ["scene", "scene2", "scene3"]
    assert [annotation.text for annotation in figure.layout.annotations] == ["a", "b", "c"]


def test_large_grids_fall_back_to_static(cloud):
    figure = views.clouds_figure([cloud] * (views.MAX_INTERACTIVE_CLOUDS + 1), mode="interactive")
    assert isinstance(figure, matplotlib.figure.Figure)


def test_interactive_show_outputs_plotly_json_without_plotlyjs(monkeypatch, cloud, displayed):
    monkeypatch.setattr(views, "_in_kernel", lambda: True)  # auto mode in a kernel
    views.show_critical_points(cloud, [1, 2, 3])
    assert len(displayed) == 1
    bundle = displayed[0]
    assert set(bundle) == {views.PLOTLY_MIMETYPE, "text/plain"}
    text = json.dumps(bundle)  # what the notebook file stores
    assert "<script" not in text and "cdn" not in text.lower()
    assert len(bundle[views.PLOTLY_MIMETYPE]["data"]) == 2
    assert bundle[views.PLOTLY_MIMETYPE]["config"]["displaylogo"] is False


def test_show_outside_jupyter_displays_nothing(cloud):
    assert views.show_cloud(cloud) is None
    assert views.show_clouds([cloud], mode="interactive") is None


# --- messages for wrong inputs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "message"),
    [
        (np.zeros((3, N_POINTS)), rf"points must have shape \(P, 3\), got \(3, {N_POINTS}\): did you transpose\?"),
        (np.zeros((1, N_POINTS, 3)), r"got a batch \(1, 64, 3\): pass points\[0\]"),
        (np.zeros((0, 3)), "points is empty"),
        (np.full((4, 3), np.nan), "points must hold finite numbers"),
    ],
)
def test_wrong_points_raise_one_line_messages(points, message):
    with pytest.raises(ValueError, match=message) as error:
        views.cloud_figure(points, mode="interactive")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("highlight", "message"),
    [
        (np.zeros((1, 5), dtype=int), r"highlight must be 1-D \(point indices or a boolean mask of length 64\)"),
        (np.array([0.5, 2.0]), "highlight must hold integer point indices, got dtype float64"),
        (np.array([3, N_POINTS]), r"highlight holds indices outside 0\.\.63 \(min 3, max 64\)"),
        (np.array([-1]), r"outside 0\.\.63"),
        (np.ones(7, dtype=bool), "highlight is a boolean mask of length 7, but the cloud has 64 points"),
    ],
)
@pytest.mark.parametrize("mode", ["interactive", "static"])
def test_wrong_highlight_raises_one_line_messages(cloud, highlight, message, mode):
    with pytest.raises(ValueError, match=message) as error:
        views.cloud_figure(cloud, highlight=highlight, mode=mode)
    assert "\n" not in str(error.value)


def test_wrong_critical_indices_and_grid_inputs_name_the_argument(cloud):
    with pytest.raises(ValueError, match="critical_indices must hold integer point indices"):
        views.critical_points_figure(cloud, [0.5])
    with pytest.raises(ValueError, match=r"clouds\[1\] must have shape \(P, 3\)"):
        views.clouds_figure([cloud, cloud.T])
    with pytest.raises(ValueError, match="got 2 clouds but 1 titles"):
        views.clouds_figure([cloud, cloud], ["a"])
    with pytest.raises(ValueError, match=r"color must be one colour name or 64 values \(one per point\)"):
        views.cloud_figure(cloud, color=[1.0, 2.0])
