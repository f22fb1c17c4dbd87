"""The sandbox's working directory and its whole-sandbox limits, end to end on the fixture lab (no TensorFlow).

Each submission is graded once, with small limits (``LIMITS``), and each test checks one rule of issue 16:
- the kernel works in a fresh folder with the student's notebook only: no autograded notebook, no hidden tests;
- links and FIFOs the kernel plants in its working folder never make the grader write outside the sandbox or hang;
- ``/tmp`` is a size-limited tmpfs; memory and processes are limited for all the kernel's processes together
  (forked children included), not per process;
- environment variables reach the kernel by exact name only (``JPY_API_TOKEN`` does not).

The whole-sandbox limits run on whichever backend ``limits.backend()`` chooses here (cgroup v2, cgroup v1, or the
counting supervisor) and, where that is a cgroup, once more with the counting supervisor (``cgroups = 0``). The
cgroup tests at the end run the sandbox launcher directly (bwrap, no kernel) with a cgroup: memory over the cap
from forked children and from files in the tmpfs ``/tmp``, and a fork bomb, are stopped with their reason, and no
group is left behind; they skip where no cgroup is writable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder import grading, limits, sandbox, submissions

pytestmark = [pytest.mark.notebook, pytest.mark.slow]

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "autograder" / "solutions"
LAB = "lab0_grading"
FULL = 5.0
MIB = 1024**2
LIMITS = {
    "Execute.timeout": 20,
    "GuardedExecute.notebook_timeout": 90,
    "GuardedExecute.cell_cpu_timeout": 15,
    "SandboxedKernelManager.limits": {
        "memory_bytes": 3 * 1024**3,
        "sandbox_memory_bytes": 700 * MIB,
        "notebook_cpu_s": 60,
        "file_bytes": 10 * MIB,
        "tmp_bytes": 16 * MIB,
        "tasks": 200,
    },  # fmt: skip
}
needs_sandbox = pytest.mark.skipif(not sandbox.sandbox_status()[0], reason="no bubblewrap sandbox here")
needs_cgroup = pytest.mark.skipif(limits.backend() == "counting", reason="no writable cgroup (v2 or v1) here")
# the backend this machine offers, and the counting supervisor where that is a cgroup
BACKENDS = [pytest.param(1, id=limits.backend()), pytest.param(0, id="counting", marks=needs_cgroup)]


def with_cgroups(cgroups: int) -> dict:
    settings = {**LIMITS["SandboxedKernelManager.limits"], "cgroups": cgroups}
    return {**LIMITS, "SandboxedKernelManager.limits": settings}


CORRECT_MEAN = "\ndef mean(values):\n    return sum(values) / len(values)\n"
PROBE = """
import json, os
report = {{"files": sorted(os.listdir("."))}}
text = "".join(open(name).read() for name in os.listdir(".") if name.endswith(".ipynb"))
report["hidden_visible"] = "hidden" + "_only" in text  # the hidden test's marker
report["token"] = os.environ.get("JPY_API_TOKEN")
for name in os.listdir("."):
    if os.path.isfile(name):
        os.remove(name)
for name in ["{lab}.ipynb", "numbers.txt", "{lab}.html", "timestamp.txt", "gradebook.db"]:
    os.symlink({outside!r}, name)
os.mkfifo("fifo.ipynb")
os.mkfifo("data.txt")
print("PROBE " + json.dumps(report))
"""
FILL_TMP = """
import errno
def fill(folder):
    try:
        for index in range(16):  # 4 MiB files (below the largest-file limit) until the tmpfs is full
            with open(f"{folder}/fill{index}", "wb") as file:
                file.write(b"1" * (4 * 2**20))
    except OSError as error:
        return errno.errorcode.get(error.errno, str(error.errno))
    return "not full"
print("TMP", fill("/tmp"), fill("/dev/shm"))
"""
FORK_CHILDREN = """
import os, time
children = []
for _ in range(3):  # each child below the per-process limit, together above the sandbox's memory limit
    pid = os.fork()
    if pid == 0:
        block = b"1" * (300 * 2**20)
        time.sleep(30)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
"""
MANY_PROCESSES = """
import subprocess, time
sleepers = [subprocess.Popen(["sleep", "30"]) for _ in range(400)]
time.sleep(5)  # the counting supervisor looks every 0.25 s: 400 spawns can take less, and the notebook end too
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return grading.prepare_template(LAB, FIXTURE / LAB, tmp_path_factory.mktemp("template") / "course", LIMITS)


def graded(template: Path, student: str, replace: dict[str, str], config: dict = LIMITS) -> grading.GradeResult:
    notebook = nbformat.reads(submissions.reference_submission(LAB, FIXTURE, template / "release").decode(), 4)
    for cell in notebook.cells:
        if submissions.grade_id(cell) in replace:
            cell.source = replace[submissions.grade_id(cell)]
    blob = nbformat.writes(notebook).encode()
    return grading.grade_submission(LAB, student, blob, FIXTURE / LAB, template=template, config=config)


def outputs(result: grading.GradeResult, grade_id: str) -> str:
    notebook = nbformat.reads(result.autograded_notebook, 4)
    cell = next(c for c in notebook.cells if submissions.grade_id(c) == grade_id)
    return "".join(o.get("text", "") for o in cell.outputs)


@pytest.fixture(scope="module")
def probed(template, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "written-through-a-link"
    os.environ["JPY_API_TOKEN"] = "tutor-secret-token"
    try:
        probe = PROBE.format(lab=LAB, outside=str(outside)) + CORRECT_MEAN
        count = FILL_TMP + "\ndef count_positive(values):\n    return sum(v > 0 for v in values)\n"
        result = graded(template, "prober", {"mean_function": probe, "count_function": count})
    finally:
        del os.environ["JPY_API_TOKEN"]
    return result, outside


@needs_sandbox
def test_working_directory_holds_the_students_notebook_only(probed):
    result, _ = probed
    report = json.loads(outputs(result, "mean_function").split("PROBE ", 1)[1].splitlines()[0])
    assert report["files"] == [f"{LAB}.ipynb", "numbers.txt"]
    assert report["hidden_visible"] is False, "the hidden tests were readable from the kernel's working directory"


@needs_sandbox
def test_planted_links_and_fifos_write_nothing_outside_and_do_not_hang(probed):
    result, outside = probed
    assert not outside.exists(), "the grader wrote through a link the kernel planted"
    assert result.total == FULL, (result.scores, result.messages, result.problems)
    assert result.seconds < 80 and not result.reason


@needs_sandbox
def test_environment_variables_pass_by_exact_name(probed):
    result, _ = probed
    assert '"token": null' in outputs(result, "mean_function")


@needs_sandbox
def test_tmp_and_shm_are_size_limited(probed):
    result, _ = probed
    assert "TMP ENOSPC ENOSPC" in outputs(result, "count_function")


@pytest.mark.parametrize("cgroups", BACKENDS)
def test_forked_children_count_together(template, cgroups):
    result = graded(template, "forker", {"scale_function": FORK_CHILDREN}, with_cgroups(cgroups))
    assert "together used more than" in result.reason, (result.reason, result.messages)
    if cgroups and limits.backend() != "counting":
        assert "(their /tmp files included)" in result.reason  # the cgroup's reason, not the counting one
    assert result.scores["test_mean"] == 2.0 and result.scores["test_scaled"] == 0.0
    assert leaked_cgroups() == []


@pytest.mark.parametrize("cgroups", BACKENDS)
def test_processes_are_limited_for_the_whole_sandbox(template, cgroups):
    result = graded(template, "spawner", {"count_function": MANY_PROCESSES}, with_cgroups(cgroups))
    notebook = nbformat.reads(result.autograded_notebook, 4)
    spawned = next(c for c in notebook.cells if submissions.grade_id(c) == "count_function")
    refused = " ".join(f"{o.get('ename', '')} {o.get('evalue', '')}" for o in spawned.outputs)
    # the supervisor kills the sandbox, or the kernel's process limit refuses the fork first (a loaded machine)
    stopped = "processes" in result.reason or "processes" in " ".join(result.messages.values())
    assert stopped or "BlockingIOError" in refused or "Resource temporarily unavailable" in refused, (
        result.reason,
        refused,
        result.scores,
        result.messages,
        result.problems,
    )
    if cgroups and limits.backend() != "counting":  # the kernel refuses the fork; the supervisor says why
        assert "it started more than 200 processes and threads" in result.reason, (result.reason, refused)
    assert result.scores["test_count"] == 0.0 and result.scores["test_mean"] == 2.0
    assert leaked_cgroups() == []


# ------------------------------------------------------------------- the cgroup backend, through the launcher


def leaked_cgroups() -> list[Path]:
    """Sandbox cgroups whose supervisor is gone (named after it: ``autograder-sandbox-<pid>``): leaks, once the
    remover of a supervisor that has just been killed (another grading run on this machine) has had 5 s."""
    parents = [limits.cgroup_parent()] + list((limits.cgroup_v1_parents() or {}).values())
    for _ in range(50):
        groups = [group for parent in parents if parent is not None for group in parent.glob("autograder-sandbox-*")]
        leaked = [group for group in groups if not Path(f"/proc/{group.name.rsplit('-', 1)[1]}").exists()]
        if not leaked:
            break
        time.sleep(0.1)
    return leaked


def launched(
    tmp_path: Path, code: str, blocked: Path | None = None, kill: bool = False, **overrides
) -> tuple[subprocess.CompletedProcess, str, float]:
    """Run ``python -c code`` in a bwrap sandbox under the supervisor (no kernel): the run, its report, seconds.

    ``blocked``: a cgroup folder where the supervisor's group is made first (same name), so that making it fails;
    ``kill``: once the code prints ``started``, SIGKILL the launcher's process group, as jupyter_client does.
    """
    settings = {"memory_bytes": 3 * 1024**3, "notebook_cpu_s": 60, "file_bytes": 64 * MIB, "tasks": 64}
    sandbox_limits = limits.Limits(**{**settings, **overrides})
    work, sockets, report = tmp_path / "work", tmp_path / "sockets", tmp_path / "report"
    for folder in (work, sockets, report):
        folder.mkdir()
    env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "autograder.sandbox", f"--parent-pid={os.getpid()}", f"--report={report}/stop",
               *limits.limit_args(sandbox_limits), "--", *sandbox.bwrap_args(work, sockets, [], env, sandbox_limits),
               "--", sys.executable, "-c", code]  # fmt: skip
    if blocked is not None:  # the shell execs the launcher: same pid, so it knows the group's name in advance
        command = ["sh", "-c", 'mkdir "$0/autograder-sandbox-$$" && exec "$@"', str(blocked), *command]
    started = time.monotonic()
    env = {**os.environ, "PYTHONPATH": str(sandbox.REPO_ROOT)}
    pipe = subprocess.PIPE
    process = subprocess.Popen(command, stdout=pipe, stderr=pipe, text=True, start_new_session=True, env=env)
    try:
        if kill:
            assert process.stdout.readline() == "started\n"
            os.killpg(process.pid, 9)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait()
    seconds = time.monotonic() - started
    if blocked is not None:
        (blocked / f"autograder-sandbox-{process.pid}").rmdir()
    parents = [limits.cgroup_parent()] + list((limits.cgroup_v1_parents() or {}).values())
    left = [p / f"autograder-sandbox-{process.pid}" for p in parents if p is not None]
    for _ in range(100):  # the supervisor removes its groups before it exits; when killed, its remover does
        if not any(group.exists() for group in left):
            break
        time.sleep(0.05)
    assert not any(group.exists() for group in left), "the sandbox's cgroup was left behind"
    done = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    return done, limits.read_report(report / "stop") or "", seconds


FORKED_MEMORY = """
import os, time
for _ in range(3):  # 3 x 80 MiB: each below the cap, together above it
    if os.fork() == 0:
        block = bytearray(80 * 2**20)
        time.sleep(30)
        os._exit(0)
time.sleep(30)
print("not stopped")
"""
TMP_THEN_MEMORY = """
import time
for index in range(30):  # 240 MiB of files in the 256 MiB /tmp: below the cgroup's 320 MiB on their own
    with open(f"/tmp/held{index}", "wb") as file:
        file.write(b"1" * (8 * 2**20))
print("files held", flush=True)
blocks = []
for step in range(16):  # 128 MiB more, this time as the process's own memory
    blocks.append(bytearray(8 * 2**20))
    print("allocated MiB", 8 * (step + 1), flush=True)
print("not stopped")
"""
FORK_BOMB = """
import os, time
for _ in range(10):  # bounded: 1024 processes if nothing stops it
    try:
        os.fork()
    except OSError:
        pass
time.sleep(30)
print("not stopped")
"""


@needs_sandbox
@needs_cgroup
def test_cgroup_stops_forked_children_over_the_memory_cap(tmp_path):
    done, reason, seconds = launched(tmp_path, FORKED_MEMORY, sandbox_memory_bytes=128 * MIB, tmp_bytes=16 * MIB)
    assert f"together used more than {144 * MIB:,} bytes of memory (their /tmp" in reason, (reason, done.stderr)
    assert "not stopped" not in done.stdout and done.returncode != 0 and seconds < 20


@needs_sandbox
@needs_cgroup
def test_cgroup_charges_files_in_tmp(tmp_path):
    """tmpfs pages count: 240 MiB held in /tmp plus 128 MiB allocated is over the 320 MiB of the sandbox's cgroup,
    though each alone is below it (and no process's address space holds the files)."""
    done, reason, seconds = launched(tmp_path, TMP_THEN_MEMORY, sandbox_memory_bytes=64 * MIB, tmp_bytes=256 * MIB)
    assert "files held" in done.stdout and "not stopped" not in done.stdout, (done.stdout, done.stderr)
    assert "bytes of memory (their /tmp files included)" in reason, (reason, done.stderr)
    allocated = [int(line.split()[-1]) for line in done.stdout.splitlines() if line.startswith("allocated MiB")]
    assert max(allocated, default=0) <= 320 - 240, allocated  # stopped at the cap, /tmp files included
    assert seconds < 20


@needs_sandbox
@needs_cgroup
def test_cgroup_stops_a_fork_bomb(tmp_path):
    done, reason, seconds = launched(tmp_path, FORK_BOMB, tasks=64)
    assert "started more than 64 processes and threads" in reason, (reason, done.stderr)
    assert "not stopped" not in done.stdout and seconds < 20


def test_backend_is_chosen_in_one_place_and_stated(monkeypatch):
    assert limits.backend(limits.Limits(cgroups=0)) == "counting"
    how = limits.backend()
    line = limits.describe(limits.Limits())
    assert {"cgroup v2": "(cgroup v2", "cgroup v1": "(cgroup v1: memory, pids", "counting": "(counted by"}[how] in line
    monkeypatch.setattr(limits, "cgroup_parent", lambda: None)
    monkeypatch.setattr(limits, "cgroup_v1_parents", lambda: None)
    assert limits.backend() == "counting" and limits.make_sandbox_cgroup(limits.Limits(), "unused") is None
    assert "no usable cgroup here" in limits.describe(limits.Limits())


def test_a_cgroup_that_cannot_be_made_falls_back_to_counting(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(limits, "cgroup_parent", lambda: None)
    missing = {"memory": tmp_path / "gone" / "memory", "pids": tmp_path / "gone" / "pids"}
    monkeypatch.setattr(limits, "cgroup_v1_parents", lambda: missing)
    assert limits.backend() == "cgroup v1"
    assert limits.make_sandbox_cgroup(limits.Limits(), "autograder-sandbox-test") is None
    warning = capsys.readouterr().err
    assert warning.startswith("warning: no cgroup v1 for the sandbox") and warning.count("\n") == 1


@needs_sandbox
@needs_cgroup
def test_the_supervisor_counts_when_its_cgroup_cannot_be_made(tmp_path):
    """A cgroup that cannot be made at run time (here: its name is taken): one warning line, and the counting
    supervisor stops forked children over the memory cap with its own reason; grading would go on."""
    v1 = limits.cgroup_v1_parents()
    blocked = limits.cgroup_parent() or v1["pids"]  # v1: the memory group is made first, then removed again
    done, reason, seconds = launched(
        tmp_path, FORKED_MEMORY, blocked, sandbox_memory_bytes=128 * MIB, tmp_bytes=16 * MIB
    )
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "counted by the supervisor instead" in warnings[0], done.stderr
    assert f"its processes together used more than {128 * MIB:,} bytes of memory" == reason, (reason, done.stderr)
    assert "not stopped" not in done.stdout and seconds < 20


@needs_sandbox
@needs_cgroup
def test_cgroup_goes_when_the_launcher_is_killed(tmp_path):
    """jupyter_client stops a kernel with SIGKILL to the launcher's process group: the sandbox's processes and
    cgroup still go (``launched`` checks that no group is left)."""
    code = "import subprocess, time\nsleepers = [subprocess.Popen(['sleep', '60']) for _ in range(5)]\n"
    done, reason, seconds = launched(tmp_path, code + "print('started')\ntime.sleep(60)\n", kill=True)
    assert done.returncode == -9 and reason == "" and seconds < 20


@needs_cgroup
def test_a_cgroup_that_cannot_be_joined_is_removed_and_counting_takes_over(capsys):
    group = limits.make_sandbox_cgroup(limits.Limits(tasks=10), f"autograder-sandbox-{os.getpid()}-join")
    assert group is not None
    folders = [group] if isinstance(group, Path) else list(group.folders.values())
    process = subprocess.Popen(["sleep", "30"])
    process.kill()
    process.wait()  # a pid that is gone: joining fails at run time (ESRCH)
    assert limits.place_in_cgroup(group, process.pid) is False
    assert not any(folder.exists() for folder in folders)
    warning = capsys.readouterr().err
    assert warning.startswith("warning: cannot join the sandbox's cgroup") and warning.count("\n") == 1


@needs_cgroup
def test_cgroup_watchdog_reads_the_kernel_counters():
    """A live group: within limits nothing is reported; its own process in it, removing it kills that process."""
    group = limits.make_sandbox_cgroup(limits.Limits(tasks=10), f"autograder-sandbox-{os.getpid()}-watch")
    sleeper = subprocess.Popen(["sleep", "30"])
    if isinstance(group, limits.CgroupV1):  # the limits as the kernel reads them back
        memory, expected = group.folders["memory"], str(limits.cgroup_memory_bytes(limits.Limits()))
        assert (memory / "memory.limit_in_bytes").read_text().strip() == expected
        memsw = memory / "memory.memsw.limit_in_bytes"
        assert not memsw.exists() or memsw.read_text().strip() == expected  # no swap beyond the memory limit
        assert (group.folders["pids"] / "pids.max").read_text().strip() == "10"
    try:
        assert limits.place_in_cgroup(group, sleeper.pid)
        folders = [group] if isinstance(group, Path) else list(group.folders.values())
        assert all(str(sleeper.pid) in (folder / "cgroup.procs").read_text().split() for folder in folders)
        assert limits.Watchdog(limits.Limits(tasks=10), os.getpid(), group).over_limit() is None
    finally:
        limits.remove_sandbox_cgroup(group)
    assert sleeper.wait(timeout=5) == -9
    folders = [group] if isinstance(group, Path) else list(group.folders.values())
    assert not any(folder.exists() for folder in folders)


def test_cgroup_v1_reasons_from_the_kernel_counters(tmp_path):
    """The v1 files the watchdog reads, on folders standing in for a sandbox's groups (runs on any machine)."""
    folders = {name: tmp_path / name for name in ("memory", "pids", "cpuacct")}
    for folder in folders.values():
        folder.mkdir()
    sandbox_limits = limits.Limits(sandbox_memory_bytes=100 * MIB, tmp_bytes=10 * MIB, tasks=64, notebook_cpu_s=5)
    watchdog = limits.Watchdog(sandbox_limits, os.getpid(), limits.CgroupV1(folders))
    (folders["memory"] / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
    (folders["memory"] / "memory.failcnt").write_text("3\n")  # reclaimed page cache: not a limit reached
    (folders["pids"] / "pids.events").write_text("max 0\n")
    (folders["cpuacct"] / "cpuacct.usage").write_text(f"{4 * 10**9}\n")
    assert watchdog.over_limit() is None
    (folders["cpuacct"] / "cpuacct.usage").write_text(f"{6 * 10**9}\n")
    assert watchdog.over_limit() == "its processes together used more than 5 CPU seconds"
    (folders["pids"] / "pids.events").write_text("max 2\n")
    assert watchdog.over_limit() == "it started more than 64 processes and threads (limit of the whole sandbox)"
    (folders["memory"] / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    assert watchdog.over_limit() == (
        f"its processes together used more than {110 * MIB:,} bytes of memory (their /tmp files included)"
    )
    (folders["memory"] / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\n")  # before 4.13
    assert "bytes of memory" in watchdog.over_limit()
    no_cpuacct = limits.CgroupV1({"memory": folders["memory"], "pids": folders["pids"]})
    (folders["memory"] / "memory.failcnt").write_text("0\n")
    (folders["pids"] / "pids.events").write_text("max 0\n")
    generous = limits.Limits(tasks=64, notebook_cpu_s=10**6)  # CPU counted by process (this one's children)
    assert limits.Watchdog(generous, os.getpid(), no_cpuacct).over_limit() is None
