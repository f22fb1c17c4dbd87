"""Sandboxed Jupyter kernels for grading: bubblewrap namespaces + resource limits, no docker.

Every student kernel runs as::

    python -m autograder.sandbox --limits ... -- bwrap <namespaces, binds> -- python -m ipykernel_launcher -f ...

- the outer launcher (this module's ``main``) sets the per-process limits that bwrap and the kernel inherit and
  stays as the kernel's supervisor: it enforces the limits of the whole sandbox (a cgroup, v2 or else v1, where
  the machine offers one, else by counting: ``autograder.limits``) and kills the kernel's whole process group
  when the grader dies or a limit is reached (``_supervise``);
- ``bwrap`` gives the kernel no network (``--unshare-net``: only a private loopback), its own PID/IPC/UTS
  namespaces, a size-limited ``/tmp`` and ``/dev/shm`` (tmpfs), a private ``$HOME``, read-only views of the
  interpreter, the venv, ``course_utils`` and the data set, and one writable folder: a fresh scratch working
  directory holding the student's own notebook and the lab's other files (``scratch_workdir``). The autograded
  notebook (hidden tests restored), ``solutions/``, the gradebooks, other students' folders and the grading course
  are not in its file system, and the grader never writes into the scratch folder after the kernel starts, so a
  link or FIFO planted there reaches nothing. No capabilities; it dies with its parent.
- The kernel talks to the grader over Unix sockets (ZMQ ``ipc`` transport) in a private folder bound into the
  sandbox, because TCP on the host's loopback is unreachable from a new network namespace.

Where bubblewrap is missing or cannot create namespaces, kernels run with the resource limits only, and every
grading run says so loudly (``sandbox_status()``): grading is never silently unsandboxed.
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Dict, Instance, List, Unicode

from autograder import limits as sandbox_limits
from autograder.limits import GIB, KERNEL_ENV_NAMES, Limits, limit_args  # noqa: F401 (public names of this module)

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRATCH_FILE_BYTES = 64 * 1024**2  # largest file copied into a kernel's working directory


class SandboxUnavailable(RuntimeError):
    """bubblewrap is not installed or cannot create namespaces here."""


@functools.lru_cache(maxsize=1)
def sandbox_status() -> tuple[bool, str]:
    """(True, description) when bwrap can create the namespaces we need, else (False, why and how to fix)."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return False, "bubblewrap (bwrap) is not installed: `sudo apt-get install bubblewrap` (make install-sandbox)"
    probe = [bwrap, *_base_namespace_args(), "--ro-bind", "/", "/", "--", "/bin/true"]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, f"bwrap failed to start: {error}"
    if done.returncode != 0:
        return False, f"bwrap cannot create namespaces here: {done.stderr.strip()[:300]}"
    version = subprocess.run([bwrap, "--version"], capture_output=True, text=True).stdout.strip()
    return True, f"{version}: no network, own PID namespace, read-only system, size-limited /tmp, scratch workdir"


def _base_namespace_args() -> list[str]:
    return ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent"]


def _read_only_roots() -> list[Path]:
    """What the kernel must read: the system, the interpreter (pyenv, conda, ...), the venv."""
    roots = [Path(p) for p in ("/usr", "/opt") if Path(p).exists()]
    for prefix in {sys.base_prefix, sys.prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}:
        path = Path(prefix).resolve()
        if not any(path == root or root in path.parents for root in roots):
            roots.append(path)
    return roots


ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group", "nsswitch.conf",
             "fonts", "alternatives", "mime.types", "ssl")  # fmt: skip


def bwrap_args(
    workdir: Path, socket_dir: Path, read_only: list[Path], env: dict[str, str], limits: Limits | None = None
) -> list[str]:
    """The bubblewrap command line (without the kernel command) for one kernel."""
    tmp_bytes = (limits or Limits()).tmp_bytes
    args = [shutil.which("bwrap") or "bwrap", *_base_namespace_args(), "--clearenv"]
    for name in ("bin", "lib", "lib64", "lib32", "sbin"):
        top = Path("/") / name
        if top.is_symlink():
            args += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            args += ["--ro-bind", str(top), str(top)]
    for name in ETC_FILES:
        if (Path("/etc") / name).exists():
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    # A fresh /tmp first: binds that come later stay visible even when the course (venv, data) lives under /tmp.
    # Size-limited tmpfs: files held there are memory that no per-process limit sees. /dev is bwrap's own tmpfs,
    # writable and unbounded: read-only once /dev/shm (POSIX semaphores, shared memory) has its own small tmpfs.
    args += ["--proc", "/proc", "--dev", "/dev", "--size", str(max(tmp_bytes // 16, 1024**2)), "--tmpfs", "/dev/shm"]
    args += ["--remount-ro", "/dev", "--size", str(tmp_bytes), "--tmpfs", "/tmp", "--dir", "/tmp/home"]
    for path in [*_read_only_roots(), *read_only]:
        if path.exists():
            args += ["--ro-bind", str(path), str(path)]
    # The working copy and the socket folder come last: a bind over the fresh /tmp when they live in /tmp.
    args += ["--bind", str(workdir), str(workdir), "--bind", str(socket_dir), str(socket_dir), "--chdir", str(workdir)]
    args += ["--remount-ro", "/"]  # the sandbox's own root (and the folders bwrap made in it) is read-only too
    for key, value in sorted(env.items()):
        args += ["--setenv", key, value]
    return args


def kernel_env(env: dict[str, str]) -> dict[str, str]:
    """The environment a sandboxed kernel gets: variables allowed by exact name, a private home and caches.

    ``PYTHONPATH`` names the folder of the ``course_utils`` this grader imports (bound read-only into the sandbox),
    so the kernel uses the same copy even when an editable install points at another checkout of the course;
    ``COURSE_DATA_DIR`` names the data root this grader binds: inside the sandbox the checkout is not visible, and
    ``course_utils.data`` would otherwise look for data in the (empty) private home.
    """
    from course_utils import data

    kept = {k: v for k, v in env.items() if k in KERNEL_ENV_NAMES}
    kept.setdefault("COURSE_DATA_DIR", str(data.data_root().resolve()))
    path = os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"])
    kept.update(PATH=path, HOME="/tmp/home", MPLCONFIGDIR="/tmp/home/.mpl", MPLBACKEND="agg",
                IPYTHONDIR="/tmp/home/.ipython", JUPYTER_RUNTIME_DIR="/tmp/home/.runtime",
                KERAS_HOME="/tmp/home/.keras", PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1",
                PYTHONPATH=str(course_utils_root()))  # fmt: skip
    return kept


def course_utils_root() -> Path:
    """The folder that holds the ``course_utils`` package this process imports."""
    import course_utils

    return Path(course_utils.__file__).resolve().parent.parent


def scratch_workdir(workdir: Path, scratch: Path, notebook: Path | None = None) -> Path:
    """Fill the fresh folder ``scratch`` for a kernel: the regular files of ``workdir`` except notebooks, plus
    ``notebook`` (the student's own, as submitted) when given.

    ``workdir`` is nbgrader's autograded folder: it holds the autograded notebook with the hidden tests restored,
    which the kernel must never see. Links, FIFOs and devices are skipped and every file is read with O_NOFOLLOW |
    O_NONBLOCK (``submissions.read_regular_file``), so nothing planted in a submission redirects or blocks the copy.
    """
    from autograder.submissions import read_regular_file

    for folder, subfolders, files in os.walk(workdir, followlinks=False):
        relative = Path(folder).relative_to(workdir)
        subfolders[:] = [d for d in subfolders if d != ".ipynb_checkpoints" and not Path(folder, d).is_symlink()]
        for name in files:
            if name.endswith(".ipynb"):
                continue
            blob = read_regular_file(Path(folder) / name, SCRATCH_FILE_BYTES)
            if blob is not None:
                write_new_file(scratch / relative / name, blob)
    if notebook is not None:
        blob = read_regular_file(notebook, SCRATCH_FILE_BYTES)
        if blob is not None:
            write_new_file(scratch / notebook.name, blob)
    return scratch


def write_new_file(path: Path, blob: bytes) -> None:
    """Create ``path`` (it must not exist: O_EXCL | O_NOFOLLOW, so never through a link) and write ``blob``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(descriptor, "wb") as file:
        file.write(blob)


def submitted_notebook(workdir: Path) -> Path | None:
    """For nbgrader's ``<course>/autograded/<student>/<lab>/``, the student's notebook as submitted, if there."""
    lab, student, stage = workdir.name, workdir.parent.name, workdir.parent.parent
    candidate = stage.parent / "submitted" / student / lab / f"{lab}.ipynb"
    return candidate if stage.name == "autograded" and candidate.is_file() else None


def course_read_only_paths() -> list[Path]:
    """Course files a lab may read: the helper package (with its pretrained weights) and the data set."""
    import course_utils
    from course_utils import data

    paths = [Path(course_utils.__file__).resolve().parent]
    try:
        paths.append(data.data_root().resolve())
    except OSError:
        pass
    return paths


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels run in the sandbox (or, loudly, with resource limits only)."""

    limits = Dict(help="Limits fields to override (see autograder.sandbox.Limits)").tag(config=True)
    extra_read_only = List(Unicode(), help="More paths the kernel may read").tag(config=True)
    require_sandbox = Bool(False, help="Refuse to start a kernel without bubblewrap").tag(config=True)
    socket_dir = Instance(Path, allow_none=True)
    scratch_dir = Instance(Path, allow_none=True, help="The kernel's working directory (fresh, removed after)")
    report_file = Instance(Path, allow_none=True, help="Where the supervisor writes why it stopped the sandbox")

    def resolved_limits(self) -> Limits:
        return Limits(**{**asdict(Limits()), **self.limits})

    def limit_reason(self) -> str | None:
        """Why the supervisor stopped the sandbox (a limit of the whole sandbox), or None."""
        return sandbox_limits.read_report(self.report_file)

    async def _async_pre_start_kernel(self, **kw):
        # Unix sockets in a private folder: reachable through the bind, invisible to other kernels.
        self.socket_dir = Path(tempfile.mkdtemp(prefix="kernel-"))
        os.chmod(self.socket_dir, 0o700)
        self.transport = "ipc"
        self.ip = str(self.socket_dir / "k")
        self.connection_file = str(self.socket_dir / "connection.json")
        # The supervisor's report lives outside the sandbox (the socket folder is writable from inside).
        self.report_file = Path(tempfile.mkdtemp(prefix="kernel-report-")) / "stopped"
        return await super()._async_pre_start_kernel(**kw)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        given = Path(kw.get("cwd") or os.getcwd()).resolve()
        self.scratch_dir = Path(tempfile.mkdtemp(prefix="kernel-work-"))
        workdir = scratch_workdir(given, self.scratch_dir, submitted_notebook(given))
        kw["cwd"] = str(workdir)
        env = kw.get("env") or dict(os.environ)
        limits = self.resolved_limits()
        launcher = [
            sys.executable,
            "-m",
            "autograder.sandbox",
            f"--parent-pid={os.getpid()}",
            f"--report={self.report_file}",
            *limit_args(limits),
            "--",
        ]
        available, why = sandbox_status()
        if available:
            read_only = course_read_only_paths() + [Path(p) for p in self.extra_read_only]
            sandboxed_env = kernel_env(env)
            sandbox_args = bwrap_args(workdir, self.socket_dir, read_only, sandboxed_env, limits)
            wrapped = launcher + sandbox_args + ["--", *kernel_cmd]
            kw["env"] = {**sandboxed_env, "PATH": env.get("PATH", os.defpath), "PYTHONPATH": str(REPO_ROOT)}
        else:
            if self.require_sandbox:
                raise SandboxUnavailable(why)
            self.log.error("SANDBOX UNAVAILABLE (%s): kernel runs with resource limits only", why)
            wrapped = launcher + list(kernel_cmd)
            kw["env"] = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))}
        kw.setdefault("stdout", subprocess.DEVNULL)  # ipykernel's start-up banner; outputs go over ZMQ
        await super()._async_launch_kernel(wrapped, **kw)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        for folder in (self.socket_dir, self.scratch_dir, self.report_file and self.report_file.parent):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)  # never follows links

    def kernel_pid(self) -> int | None:
        """The pid of the Python kernel process (below the launcher and bwrap), or None when it is gone."""
        provisioner = self.provisioner
        process = getattr(provisioner, "process", None)
        if process is None or process.poll() is not None:
            return None
        return find_kernel_process(process.pid)


def find_kernel_process(root: int) -> int | None:
    """The deepest descendant of ``root`` whose command line runs ipykernel (not the launcher; bwrap forks twice)."""
    frontier, found = [root], None
    while frontier:
        pid = frontier.pop()
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        program = cmdline.split(b"\0", 1)[0]
        if b"ipykernel" in cmdline and b"bwrap" not in program and b"autograder.sandbox" not in cmdline:
            found = pid
        frontier += children(pid)
    return found


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (every thread's list)."""
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return children


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def set_cell_cpu_budget(pid: int, cell_cpu_s: int) -> None:
    """Move the kernel's soft CPU limit to (CPU used so far + ``cell_cpu_s``), below its hard limit."""
    _, hard = resource.prlimit(pid, resource.RLIMIT_CPU)
    soft = int(process_cpu_seconds(pid)) + cell_cpu_s
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.prlimit(pid, resource.RLIMIT_CPU, (soft, hard))


# ---------------------------------------------------------------------------------------------- launcher


def main(argv: list[str] | None = None) -> None:
    """Set the hard limits, then run the rest of the command line (bwrap ... or the kernel itself).

    With ``--parent-pid`` (how ``SandboxedKernelManager`` starts kernels) the launcher stays as the kernel's
    supervisor (``_supervise``); without it, it execs the command.
    """
    parser = argparse.ArgumentParser(prog="python -m autograder.sandbox")
    for key, value in asdict(Limits()).items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, default=value)
    parser.add_argument("--parent-pid", type=int, default=0, help="the grading process that starts the kernel")
    parser.add_argument("--report", default="", help="file to write why the sandbox was stopped (outside it)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run")
    limits = Limits(**{key: getattr(args, key) for key in asdict(Limits())})
    sandbox_limits.set_process_limits(limits)
    # jupyter_client interrupts a kernel by sending SIGINT to its process group, which includes this launcher and
    # bwrap: they must ignore it (the disposition survives fork and exec) or they die and take the kernel with
    # them. ipykernel installs its own SIGINT handler while it runs a cell, so interrupting a cell still works.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if args.parent_pid:
        _supervise(command, args.parent_pid, limits, args.report)
    os.execvp(command[0], command)


def _supervise(command: list[str], grader_pid: int, limits: Limits, report: str = "") -> None:
    """Run ``command`` as a child and take its whole process group down when the grader dies.

    ``bwrap --die-with-parent`` alone is not enough: bwrap's PID-namespace init arms PR_SET_PDEATHSIG only at the
    end of its set-up (mounts, binds), and when the outer bwrap dies during that window the init is orphaned and
    runs the kernel forever (seen when a grading run was killed while a kernel was starting). This supervisor is
    a child subreaper (orphans below it come back to it) and gets SIGTERM when the grader dies; it then kills its
    process group (jupyter_client starts it as a session leader), which holds bwrap, bwrap's init and the kernel
    whatever stage their start-up is at.

    Every ``limits.POLL_S`` it checks the whole sandbox (``limits.Watchdog``: its cgroup, v2 or v1, or counted
    processes, memory and CPU time) and kills it when over a limit, writing why to ``report``. The command's first
    process joins the cgroup before it execs (the supervisor moves it, then lets it go on through a pipe), so
    everything the kernel starts is in it; the cgroup is removed when the sandbox ends, or when the grader dies.
    """
    global _CGROUP
    if os.getpgrp() != os.getpid():  # started by hand: never signal the caller's process group
        os.setpgid(0, 0)
    supervisor = os.getpid()
    cgroup = _CGROUP = sandbox_limits.make_sandbox_cgroup(limits, f"autograder-sandbox-{supervisor}")
    if cgroup is not None:  # before PR_SET_CHILD_SUBREAPER, so that the remover is no descendant of this process
        _start_cgroup_remover(cgroup)
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _end_process_group)
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != grader_pid:
        # The grader died while this launcher was starting (before the line above): nobody will ever talk to
        # the kernel, and as an orphan it would outlive the grading run.
        os._exit(70)
    placed, go = os.pipe()  # the child execs only once the supervisor has put it in the sandbox's cgroup
    child = os.fork()
    if child == 0:
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGHUP, signal.SIG_DFL)
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # kept across exec: bwrap dies with its supervisor
            os.close(go)
            if os.getppid() != supervisor or os.read(placed, 1) != b"1":
                os._exit(70)
            os.execvp(command[0], command)
        finally:
            os._exit(127)
    os.close(placed)
    if cgroup is not None and not sandbox_limits.place_in_cgroup(cgroup, child):
        cgroup = _CGROUP = None  # it could not join: the watchdog counts instead (place_in_cgroup warned)
    os.write(go, b"1")
    os.close(go)
    watchdog = sandbox_limits.Watchdog(limits, supervisor, cgroup)
    status = _wait_within_limits(child, watchdog, report)
    if cgroup is not None:  # the kernel's own limit (an OOM kill) may have ended the sandbox between two checks
        reason = watchdog.over_limit()
        if reason:
            sandbox_limits.write_report(report, reason)
    _CGROUP = None
    sandbox_limits.remove_sandbox_cgroup(cgroup)  # kills what is left in it first
    for pid in children(supervisor):  # left behind by the command (normally none): they go with it
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)  # a signal as the shell reports it (and as bwrap does)


def _wait_within_limits(child: int, watchdog: sandbox_limits.Watchdog, report: str) -> int:
    """Wait for ``child`` (reaping adopted orphans), checking the sandbox's limits meanwhile; its wait status."""
    next_check = time.monotonic() + sandbox_limits.POLL_S
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return 0
        if pid == child:
            return status
        if pid:
            continue
        if time.monotonic() >= next_check:
            reason = watchdog.over_limit()
            if reason:
                sandbox_limits.write_report(report, reason)
                for pid in sandbox_limits.descendants(os.getpid()):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
            next_check = time.monotonic() + sandbox_limits.POLL_S
        time.sleep(0.05)


_CGROUP: Path | sandbox_limits.CgroupV1 | None = None  # the sandbox's cgroup while the supervisor runs it
_SUPERVISOR_ALIVE: int | None = None  # write end of the pipe the cgroup remover waits on (closed when we end)


def _start_cgroup_remover(cgroup: Path | sandbox_limits.CgroupV1) -> None:
    """A small process, in its own session, that removes the sandbox's cgroup once this supervisor is gone.

    The supervisor removes the cgroup itself when the sandbox ends or the grader dies (SIGTERM); but
    jupyter_client kills a kernel by sending SIGKILL to the launcher's process group, and a cgroup v1 group is not
    removed by the kernel when it empties. The remover (double-forked: not this process's child, outside that
    process group) waits for the end of a pipe that only this process holds open, then kills whatever is left in
    the groups and removes them (nothing to do when the supervisor already did).
    """
    global _SUPERVISOR_ALIVE
    alive, _SUPERVISOR_ALIVE = os.pipe()
    middle = os.fork()
    if middle == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                os.close(_SUPERVISOR_ALIVE)
                for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
                    signal.signal(signum, signal.SIG_IGN)
                null = os.open(os.devnull, os.O_RDWR)
                for descriptor in (0, 1, 2):  # hold no pipe of the grader's open
                    os.dup2(null, descriptor)
                while os.read(alive, 1):
                    pass
                sandbox_limits.remove_sandbox_cgroup(cgroup)
        finally:
            os._exit(0)
    os.close(alive)
    os.waitpid(middle, 0)


def _end_process_group(signum, frame) -> None:
    """The grader died: the sandbox's cgroup goes first (its processes, then the groups), then the process group."""
    try:
        sandbox_limits.remove_sandbox_cgroup(_CGROUP)
    finally:
        os.killpg(os.getpgrp(), signal.SIGKILL)


PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def prctl(option: int, value: int) -> None:
    """Linux prctl(2) (PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER); nothing where libc has none."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(option, value)
    except (OSError, AttributeError):
        pass


if __name__ == "__main__":
    main()
