"""Resource limits of one student sandbox, in one place: what they are, how they are enforced, how they are stated.

Per process (rlimits set by the sandbox launcher, inherited by everything it starts): address space
(``memory_bytes``), CPU seconds (``notebook_cpu_s`` hard, ``cell_cpu_s`` soft and moved on before each cell),
largest file written, no core dumps.

For the whole sandbox (every process the kernel starts, together):
- cgroup v2, where the machine offers it (the grader's own cgroup delegates the ``memory`` and ``pids``
  controllers): a cgroup per sandbox with ``memory.max`` (tmpfs pages included), ``memory.swap.max = 0``,
  ``pids.max``; the supervisor reads its ``cpu.stat`` for the CPU seconds of the whole notebook;
- else cgroup v1, where the ``memory`` and ``pids`` hierarchies are mounted and this process may create groups in
  its own cgroup of each (root, or delegated): a group per sandbox in each with ``memory.limit_in_bytes`` and
  ``memory.memsw.limit_in_bytes`` (no swap; tmpfs and shared-memory pages are charged to the writer's memory
  cgroup in v1 too, measured in tests/test_sandbox_limits.py), ``pids.max``, and a ``cpuacct`` group for the CPU
  seconds where that hierarchy is writable too (else they are counted as below);
- otherwise the launcher's supervisor counts (``Watchdog``): every ``POLL_S`` it adds up the processes (threads
  included, as ``pids.max`` does), their memory (PSS: pages shared after a fork count once) and their CPU time
  (with that of exited children) and kills the sandbox when one is over its cap;
- either way the sandbox's ``/tmp`` and ``/dev/shm`` are size-limited tmpfs (``tmp_bytes``), so files held there
  are capped even where their pages are not charged to a cgroup.

``backend(limits)`` is the one place where that choice is made. The supervisor puts the sandbox's first process in
its cgroup before that process execs (``place_in_cgroup``), so everything the kernel starts is in it; a cgroup that
cannot be made or joined at run time (permissions, a read-only hierarchy, a container) falls back to counting
with a one-line warning on the grader's stderr, never a grading failure. A cgroup kernel limit (an OOM kill, a
refused fork) makes the supervisor stop the whole sandbox, with the reason in the words counting uses (memory: "their
/tmp files included"); the groups are removed after the sandbox, its remaining processes killed first (by the
supervisor, or by its remover process when the supervisor itself was killed: ``sandbox._start_cgroup_remover``).

When the supervisor kills a sandbox it writes why to a report file outside the sandbox (``read_report``); the
executor puts that reason in the feedback. ``describe(limits)`` is the line of the grading banner.
"""

from __future__ import annotations

import functools
import os
import re
import resource
import signal
import sys
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
    cgroups: int = 1  # 1: a cgroup (v2, else v1) where the machine offers one; 0: always the counting supervisor

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


def cgroup_memory_bytes(limits: Limits) -> int:
    """The memory limit of a sandbox's cgroup: its processes' memory and its /tmp files, charged together."""
    return limits.total_memory_bytes + limits.tmp_bytes


def make_cgroup(limits: Limits, name: str) -> Path | None:
    """A fresh cgroup for one sandbox with the whole-sandbox limits, or None where cgroup v2 is not offered."""
    parent = cgroup_parent()
    if parent is None:
        return None
    group = parent / name
    try:
        group.mkdir()
        (group / "memory.max").write_text(str(cgroup_memory_bytes(limits)))
        (group / "memory.swap.max").write_text("0")
        (group / "pids.max").write_text(str(limits.tasks))
    except OSError:
        remove_cgroup(group)
        return None
    return group


def remove_cgroup(group: Path) -> None:
    """Kill what is left in a v2 cgroup (``cgroup.kill``, else one by one), then remove it."""
    try:
        (group / "cgroup.kill").write_text("1")
    except OSError:
        pass
    _remove_groups([group])


# ---------------------------------------------------------------------------------------------- cgroup v1

V1_CONTROLLERS = ("memory", "pids", "cpuacct")  # memory and pids are needed; cpuacct (CPU seconds) where it can be


@dataclass(frozen=True)
class CgroupV1:
    """One sandbox's groups in the cgroup v1 hierarchies: controller -> its folder."""

    folders: dict[str, Path]


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def _own_cgroups_v1() -> dict[str, str]:
    """Controller -> this process's cgroup in that v1 hierarchy (``/proc/self/cgroup``)."""
    own: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return own
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3 and parts[1]:
            for controller in parts[1].split(","):
                own.setdefault(controller, parts[2])
    return own


def _mounts_v1() -> dict[str, tuple[Path, str]]:
    """Controller -> (mount point, the hierarchy's folder mounted there) of the read-write v1 cgroup mounts."""
    mounts: dict[str, tuple[Path, str]] = {}
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return mounts
    for line in lines:
        head, _, tail = line.partition(" - ")
        fields, kind = head.split(), tail.split()
        if len(fields) < 6 or len(kind) < 3 or kind[0] != "cgroup" or "ro" in fields[5].split(","):
            continue
        for option in kind[2].split(","):
            mounts.setdefault(option, (Path(_unescape(fields[4])), _unescape(fields[3])))
    return mounts


@functools.lru_cache(maxsize=1)
def cgroup_v1_parents() -> dict[str, Path] | None:
    """Controller -> the v1 folder where this process may create sandbox groups (its own cgroup in that hierarchy),
    for ``memory`` and ``pids`` and, where it can too, ``cpuacct``; None when memory or pids is not usable here
    (not mounted, read-only, outside this cgroup namespace, or not writable by this user)."""
    own, mounts = _own_cgroups_v1(), _mounts_v1()
    parents = {}
    for controller in V1_CONTROLLERS:
        if controller not in own or controller not in mounts:
            continue
        mount, root = mounts[controller]
        relative = os.path.relpath(own[controller], root)
        if relative == ".." or relative.startswith("../"):  # not below what is mounted here
            continue
        folder = mount / relative
        if folder.is_dir() and os.access(folder, os.W_OK) and os.access(folder / "cgroup.procs", os.W_OK):
            parents[controller] = folder
    if "memory" not in parents or "pids" not in parents:
        return None
    if not (parents["memory"] / "memory.limit_in_bytes").is_file():
        return None
    return parents


def make_cgroup_v1(limits: Limits, name: str) -> CgroupV1:
    """Fresh v1 groups for one sandbox with the whole-sandbox limits; OSError when they cannot be made."""
    parents = cgroup_v1_parents()
    if parents is None:
        raise OSError("the cgroup v1 memory and pids hierarchies are not writable here")
    group = CgroupV1({})
    try:
        for controller, parent in parents.items():
            try:
                (parent / name).mkdir()
            except OSError:
                if controller in ("memory", "pids"):
                    raise
                continue  # no cpuacct group: the supervisor counts CPU seconds by process
            group.folders[controller] = parent / name
        memory, limit = group.folders["memory"], str(cgroup_memory_bytes(limits))
        (memory / "memory.limit_in_bytes").write_text(limit)
        if (memory / "memory.memsw.limit_in_bytes").exists():  # memory + swap: swapping out is no escape
            (memory / "memory.memsw.limit_in_bytes").write_text(limit)
        else:  # no swap accounting in this kernel: at least no swapping for this group's own reclaim
            (memory / "memory.swappiness").write_text("0")
        (group.folders["pids"] / "pids.max").write_text(str(limits.tasks))
    except OSError:
        remove_cgroup_v1(group)
        raise
    return group


def remove_cgroup_v1(group: CgroupV1) -> None:
    """Kill the processes left in the sandbox's groups, then remove the groups."""
    _remove_groups(list(group.folders.values()))


def _remove_groups(folders: list[Path], seconds: float = 5.0) -> None:
    """Kill every process in ``folders`` and remove them, retrying while exiting processes still hold them."""
    deadline = time.monotonic() + seconds
    while folders:
        left = []
        for folder in folders:
            _kill_members(folder)
            try:
                folder.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                left.append(folder)
        folders = left
        if not folders or time.monotonic() > deadline:
            return
        time.sleep(0.02)


def _kill_members(folder: Path) -> None:
    try:
        members = [int(pid) for pid in (folder / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return
    for pid in members:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


# --------------------------------------------------------------------------------------- the choice of backend


def backend(limits: Limits | None = None) -> str:
    """How the whole sandbox is limited here: ``"cgroup v2"``, else ``"cgroup v1"``, else ``"counting"``.

    The one place where that is chosen (``limits.cgroups = 0`` asks for counting wherever cgroups are offered).
    """
    if limits is not None and not limits.cgroups:
        return "counting"
    if cgroup_parent() is not None:
        return "cgroup v2"
    if cgroup_v1_parents() is not None:
        return "cgroup v1"
    return "counting"


def warn(message: str) -> None:
    """One line on the grader's stderr (the supervisor's stderr is the grader's)."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def make_sandbox_cgroup(limits: Limits, name: str) -> Path | CgroupV1 | None:
    """The sandbox's cgroup, by ``backend``: a v2 folder, v1 groups, or None (the supervisor counts).

    A cgroup that cannot be made at run time gives a one-line warning and None: grading goes on, counted.
    """
    how = backend(limits)
    try:
        if how == "cgroup v2":
            group = make_cgroup(limits, name)
            if group is None:
                raise OSError(f"cannot create or limit {cgroup_parent()}/{name}")
            return group
        if how == "cgroup v1":
            return make_cgroup_v1(limits, name)
    except OSError as error:
        warn(f"no {how} for the sandbox ({error}); its limits are counted by the supervisor instead")
    return None


def place_in_cgroup(group: Path | CgroupV1, pid: int) -> bool:
    """Move ``pid`` (the sandbox's first process, before it execs) into every folder of ``group``.

    False, with a one-line warning, when it cannot: ``pid`` is moved back where it was and the group removed, and
    the supervisor counts instead.
    """
    folders = [group] if isinstance(group, Path) else list(group.folders.values())
    joined = []
    try:
        for folder in folders:
            (folder / "cgroup.procs").write_text(str(pid))
            joined.append(folder)
    except OSError as error:
        for folder in joined:  # v1: the parent is the supervisor's own group in that hierarchy
            try:
                (folder.parent / "cgroup.procs").write_text(str(pid))
            except OSError:
                pass
        remove_sandbox_cgroup(group)
        warn(f"cannot join the sandbox's cgroup ({error}); its limits are counted by the supervisor instead")
        return False
    return True


def remove_sandbox_cgroup(group: Path | CgroupV1 | None) -> None:
    if isinstance(group, CgroupV1):
        remove_cgroup_v1(group)
    elif group is not None:
        remove_cgroup(group)


def describe(limits: Limits) -> str:
    """One banner line: how the whole sandbox is limited here."""
    how = backend(limits)
    memory = f"{cgroup_memory_bytes(limits) / GIB:.1f} GiB for all its processes and their /tmp files"
    if how == "cgroup v1":
        how = f"cgroup v1: {', '.join(cgroup_v1_parents() or ())}"
    elif how == "counting":
        why = "cgroups turned off" if not limits.cgroups else "no usable cgroup here"
        how = f"counted by the sandbox supervisor: {why}"
        memory = f"{limits.total_memory_bytes / GIB:.1f} GiB for all its processes"
    return (
        f"limits per sandbox ({how}): memory {memory}, "
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
    """The supervisor's check of the whole sandbox: returns why to stop it, or None while it is within limits.

    ``cgroup``: the sandbox's v2 folder or v1 groups (the kernel enforces; this reads what it did), or None (count).
    """

    def __init__(self, limits: Limits, root: int, cgroup: Path | CgroupV1 | None = None):
        self.limits, self.root, self.cgroup = limits, root, cgroup

    def over_limit(self) -> str | None:
        if isinstance(self.cgroup, CgroupV1):
            return self._cgroup_v1_over_limit(self.cgroup.folders)
        if self.cgroup is not None:
            return self._cgroup_over_limit()
        limits = self.limits
        pids = descendants(self.root)
        counted = [(pid, *_status_fields(pid)) for pid in pids]
        tasks = sum(threads for _, threads, _ in counted)
        if tasks > limits.tasks:
            return self._tasks_reason()
        if sum(resident for _, _, resident in counted) > limits.total_memory_bytes:  # cheap first, then exact
            if sum(_proportional_bytes(pid) for pid in pids) > limits.total_memory_bytes:
                return f"its processes together used more than {limits.total_memory_bytes:,} bytes of memory"
        if self._counted_cpu_seconds(pids) > limits.notebook_cpu_s:
            return self._cpu_reason()
        return None

    def _cgroup_over_limit(self) -> str | None:
        events = _keyed(self.cgroup / "memory.events")
        if events.get("oom_kill", 0):
            return self._memory_reason()
        if _keyed(self.cgroup / "pids.events").get("max", 0):  # a fork refused at pids.max
            return self._tasks_reason()
        if _keyed(self.cgroup / "cpu.stat").get("usage_usec", 0) / 1e6 > self.limits.notebook_cpu_s:
            return self._cpu_reason()
        return None

    def _cgroup_v1_over_limit(self, folders: dict[str, Path]) -> str | None:
        oom = _keyed(folders["memory"] / "memory.oom_control")
        if oom.get("oom_kill", 0) or oom.get("under_oom", 0):
            return self._memory_reason()
        failures = _number(folders["memory"] / "memory.failcnt") + _number(folders["memory"] / "memory.memsw.failcnt")
        if "oom_kill" not in oom and failures:
            return self._memory_reason()  # kernels before 4.13 count no OOM kills: the limit was reached
        if _keyed(folders["pids"] / "pids.events").get("max", 0):  # a fork refused at pids.max
            return self._tasks_reason()
        if "cpuacct" in folders:
            used = _number(folders["cpuacct"] / "cpuacct.usage") / 1e9
        else:
            used = self._counted_cpu_seconds(descendants(self.root))
        if used > self.limits.notebook_cpu_s:
            return self._cpu_reason()
        return None

    def _counted_cpu_seconds(self, pids: list[int]) -> float:
        return sum(_cpu_seconds(pid) for pid in pids) + _reaped_cpu_seconds()

    def _memory_reason(self) -> str:
        limit = cgroup_memory_bytes(self.limits)
        return f"its processes together used more than {limit:,} bytes of memory (their /tmp files included)"

    def _tasks_reason(self) -> str:
        return f"it started more than {self.limits.tasks} processes and threads (limit of the whole sandbox)"

    def _cpu_reason(self) -> str:
        return f"its processes together used more than {self.limits.notebook_cpu_s} CPU seconds"


def _keyed(path: Path) -> dict[str, int]:
    """A cgroup file of ``key value`` lines (``memory.events``, ``pids.events``, ``memory.oom_control``); {} if none."""
    try:
        pairs = (line.split() for line in path.read_text().splitlines())
        return {pair[0]: int(pair[1]) for pair in pairs if len(pair) == 2 and pair[1].lstrip("-").isdigit()}
    except OSError:
        return {}


def _number(path: Path) -> int:
    """The number in a one-value cgroup file (``cpuacct.usage``, ``memory.failcnt``); 0 if none."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


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
