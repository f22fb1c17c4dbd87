"""Browser test: a tutor grades an answer by hand in nbgrader's formgrader, on the gradebook that
``python -m autograder grade`` wrote (``make test-browser``; skipped without /usr/bin/chromium).

A temporary course (the fixture lab ``lab0_reflection``: one autograded test, one written answer with a rubric cell)
is graded with the course's own pipeline. A headless JupyterLab is started in that course folder, as a tutor runs
it (``make formgrader``), with a ``nbgrader_config.py`` that loads autograder/nbgrader_config.py and points at the
course's folders and gradebook. Headless Chromium (Debian's, driven by Playwright) opens formgrader's list of
submissions and the answered submission (the rubric is shown to the tutor), enters a score and a comment, and the
score reaches nbgrader's tables, ``grades.csv``, the student's feedback (comment included, rubric not) and the tutor
report. The JupyterLab formgrader panel (Nbgrader menu) shows the same course.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from gradebook_support import ANSWER, LAB, LIMITS, RUBRIC, csv_rows, make_course, submissions, wait_for

from autograder import course, gradebook, report

CHROMIUM = Path("/usr/bin/chromium")
SERVER_START_S = 120
COMMENT = "Names the outlier (100): well done."

pytestmark = [
    pytest.mark.browser,
    pytest.mark.notebook,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: `make browser-deps` installs it"),
]

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory) -> dict:
    """The fixture lab graded by ``course.grade_batch`` into ``<course>/gradebook.db``, with a formgrader config."""
    base = tmp_path_factory.mktemp("formgrader")
    paths = make_course(base / "course")
    course.grade_batch(LAB, submissions(paths, base / "submissions"), db=paths["db"], solutions=paths["solutions"],
                       config=LIMITS, log=lambda line: None)  # fmt: skip
    config = [
        "c = get_config()  # noqa: F821",
        f"_course = {str(course.COURSE_CONFIG)!r}",
        "exec(compile(open(_course).read(), _course, 'exec'), {**globals(), '__file__': _course})",
        f"c.CourseDirectory.root = {str(paths['root'])!r}",
        "c.CourseDirectory.source_directory = 'solutions'",
        "c.CourseDirectory.release_directory = 'release'",
        f"c.CourseDirectory.db_url = {gradebook.database_url(paths['db'])!r}",
    ]
    (paths["root"] / "nbgrader_config.py").write_text("\n".join(config) + "\n")
    return {**paths, "base": base}


@pytest.fixture(scope="module")
def server(graded_course):
    """JupyterLab started in the course folder (formgrader reads nbgrader_config.py from there), serving the folder
    above it, as ``make formgrader`` serves the repository with the course in autograder/."""
    base = graded_course["base"]
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    folders = {"JUPYTER_RUNTIME_DIR": "runtime", "JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data",
               "JUPYTERLAB_SETTINGS_DIR": "settings", "JUPYTERLAB_WORKSPACES_DIR": "workspaces"}  # fmt: skip
    for variable, name in folders.items():  # neither the tutor's settings nor their files are used or touched
        (base / name).mkdir()
        env[variable] = str(base / name)
    port, token = _free_port(), secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={base}",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = base / "server.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(command, cwd=graded_course["root"], env=env, stdout=log_file,
                                   stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        try:
            request = urllib.request.Request(f"{url}/api/status", headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(request, timeout=5):
                return True
        except (OSError, urllib.error.URLError):
            return process.poll() is not None

    try:
        if not wait_for(serving, SERVER_START_S, 0.5) or process.poll() is not None:
            pytest.fail(f"JupyterLab did not start:\n{log.read_text(errors='replace')[-3000:]}")
        yield {"url": url, "token": token, "log": log}
    finally:
        try:
            request = urllib.request.Request(f"{url}/api/shutdown", method="POST",
                                             headers={"Authorization": f"token {token}"})  # fmt: skip
            urllib.request.urlopen(request, timeout=10).close()
            process.wait(timeout=30)
        except (OSError, urllib.error.URLError, subprocess.TimeoutExpired):
            process.kill()
            process.wait(timeout=15)


@pytest.fixture(scope="module")
def page(server):
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        blocked: list[str] = []

        def local_only(route) -> None:
            if route.request.url.startswith(server["url"] + "/"):
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort()

        context.route("**/*", local_only)
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{server['url']}/formgrader?token={server['token']}")  # the token becomes a cookie
        try:
            yield page
        finally:
            context.close()
            browser.close()


def _manual_grade(db, student: str) -> tuple[float | None, str | None]:
    with gradebook.nbgrader_gradebook(db) as book:
        grade = book.find_grade("reflection_mean", LAB, LAB, student)
        comment = book.find_comment("reflection_mean", LAB, LAB, student)
        return grade.manual_score, comment.manual_comment


def test_tutor_grades_an_answer_in_formgrader(graded_course, server, page):
    expect = playwright_api.expect
    db = graded_course["db"]
    released = (graded_course["release"] / LAB / f"{LAB}.ipynb").read_text()
    assert RUBRIC not in released and "reflection_mean" in released, "the student's copy has the question, no rubric"
    assert csv_rows(graded_course["root"] / "grades.csv")["answered"]["to_be_graded"] == "reflection_mean"

    page.goto(f"{server['url']}/formgrader/gradebook/{LAB}/{LAB}")
    listed = page.locator("a[href*='/formgrader/submissions/']")
    expect(listed.first).to_be_visible()
    assert page.get_by_text("answered").count() and page.get_by_text("needs manual grade").count(), page.content()[
        :3000
    ]
    with gradebook.nbgrader_gradebook(db) as book:
        submission_id = book.find_submission_notebook(LAB, LAB, "answered").id
    page.goto(f"{server['url']}/formgrader/submissions/{submission_id}/")
    score = page.locator("input.score#reflection_mean")
    expect(score).to_be_visible()
    assert RUBRIC in page.content(), "the tutor sees the rubric while grading"
    assert ANSWER in page.content(), "and the student's answer"
    score.fill("1.5")
    score.press("Tab")
    comment = page.locator("textarea#reflection_mean-comment")
    comment.fill(COMMENT)
    comment.press("Tab")
    assert wait_for(lambda: _manual_grade(db, "answered") == (1.5, COMMENT), 30), _manual_grade(db, "answered")

    gradebook.write_csv(db, graded_course["root"] / "grades.csv")
    answered = csv_rows(graded_course["root"] / "grades.csv")["answered"]
    assert (answered["score"], answered["auto_score"], answered["manual_score"], answered["to_be_graded"]) == (
        "2.5", "1", "1.5", "")  # fmt: skip
    written = gradebook.write_feedback(db, graded_course["base"] / "feedback", LAB)
    feedback = next(path for path in written if path.parts[-3] == "answered").read_text()
    assert COMMENT in feedback and "Score: 2.5 / 3.0" in feedback
    assert RUBRIC not in feedback and "HIDDEN TESTS" not in feedback, "the rubric never reaches the student"
    assert "<td>1.5 / 2</td>" in report.build(db)


def test_jupyterlab_formgrader_panel_shows_the_course(server, page):
    page.goto(f"{server['url']}/lab?reset")
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    page.locator(".lm-Menu").get_by_text("Formgrader", exact=True).click()
    frame = page.frame_locator("iframe[src*='formgrader']")
    playwright_api.expect(frame.get_by_text(LAB).first).to_be_visible(timeout=60_000)
    playwright_api.expect(frame.get_by_text("Manage Assignments").first).to_be_visible()
