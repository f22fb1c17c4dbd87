"""Browser smoke test: what a student sees in JupyterLab (``make test-browser``; skipped without /usr/bin/chromium).

A headless JupyterLab serves a temporary copy of ``notebooks/`` (autosave can never touch the committed student
notebooks) with the data set of ``course_utils.data.data_root()``. Headless Chromium (Debian's, driven by
Playwright's Python package; no browser download) opens every student notebook, checks that it runs in the course
kernel "DL lab course (TF 2.21)", runs its Setup cell, and asserts that the cell printed its summary and no error or
stderr output. One screenshot per notebook goes to ``build/screenshots/<lab>.png``, wall times to
``build/screenshots/timings.json``. A test renders a rotatable view (``course_utils.views``) offline: the page
may load nothing from outside localhost. The server runs in ``autograder/``, as ``make lab`` starts it, and a last
test presses nbgrader's Validate button on an untouched notebook, which must report its failing cells.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from course_utils import data
from course_utils.environment import KERNEL_DISPLAY_NAME, KERNEL_NAME

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
LABS = sorted(path.parent.name for path in NOTEBOOKS.glob("lab*/lab*.ipynb") if path.stem == path.parent.name)

SERVER_START_S = 120
KERNEL_READY_MS = 180_000  # kernel start and the first TensorFlow import on a busy 2-core machine
CELL_MS = 300_000  # the course's per-cell limit
VIEWS_NOTEBOOK = "views_check.ipynb"
LAB_SERVER_DIR = ROOT / "autograder"  # where `make lab` starts JupyterLab (tests/test_student_tools.py)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.notebook,  # `make test-fast` (-m "not notebook") leaves it out
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: `make browser-deps` installs it"),
]

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed")


@dataclass
class LabServer:
    """A running JupyterLab on a temporary copy of notebooks/."""

    url: str
    token: str
    root: Path
    runtime_dir: Path
    process: subprocess.Popen
    log: Path
    timings: dict[str, float] = field(default_factory=dict)

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(
            f"{self.url}/api/{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest() for path in folder.rglob("*.ipynb")
    }


def _write_settings(settings_dir: Path) -> None:
    """No news or update toasts over the screenshots."""
    target = settings_dir / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))


def _write_views_notebook(folder: Path) -> None:
    notebook = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": KERNEL_NAME, "display_name": KERNEL_DISPLAY_NAME, "language": "python"}}
    )
    code = (
        "import numpy as np\n"
        "from course_utils import data, views\n\n"
        "cloud = data.load_cloud(data.list_samples('train')[0].path)\n"
        "views.show_critical_points(cloud, np.arange(0, len(cloud), 9), title='views check', mode='interactive')"
    )
    notebook.cells = [nbformat.v4.new_code_cell(code)]
    nbformat.write(notebook, folder / VIEWS_NOTEBOOK)


def _processes_using(path: Path) -> list[int]:
    """Pids whose command line mentions ``path`` (kernels get their connection file from our runtime folder)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if str(path).encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _stop(server: LabServer) -> None:
    """Shut the server down through its API (it stops its kernels), then make sure nothing of ours is left."""
    try:
        server.api("shutdown", method="POST")
        server.process.wait(timeout=30)
    except (OSError, urllib.error.URLError, subprocess.TimeoutExpired):
        server.process.terminate()
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=15)
    deadline = time.monotonic() + 10
    while (leftovers := _processes_using(server.runtime_dir)) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in leftovers:  # kernels run in sessions of their own: a group kill of the server would miss them
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory, request) -> LabServer:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manifest = data.dataset_dir() / "manifest.json"
    if not manifest.exists():
        pytest.skip(f"no data set at {manifest.parent}: run `make data`")
    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        pytest.fail(f"kernel '{KERNEL_NAME}' is not installed: run `make install`")
    assert spec.display_name == KERNEL_DISPLAY_NAME, f"kernel '{KERNEL_NAME}' is called {spec.display_name!r}"

    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    _write_views_notebook(root)
    for name in ("runtime", "settings", "workspaces", "config", "data", "ipython"):
        (base / name).mkdir()
    _write_settings(base / "settings")
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "COURSE_DATA_DIR": str(data.data_root()),  # the copy lives outside the repository; its data must not
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTER_CONFIG_DIR": str(base / "config"),  # neither the user's settings nor their files are used or touched
        "JUPYTER_DATA_DIR": str(base / "data"),
        "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
        "IPYTHONDIR": str(base / "ipython"),
    }
    port, token = _free_port(), secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               f"--MappingKernelManager.default_kernel_name={KERNEL_NAME}"]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = base / "server.log"
    with log.open("wb") as log_file:
        # As `make lab`: from autograder/, whose nbgrader_config.py the Validate button then reads.
        process = subprocess.Popen(command, cwd=LAB_SERVER_DIR, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    server = LabServer(f"http://127.0.0.1:{port}", token, root, base / "runtime", process, log)
    committed = _digest(NOTEBOOKS)
    try:
        _wait_until_serving(server)
        yield server
    finally:
        _stop(server)
        _report_timings(server, request)
    assert _digest(NOTEBOOKS) == committed, "the committed student notebooks changed during the browser test"


def _wait_until_serving(server: LabServer) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"JupyterLab exited with code {server.process.returncode}:\n{server.log_tail()}")
        try:
            server.api("status")
            return
        except (OSError, urllib.error.URLError):
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {SERVER_START_S} s:\n{server.log_tail()}")


def _report_timings(server: LabServer, request) -> None:
    if not server.timings:
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "timings.json").write_text(json.dumps(server.timings, indent=1) + "\n")
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if reporter is None:  # an xdist worker: the JSON file has the numbers
        return
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.write_line("")
        reporter.write_line("browser smoke test (open, kernel ready, Setup cell run; Validate: the whole notebook)")
        for name, seconds in server.timings.items():
            reporter.write_line(f"browser smoke test: {name:<22} {seconds:6.1f} s")


@pytest.fixture(scope="module")
def chromium():
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--enable-unsafe-swiftshader"],  # software WebGL for plotly's 3D views on machines without a GPU
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Session:
    page: object
    blocked: list[str]
    page_errors: list[str]


@pytest.fixture
def session(chromium, lab_server):
    """A fresh browser context that may reach the JupyterLab server and nothing else."""
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    blocked: list[str] = []

    def local_only(route) -> None:
        if route.request.url.startswith(lab_server.url + "/"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", local_only)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    try:
        yield Session(page, blocked, page_errors)
    finally:
        context.close()


def _open_and_run_first_cell(server: LabServer, session: Session, path: str, cells: int = 1):
    """Open ``path`` in JupyterLab, wait for the course kernel, run the first ``cells`` code cells (the cells between
    them are code cells too); return the last one run."""
    expect = playwright_api.expect
    page = session.page
    page.goto(f"{server.url}/lab/tree/{path}?reset&token={server.token}")
    panel = page.locator(".jp-NotebookPanel:visible")
    panel.wait_for(timeout=KERNEL_READY_MS)
    dialog = page.locator(".jp-Dialog")
    kernel_name = panel.locator(".jp-Toolbar-kernelName")
    try:
        expect(kernel_name).to_have_text(KERNEL_DISPLAY_NAME, timeout=KERNEL_READY_MS)
    except AssertionError:
        shown = dialog.inner_text() if dialog.count() else "no dialog"
        pytest.fail(f"{path}: kernel {kernel_name.inner_text()!r}, expected {KERNEL_DISPLAY_NAME!r} ({shown})")
    kernels = _wait_for_session(server, path)
    assert kernels == [KERNEL_NAME], (
        f"{path}: runs in kernel {kernels}, expected ['{KERNEL_NAME}']; sessions {server.api('sessions')}\n"
        f"{server.log_tail()}"
    )
    expect(panel.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]')).to_be_visible(timeout=KERNEL_READY_MS)
    panel.locator(".jp-CodeCell").first.locator(".jp-InputPrompt").click()  # selects it; locked cells still run
    for index in range(cells):
        cell = panel.locator(".jp-CodeCell").nth(index)
        panel.locator('[data-command="notebook:run-cell-and-select-next"]').click()
        # "[ ]:" before, "[*]:" while it runs, "[1]:" when it finished
        expect(cell.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[\d+\]:"), timeout=CELL_MS)
    return cell


def _wait_for_session(server: LabServer, path: str) -> list[str]:
    """The kernel names of the server's sessions for ``path``, once it has one (the toolbar may show it earlier)."""
    deadline = time.monotonic() + KERNEL_READY_MS / 1000
    while True:
        kernels = [entry["kernel"]["name"] for entry in server.api("sessions") if _session_is_for(entry, path)]
        if kernels or time.monotonic() > deadline:
            return kernels
        time.sleep(0.5)


def _session_is_for(session: dict, path: str) -> bool:
    """JupyterLab 4 names a notebook's session ``<folder>/<uuid>`` with the notebook's file name as ``name``."""
    folder, _, name = path.rpartition("/")
    return session["path"] == path or (session["name"] == name and session["path"].rpartition("/")[0] == folder)


def _failed_outputs(cell) -> list[str]:
    error_types = ("application/vnd.jupyter.stderr", "application/vnd.jupyter.error")
    selector = ", ".join(f'.jp-OutputArea-output[data-mime-type="{mime}"]' for mime in error_types)
    return [text.strip() for text in cell.locator(selector).all_inner_texts()]


@pytest.mark.parametrize("lab", LABS)
def test_setup_cell_runs_in_course_kernel(lab_server, session, lab):
    started = time.perf_counter()
    cell = _open_and_run_first_cell(lab_server, session, f"{lab}/{lab}.ipynb", cells=2)  # install, then Setup
    install = session.page.locator(".jp-NotebookPanel:visible .jp-CodeCell").first
    assert "find_spec(" in install.locator(".jp-InputArea").inner_text(), f"{lab}: the first code cell is not install"
    assert not install.locator(".jp-OutputArea-output").count(), f"{lab}: the install cell printed in the course kernel"
    assert "setup_lab(" in cell.locator(".jp-InputArea").inner_text(), f"{lab}: the second code cell is not Setup"
    failed = _failed_outputs(cell)
    assert not failed, f"{lab}: the Setup cell wrote error/stderr output:\n" + "\n---\n".join(failed)
    printed = cell.locator(".jp-OutputArea").inner_text()
    assert f"Lab {lab}: TensorFlow" in printed and "Data set:" in printed, f"{lab}: unexpected output {printed!r}"
    assert not session.blocked, f"{lab}: the page tried to load from outside localhost: {session.blocked}"
    lab_server.timings[lab] = round(time.perf_counter() - started, 1)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    session.page.screenshot(path=str(SCREENSHOTS / f"{lab}.png"))


def test_rotatable_view_renders_offline(lab_server, session):
    started = time.perf_counter()
    cell = _open_and_run_first_cell(lab_server, session, VIEWS_NOTEBOOK)
    assert not _failed_outputs(cell), f"views check wrote errors: {_failed_outputs(cell)}"
    plot = cell.locator(".jp-OutputArea-output.js-plotly-plot")
    plot.wait_for(timeout=60_000)  # drawn by the jupyterlab-plotly extension, not by a script in the output
    playwright_api.expect(plot.locator("canvas").first).to_be_attached(timeout=60_000)  # the WebGL scene
    text = plot.text_content()
    assert "WebGL is not supported" not in text
    assert "views check:" in text and "points are critical" in text, f"unexpected plot text {text[:200]!r}"
    assert not session.blocked, f"the interactive view loaded from outside localhost: {session.blocked}"
    assert not session.page_errors, f"JavaScript errors: {session.page_errors}"
    lab_server.timings["views (interactive)"] = round(time.perf_counter() - started, 1)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    session.page.screenshot(path=str(SCREENSHOTS / "views.png"))


def test_validate_button_reports_failing_cells(lab_server, session):
    """A student's last step before submitting: nbgrader's Validate button, on a notebook with every TODO open."""
    lab = "lab2_functional"  # the quickest to run top to bottom
    started = time.perf_counter()
    page = session.page
    page.goto(f"{lab_server.url}/lab/tree/{lab}/{lab}.ipynb?reset&token={lab_server.token}")
    panel = page.locator(".jp-NotebookPanel:visible")
    panel.wait_for(timeout=KERNEL_READY_MS)
    panel.locator(".jp-Toolbar").get_by_text("Validate", exact=True).click()
    dialog = page.locator(".jp-Dialog")
    playwright_api.expect(dialog.get_by_text("Validation Results")).to_be_visible(timeout=CELL_MS)
    text = dialog.inner_text()
    assert "There was an error running the validate command" not in text, text[:2000]
    assert "The following cell failed:" in text and "check_param_count" in text, text[:2000]
    assert not session.blocked, f"validation loaded from outside localhost: {session.blocked}"
    lab_server.timings["validate button"] = round(time.perf_counter() - started, 1)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "validate.png"))
