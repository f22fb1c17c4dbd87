"""Resource limits of one student sandbox, in one place: what they are, how they are enforced, how they are stated.

Per process (rlimits set by the sandbox launcher, inherited by everything it starts): address space
(``memory_bytes``), CPU seconds (``notebook_cpu_s`` hard, ``cell_cpu_s`` soft and moved on before each cell),
largest file written, no core dumps.

For the whole sandbox (every process the kernel starts, together):
- cgroup v2, where the machine offers it (the grader's own cgroup delegates the ``memory`` and ``pids``
  controllers): a cgroup per sandbox with ``memory.max`` (tmpfs pages included), ``memory.swap.max = 0``,
  ``pids.max``; the supervisor reads its ``cpu.stat`` for the CPU seconds of the whole notebook;
- otherwise the launcher's supervisor counts (``Watchdog``): every ``POLL_S`` it adds up the processes (threads
  included, as ``pids.max`` does), their memory (PSS: pages shared after a fork count once) and their CPU time
  (with that of exited children) and kills the sandbox when one is over its cap;
- either way the sandbox's ``/tmp`` and ``/dev/shm`` are size-limited tmpfs (``tmp_bytes``), so files held there
  are capped even where their pages are not charged to a cgroup.

When the supervisor kills a sandbox it writes why to a report file outside the sandbox (``read_report``); the
executor puts that reason in the feedback. ``describe(limits)`` is the line of the grading banner.
"""

from __future__ import annotations

import functools
import os
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path

GIB = 1024**3
MIB = 1024**2
POLL_S = 0.25

# Environment variables a student kernel may see, by exact name (everything else, e.g. JPY_API_TOKEN or other
# tokens in the tutor's shell, is dropped). The kernel spec's own env (kernel.json) is merged in before this filter.
KERNEL_ENV_NAMES = frozenset(
    {
        "TF_CPP_MIN_LOG_LEVEL",
        "TF_ENABLE_ONEDNN_OPTS",
        "TF_NUM_INTRAOP_THREADS",
        "TF_NUM_INTEROP_THREADS",
        "TF_DETERMINISTIC_OPS",
        "KERAS_BACKEND",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "PYTHONHASHSEED",
        "COURSE_DATASET",
        "COURSE_DATA_DIR",
        "COURSE_VIEWS",
        "NBGRADER_EXECUTION",  # set by nbgrader while it grades: course_utils.views then renders no live views
        "LANG",
        "LC_ALL",
        "LC_CTYPE",
    }
)


@dataclass(frozen=True)
class Limits:
    """Resource limits of one student sandbox (seconds, bytes, counts). Per-cell wall time: ``Execute.timeout``."""

    memory_bytes: int = 8 * GIB  # address space per process: TensorFlow maps ~2-3 GiB just by importing
    notebook_cpu_s: int = 1800  # hard: per process (RLIMIT_CPU) and for the whole sandbox (supervisor)
    cell_cpu_s: int = 600  # soft: SIGXCPU kills the kernel when one cell uses more
    file_bytes: int = 512 * MIB  # largest file the kernel may write
    sandbox_memory_bytes: int = 0  # memory of all processes together (PSS, or memory.max); 0: memory_bytes
    tmp_bytes: int = 1 * GIB  # size of the sandbox's /tmp (tmpfs); /dev/shm gets a sixteenth of it
    tasks: int = 1024  # processes and threads together (pids.max)

    @property
    def total_memory_bytes(self) -> int:
        return self.sandbox_memory_bytes or self.memory_bytes


def limit_args(limits: Limits) -> list[str]:
    """The launcher's command-line options for ``limits``."""
    return [f"--{key.replace('_', '-')}={value}" for key, value in asdict(limits).items()]


def set_process_limits(limits: Limits) -> None:
    """rlimits for this process and everything it starts (the launcher calls this before starting bwrap)."""
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (min(limits.cell_cpu_s, limits.notebook_cpu_s), limits.notebook_cpu_s))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


# ---------------------------------------------------------------------------------------------- cgroup v2

CGROUP_ROOT = Path("/sys/fs/cgroup")


@functools.lru_cache(maxsize=1)
def cgroup_parent() -> Path | None:
    """A cgroup v2 folder where this process may create sandbox cgroups with memory and pids limits, or None.

    The grader's own cgroup when it delegates ``memory`` and ``pids`` to its children (its ``cgroup.subtree_control``
    lists them), else its parent when that one does (the grader's cgroup then has ``memory.max``: e.g. a systemd
    unit with ``Delegate=yes``, the grader in a leaf of it); the folder must be writable (root, or delegated).
    """
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    unified = next((line.split(":", 2)[2] for line in lines if line.startswith("0::")), None)
    if unified is None or not (CGROUP_ROOT / "cgroup.controllers").is_file():  # no cgroup v2 mounted there
        return None
    own = CGROUP_ROOT / unified.lstrip("/")
    for candidate in (own, own.parent):
        try:
            delegated = set((candidate / "cgroup.subtree_control").read_text().split())
        except OSError:
            continue
        inside = candidate == CGROUP_ROOT or CGROUP_ROOT in candidate.parents
        if {"memory", "pids"} <= delegated and os.access(candidate, os.W_OK) and inside:
            return candidate
    return None


def make_cgroup(limits: Limits, name: str) -> Path | None:
    """A fresh cgroup for one sandbox with the whole-sandbox limits, or None where cgroup v2 is not offered."""
    parent = cgroup_parent()
    if parent is None:
        return None
    group = parent / name
    try:
        group.mkdir()
        (group / "memory.max").write_text(str(limits.total_memory_bytes + limits.tmp_bytes))
        (group / "memory.swap.max").write_text("0")
        (group / "pids.max").write_text(str(limits.tasks))
    except OSError:
        remove_cgroup(group)
        return None
    return group


def remove_cgroup(group: Path) -> None:
    try:
        (group / "cgroup.kill").write_text("1")
    except OSError:
        pass
    for _ in range(50):
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


def describe(limits: Limits) -> str:
    """One banner line: how the whole sandbox is limited here."""
    how = "cgroup v2" if cgroup_parent() is not None else "counted by the sandbox supervisor: no usable cgroup here"
    return (
        f"limits per sandbox ({how}): memory {limits.total_memory_bytes / GIB:.1f} GiB for all its processes, "
        f"{limits.tasks} processes/threads, {limits.notebook_cpu_s} CPU s per notebook; "
        f"/tmp {limits.tmp_bytes / MIB:.0f} MiB (tmpfs); per process: address space "
        f"{limits.memory_bytes / GIB:.1f} GiB, files up to {limits.file_bytes / MIB:.0f} MiB"
    )


# ------------------------------------------------------------------------------------------- the watchdog


def descendants(root: int) -> list[int]:
    """Every process below ``root`` (through /proc's children lists), ``root`` excluded."""
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            frontier += children
    return found


def _status_fields(pid: int) -> tuple[int, int]:
    """(threads, resident bytes) of a process from /proc/<pid>/status; (0, 0) when it is gone."""
    threads = resident = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                threads = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                resident = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0, 0
    return threads, resident


def _proportional_bytes(pid: int) -> int:
    """PSS: resident pages, shared ones divided among their sharers (a forked child's copy-on-write pages)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return _status_fields(pid)[1]


def _cpu_seconds(pid: int) -> float:
    """utime + stime of the process and of its children it has waited for."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class Watchdog:
    """The supervisor's check of the whole sandbox: returns why to stop it, or None while it is within limits."""

    def __init__(self, limits: Limits, root: int, cgroup: Path | None = None):
        self.limits, self.root, self.cgroup = limits, root, cgroup

    def over_limit(self) -> str | None:
        limits = self.limits
        if self.cgroup is not None:
            return self._cgroup_over_limit()
        pids = descendants(self.root)
        counted = [(pid, *_status_fields(pid)) for pid in pids]
        tasks = sum(threads for _, threads, _ in counted)
        if tasks > limits.tasks:
            return f"it started more than {limits.tasks} processes and threads (limit of the whole sandbox)"
        if sum(resident for _, _, resident in counted) > limits.total_memory_bytes:  # cheap first, then exact
            if sum(_proportional_bytes(pid) for pid in pids) > limits.total_memory_bytes:
                return f"its processes together used more than {limits.total_memory_bytes:,} bytes of memory"
        used = sum(_cpu_seconds(pid) for pid in pids) + _reaped_cpu_seconds()
        if used > limits.notebook_cpu_s:
            return f"its processes together used more than {limits.notebook_cpu_s} CPU seconds"
        return None

    def _cgroup_over_limit(self) -> str | None:
        try:
            events = dict(line.split() for line in (self.cgroup / "memory.events").read_text().splitlines())
            stat = dict(line.split() for line in (self.cgroup / "cpu.stat").read_text().splitlines())
        except (OSError, ValueError):
            return None
        if int(events.get("oom_kill", 0)):
            limit = self.limits.total_memory_bytes + self.limits.tmp_bytes
            return f"its processes together (with their /tmp files) used more than {limit:,} bytes of memory"
        if int(stat.get("usage_usec", 0)) / 1e6 > self.limits.notebook_cpu_s:
            return f"its processes together used more than {self.limits.notebook_cpu_s} CPU seconds"
        return None


def _reaped_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def write_report(path: str, reason: str) -> None:
    """The supervisor's reason for killing the sandbox, for the grader (a file outside the sandbox)."""
    if path:
        temporary = f"{path}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(reason)
        os.replace(temporary, path)


def read_report(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return Path(path).read_text().strip() or None
    except OSError:
        return None
