"""Checks used by the labs' test cells: one place for messages and tolerances.

Each check prints ``[PASS] ...`` on success and raises ``AssertionError`` with a message that says what was
expected, what was found and, where we can guess, what went wrong. Introduced in lab 1, used by every lab.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CheckFailed",
    "check",
    "check_shape",
    "check_dtype",
    "check_close",
    "check_equal",
    "check_one_hot",
    "check_param_count",
    "check_type",
    "check_all_unique",
    "FileReadSpy",
    "fail",
    "plain",
    "live_model",
    "build_model",
    "student_rng",
    "round_trip",
    "files_opened",
    "shared_folder",
    "type_names",
]


class CheckFailed(AssertionError):
    """A lab check failed; the message is meant for the student."""


# When graded, a test cell runs in a trusted process (autograder.trusted) and the student's values arrive as plain
# data or as proxies of objects in the student's kernel (autograder.channel.StudentObject). A proxy is recognised
# by its class (never by asking the object itself), and every check turns values into plain data first.
_SESSION: dict[str, Any] = {"channel": None, "shared_root": None}


def _is_proxy(value: Any) -> bool:
    return getattr(type(value), "_course_student_proxy", False) is True


class grading_session:  # noqa: N801 - a context manager used by the grader only
    """The grader's context for one graded test cell: the channel to the student's kernel, and where
    ``shared_folder`` makes folders the sandboxed kernel can read. Not for test cells."""

    def __init__(self, channel: Any, shared_root: str | None) -> None:
        self.session = {"channel": channel, "shared_root": shared_root}

    def __enter__(self) -> None:
        self.saved = dict(_SESSION)
        _SESSION.update(self.session)

    def __exit__(self, *exc_info) -> None:
        _SESSION.update(self.saved)


def _report(message: str, quiet: bool) -> None:
    if not quiet:
        print(f"[PASS] {message}")


def fail(message: str, hint: str | None = None) -> None:
    """Raise a student-facing failure."""
    text = f"[FAIL] {message}"
    if hint:
        text += f"\n       Hint: {hint}"
    raise CheckFailed(text)


def check(message: str, condition: Any, hint: str | None = None, quiet: bool = False) -> None:
    """Pass when ``condition`` is true; ``message`` says what is being checked."""
    condition = plain(condition)
    if isinstance(condition, np.ndarray) and condition.size == 1:
        condition = condition.item()
    if not isinstance(condition, (bool, np.bool_, int)):
        raise TypeError(f"check({message!r}, ...): the condition must be a bool, got {type(condition).__name__}")
    if not bool(condition):
        fail(message, hint)
    _report(message, quiet)


def _shape_hint(actual: tuple, expected: tuple) -> str | None:
    if len(actual) != len(expected):
        return f"expected {len(expected)} dimensions, got {len(actual)}: a missing batch axis or an extra squeeze?"
    if sorted(map(str, actual)) == sorted(map(str, expected)) and actual != expected:
        return "same sizes in another order: did you transpose or swap axes?"
    for a, e in zip(actual, expected):
        if e is not None and isinstance(a, int) and a in (e - 1, e + 1):
            return "off by one: check how the last (partial) batch or an index range is handled"
    return None


def check_shape(
    name: str, array: Any, expected: Sequence[int | None], quiet: bool = False, hint: str | None = None
) -> None:
    """Check ``array.shape`` against ``expected``; ``None`` in ``expected`` matches any size. ``hint`` is shown
    on failure (after the guess from the shapes, if any)."""
    actual = _shape_of(array)
    expected = tuple(expected)
    ok = len(actual) == len(expected) and all(e is None or a == e for a, e in zip(actual, expected))
    if not ok:
        guess = _shape_hint(actual, expected)
        fail(f"{name}: expected shape {expected}, got {actual}", "; ".join(filter(None, [guess, hint])) or None)
    _report(f"{name} has shape {actual}", quiet)


def _shape_of(array: Any) -> tuple:
    """The shape of a value (array, tensor, nested list, or a student object with a ``shape``) as ints/None."""
    if isinstance(array, np.ndarray):
        shape = array.shape
    elif _is_proxy(array) or (hasattr(array, "shape") and not isinstance(array, (list, tuple))):
        shape = plain(array.shape)  # a symbolic tensor's shape: read it rather than materialise the tensor
    else:
        shape = np.shape(plain(array))
    if not isinstance(shape, (tuple, list)) or not all(a is None or isinstance(a, (int, np.integer)) for a in shape):
        raise TypeError(f"expected a shape (a tuple of sizes), got {type(shape).__name__}")
    return tuple(int(a) if a is not None else None for a in shape)


def _dtype_of(array: Any) -> np.dtype:
    if _is_proxy(array):
        dtype = plain(array.dtype)  # the student side sends dtypes by name
        return np.dtype(dtype if isinstance(dtype, str) else str(dtype))
    dtype = getattr(array, "dtype", None)
    if hasattr(dtype, "as_numpy_dtype"):  # tf.DType (a test's own tensor, in the student's kernel)
        return np.dtype(dtype.as_numpy_dtype)
    if dtype is not None:  # numpy dtype, or the string Keras tensors carry
        return np.dtype(str(dtype))
    return np.asarray(plain(array)).dtype


def check_dtype(name: str, array: Any, expected: Any, quiet: bool = False, hint: str | None = None) -> None:
    """Check the dtype (numpy or tensor) of ``array``."""
    actual = _dtype_of(array)
    if actual != np.dtype(expected):
        if hint is None and actual == np.float64:
            hint = "numpy defaults to float64: cast with .astype(np.float32)"
        fail(f"{name}: expected dtype {np.dtype(expected)}, got {actual}", hint)
    _report(f"{name} has dtype {actual}", quiet)


def check_close(
    name: str,
    actual: Any,
    expected: Any,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    hint: str | None = None,
    quiet: bool = False,
) -> None:
    """Check that ``actual`` equals ``expected`` within tolerances (shapes must match).

    On failure the message names the element that breaks the tolerance most: the largest
    ``|actual - expected| / (atol + rtol * |expected|)`` (NaN counts as infinitely far).
    """
    actual_array = _float_array(name, actual)
    expected_array = _float_array(name, expected)
    if actual_array.shape != expected_array.shape:
        fail(f"{name}: expected shape {expected_array.shape}, got {actual_array.shape}", hint)
    if not np.allclose(actual_array, expected_array, rtol=rtol, atol=atol, equal_nan=False):
        with np.errstate(invalid="ignore", over="ignore"):
            ratio = np.abs(actual_array - expected_array) / (atol + rtol * np.abs(expected_array))
        ratio = np.where(np.isnan(ratio), np.inf, ratio)
        if actual_array.ndim == 0:
            detail = f"expected {float(expected_array):.6g}, got {float(actual_array):.6g}"
        else:
            worst = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
            bad = int(np.count_nonzero(ratio > 1))
            detail = (
                f"{bad} of {ratio.size} elements outside the tolerance; worst at index {tuple(int(i) for i in worst)}"
                f": expected {float(expected_array[worst]):.6g}, got {float(actual_array[worst]):.6g} "
                f"(difference {abs(float(actual_array[worst]) - float(expected_array[worst])):.3g}, "
                f"allowed {atol + rtol * abs(float(expected_array[worst])):.3g})"
            )
        fail(f"{name}: values differ: {detail}", hint)
    _report(f"{name} matches the expected values", quiet)


def _float_array(name: str, value: Any) -> np.ndarray:
    value = plain(value)
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        fail(f"{name}: expected numbers, got {type(value).__name__} ({error})")
    return array


def check_equal(name: str, actual: Any, expected: Any, hint: str | None = None, quiet: bool = False) -> None:
    """Check exact equality of two values (numbers, strings, lists, tuples, dicts, arrays)."""
    actual, expected = plain(actual), plain(expected)
    if not _equal(actual, expected):
        expected_text, actual_text = repr(expected), repr(actual)
        if len(expected_text) + len(actual_text) > 300:
            expected_text, actual_text = _first_difference(actual, expected)
        fail(f"{name}: expected {expected_text}, got {actual_text}", hint)
    shown = repr(expected)
    _report(f"{name} == {shown if len(shown) <= 80 else shown[:77] + '...'}", quiet)


def _equal(actual: Any, expected: Any) -> bool:
    """Equality of plain data (arrays by shape and values, containers item by item)."""
    if isinstance(actual, np.ndarray) or isinstance(expected, np.ndarray):
        return np.shape(actual) == np.shape(expected) and bool(np.array_equal(np.asarray(actual), np.asarray(expected)))
    if isinstance(actual, (list, tuple)) or isinstance(expected, (list, tuple)):
        return (
            type(actual) is type(expected)
            and len(actual) == len(expected)
            and all(_equal(a, e) for a, e in zip(actual, expected))
        )
    if isinstance(actual, dict) or isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and isinstance(expected, dict)
            and set(actual) == set(expected)
            and all(_equal(actual[key], expected[key]) for key in expected)
        )
    return bool(actual == expected)


def _first_difference(actual: Any, expected: Any) -> tuple[str, str]:
    """Short description of where two long sequences first differ."""
    try:
        if len(actual) != len(expected):
            return f"{len(expected)} items", f"{len(actual)} items"
        index = next(i for i, (a, e) in enumerate(zip(actual, expected)) if not _equal(a, e))
        return f"{expected[index]!r} at position {index}", repr(actual[index])
    except (TypeError, StopIteration):
        return repr(expected)[:150] + "...", repr(actual)[:150] + "..."


def type_names(value: Any) -> list[str]:
    """Fully qualified names of the classes of ``value`` (its MRO): a student object's come from its kernel."""
    if _is_proxy(value):
        return value._course_type_names()
    return [f"{cls.__module__}.{cls.__qualname__}" for cls in type(value).__mro__]


def check_type(name: str, value: Any, expected: type | tuple[type, ...], quiet: bool = False) -> None:
    """Check that ``value`` is an instance of ``expected`` (one class or a tuple), by comparing class names."""
    classes = expected if isinstance(expected, tuple) else (expected,)
    found = type_names(value)
    wanted = {f"{cls.__module__}.{cls.__qualname__}" for cls in classes}
    shown = found[0].rsplit(".", 1)[-1] if found else "?"
    if not wanted.intersection(found):
        names = " or ".join(cls.__name__ for cls in classes)
        fail(f"{name}: expected an instance of {names}, got {shown}")
    _report(f"{name} is a {shown}", quiet)


def check_one_hot(name: str, labels: Any, n_classes: int, quiet: bool = False) -> None:
    """Check that ``labels`` is a (B, n_classes) one-hot matrix."""
    array = np.asarray(plain(labels))
    if array.ndim != 2 or array.shape[1] != n_classes:
        fail(
            f"{name}: expected one-hot labels of shape (batch, {n_classes}), got {array.shape}",
            "use keras.utils.to_categorical(labels, n_classes)",
        )
    if not (np.isin(array, (0, 1)).all() and np.allclose(array.sum(axis=1), 1)):
        fail(f"{name}: every row must contain exactly one 1 and zeros elsewhere")
    _report(f"{name} is one-hot with {n_classes} classes", quiet)


def check_param_count(name: str, model: Any, expected: int, trainable: bool | None = None, quiet: bool = False) -> None:
    """Check a Keras model's parameter count (all, or only (non-)trainable when ``trainable`` is given)."""
    if trainable is None:
        actual, kind = plain(model.count_params()), "parameters"
    else:
        weights = plain(model.trainable_weights if trainable else model.non_trainable_weights)
        actual = int(sum(int(np.prod(np.shape(w))) for w in weights))
        kind = "trainable parameters" if trainable else "non-trainable parameters"
    if int(actual) != int(expected):
        fail(f"{name}: expected {expected:,} {kind}, got {int(actual):,}", "compare model.summary() layer by layer")
    _report(f"{name} has {int(actual):,} {kind}", quiet)


def check_all_unique(name: str, items: Iterable[Any], quiet: bool = False) -> None:
    """Check that no item occurs twice."""
    seen: set[Any] = set()
    keys = [repr(item) if isinstance(item, (np.ndarray, list, dict)) else item for item in plain(list(items))]
    duplicates = [key for key in keys if key in seen or seen.add(key)]
    if duplicates:
        fail(f"{name}: {len(duplicates)} duplicated item(s), e.g. {duplicates[0]!r}")
    _report(f"{name}: no duplicates", quiet)


class FileReadSpy:
    """Context manager that records every path passed to ``numpy.load`` (the loaders' only way to read a cloud).

    Works only in the student's kernel (it patches ``numpy.load`` there): graded test cells run elsewhere and must
    use ``files_opened``, which observes from outside the student's process.

    Introduced in lab 1 to check that a data loader is lazy::

        with FileReadSpy() as spy:
            provider[0]
        spy.paths  # the files batch 0 read, in order
    """

    def __init__(self) -> None:
        self.paths: list[str] = []
        self._original = None

    def __enter__(self) -> FileReadSpy:
        self._original = np.load
        original = self._original

        def spying_load(file, *args, **kwargs):
            self.paths.append(str(file))
            return original(file, *args, **kwargs)

        np.load = spying_load
        return self

    def __exit__(self, *exc_info) -> None:
        np.load = self._original

    def reset(self) -> None:
        self.paths.clear()


# --- Values from the student's side -------------------------------------------------------------------------------
# When graded, a test cell runs in a trusted process and every name it does not define itself is looked up in the
# student's kernel: it arrives as plain data or as an opaque handle (see autograder's channel). The helpers below
# are the test cells' only ways to turn student values into something to compare, so that the same test cell runs
# in the student's kernel (visible checks while working) and in the trusted process (grading).


def plain(value: Any) -> Any:
    """``value`` as plain data: None, bool, int, float, str, bytes, lists/tuples/dicts of these, NumPy arrays.

    Tensors and Keras variables become NumPy arrays, NumPy scalars Python numbers, paths strings. When graded, a
    student object (a proxy) is materialised by the student's kernel and arrives as such data.
    """
    if _is_proxy(value):
        return plain(value._course_plain())
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return np.asarray([plain(item) for item in value.ravel()]).reshape(value.shape)
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(plain(item) for item in value)
    if isinstance(value, dict):
        return {plain(key): plain(item) for key, item in value.items()}
    if hasattr(value, "__fspath__"):
        return str(value)
    if hasattr(value, "as_list"):  # TensorShape
        return value.as_list()
    if hasattr(value, "numpy"):
        return np.asarray(value.numpy())
    try:
        array = np.asarray(value)
    except Exception as error:  # noqa: BLE001 - any failure means: not data
        raise TypeError(f"cannot turn a {type(value).__name__} into plain data") from error
    if array.dtype == object:
        raise TypeError(f"cannot turn a {type(value).__name__} into plain data")
    return array


# Classes a rebuilt model may contain besides Keras' own: the course's registered ones ("package>name").
COURSE_REGISTERED: set[str] = set()


def check_rebuildable(config: Any) -> None:
    """Refuse a model config that names a class outside Keras (and the course's registered classes)."""
    if isinstance(config, dict):
        module, registered = config.get("module"), config.get("registered_name")
        if "class_name" in config and "module" in config:  # a serialized object (Keras 3 format)
            built_in = isinstance(module, str) and (module == "keras" or module.startswith("keras."))
            if not built_in and registered not in COURSE_REGISTERED:
                fail(
                    f"the model contains a {config['class_name']!r} from {module!r}, which a test cannot rebuild",
                    "use only Keras' built-in layers here (or ask: the test should use the model through predict)",
                )
        for item in config.values():
            check_rebuildable(item)
    elif isinstance(config, list):
        for item in config:
            check_rebuildable(item)


def live_model(model: Any):
    """A Keras model rebuilt from ``model``'s config (safe mode, built-in layers only) with ``model``'s weights.

    The rebuilt model is the tests' own: call it, set its weights, inspect its layers.
    """
    import keras

    config_text = plain(model.to_json())
    if not isinstance(config_text, str):
        raise TypeError(f"model.to_json() returned a {type(config_text).__name__}, not a str")
    config = json.loads(config_text)
    check_rebuildable(config)
    rebuilt = keras.saving.deserialize_keras_object(config, safe_mode=True)
    weights = plain(model.get_weights())
    if not isinstance(weights, list) or not all(isinstance(w, np.ndarray) for w in weights):
        raise TypeError("model.get_weights() did not return a list of arrays")
    rebuilt.set_weights(weights)
    return rebuilt


def build_model(
    builder: Any, input_shapes: Sequence[Sequence[int | None]], *args: Any, live: bool = True, **kwargs: Any
):
    """``keras.Model(inputs, builder(*inputs, *args, **kwargs))`` with one ``keras.Input(shape)`` per input shape.

    For TODOs that write layer-building functions of Keras tensors (``conv_bn(x, filters, name)``): the model is
    built where the function lives; ``live=True`` returns it rebuilt as the tests' own model (``live_model``).
    ``args`` and ``kwargs`` must be plain data or student values.
    """
    shapes = [[None if size is None else int(size) for size in shape] for shape in input_shapes]
    if _is_proxy(builder):
        model = builder._course_build_model(shapes, list(args), dict(kwargs))
    else:
        import keras

        inputs = [keras.Input(shape=tuple(shape)) for shape in shapes]
        outputs = builder(*inputs, *args, **kwargs)
        model = keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs)
    return live_model(model) if live else model


def round_trip(model: Any):
    """``model`` saved to a ``.keras`` file and loaded back with ``keras.saving.load_model``, where the model lives.

    When graded this runs in the student's kernel as the course's own code (the model and its custom classes live
    there), not through a helper function of the notebook that the student could rebind; the result is the loaded
    model (a student value).
    """
    if _is_proxy(model):
        return model._course_round_trip()
    from course_utils._grading_channel import keras_round_trip

    return keras_round_trip(model)


def student_rng(seed: int) -> np.random.Generator:
    """A NumPy ``Generator`` seeded with ``seed`` on the student's side, to pass to the student's functions."""
    channel = _SESSION["channel"]
    if channel is not None:
        return channel.rng(int(seed))
    return np.random.default_rng(seed)


class files_opened:  # noqa: N801 - used like a function: ``with checks.files_opened(folder) as opened``
    """Context manager: the files under ``folder`` opened while the block runs, as a list of paths (str).

    Observed from outside the student's code, so it works the same in the student's kernel and when graded.
    Paths are ``folder`` joined with the file's path below it, in the order opened, once per open; only folders
    that exist when the block starts are watched. Two observers (``.observer`` says which one ran):

    - ``"fanotify"`` where this process may use it (Linux, CAP_SYS_ADMIN: the grader, a root kernel): fanotify
      open-permission events on every folder under ``folder``, answered by a helper process
      (``course_utils/_fanotify.py``) that counts an open only when the opening process is the student's: when
      graded, the process in the student's sandbox that connected to the test process, its descendants and every
      process of the sandbox's PID namespace; in the student's own kernel, the kernel and its descendants. Opens
      by other processes (another grading worker, an indexer, the test process itself) are left out and counted
      in ``.ignored``.
    - ``"inotify"`` otherwise (a student's kernel without root): ``IN_OPEN`` on every folder, which also sees
      opens by other processes. Test cells therefore watch a private copy of the files
      (``with checks.shared_folder() as folder``), which no other process reads.

    ``observer="fanotify"`` or ``"inotify"`` forces one (``OSError`` when fanotify is not available).
    """

    def __init__(self, folder: Any, observer: str = "auto") -> None:
        if observer not in ("auto", "fanotify", "inotify"):
            raise ValueError(f"files_opened: observer must be 'auto', 'fanotify' or 'inotify', not {observer!r}")
        self.folder = os.path.abspath(str(plain(folder)))
        self.requested = observer
        self.observer: str | None = None
        self.paths: list[str] = []
        self.ignored = 0
        self._watch: _Inotify | _Fanotify | None = None

    def __enter__(self) -> list[str]:
        if not os.path.isdir(self.folder):
            raise FileNotFoundError(f"files_opened: {self.folder} is not a folder")
        if self.requested != "inotify":
            why = "this process lacks CAP_SYS_ADMIN"
            pid = _observed_process()
            if pid is None:
                why = "the student's process is not known (no peer credentials on the channel)"
            elif _may_use_fanotify():
                try:
                    self._watch, self.observer = _Fanotify(self.folder, pid), "fanotify"
                except OSError as error:
                    why = str(error)
            if self._watch is None and self.requested == "fanotify":
                raise OSError(f"files_opened: fanotify is not available here: {why}")
        if self._watch is None:
            self._watch, self.observer = _Inotify(self.folder), "inotify"
        return self.paths

    def __exit__(self, *exc_info) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            try:
                self.paths.extend(watch.opened())
                self.ignored = getattr(watch, "ignored", 0)
            finally:
                watch.close()


def _observed_process() -> int | None:
    """The pid whose process tree ``files_opened`` attributes opens to: the student side of the grading channel
    (its peer credentials, as this process's PID namespace numbers it), else this process (the student's kernel)."""
    channel = _SESSION["channel"]
    if channel is None:
        return os.getpid()
    import socket
    import struct

    sock = getattr(channel, "sock", None)
    if not isinstance(sock, socket.socket) or sock.family != socket.AF_UNIX:
        return None
    try:
        pid, _, _ = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    except OSError:
        return None
    return pid if pid > 0 else None


def _may_use_fanotify() -> bool:
    """Linux with CAP_SYS_ADMIN in this process's effective set (fanotify_init needs it)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> 21 & 1)
    except (OSError, ValueError):
        pass
    return False


class _Fanotify:
    """The fanotify helper process (``course_utils/_fanotify.py``) for one ``files_opened`` block."""

    START_TIMEOUT = 30.0

    def __init__(self, folder: str, pid: int) -> None:
        import subprocess
        import sys

        helper = Path(__file__).with_name("_fanotify.py")
        self.ignored = 0
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(helper), str(pid), folder],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        line = self._line(self.START_TIMEOUT)
        if not line.startswith("ready "):
            self.close()
            raise OSError(line.removeprefix("error ").strip() or "the fanotify helper did not start")
        self.mode = line.split()[1]

    def _line(self, timeout: float) -> str:
        import select

        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        return self.process.stdout.readline() if ready else ""

    def opened(self) -> list[str]:
        try:
            self.process.stdin.write("stop\n")
            self.process.stdin.flush()
        except OSError:
            pass
        line = self._line(self.START_TIMEOUT)
        try:
            answer = json.loads(line)
        except ValueError:
            answer = {"error": "the fanotify helper stopped without an answer"}
        if "error" in answer:
            raise RuntimeError(f"files_opened: {answer['error']}")
        self.ignored = int(answer["ignored"])
        return [str(path) for path in answer["paths"]]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass


IN_OPEN, IN_ISDIR, IN_Q_OVERFLOW = 0x20, 0x40000000, 0x4000
IN_NONBLOCK, IN_CLOEXEC = os.O_NONBLOCK, 0o2000000


class _Inotify:
    """IN_OPEN watches on a folder tree (inotify watches inodes: it sees opens from any process or sandbox)."""

    def __init__(self, folder: str) -> None:
        import ctypes

        self._libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self.folders: dict[int, str] = {}
        try:
            for directory, _, _ in os.walk(folder, followlinks=True):
                wd = self._libc.inotify_add_watch(self.fd, os.fsencode(directory), IN_OPEN)
                if wd < 0:
                    raise OSError(ctypes.get_errno(), f"cannot watch {directory} (fs.inotify.max_user_watches?)")
                self.folders[wd] = directory
        except BaseException:
            self.close()
            raise

    def opened(self) -> list[str]:
        import struct

        data = b""
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            data += chunk
        paths, offset = [], 0
        while offset + 16 <= len(data):
            wd, mask, _, size = struct.unpack_from("iIII", data, offset)
            name = data[offset + 16 : offset + 16 + size].split(b"\0", 1)[0]
            offset += 16 + size
            if mask & IN_Q_OVERFLOW:
                raise RuntimeError("files_opened: too many files opened at once to observe them all")
            if mask & IN_OPEN and not mask & IN_ISDIR and name and wd in self.folders:
                paths.append(os.path.join(self.folders[wd], os.fsdecode(name)))
        return paths

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def shared_folder():
    """Context manager: a fresh empty folder (``Path``) that the test may write and the student's code may read.

    For test data the student's functions must find on disk (a small tree of samples). In the student's kernel it
    is a temporary folder; when graded, the grader makes it where the sandboxed kernel can read it.
    """
    import contextlib
    import tempfile

    root = _SESSION["shared_root"]  # when graded: a folder bound into the sandbox

    @contextlib.contextmanager
    def folder():
        with tempfile.TemporaryDirectory(prefix="course-test-", dir=root) as name:
            os.chmod(name, 0o755)
            yield Path(name)

    return folder()
