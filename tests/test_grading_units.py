"""Fast unit tests of the grading code on small in-memory notebooks: no kernel, no nbgrader run.

What submissions are read and how (folders, zips, links, FIFOs), what ``check_submission`` reports, how deleted
locked cells come back, which cells are demonstrations (and that no other cell needs them, in every lab), what the
sandbox passes to a kernel, how output is counted, what the canary says and the fallback feedback shows. The end to
end runs are ``test_autograder.py`` (fixture lab), ``test_sandbox_limits.py`` and ``test_autograder_labs.py``.
"""

from __future__ import annotations

import ast
import os
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder import batch, demo_cells, grading, limits, sandbox, submissions
from autograder.executor import _message_size
from autograder.paths import SOLUTIONS, labs

LAB = "lab9_units"


def cell(grade_id: str | None, source: str, kind: str = "locked", tags: tuple[str, ...] = (), markdown=False):
    made = new_markdown_cell(source) if markdown else new_code_cell(source)
    if grade_id:
        flags = {
            "locked": dict(grade=False, locked=True, solution=False),
            "solution": dict(grade=False, locked=False, solution=True),
            "test": dict(grade=True, locked=True, solution=False, points=1),
        }[kind]
        made.metadata["nbgrader"] = {"grade_id": grade_id, "schema_version": 3, **flags}
    if tags:
        made.metadata["tags"] = list(tags)
    return made


def source_notebook():
    return new_notebook(
        cells=[
            cell("intro", "# Lab", markdown=True),
            cell("setup", "import numpy as np"),
            cell("answer", "def f(x):\n    return 2 * x", kind="solution"),
            cell("test_f", "assert f(2) == 4", kind="test"),
            cell("timing", "import time\nstarted = time.time()\nf(3)", tags=("demo",)),
            cell("test_g", "assert f(0) == 0", kind="test"),
        ]
    )


def as_bytes(notebook) -> bytes:
    return nbformat.writes(notebook).encode()


@pytest.fixture
def source_file(tmp_path) -> Path:
    path = tmp_path / "source" / LAB / f"{LAB}.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(source_notebook(), path)
    return path


# ------------------------------------------------------------------------------------------ reading


def test_folders_and_zips_are_read_and_bad_entries_reported(tmp_path):
    blob = as_bytes(source_notebook())
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / f"{LAB}.ipynb").write_bytes(blob)
    with zipfile.ZipFile(tmp_path / "bob.zip", "w") as archive:
        archive.writestr(f"bob/{LAB}.ipynb", blob)
        archive.writestr("__MACOSX/._x.ipynb", b"junk")
    (tmp_path / "bad id!").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "carol").mkdir()
    (tmp_path / "carol" / "other.ipynb").write_bytes(blob)
    found, problems = submissions.collect_submissions(LAB, tmp_path)
    assert found == {"alice": blob, "bob": blob}
    assert any("bad student id" in p for p in problems)
    assert any("notes.txt" in p for p in problems)
    assert any(p.startswith("carol: no") for p in problems)


def test_links_and_fifos_in_a_submission_are_skipped_without_blocking(tmp_path):
    secret = tmp_path / "secret.ipynb"
    secret.write_text("{}")
    folder = tmp_path / "subs" / "mallory"
    folder.mkdir(parents=True)
    (folder / f"{LAB}.ipynb").symlink_to(secret)
    os.mkfifo(tmp_path / "subs" / "mallory" / "other.ipynb")
    (tmp_path / "subs" / "eve").symlink_to(folder)
    found, problems = submissions.collect_submissions(LAB, tmp_path / "subs")  # a FIFO would block a plain read
    assert found == {}
    assert any("eve" in p and "link" in p for p in problems)
    assert any("not a regular file" in p for p in problems)


def test_read_regular_file_refuses_links_fifos_and_large_files(tmp_path):
    (tmp_path / "a").write_bytes(b"12345")
    (tmp_path / "link").symlink_to(tmp_path / "a")
    os.mkfifo(tmp_path / "fifo")
    assert submissions.read_regular_file(tmp_path / "a", 10) == b"12345"
    assert submissions.read_regular_file(tmp_path / "a", 4) is None
    assert submissions.read_regular_file(tmp_path / "link", 10) is None
    assert submissions.read_regular_file(tmp_path / "fifo", 10) is None


# ----------------------------------------------------------------------------------------- checking


def test_check_submission_reports_deleted_changed_duplicated_and_suspicious(source_file):
    submitted = source_notebook()
    submitted.cells[2] = cell("answer", "import builtins\ndef f(x):\n    return 2 * x", kind="solution")
    submitted.cells[3] = cell("test_f", "assert f(2) == 4", markdown=True, kind="test")
    submitted.cells.append(cell("answer", "pass", kind="solution"))
    del submitted.cells[5]
    problems = submissions.check_submission(LAB, as_bytes(submitted), source_file)
    assert "cell 'test_f' was changed from code to markdown" in problems
    assert any("duplicated grade_id 'answer'" in p for p in problems)
    assert "cell 'test_g' is missing (deleted?)" in problems
    assert any("flagged for review" in p and "builtins" in p for p in problems)


def test_unreadable_notebook_is_one_problem(source_file):
    assert submissions.check_submission(LAB, b"\xff not json", source_file)[0].startswith("not a readable notebook")


# ---------------------------------------------------------------------------------------- restoring


def test_deleted_locked_cells_come_back_in_place():
    reference = source_notebook()
    submitted = source_notebook()
    submitted.cells = [c for c in submitted.cells if submissions.grade_id(c) not in ("setup", "test_f", "test_g")]
    restored = submissions.insert_missing_locked_cells(submitted, reference)
    assert restored == ["setup", "test_f", "test_g"]
    assert [submissions.grade_id(c) for c in submitted.cells] == [submissions.grade_id(c) for c in reference.cells]


def test_restore_leaves_a_complete_notebook_unchanged(tmp_path):
    released = tmp_path / "released.ipynb"
    nbformat.write(source_notebook(), released)
    blob = as_bytes(source_notebook())
    problems: list[str] = []
    assert submissions.restore_deleted_cells(blob, released, problems) == blob and problems == []


def test_restore_reports_what_it_put_back(tmp_path):
    released = tmp_path / "released.ipynb"
    nbformat.write(source_notebook(), released)
    submitted = source_notebook()
    del submitted.cells[3]
    problems: list[str] = []
    restored = nbformat.reads(submissions.restore_deleted_cells(as_bytes(submitted), released, problems).decode(), 4)
    assert problems == ["deleted locked cell(s) ['test_f'] restored before grading"]
    assert submissions.grade_id(restored.cells[3]) == "test_f"


def test_reference_submission_pastes_the_answers(tmp_path, source_file):
    solutions = source_file.parent.parent
    notebook = source_notebook()
    notebook.cells[2].source = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"
    nbformat.write(notebook, source_file)
    blob = submissions.reference_submission(LAB, solutions, tmp_path / "no-release")
    pasted = nbformat.reads(blob.decode(), 4)
    assert pasted.cells[2].source == "def f(x):\n    return 2 * x"


# ------------------------------------------------------------------------------------ demonstrations


def test_demo_cells_come_from_the_source_notebook_only():
    source = source_notebook()
    assert submissions.demo_cells(source) == {"timing"}
    source.cells[3].metadata["tags"] = ["demo"]  # a test cell is never a demonstration
    source.cells[2].metadata["tags"] = ["demo"]  # nor is a solution cell
    assert submissions.demo_cells(source) == {"timing"}


def test_demo_cells_are_skipped_and_say_so(source_file):
    submitted = source_notebook()
    submitted.cells[4].metadata.pop("tags")  # the student's copy lost the tag: the source decides
    submitted.cells[2].metadata["tags"] = ["demo"]  # and a student's own tag is ignored
    resources = {"nbgrader": {"assignment": LAB, "notebook": LAB}}
    skip = demo_cells.SkipDemoCells(source_directory=str(source_file.parent.parent))
    notebook, resources = skip.preprocess(submitted, resources)
    assert [c.source == "" for c in notebook.cells] == [False, False, False, False, True, False]
    notebook, resources = demo_cells.ShowSkippedDemoCells().preprocess(notebook, resources)
    assert notebook.cells[4].source.startswith("import time")
    assert notebook.cells[4].outputs[0]["text"] == demo_cells.SKIPPED_NOTE


def _defined_and_read(source: str) -> tuple[set[str], set[str]]:
    """Names a cell binds at top level and names it reads before binding them itself (functions included)."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    tree = ast.parse(code)
    defined, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (defined if isinstance(node.ctx, (ast.Store, ast.Del)) else read).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
    return defined, read


@pytest.mark.parametrize("lab", labs())
def test_no_cell_reads_a_name_only_a_demo_cell_defines(lab):
    """Skipping demonstration cells when grading cannot change a score: nothing else depends on their names."""
    source = nbformat.read(SOLUTIONS / lab / f"{lab}.ipynb", as_version=4)
    demos = submissions.demo_cells(source)
    code_cells = [c for c in source.cells if c.cell_type == "code"]
    defined_by_demo, defined_elsewhere, reads = set(), set(), {}
    for code_cell in code_cells:
        defined, read = _defined_and_read(code_cell.source)
        if submissions.grade_id(code_cell) in demos:
            defined_by_demo |= defined
        else:
            defined_elsewhere |= defined
            reads[submissions.grade_id(code_cell) or code_cell.source.splitlines()[0][:40]] = read
    only_demo = defined_by_demo - defined_elsewhere
    needing = {name: sorted(read & only_demo) for name, read in reads.items() if read & only_demo}
    assert not needing, f"{lab}: cells read names that only demonstration cells {sorted(demos)} define: {needing}"


def test_the_static_check_sees_a_dependency():
    defined, read = _defined_and_read("import time\nstarted = time.time()")
    assert {"time", "started"} <= defined
    assert "started" in _defined_and_read("print(started)")[1]


# ---------------------------------------------------------------------------------------- the sandbox


def test_kernel_env_passes_variables_by_exact_name_only():
    env = sandbox.kernel_env({"JPY_API_TOKEN": "secret", "JPY_SESSION_NAME": "x", "TF_CPP_MIN_LOG_LEVEL": "3",
                              "COURSE_DATASET": "synthetic", "COURSE_SECRET": "no", "TF_TOKEN": "no",
                              "NBGRADER_EXECUTION": "autograde"})  # fmt: skip
    assert env["TF_CPP_MIN_LOG_LEVEL"] == "3" and env["COURSE_DATASET"] == "synthetic"
    assert env["NBGRADER_EXECUTION"] == "autograde"
    assert not {"JPY_API_TOKEN", "JPY_SESSION_NAME", "COURSE_SECRET", "TF_TOKEN"} & set(env)


def test_scratch_workdir_holds_no_autograded_notebook_links_or_fifos(tmp_path):
    course = tmp_path / "course"
    autograded = course / "autograded" / "alice" / LAB
    submitted = course / "submitted" / "alice" / LAB
    autograded.mkdir(parents=True)
    submitted.mkdir(parents=True)
    (autograded / f"{LAB}.ipynb").write_text("HIDDEN TESTS")
    (submitted / f"{LAB}.ipynb").write_text("student's own")
    (autograded / "numbers.txt").write_text("1 2 3")
    (autograded / "link.txt").symlink_to("/etc/passwd")
    os.mkfifo(autograded / "fifo.txt")
    (autograded / "data").mkdir()
    (autograded / "data" / "x.csv").write_text("1")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    sandbox.scratch_workdir(autograded, scratch, sandbox.submitted_notebook(autograded))
    files = sorted(str(p.relative_to(scratch)) for p in scratch.rglob("*") if p.is_file() or p.is_symlink())
    assert files == ["data/x.csv", f"{LAB}.ipynb", "numbers.txt"]
    assert (scratch / f"{LAB}.ipynb").read_text() == "student's own"


def test_write_new_file_never_follows_a_link(tmp_path):
    target = tmp_path / "outside.txt"
    (tmp_path / "planted").symlink_to(target)
    with pytest.raises(FileExistsError):
        sandbox.write_new_file(tmp_path / "planted", b"x")
    assert not target.exists()


def test_bwrap_gives_size_limited_tmp_and_shm():
    args = sandbox.bwrap_args(Path("/w"), Path("/s"), [], {}, limits.Limits(tmp_bytes=64 * limits.MIB))
    joined = " ".join(args)
    assert f"--size {64 * limits.MIB} --tmpfs /tmp" in joined
    assert "--tmpfs /dev/shm" in joined and "--remount-ro /dev" in joined


def test_every_message_type_counts_as_output():
    update = {"msg_type": "update_display_data", "content": {"data": {"text/plain": "x" * 1000},
              "metadata": {"huge": "y" * 5000}, "transient": {"display_id": "d"}}}  # fmt: skip
    assert _message_size(update) > 6000
    assert _message_size({"msg_type": "comm_msg", "content": {"data": {}}, "buffers": [b"z" * 4096]}) > 4096


def test_limits_banner_says_how_the_whole_sandbox_is_limited():
    line = limits.describe(limits.Limits(tmp_bytes=256 * limits.MIB, tasks=100))
    assert "/tmp 256 MiB" in line and "100 processes" in line
    assert ("cgroup v2" in line) == (limits.cgroup_parent() is not None)


# ------------------------------------------------------------------------------------ canary, feedback


def test_canary_problem_names_the_failing_cell_and_a_cause():
    full = grading.GradeResult("reference-canary", LAB, scores={"a": 1.0, "b": 2.0}, max_scores={"a": 1.0, "b": 2.0})
    assert batch.canary_problem(full) is None
    failed = grading.GradeResult("reference-canary", LAB, scores={"a": 1.0, "b": 0.0}, max_scores={"a": 1.0, "b": 2.0},
                                 messages={"b": "ModuleNotFoundError: No module named 'course_utils'"})  # fmt: skip
    problem = batch.canary_problem(failed)
    assert "\n" not in problem and "'b'" in problem and "1/3" in problem and "make install" in problem
    stopped = grading.GradeResult("reference-canary", LAB, scores={"a": 0.0}, max_scores={"a": 1.0},
                                  reason="the kernel died: it used more CPU time than allowed")  # fmt: skip
    assert "grading limit" in batch.canary_problem(stopped)


def test_fallback_feedback_lists_problems_and_scores_escaped():
    result = grading.GradeResult("alice", LAB, scores={"test_f": 0.0}, max_scores={"test_f": 1.0},
                                 problems=["<script>not a readable notebook</script>"])  # fmt: skip
    page = grading.fallback_feedback(result)
    assert "&lt;script&gt;" in page and "<script>" not in page and "0 / 1" in page


def test_cgroup_limits_and_their_reasons(tmp_path, monkeypatch):
    """The cgroup v2 branch, on a folder standing in for a delegated cgroup (this machine may offer none)."""
    monkeypatch.setattr(limits, "cgroup_parent", lambda: tmp_path)
    sandbox_limits = limits.Limits(sandbox_memory_bytes=100 * limits.MIB, tmp_bytes=10 * limits.MIB, tasks=64)
    group = limits.make_cgroup(sandbox_limits, "sandbox-1")
    assert (group / "memory.max").read_text() == str(110 * limits.MIB)
    assert (group / "pids.max").read_text() == "64" and (group / "memory.swap.max").read_text() == "0"
    watchdog = limits.Watchdog(sandbox_limits, os.getpid(), group)
    (group / "cpu.stat").write_text("usage_usec 1000000\n")
    (group / "memory.events").write_text("oom 0\noom_kill 0\n")
    assert watchdog.over_limit() is None
    (group / "memory.events").write_text("oom 1\noom_kill 1\n")
    assert "memory" in watchdog.over_limit()
    (group / "memory.events").write_text("oom 0\noom_kill 0\n")
    (group / "cpu.stat").write_text(f"usage_usec {(sandbox_limits.notebook_cpu_s + 1) * 10**6}\n")
    assert "CPU seconds" in watchdog.over_limit()


def test_counting_watchdog_counts_every_process_below_its_root():
    import subprocess

    sleepers = [subprocess.Popen(["sleep", "30"]) for _ in range(3)]
    try:
        assert limits.Watchdog(limits.Limits(), os.getpid()).over_limit() is None
        assert "more than 2 processes" in limits.Watchdog(limits.Limits(tasks=2), os.getpid()).over_limit()
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()
