"""Sandboxed Jupyter kernels for grading: bubblewrap namespaces + resource limits, no docker.

Every student kernel runs as::

    python -m autograder.sandbox --limits ... -- bwrap <namespaces, binds> -- python -m ipykernel_launcher -f ...

- the outer launcher (this module's ``main``) sets hard resource limits that bwrap and the kernel inherit:
  address space (memory cap), CPU seconds per notebook (hard) and per cell (soft, moved on by the executor before
  each cell with ``prlimit``), largest file written, no core dumps; it stays as the kernel's supervisor and
  kills the kernel's whole process group when the grader dies (``_supervise``);
- ``bwrap`` gives the kernel no network (``--unshare-net``: only a private loopback), its own PID/IPC/UTS
  namespaces, a fresh ``/tmp`` and ``$HOME``, read-only views of the interpreter, the venv, ``course_utils`` and the
  data set, and one writable folder: the notebook's own working copy. ``solutions/``, the gradebooks, other
  students' folders and the grading course are simply not in its file system. No capabilities; it dies with its
  parent.
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
from dataclasses import asdict, dataclass
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Dict, Instance, List, Unicode

REPO_ROOT = Path(__file__).resolve().parent.parent
GIB = 1024**3


@dataclass(frozen=True)
class Limits:
    """Resource limits of one student kernel (seconds, bytes). Per-cell wall time is nbgrader's Execute.timeout."""

    memory_bytes: int = 8 * GIB  # address space: TensorFlow maps ~2-3 GiB just by importing
    notebook_cpu_s: int = 1800  # hard: the kernel is killed (SIGKILL) beyond it
    cell_cpu_s: int = 600  # soft: SIGXCPU kills the kernel when one cell uses more
    file_bytes: int = 512 * 1024**2  # largest file the kernel may write


# Environment variables a student kernel may see (everything else, e.g. tokens in the tutor's shell, is dropped).
ENV_ALLOWED_PREFIXES = ("TF_", "KERAS_", "COURSE_", "OMP_", "MKL_", "PYTHONHASHSEED", "LANG", "LC_", "JPY_")


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
    return True, f"{version}: no network, private /tmp, read-only system, own PID namespace"


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


def bwrap_args(workdir: Path, socket_dir: Path, read_only: list[Path], env: dict[str, str]) -> list[str]:
    """The bubblewrap command line (without the kernel command) for one kernel."""
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
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--dir", "/tmp/home"]
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
    """The environment a sandboxed kernel gets: allow-listed variables plus a private home and caches."""
    kept = {k: v for k, v in env.items() if k.startswith(ENV_ALLOWED_PREFIXES)}
    path = os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"])
    kept.update(PATH=path, HOME="/tmp/home", MPLCONFIGDIR="/tmp/home/.mpl", MPLBACKEND="agg",
                IPYTHONDIR="/tmp/home/.ipython", JUPYTER_RUNTIME_DIR="/tmp/home/.runtime",
                KERAS_HOME="/tmp/home/.keras", PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")  # fmt: skip
    return kept


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

    def resolved_limits(self) -> Limits:
        return Limits(**{**asdict(Limits()), **self.limits})

    async def _async_pre_start_kernel(self, **kw):
        # Unix sockets in a private folder: reachable through the bind, invisible to other kernels.
        self.socket_dir = Path(tempfile.mkdtemp(prefix="kernel-"))
        os.chmod(self.socket_dir, 0o700)
        self.transport = "ipc"
        self.ip = str(self.socket_dir / "k")
        self.connection_file = str(self.socket_dir / "connection.json")
        return await super()._async_pre_start_kernel(**kw)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        workdir = Path(kw.get("cwd") or os.getcwd()).resolve()
        env = kw.get("env") or dict(os.environ)
        limits = self.resolved_limits()
        launcher = [
            sys.executable,
            "-m",
            "autograder.sandbox",
            f"--parent-pid={os.getpid()}",
            *limit_args(limits),
            "--",
        ]
        available, why = sandbox_status()
        if available:
            read_only = course_read_only_paths() + [Path(p) for p in self.extra_read_only]
            sandboxed_env = kernel_env(env)
            wrapped = launcher + bwrap_args(workdir, self.socket_dir, read_only, sandboxed_env) + ["--", *kernel_cmd]
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
        if self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    def kernel_pid(self) -> int | None:
        """The pid of the Python kernel process (below the launcher and bwrap), or None when it is gone."""
        provisioner = self.provisioner
        process = getattr(provisioner, "process", None)
        if process is None or process.poll() is not None:
            return None
        return find_kernel_process(process.pid)


def limit_args(limits: Limits) -> list[str]:
    return [f"--{key.replace('_', '-')}={value}" for key, value in asdict(limits).items()]


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
        frontier += _children(pid)
    return found


def _children(pid: int) -> list[int]:
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
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run")
    resource.setrlimit(resource.RLIMIT_AS, (args.memory_bytes, args.memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (min(args.cell_cpu_s, args.notebook_cpu_s), args.notebook_cpu_s))
    resource.setrlimit(resource.RLIMIT_FSIZE, (args.file_bytes, args.file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # jupyter_client interrupts a kernel by sending SIGINT to its process group, which includes this launcher and
    # bwrap: they must ignore it (the disposition survives fork and exec) or they die and take the kernel with
    # them. ipykernel installs its own SIGINT handler while it runs a cell, so interrupting a cell still works.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if args.parent_pid:
        _supervise(command, args.parent_pid)
    os.execvp(command[0], command)


def _supervise(command: list[str], grader_pid: int) -> None:
    """Run ``command`` as a child and take its whole process group down when the grader dies.

    ``bwrap --die-with-parent`` alone is not enough: bwrap's PID-namespace init arms PR_SET_PDEATHSIG only at the
    end of its set-up (mounts, binds), and when the outer bwrap dies during that window the init is orphaned and
    runs the kernel forever (seen when a grading run was killed while a kernel was starting). This supervisor is
    a child subreaper (orphans below it come back to it) and gets SIGTERM when the grader dies; it then kills its
    process group (jupyter_client starts it as a session leader), which holds bwrap, bwrap's init and the kernel
    whatever stage their start-up is at.
    """
    if os.getpgrp() != os.getpid():  # started by hand: never signal the caller's process group
        os.setpgid(0, 0)
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _end_process_group)
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != grader_pid:
        # The grader died while this launcher was starting (before the line above): nobody will ever talk to
        # the kernel, and as an orphan it would outlive the grading run.
        os._exit(70)
    supervisor = os.getpid()
    child = os.fork()
    if child == 0:
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGHUP, signal.SIG_DFL)
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # kept across exec: bwrap dies with its supervisor
            if os.getppid() != supervisor:
                os._exit(70)
            os.execvp(command[0], command)
        finally:
            os._exit(127)
    status = 0
    while True:
        try:
            pid, status = os.waitpid(-1, 0)  # reaps adopted orphans too
        except ChildProcessError:
            break
        if pid == child:
            break
    for pid in _children(supervisor):  # left behind by the command (normally none): they go with it
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)  # a signal as the shell reports it (and as bwrap does)


def _end_process_group(signum, frame) -> None:
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
