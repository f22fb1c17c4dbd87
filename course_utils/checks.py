"""Checks used by the labs' test cells: one place for messages and tolerances.

Each check prints ``[PASS] ...`` on success and raises ``AssertionError`` with a message that says what was
expected, what was found and, where we can guess, what went wrong. Introduced in lab 1, used by every lab.
"""

from __future__ import annotations

import json
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
    "files_opened",
    "shared_folder",
]


class CheckFailed(AssertionError):
    """A lab check failed; the message is meant for the student."""


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


def check_shape(name: str, array: Any, expected: Sequence[int | None], quiet: bool = False) -> None:
    """Check ``array.shape`` against ``expected``; ``None`` in ``expected`` matches any size."""
    actual = tuple(getattr(array, "shape", np.shape(array)))
    actual = tuple(int(a) if a is not None else None for a in actual)
    expected = tuple(expected)
    ok = len(actual) == len(expected) and all(e is None or a == e for a, e in zip(actual, expected))
    if not ok:
        fail(f"{name}: expected shape {expected}, got {actual}", _shape_hint(actual, expected))
    _report(f"{name} has shape {actual}", quiet)


def check_dtype(name: str, array: Any, expected: Any, quiet: bool = False) -> None:
    """Check the dtype (numpy or tensor) of ``array``."""
    dtype = getattr(array, "dtype", None)
    if hasattr(dtype, "as_numpy_dtype"):  # tf.DType
        actual = np.dtype(dtype.as_numpy_dtype)
    elif dtype is not None:  # numpy dtype, or the string Keras tensors carry
        actual = np.dtype(str(dtype))
    else:
        actual = np.asarray(array).dtype
    if actual != np.dtype(expected):
        hint = "numpy defaults to float64: cast with .astype(np.float32)" if actual == np.float64 else None
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
    """Check that ``actual`` equals ``expected`` within tolerances (shapes must match)."""
    actual_array = np.asarray(actual, dtype=np.float64)
    expected_array = np.asarray(expected, dtype=np.float64)
    if actual_array.shape != expected_array.shape:
        fail(f"{name}: expected shape {expected_array.shape}, got {actual_array.shape}", hint)
    if not np.allclose(actual_array, expected_array, rtol=rtol, atol=atol, equal_nan=False):
        difference = np.abs(actual_array - expected_array)
        worst = np.unravel_index(int(np.argmax(difference)), difference.shape) if difference.size else ()
        if actual_array.ndim == 0:
            detail = f"expected {float(expected_array):.6g}, got {float(actual_array):.6g}"
        else:
            detail = (
                f"largest difference {float(difference[worst]):.3g} at index {tuple(int(i) for i in worst)} "
                f"(expected {float(expected_array[worst]):.6g}, got {float(actual_array[worst]):.6g})"
            )
        fail(f"{name}: values differ: {detail}", hint)
    _report(f"{name} matches the expected values", quiet)


def check_equal(name: str, actual: Any, expected: Any, hint: str | None = None, quiet: bool = False) -> None:
    """Check exact equality of two values (numbers, strings, lists, tuples)."""
    if isinstance(actual, np.ndarray) or isinstance(expected, np.ndarray):
        same = np.array_equal(np.asarray(actual), np.asarray(expected))
    else:
        same = actual == expected
    if not same:
        expected_text, actual_text = repr(expected), repr(actual)
        if len(expected_text) + len(actual_text) > 300:
            expected_text, actual_text = _first_difference(actual, expected)
        fail(f"{name}: expected {expected_text}, got {actual_text}", hint)
    shown = repr(expected)
    _report(f"{name} == {shown if len(shown) <= 80 else shown[:77] + '...'}", quiet)


def _first_difference(actual: Any, expected: Any) -> tuple[str, str]:
    """Short description of where two long sequences first differ."""
    try:
        if len(actual) != len(expected):
            return f"{len(expected)} items", f"{len(actual)} items"
        index = next(i for i, (a, e) in enumerate(zip(actual, expected)) if a != e)
        return f"{expected[index]!r} at position {index}", repr(actual[index])
    except (TypeError, StopIteration):
        return repr(expected)[:150] + "...", repr(actual)[:150] + "..."


def check_type(name: str, value: Any, expected: type | tuple[type, ...], quiet: bool = False) -> None:
    """Check ``isinstance(value, expected)``."""
    if not isinstance(value, expected):
        names = expected.__name__ if isinstance(expected, type) else " or ".join(t.__name__ for t in expected)
        fail(f"{name}: expected an instance of {names}, got {type(value).__name__}")
    _report(f"{name} is a {type(value).__name__}", quiet)


def check_one_hot(name: str, labels: Any, n_classes: int, quiet: bool = False) -> None:
    """Check that ``labels`` is a (B, n_classes) one-hot matrix."""
    array = np.asarray(labels)
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
        actual, kind = model.count_params(), "parameters"
    else:
        weights = model.trainable_weights if trainable else model.non_trainable_weights
        actual = int(sum(int(np.prod(w.shape)) for w in weights))
        kind = "trainable parameters" if trainable else "non-trainable parameters"
    if int(actual) != int(expected):
        fail(f"{name}: expected {expected:,} {kind}, got {int(actual):,}", "compare model.summary() layer by layer")
    _report(f"{name} has {int(actual):,} {kind}", quiet)


def check_all_unique(name: str, items: Iterable[Any], quiet: bool = False) -> None:
    """Check that no item occurs twice."""
    seen: set[Any] = set()
    duplicates = [item for item in items if item in seen or seen.add(item)]
    if duplicates:
        fail(f"{name}: {len(duplicates)} duplicated item(s), e.g. {duplicates[0]!r}")
    _report(f"{name}: no duplicates", quiet)


class FileReadSpy:
    """Context manager that records every path passed to ``numpy.load`` (the loaders' only way to read a cloud).

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

    Tensors and Keras variables become NumPy arrays, NumPy scalars Python numbers, paths strings.
    """
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(plain(item) for item in value)
    if isinstance(value, dict):
        return {plain(key): plain(item) for key, item in value.items()}
    if hasattr(value, "__fspath__"):
        return str(value)
    if hasattr(value, "numpy"):
        return np.asarray(value.numpy())
    try:
        array = np.asarray(value)
    except Exception as error:  # noqa: BLE001 - any failure means: not data
        raise TypeError(f"cannot turn a {type(value).__name__} into plain data") from error
    if array.dtype == object:
        raise TypeError(f"cannot turn a {type(value).__name__} into plain data")
    return array


def live_model(model: Any):
    """A Keras model rebuilt from ``model``'s config (safe mode, built-in layers only) with ``model``'s weights.

    The rebuilt model is the tests' own: call it, set its weights, inspect its layers.
    """
    import keras

    config = json.loads(model.to_json())
    rebuilt = keras.saving.deserialize_keras_object(config, safe_mode=True)
    rebuilt.set_weights([np.asarray(plain(weight)) for weight in model.get_weights()])
    return rebuilt


def build_model(
    builder: Any, input_shapes: Sequence[Sequence[int | None]], *args: Any, live: bool = True, **kwargs: Any
):
    """``keras.Model(inputs, builder(*inputs, *args, **kwargs))`` with one ``keras.Input(shape)`` per input shape.

    For TODOs that write layer-building functions of Keras tensors (``conv_bn(x, filters, name)``): the model is
    built where the function lives; ``live=True`` returns it rebuilt as the tests' own model (``live_model``).
    ``args`` and ``kwargs`` must be plain data or student values.
    """
    import keras

    inputs = [keras.Input(shape=tuple(shape)) for shape in input_shapes]
    outputs = builder(*inputs, *args, **kwargs)
    model = keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs)
    return live_model(model) if live else model


def student_rng(seed: int) -> np.random.Generator:
    """A NumPy ``Generator`` seeded with ``seed`` on the student's side, to pass to the student's functions."""
    return np.random.default_rng(seed)


class files_opened:  # noqa: N801 - used like a function: ``with checks.files_opened(folder) as opened``
    """Context manager: the files under ``folder`` opened while the block runs, as a list of paths (str)."""

    def __init__(self, folder: Any) -> None:
        self.folder = str(folder)
        self.paths: list[str] = []
        self._spy = FileReadSpy()

    def __enter__(self) -> list[str]:
        self._spy.__enter__()
        return self.paths

    def __exit__(self, *exc_info) -> None:
        self._spy.__exit__(*exc_info)
        self.paths.extend(
            p for p in self._spy.paths if str(Path(p).resolve()).startswith(str(Path(self.folder).resolve()))
        )


def shared_folder():
    """Context manager: a fresh empty folder (``Path``) that the test may write and the student's code may read.

    For test data the student's functions must find on disk (a small tree of samples). In the student's kernel it
    is a temporary folder; when graded, the grader makes it where the sandboxed kernel can read it.
    """
    import contextlib
    import tempfile

    @contextlib.contextmanager
    def folder():
        with tempfile.TemporaryDirectory(prefix="course-test-") as name:
            yield Path(name)

    return folder()
