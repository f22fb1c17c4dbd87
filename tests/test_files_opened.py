"""checks.files_opened: which files the student's process tree opens, observed from outside it.

With fanotify (CAP_SYS_ADMIN: root here) only opens by the observed process and its descendants count: when graded,
the student side of the channel (its peer credentials), else the process that observes (the student's kernel).
Opens by unrelated processes, and by the test process itself while graded, are left out (``.ignored``). Without
fanotify the inotify fallback sees every process's opens. The processes here are small Python workers that open
files on request; no kernel, no TensorFlow, except for the last test, which grades a fixture lab in the sandbox.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from course_utils import checks

FANOTIFY = checks._may_use_fanotify()
needs_fanotify = pytest.mark.skipif(not FANOTIFY, reason="fanotify needs CAP_SYS_ADMIN (run as root)")

# A process that opens files on request: ``open PATH`` (itself) or ``spawn PATH`` (a child process opens it), each
# answered with ``ok`` once done. ``--orphan``: it forks and its parent exits, so it descends from nobody here.
# ``--connect PATH``: it connects to a Unix socket first, as the student side of the grading channel does.
WORKER = r"""
import os, socket, subprocess, sys
args = sys.argv[1:]
if "--orphan" in args and os.fork():
    os._exit(0)
if "--connect" in args:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(args[args.index("--connect") + 1])
print("started", flush=True)
for line in sys.stdin:
    command, path = line.split(" ", 1)
    path = path.rstrip("\n")
    if command == "open":
        open(path, "rb").read()
    else:
        subprocess.run([sys.executable, "-c", f"open({path!r}, 'rb').read()"], check=True)
    print("ok", flush=True)
"""


class Worker:
    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", WORKER, *args], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert self.process.stdout.readline() == "started\n"

    def do(self, command: str, path: Path) -> None:
        self.process.stdin.write(f"{command} {path}\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline() == "ok\n"

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(10)


class FakeChannel:
    """What files_opened reads of a grading channel: its connected Unix socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock


@pytest.fixture
def tree(tmp_path) -> Path:
    for name in ("a.npy", "b.npy", "c.npy", "d.npy"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        (tmp_path / "sub" / name).write_bytes(b"x")
    return tmp_path


@pytest.fixture
def student():
    """A worker connected to a listening socket, and this side's accepted connection (the trusted side's view)."""
    folder = tempfile.mkdtemp(prefix="opened-")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(os.path.join(folder, "s"))
        listener.listen(1)
        worker = Worker("--connect", os.path.join(folder, "s"))
        connection, _ = listener.accept()
        try:
            yield worker, FakeChannel(connection)
        finally:
            connection.close()
            worker.close()
    finally:
        listener.close()
        shutil.rmtree(folder, ignore_errors=True)


def names(paths: list[str]) -> list[str]:
    return [path.rsplit("/", 1)[-1] for path in paths]


@needs_fanotify
def test_graded_counts_only_the_student_side_and_its_children(tree, student):
    worker, channel = student
    unrelated = Worker()  # a sibling of the student: another grading worker, an indexer
    try:
        watch = checks.files_opened(tree)
        with checks.grading_session(channel, None), watch as opened:
            worker.do("open", tree / "sub" / "a.npy")
            worker.do("spawn", tree / "sub" / "b.npy")
            (tree / "sub" / "c.npy").read_bytes()  # the test process itself
            unrelated.do("open", tree / "sub" / "d.npy")
    finally:
        unrelated.close()
    assert watch.observer == "fanotify"
    assert opened == [str(tree / "sub" / "a.npy"), str(tree / "sub" / "b.npy")]
    assert watch.ignored >= 2  # c.npy and d.npy (and whatever else opened them meanwhile)


@needs_fanotify
def test_in_the_kernel_counts_this_process_and_its_children_only(tree):
    orphan = Worker("--orphan")  # started from here, but its parent exited: not a descendant any more
    try:
        watch = checks.files_opened(str(tree))
        with watch as opened:
            (tree / "sub" / "a.npy").read_bytes()
            subprocess.run([sys.executable, "-c", f"open({str(tree / 'sub' / 'b.npy')!r}).read()"], check=True)
            orphan.do("open", tree / "sub" / "c.npy")
            (tree / "sub" / "a.npy").read_bytes()  # once per open, in order
    finally:
        orphan.close()
    assert watch.observer == "fanotify"
    assert names(opened) == ["a.npy", "b.npy", "a.npy"]
    assert watch.ignored >= 1


@needs_fanotify
def test_paths_keep_the_folder_as_given(tree, tmp_path_factory):
    link = tmp_path_factory.mktemp("link") / "to-tree"
    link.symlink_to(tree, target_is_directory=True)
    with checks.files_opened(link) as opened:
        (tree / "sub" / "a.npy").read_bytes()
    assert opened == [os.path.join(str(link), "sub", "a.npy")]


def test_inotify_fallback_sees_every_process(tree):
    orphan = Worker("--orphan")
    try:
        watch = checks.files_opened(tree, observer="inotify")
        with watch as opened:
            (tree / "sub" / "a.npy").read_bytes()
            orphan.do("open", tree / "sub" / "b.npy")
    finally:
        orphan.close()
    assert watch.observer == "inotify"
    assert names(opened) == ["a.npy", "b.npy"]


def test_auto_falls_back_to_inotify(tree, monkeypatch):
    monkeypatch.setattr(checks, "_may_use_fanotify", lambda: False)  # a student's kernel without root
    watch = checks.files_opened(tree)
    with watch as opened:
        (tree / "sub" / "a.npy").read_bytes()
    assert (watch.observer, names(opened)) == ("inotify", ["a.npy"])
    with pytest.raises(OSError, match="fanotify is not available here: this process lacks CAP_SYS_ADMIN"):
        with checks.files_opened(tree, observer="fanotify"):
            pass


def test_a_channel_without_peer_credentials_falls_back_to_inotify(tree):
    watch = checks.files_opened(tree)
    with checks.grading_session(object(), None), watch as opened:  # no socket: whose opens would count is unknown
        (tree / "sub" / "a.npy").read_bytes()
    assert (watch.observer, names(opened)) == ("inotify", ["a.npy"])


def test_bad_arguments_are_refused(tree):
    with pytest.raises(ValueError, match="observer must be"):
        checks.files_opened(tree, observer="strace")
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        with checks.files_opened(tree / "missing"):
            pass


# --------------------------------------------------------------------------- graded in the sandbox, end to end

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "autograder" / "solutions" / "lab0_grading"
LAB = "lab0_opens"
STUDENT_READER = '''
import subprocess

def read_two(first, second):
    """Read ``first`` here and ``second`` in a child process."""
    ### BEGIN SOLUTION
    open(first).read()
    subprocess.run(["cat", second], stdout=subprocess.DEVNULL, check=True)
    ### END SOLUTION
'''
OPENS_TEST = """
with checks.shared_folder() as _folder:
    for _name in ("a.txt", "b.txt", "c.txt"):
        (_folder / _name).write_text("x")
    with checks.files_opened(_folder) as _opened:
        read_two(str(_folder / "a.txt"), str(_folder / "b.txt"))
        (_folder / "c.txt").read_text()  # the test's own read: never the student's
    checks.check_equal("files the student's code opened", [p.rsplit("/", 1)[-1] for p in _opened], ["a.txt", "b.txt"])
"""


@pytest.mark.notebook
@pytest.mark.slow
@needs_fanotify
def test_graded_in_the_sandbox_counts_the_sandboxs_opens_only(tmp_path):
    from autograder import grading, sandbox, submissions

    if not sandbox.sandbox_status()[0]:
        pytest.skip("no bubblewrap sandbox here")
    solutions = tmp_path / "solutions"
    shutil.copytree(FIXTURE, solutions / LAB)
    source = solutions / LAB / f"{LAB}.ipynb"
    (solutions / LAB / "lab0_grading.ipynb").rename(source)
    notebook = nbformat.read(source, 4)
    for cell in notebook.cells:
        if submissions.grade_id(cell) == "count_function":
            cell.source = STUDENT_READER
        elif submissions.grade_id(cell) == "test_count":
            cell.source = OPENS_TEST
    nbformat.write(notebook, source)
    config = {"Execute.timeout": 30, "GuardedExecute.notebook_timeout": 120}
    template = grading.prepare_template(LAB, solutions / LAB, tmp_path / "course", config)
    blob = submissions.reference_submission(LAB, solutions, template / "release")
    result = grading.grade_submission(LAB, "reader", blob, solutions / LAB, template=template, config=config)
    assert "PID namespace" in result.sandbox and not result.sandbox.startswith("UNSANDBOXED"), result.sandbox
    assert result.scores["test_count"] == result.max_scores["test_count"] == 2, (result.messages, result.problems)
    assert result.total == result.max_total, (result.messages, result.problems)


@needs_fanotify
@pytest.mark.parametrize("mode", ["perm", "notify"])
def test_the_helper_in_both_fanotify_modes(tree, mode):
    """``notify``: the kernels without permission events (FAN_OPEN, attributed when the event is read)."""
    helper = Path(checks.__file__).with_name("_fanotify.py")
    command = [sys.executable, "-I", "-S", str(helper), str(os.getpid()), str(tree)] + (["notify"] * (mode == "notify"))
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == f"ready {mode}\n"
        (tree / "sub" / "a.npy").read_bytes()
        answer = process.communicate("stop\n", timeout=30)[0]
    finally:
        process.kill()
        process.wait()
    assert json.loads(answer) == {"paths": [str(tree / "sub" / "a.npy")], "ignored": 0}
