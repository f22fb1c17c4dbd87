"""The trusted test process: graded test cells run here, never in the student's kernel.

A test cell's source (from the gradebook / source notebook, never the submission's text) is executed with a
namespace (``StudentNames``) that holds the course's own imports (``np``, ``checks``, ... as the course's locked
cells import them: a student who rebinds ``checks`` changes nothing here); every other name the cell does not
define is looked up in the student's kernel through ``autograder.channel`` (per cell, cached). Builtins always
win over student names, so a student variable called ``len`` or ``json`` changes nothing either.

Public API (also used by ``tests/test_mutants.py``)::

    runner = TestCellRunner(preset=course_imports(notebook), timeout=300)
    passed, message = runner.run(test_cell_source, kernel_client)   # a started jupyter_client blocking client
    result = runner.run_cell(test_cell_source, kernel_client)         # CellResult: stdout, stderr, error

``run`` sends the kernel one execute_request (``course_utils._grading_channel.serve(...)``), serves the test cell
against it in *this* process and waits for the kernel to return to idle. The grader
(``autograder.executor.GuardedExecute``) uses the same machinery in a separate long-lived process
(``python -m autograder.trusted``, one per grading worker, started by ``shared_process()``), so that a test cell
that crashes or hangs takes neither the grader nor its TensorFlow import down with it.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import importlib
import io
import json
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.channel import Channel, ChannelError, StudentError, connect

REPO_ROOT = Path(__file__).resolve().parent.parent
# Modules whose names, as the course's locked cells import them, are bound in the test namespace from this
# process's own imports (never looked up in the student's kernel).
TRUSTED_MODULES = ("numpy", "keras", "tensorflow", "math", "pathlib", "time", "course_utils", "random", "json",
                   "collections", "itertools", "functools", "operator", "statistics", "re")  # fmt: skip
OUTPUT_LIMIT = 1_000_000  # characters of stdout/stderr a test cell keeps


def serve_line(path: str, token: str) -> str:
    """The one line the grader sends the student's kernel: serve the channel until the test cell is done."""
    return f"__import__('course_utils._grading_channel', fromlist=['serve']).serve({path!r}, {token!r})"


@dataclass
class CellResult:
    """What a graded test cell produced in the trusted process."""

    stdout: str = ""
    stderr: str = ""
    error: tuple[str, str] | None = None  # (exception type name, message)

    @property
    def passed(self) -> bool:
        return self.error is None

    @property
    def message(self) -> str:
        return "" if self.error is None else f"{self.error[0]}: {self.error[1]}"

    def to_dict(self) -> dict:
        return {"stdout": self.stdout, "stderr": self.stderr, "error": list(self.error) if self.error else None}


# ------------------------------------------------------------------------------------------------ names


def course_imports(nb, modules: tuple[str, ...] | list[str] = TRUSTED_MODULES) -> dict[str, str]:
    """Names the course's locked cells import from trusted modules: alias -> 'module' or 'module:attribute'.

    Only locked (or grade) cells that are not solution cells count: those come from the gradebook, not from the
    student. ``modules`` are module names or packages (``course_utils`` covers ``course_utils.checks``).
    """

    def trusted(name: str) -> bool:
        return any(name == module or name.startswith(module + ".") for module in modules)

    names: dict[str, str] = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not (meta.get("locked") or meta.get("grade")) or meta.get("solution"):
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and trusted(alias.name):
                        names[alias.asname] = alias.name
                    elif not alias.asname and trusted(alias.name.split(".")[0]):
                        names[alias.name.split(".")[0]] = alias.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level and trusted(node.module):
                for alias in node.names:
                    if alias.name != "*":
                        names[alias.asname or alias.name] = f"{node.module}:{alias.name}"
    return names


def resolve_imports(preset: dict[str, str]) -> dict[str, Any]:
    """alias -> this process's own object for ``course_imports``' answer (imports what is not loaded yet)."""
    values = {}
    for alias, target in preset.items():
        module_name, _, attribute = target.partition(":")
        if module_name.split(".")[0] not in TRUSTED_MODULES:
            continue
        try:
            module = importlib.import_module(module_name)
            if not attribute:
                values[alias] = module
            elif hasattr(module, attribute):
                values[alias] = getattr(module, attribute)
            else:
                values[alias] = importlib.import_module(f"{module_name}.{attribute}")
        except ImportError:
            continue
    return values


class StudentNames(dict):
    """A test cell's globals: its own names, the course's imports, builtins, then the student's kernel."""

    def __init__(self, channel: Channel | None, trusted: dict[str, Any]) -> None:
        super().__init__(trusted)
        self["__builtins__"] = builtins
        self["__name__"] = "__main__"
        self.channel = channel

    def __missing__(self, name: str) -> Any:
        if self.channel is None or name in builtins.__dict__ or name.startswith("__"):
            raise KeyError(name)
        try:
            value = self.channel.lookup(name)
        except NameError:  # the student's NameError: not defined there either
            raise KeyError(name) from None
        self[name] = value
        return value


# ---------------------------------------------------------------------------------------------- running


def execute(source: str, channel: Channel | None, trusted: dict[str, Any], shared_root: str | None) -> CellResult:
    """Run ``source`` with the student's names behind ``channel``; capture its output and its error."""
    from course_utils import checks

    stdout, stderr = io.StringIO(), io.StringIO()
    result = CellResult()
    namespace = StudentNames(channel, trusted)
    try:
        code = compile(_without_magics(source), "<test cell>", "exec")
        with checks.grading_session(channel, shared_root):
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                exec(code, namespace, namespace)  # noqa: S102 - the course's own test source
    except StudentError as error:
        result.error = (type(error).__name__, str(error))
    except ChannelError as error:
        result.error = ("GradingChannelError", str(error))
    except Exception as error:  # noqa: BLE001 - a failed check, assert, or a bug in the test: the cell fails
        result.error = (type(error).__name__, _safe_str(error))
    except KeyboardInterrupt:
        result.error = ("CellTimeoutError", "the test cell ran longer than its time limit")
    finally:
        namespace.clear()
    result.stdout, result.stderr = stdout.getvalue()[:OUTPUT_LIMIT], stderr.getvalue()[:OUTPUT_LIMIT]
    return result


def _safe_str(error: BaseException) -> str:
    try:
        return str(error)[:10_000]
    except Exception:  # noqa: BLE001
        return ""


def _without_magics(source: str) -> str:
    """Test cells are plain Python; IPython magics and shell lines (never graded) become ``pass``."""
    return "\n".join(
        line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!")) else line
        for line in source.splitlines()
    )


def listen(path: str) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(1)
    return listener


def serve_cell(listener: socket.socket, token: str, source: str, trusted: dict, timeout: float,
               shared_root: str | None) -> CellResult:  # fmt: skip
    """Accept the student side's connection, run the cell against it, tell it we are done."""
    deadline = time.monotonic() + timeout
    try:
        channel = connect(listener, token, min(deadline, time.monotonic() + 60))
    except ChannelError as error:
        return CellResult(error=("GradingChannelError", str(error)))
    channel.deadline = deadline
    try:
        return execute(source, channel, trusted, shared_root)
    finally:
        channel.close()


class TestCellRunner:
    """Run graded test cells in this process against a live kernel (a started jupyter_client blocking client).

    ``preset``: ``course_imports(notebook)`` (alias -> module or module:attribute), bound from this process's
    own imports. ``timeout``: seconds per cell (the channel's deadline). The kernel must be idle.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, preset: dict[str, str] | None = None, timeout: float = 300) -> None:
        self.trusted = resolve_imports(preset or {})
        self.timeout = timeout

    def run(self, source: str, kernel_client) -> tuple[bool, str]:
        """(passed, message): the message is the failure's ``Type: message`` ('' when passed)."""
        result = self.run_cell(source, kernel_client)
        return result.passed, result.message

    def run_cell(self, source: str, kernel_client) -> CellResult:
        folder = tempfile.mkdtemp(prefix="course-channel-")
        path = os.path.join(folder, "s")
        token = secrets.token_hex(16)
        listener = listen(path)
        try:
            message_id = kernel_client.execute(serve_line(path, token), store_history=False, allow_stdin=False)
            result = serve_cell(listener, token, source, self.trusted, self.timeout, folder)
            _wait_idle(kernel_client, message_id, 30)
            return result
        finally:
            listener.close()
            import shutil

            shutil.rmtree(folder, ignore_errors=True)


def _wait_idle(kernel_client, message_id: str, timeout: float) -> None:
    """Wait for the kernel's reply to the serve request (discarding whatever it printed meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            reply = kernel_client.get_shell_msg(timeout=max(0.01, deadline - time.monotonic()))
        except Exception:  # noqa: BLE001 - queue.Empty: no reply in time
            break
        if reply.get("parent_header", {}).get("msg_id") == message_id:
            break
    while True:  # the serve request's own output is not the test's
        try:
            message = kernel_client.get_iopub_msg(timeout=0.2)
        except Exception:  # noqa: BLE001 - queue.Empty
            return
        if message.get("parent_header", {}).get("msg_id") == message_id and message["msg_type"] == "status":
            if message["content"].get("execution_state") == "idle":
                return


# ------------------------------------------------------------------------------ the long-lived process


def main() -> None:
    """``python -m autograder.trusted``: JSON requests on stdin, one JSON answer line each on stdout.

    Requests: ``{"op": "prepare", "preset": {...}}`` (import the course's modules once) ->
    ``{"ready": true}``; ``{"op": "run", "source", "socket", "token", "timeout", "preset", "shared_root"}`` ->
    ``{"listening": true}`` as soon as the socket is bound (the grader then starts the student side), then the
    ``CellResult`` as a dict.
    """
    from autograder import sandbox

    sandbox.prctl(sandbox.PR_SET_PDEATHSIG, signal.SIGKILL)
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # library chatter on fd 1 must not corrupt the protocol
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    trusted_cache: dict[str, Any] = {}
    for line in sys.stdin:
        try:
            request = json.loads(line)
            answer = _handle(request, protocol, trusted_cache)
        except (Exception, KeyboardInterrupt) as error:  # noqa: BLE001 - report, keep serving
            answer = {"error": ["TrustedProcessError", f"{type(error).__name__}: {error}"],
                      "traceback": traceback.format_exc()[-3000:], "stdout": "", "stderr": ""}  # fmt: skip
        protocol.write(json.dumps(answer) + "\n")


def _handle(request: dict, protocol, cache: dict) -> dict:
    key = json.dumps(request.get("preset", {}), sort_keys=True)
    if key not in cache:
        cache.clear()
        cache[key] = resolve_imports(request.get("preset", {}))
    if request["op"] == "prepare":
        return {"ready": True}
    listener = listen(request["socket"])
    try:
        protocol.write(json.dumps({"listening": True}) + "\n")
        timeout = float(request["timeout"])
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout + 2)
        try:
            result = serve_cell(listener, request["token"], request["source"], dict(cache[key]), timeout,
                                request.get("shared_root"))  # fmt: skip
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            os.unlink(request["socket"])
    return result.to_dict()


def _on_alarm(signum, frame) -> None:
    raise KeyboardInterrupt


class TrustedProcess:
    """The grader's handle on one ``python -m autograder.trusted`` process."""

    def __init__(self) -> None:
        self.workdir = tempfile.mkdtemp(prefix="course-trusted-")
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        }
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "autograder.trusted"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, cwd=self.workdir, env=env, text=True, bufsize=1,
        )  # fmt: skip
        self._buffer = ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, request: dict) -> None:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()

    def read(self, timeout: float) -> dict | None:
        """The next answer line, or None when none arrived within ``timeout`` s. Raises EOFError if it died."""
        deadline = time.monotonic() + timeout
        while "\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self.process.stdout], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(self.process.stdout.fileno(), 1 << 20).decode()
            if not chunk:
                raise EOFError("the trusted test process exited")
            self._buffer += chunk
        line, self._buffer = self._buffer.split("\n", 1)
        return json.loads(line)

    def cpu_seconds(self) -> float:
        from autograder import sandbox

        return sandbox.process_cpu_seconds(self.process.pid) if self.alive() else 0.0

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(Exception):
            self.process.wait(timeout=5)


_SHARED: TrustedProcess | None = None


def shared_process() -> TrustedProcess:
    """This grading worker's trusted test process (started on first use, restarted when it died)."""
    global _SHARED
    if _SHARED is None or not _SHARED.alive():
        _SHARED = TrustedProcess()
    return _SHARED


def discard_shared_process() -> None:
    """Kill this worker's trusted process (after it hung); the next ``shared_process()`` starts a fresh one."""
    global _SHARED
    if _SHARED is not None:
        _SHARED.kill()
        _SHARED = None


if __name__ == "__main__":
    main()
