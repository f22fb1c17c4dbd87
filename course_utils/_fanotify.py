"""The fanotify observer of ``checks.files_opened``: which files under a folder one process tree opens.

Run by ``files_opened`` as ``python -I -S _fanotify.py PID FOLDER [notify]`` (standard library only, so that it
starts in about 20 ms and imports nothing from the course or the student). It marks every folder under FOLDER for
fanotify open events (``FAN_OPEN_PERM``; ``FAN_OPEN`` where the kernel has no permission events, or with
``notify``), prints ``ready perm`` or ``ready notify`` (or ``error <why>``), answers events until a line or EOF
arrives on stdin, then prints one JSON line ``{"paths": [...], "ignored": n}`` and exits.

An open counts when the opening process is PID, a descendant of PID (by its chain of parents), or, when PID lives in
another PID namespace than this helper (the grading sandbox), any process of that namespace. With permission events
the opener waits in ``open()`` until this helper has looked at it, so the process is always there to be looked at;
with notification events a process that exited before its event was read cannot be attributed and is ignored.
A separate process rather than a thread: an open held for a permission decision must never wait for a lock of the
process that opened it (the GIL of a kernel that observes itself).

Needs CAP_SYS_ADMIN (fanotify_init). Introduced for lab 1's laziness tests (not used by the labs' own code).
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import struct
import sys

FAN_CLOEXEC, FAN_NONBLOCK, FAN_CLASS_NOTIF, FAN_CLASS_CONTENT, FAN_UNLIMITED_QUEUE = 0x1, 0x2, 0x0, 0x4, 0x10
FAN_MARK_ADD, FAN_MARK_ONLYDIR = 0x1, 0x8
FAN_OPEN, FAN_OPEN_PERM, FAN_Q_OVERFLOW, FAN_EVENT_ON_CHILD = 0x20, 0x10000, 0x4000, 0x08000000
FAN_ALLOW, FAN_NOFD, FANOTIFY_METADATA_VERSION = 0x1, -1, 3
AT_FDCWD = -100
METADATA = struct.Struct("=IBBHQii")  # event_len, vers, reserved, metadata_len, mask, fd, pid
RESPONSE = struct.Struct("=iI")  # fd, response
O_LARGEFILE = getattr(os, "O_LARGEFILE", 0)


class Observer:
    """The fanotify group, its marks, and what it has seen so far."""

    def __init__(self, pid: int, folder: str, notify_only: bool = False) -> None:
        self.pid, self.own = pid, os.getpid()
        own_ns, pid_ns = _pid_namespace(self.own), _pid_namespace(pid)
        self.sandbox_ns = pid_ns if pid_ns is not None and pid_ns != own_ns else None
        self.paths: list[str] = []
        self.ignored = 0
        libc = ctypes.CDLL(None, use_errno=True)
        libc.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int, ctypes.c_char_p]
        flags, event_flags = FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE, os.O_RDONLY | O_LARGEFILE | os.O_CLOEXEC
        self.mode, mask, self.fd = "perm", FAN_OPEN_PERM, -1
        if not notify_only:
            self.fd = libc.fanotify_init(FAN_CLASS_CONTENT | flags, event_flags)
        if notify_only or (self.fd < 0 and ctypes.get_errno() == 22):  # EINVAL: no permission events in this kernel
            self.mode, mask = "notify", FAN_OPEN
            self.fd = libc.fanotify_init(FAN_CLASS_NOTIF | flags, event_flags)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), f"fanotify_init: {os.strerror(ctypes.get_errno())}")
        folders = [directory for directory, _, _ in os.walk(folder, followlinks=True)]
        self.folders = {os.path.realpath(directory): directory for directory in folders}
        for directory in folders:
            if libc.fanotify_mark(self.fd, FAN_MARK_ADD | FAN_MARK_ONLYDIR, mask | FAN_EVENT_ON_CHILD, AT_FDCWD,
                                  os.fsencode(directory)) < 0:  # fmt: skip
                raise OSError(ctypes.get_errno(), f"fanotify_mark {directory}: {os.strerror(ctypes.get_errno())}")

    def handle_events(self) -> None:
        """Read and answer every queued event (never blocks)."""
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return
            offset = 0
            while offset + METADATA.size <= len(data):
                length, version, _, _, mask, fd, pid = METADATA.unpack_from(data, offset)
                offset += max(length, METADATA.size)
                if version != FANOTIFY_METADATA_VERSION:
                    raise OSError(f"fanotify metadata version {version}, expected {FANOTIFY_METADATA_VERSION}")
                if mask & FAN_Q_OVERFLOW or fd == FAN_NOFD:
                    raise OSError("too many files opened at once to observe them all")
                try:
                    if self.attributed(pid):
                        self.paths.append(self.path_of(fd))
                    else:
                        self.ignored += 1
                finally:
                    if mask & FAN_OPEN_PERM:
                        os.write(self.fd, RESPONSE.pack(fd, FAN_ALLOW))
                    os.close(fd)

    def attributed(self, pid: int) -> bool:
        """Is ``pid`` the observed process, one of its descendants, or a process of its sandbox?"""
        if pid <= 0 or pid == self.own:
            return False
        if pid == self.pid or (self.sandbox_ns is not None and _pid_namespace(pid) == self.sandbox_ns):
            return True
        for _ in range(4096):
            pid = _parent(pid)
            if pid == self.pid:
                return True
            if pid <= 1:
                return False
        return False

    def path_of(self, fd: int) -> str:
        """The opened file as a path below the folder as the caller spelled it."""
        path = os.readlink(f"/proc/self/fd/{fd}")
        directory, name = os.path.split(path)
        if directory in self.folders:
            return os.path.join(self.folders[directory], name)
        opened = os.fstat(fd)  # reached by another path (a bind mount in the sandbox): find it by its inode
        for folder in self.folders.values():
            try:
                candidate = os.stat(os.path.join(folder, name), follow_symlinks=False)
            except OSError:
                continue
            if (candidate.st_dev, candidate.st_ino) == (opened.st_dev, opened.st_ino):
                return os.path.join(folder, name)
        return path


def _pid_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def main(argv: list[str]) -> int:
    try:
        observer = Observer(int(argv[0]), argv[1], notify_only=argv[2:] == ["notify"])
    except (OSError, ValueError, IndexError) as error:
        print(f"error {error}", flush=True)
        return 1
    print(f"ready {observer.mode}", flush=True)
    stdin = sys.stdin.fileno()
    try:
        while True:
            ready, _, _ = select.select([observer.fd, stdin], [], [])
            if observer.fd in ready:
                observer.handle_events()
            if stdin in ready:
                break
        observer.handle_events()  # what was queued before the caller's block ended
        print(json.dumps({"paths": observer.paths, "ignored": observer.ignored}), flush=True)
    except OSError as error:
        print(json.dumps({"error": str(error)}), flush=True)
        return 1
    finally:
        os.close(observer.fd)  # pending permission events are allowed by the kernel
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
