"""The data-only channel between a graded test cell (trusted process) and the student's kernel: wire format and
the student side.

Graded test cells never run in the student's kernel. The grader sends the kernel one line,
``__import__("course_utils._grading_channel").serve(path, token)``, which connects to the trusted test process's
Unix socket and answers its requests, in the kernel's main thread, until the trusted side says ``done``. The
trusted side (``autograder.channel``) asks for a name, reads an attribute, calls, indexes, takes ``len``; every
answer is plain data (encoded below) or an opaque integer handle of a student object.

Wire format: a frame is a 4-byte big-endian length, a JSON header ``{"h": tree, "n": [blob sizes]}``, then the
blobs. ``tree`` is JSON where None, bool, int, float and str stand for themselves and every JSON object is a
one-key tag: ``{"L": [...]}`` list, ``{"T": [...]}`` tuple, ``{"D": [[key, value], ...]}`` dict, ``{"B": i}``
bytes (blob ``i``), ``{"A": i}`` a NumPy array (blob ``i`` in ``.npy`` format, numeric, bool or str dtype, written
and read with ``allow_pickle=False``), ``{"S": [start, stop, step]}`` slice, ``{"E": 0}`` Ellipsis,
``{"V": [array, path, name, trainable]}`` a Keras variable's value (``VariableValue``), ``{"P": "..."}`` a path
(sent by the trusted side only: answers carry paths as str), ``{"H": n}`` a handle,
``{"M": "module", "a": "qualified.name"}`` an object of an allow-listed module (each side uses its own
copy). No pickle, no code, no references cross.

This module runs on both sides; ``decode`` checks everything it reads (types, sizes, depth) and raises
``ProtocolError`` on anything else. Introduced for grading (not used by the labs' own code).
"""

from __future__ import annotations

import io
import itertools
import json
import socket
import struct
import sys
import time
import types
from collections.abc import Callable
from typing import Any

import numpy as np

MAX_HEADER_BYTES = 16 * 1024**2
MAX_FRAME_BYTES = 512 * 1024**2  # header + blobs: a lab's largest answers (weights, predictions) are a few MB
MAX_DEPTH = 32
MAX_ITEMS = 1_000_000  # list/dict items per frame
MAX_MESSAGE = 2000  # characters of an exception message sent back
ARRAY_KINDS = "biufcUS"  # bool, int, uint, float, complex, unicode, bytes: never object or void (structured)
# Packages whose modules and module-level objects travel by name (the trusted side resolves them to its own copy).
ALLOWED_PACKAGES = frozenset({"numpy", "keras", "tensorflow", "math", "pathlib", "time", "course_utils", "random",
                              "collections", "itertools", "functools", "operator", "statistics", "string", "json",
                              "re", "typing", "dataclasses", "builtins"})  # fmt: skip


class VariableValue(np.ndarray):
    """A Keras variable's value as it arrives from the student side: an array that also carries the variable's
    ``path``, ``name`` and ``trainable`` (plain data: str, str, bool)."""

    path: str = ""
    name: str = ""
    trainable: bool = True


def variable_value(array: np.ndarray, path: str, name: str, trainable: bool) -> VariableValue:
    value = array.view(VariableValue)
    value.path, value.name, value.trainable = path, name, trainable
    return value


class ProtocolError(ValueError):
    """A frame that does not follow the wire format (too large, wrong types, unknown tags, a closed socket)."""


# ------------------------------------------------------------------------------------------------- frames


def send_frame(sock: socket.socket, tree: Any, blobs: list[bytes]) -> None:
    head = json.dumps({"h": tree, "n": [len(blob) for blob in blobs]}, allow_nan=True).encode()
    sock.sendall(struct.pack(">I", len(head)) + head)
    for blob in blobs:
        sock.sendall(blob)


def _read_exact(sock: socket.socket, size: int, deadline: float | None) -> bytes:
    chunks, missing = [], size
    while missing:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no answer in time")
            sock.settimeout(remaining)
        try:
            chunk = sock.recv(min(missing, 4 * 1024**2))
        except TimeoutError as error:
            raise TimeoutError("no answer in time") from error
        if not chunk:
            raise ProtocolError("the other side closed the channel")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def recv_frame(sock: socket.socket, deadline: float | None = None) -> tuple[Any, list[bytes]]:
    """One frame: (tree, blobs). Raises ProtocolError (malformed, too large, closed) or TimeoutError."""
    (size,) = struct.unpack(">I", _read_exact(sock, 4, deadline))
    if size > MAX_HEADER_BYTES:
        raise ProtocolError(f"header of {size:,} bytes is larger than the limit")
    try:
        head = json.loads(_read_exact(sock, size, deadline))
    except (UnicodeDecodeError, ValueError) as error:
        raise ProtocolError(f"header is not JSON: {error}") from error
    if not isinstance(head, dict) or set(head) != {"h", "n"} or not isinstance(head["n"], list):
        raise ProtocolError("header is not {h, n}")
    sizes = head["n"]
    if not all(type(n) is int and n >= 0 for n in sizes) or sum(sizes) + size > MAX_FRAME_BYTES:
        raise ProtocolError(f"blobs larger than the limit of {MAX_FRAME_BYTES:,} bytes")
    return head["h"], [_read_exact(sock, n, deadline) for n in sizes]


# ----------------------------------------------------------------------------------------------- values


class Encoder:
    """Plain data -> (tree, blobs); anything else goes to ``fallback`` (which returns a tree or raises)."""

    def __init__(self, fallback: Callable[[Any], Any]) -> None:
        self.blobs: list[bytes] = []
        self.fallback = fallback
        self.items = 0

    def blob(self, data: bytes) -> int:
        self.blobs.append(data)
        return len(self.blobs) - 1

    def encode(self, value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
        self.items += 1
        if self.items > MAX_ITEMS:
            raise ValueError(f"more than {MAX_ITEMS:,} items")
        kind = type(value)
        if value is None or kind in (bool, int, float, str):
            return value
        if kind is bytes:
            return {"B": self.blob(value)}
        if kind is list:
            return {"L": [self.encode(item, depth + 1) for item in value]}
        if kind is tuple:
            return {"T": [self.encode(item, depth + 1) for item in value]}
        if kind is dict:
            return {"D": [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in value.items()]}
        if kind is slice:
            return {"S": [self.encode(value.start), self.encode(value.stop), self.encode(value.step)]}
        if value is Ellipsis:
            return {"E": 0}
        if kind is VariableValue:
            value = np.asarray(value)  # sent back as the plain array it is
            kind = np.ndarray
        if kind is np.ndarray and value.dtype.kind in ARRAY_KINDS and value.dtype.fields is None:
            buffer = io.BytesIO()
            np.save(buffer, value, allow_pickle=False)
            return {"A": self.blob(buffer.getvalue())}
        if isinstance(value, np.generic) and type(value).__module__ == "numpy" and value.dtype.kind in "biuf":
            return value.item()
        return self.fallback(value)


def decode(
    tree: Any,
    blobs: list[bytes],
    handle: Callable[[int], Any],
    module_object: Callable[[str, str], Any],
) -> Any:
    """(tree, blobs) -> value, checking every node; ``handle(n)`` and ``module_object(module, qualname)`` build
    the side's own objects for ``H`` and ``M`` nodes. Raises ProtocolError on anything malformed."""
    count = itertools.count()

    def walk(node: Any, depth: int) -> Any:
        if depth > MAX_DEPTH or next(count) > MAX_ITEMS:
            raise ProtocolError("answer nested too deep or too many items")
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is not dict or len(node) not in (1, 2):
            raise ProtocolError(f"unexpected {type(node).__name__} in an answer")
        if len(node) == 2:
            if set(node) != {"M", "a"} or type(node["M"]) is not str or type(node["a"]) is not str:
                raise ProtocolError("malformed module reference")
            return module_object(node["M"], node["a"])
        ((tag, body),) = node.items()
        if tag in ("L", "T") and type(body) is list:
            items = [walk(item, depth + 1) for item in body]
            return items if tag == "L" else tuple(items)
        if tag == "D" and type(body) is list:
            result = {}
            for pair in body:
                if type(pair) is not list or len(pair) != 2:
                    raise ProtocolError("malformed dict item")
                key = walk(pair[0], depth + 1)
                try:
                    result[key] = walk(pair[1], depth + 1)
                except TypeError as error:  # an unhashable key (a list, an array)
                    raise ProtocolError(f"unhashable dict key: {error}") from error
            return result
        if tag == "B":
            return bytes(_blob(blobs, body))
        if tag == "A":
            try:
                array = np.load(io.BytesIO(_blob(blobs, body)), allow_pickle=False)
            except Exception as error:  # noqa: BLE001 - any failure means: not an array we accept
                raise ProtocolError(f"malformed array: {error}") from error
            if type(array) is not np.ndarray or array.dtype.kind not in ARRAY_KINDS or array.dtype.fields is not None:
                raise ProtocolError(f"array of dtype {array.dtype} is not plain data")
            return array
        if tag == "S" and type(body) is list and len(body) == 3:
            parts = [walk(item, depth + 1) for item in body]
            if not all(part is None or type(part) is int for part in parts):
                raise ProtocolError("slice bounds must be int or None")
            return slice(*parts)
        if tag == "E" and body == 0:
            return Ellipsis
        if tag == "V" and type(body) is list and len(body) == 4:
            array = walk(body[0], depth + 1)
            path, name, trainable = body[1:]
            if type(array) is not np.ndarray or type(path) is not str or type(name) is not str:
                raise ProtocolError("malformed variable")
            if type(trainable) is not bool:
                raise ProtocolError("malformed variable")
            return variable_value(array, path, name, trainable)
        if tag == "P" and type(body) is str:
            import pathlib

            return pathlib.Path(body)
        if tag == "H" and type(body) is int:
            return handle(body)
        raise ProtocolError(f"unknown tag {tag!r}")

    return walk(tree, 0)


def _blob(blobs: list[bytes], index: Any) -> bytes:
    if type(index) is not int or not 0 <= index < len(blobs):
        raise ProtocolError("blob index out of range")
    return blobs[index]


def module_path(value: Any) -> tuple[str, str] | None:
    """(module, qualified name) when ``value`` is an allow-listed module or a class/function defined at the top of
    one (and found there under that name), else None."""
    if isinstance(value, types.ModuleType):
        name = getattr(value, "__name__", "")
        return (name, "") if type(name) is str and name.split(".")[0] in ALLOWED_PACKAGES else None
    if not isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType, np.ufunc)):
        return None
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", value.__name__)
    if type(module) is not str or type(qualname) is not str or module.split(".")[0] not in ALLOWED_PACKAGES:
        return None
    if isinstance(value, np.ufunc):
        module, qualname = "numpy", value.__name__
    found: Any = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return (module, qualname) if found is value else None


# --------------------------------------------------------------------------------------------- student side


def serve(path: str, token: str, idle_timeout: float = 3600.0, namespace: dict | None = None) -> None:
    """Answer the trusted test process's requests until it says ``done`` (runs in the kernel's main thread).

    ``namespace``: where names are looked up (default: the IPython user namespace, else ``__main__``'s).
    """
    if namespace is None:
        import IPython

        shell = IPython.get_ipython()
        namespace = shell.user_ns if shell is not None else vars(sys.modules["__main__"])
    server = _Server(namespace)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        send_frame(sock, {"hello": token}, [])
        while True:
            try:
                tree, blobs = recv_frame(sock, time.monotonic() + idle_timeout)
            except (ProtocolError, TimeoutError, OSError):
                return
            try:
                request = decode(tree, blobs, server.lookup_handle, _local_module_object)
                if type(request) is not dict or type(request.get("op")) is not str:
                    raise ProtocolError("malformed request")
                if request["op"] == "done":
                    return
                answer, out = server.answer(request)
                reply = {"ok": answer}
            except Exception as error:  # noqa: BLE001 - the student's code raised: send its type and message
                reply, out = {"error": [_type_name(type(error)), _message(error)]}, []
            try:
                send_frame(sock, reply, out)
            except OSError:
                return


def _type_name(cls: type) -> str:
    module = getattr(cls, "__module__", "")
    return f"{module}.{cls.__qualname__}" if module not in ("builtins", None, "") else cls.__qualname__


def _message(error: BaseException) -> str:
    try:
        text = str(error)
    except Exception:  # noqa: BLE001 - a student exception whose __str__ fails
        text = ""
    return text[:MAX_MESSAGE]


class _Server:
    """The student side's table of handles and its request handlers."""

    def __init__(self, namespace: dict) -> None:
        self.namespace = namespace
        self.objects: dict[int, Any] = {}
        self.encoder: Encoder | None = None

    def encode_other(self, value: Any) -> Any:
        """Answer a value that is not plain data: as data after all (tensors, paths), by name, or by handle."""
        data = _as_data(value)
        if data is not _NOT_DATA:
            tree = self.encoder.encode(data)
            keras = sys.modules.get("keras")
            if keras is not None and isinstance(value, getattr(keras, "Variable", ())):
                path, name, trainable = getattr(value, "path", ""), getattr(value, "name", ""), value.trainable
                if type(path) is str and type(name) is str and type(trainable) is bool:
                    return {"V": [tree, path, name, trainable]}
            return tree
        path = module_path(value)
        if path is not None:
            return {"M": path[0], "a": path[1]}
        number = len(self.objects) + 1
        self.objects[number] = value
        return {"H": number}

    def answer(self, request: dict) -> tuple[Any, list[bytes]]:
        handler = getattr(self, "op_" + request["op"], None)
        if handler is None:
            raise ProtocolError(f"unknown request {request['op']!r}")
        value = handler(request)
        self.encoder = Encoder(self.encode_other)
        return self.encoder.encode(value), self.encoder.blobs

    def lookup_handle(self, number: int) -> Any:
        if number not in self.objects:
            raise ProtocolError(f"unknown handle {number}")
        return self.objects[number]

    # -- requests
    def op_lookup(self, request: dict) -> Any:
        name = request["name"]
        if name not in self.namespace:
            raise NameError(f"name {name!r} is not defined")
        return self.namespace[name]

    def op_getattr(self, request: dict) -> Any:
        return getattr(request["target"], request["name"])

    def op_setattr(self, request: dict) -> None:
        setattr(request["target"], request["name"], request["value"])

    def op_call(self, request: dict) -> Any:
        return request["target"](*request["args"], **request["kwargs"])

    def op_getitem(self, request: dict) -> Any:
        return request["target"][request["key"]]

    def op_len(self, request: dict) -> int:
        return int(len(request["target"]))

    def op_bool(self, request: dict) -> bool:
        return bool(request["target"])

    def op_iter(self, request: dict) -> list:
        items = list(itertools.islice(iter(request["target"]), request["limit"] + 1))
        if len(items) > request["limit"]:
            raise ValueError(f"more than {request['limit']:,} items to iterate over")
        return items

    def op_types(self, request: dict) -> list[str]:
        return [f"{cls.__module__}.{cls.__qualname__}" for cls in type(request["target"]).__mro__]

    def op_plain(self, request: dict) -> Any:
        value = request["target"]
        data = _as_data(value)
        if data is not _NOT_DATA:
            return data
        if hasattr(value, "as_list"):  # TensorShape
            return value.as_list()
        array = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
        if array.dtype.kind not in ARRAY_KINDS:
            raise TypeError(f"cannot turn a {type(value).__name__} into plain data")
        return array

    def op_build_model(self, request: dict) -> Any:
        import keras

        inputs = [keras.Input(shape=tuple(shape)) for shape in request["shapes"]]
        outputs = request["target"](*inputs, *request["args"], **request["kwargs"])
        return keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs)

    def op_rng(self, request: dict) -> Any:
        return np.random.default_rng(request["seed"])

    def op_round_trip(self, request: dict) -> Any:
        return keras_round_trip(request["target"])


def keras_round_trip(model: Any) -> Any:
    """``model`` after ``model.save`` to a fresh ``.keras`` file and ``keras.saving.load_model`` (safe mode).

    Course code that runs where the model lives (the student's kernel), so that a test of saving does not depend on
    a helper function the student's namespace could rebind (``checks.round_trip``).
    """
    import os
    import tempfile

    import keras

    with tempfile.TemporaryDirectory(prefix="course-round-trip-") as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        return keras.saving.load_model(path)


_NOT_DATA = object()


def _as_data(value: Any) -> Any:
    """Tensors and variables as arrays, paths as str, dtypes as their names; _NOT_DATA for anything else."""
    import pathlib

    if isinstance(value, pathlib.PurePath):
        return str(value)
    if isinstance(value, np.dtype):
        return str(value)
    module = (getattr(type(value), "__module__", "") or "").split(".")[0]
    if module in ("tensorflow", "keras") and not isinstance(value, type):
        if hasattr(value, "as_numpy_dtype"):  # tf.DType
            return str(np.dtype(value.as_numpy_dtype))
        if hasattr(value, "numpy"):  # EagerTensor, tf.Variable, keras.Variable
            try:
                array = np.asarray(value.numpy())
            except Exception:  # noqa: BLE001 - symbolic: stays a handle
                return _NOT_DATA
            if array.dtype.kind in ARRAY_KINDS:
                return array
    return _NOT_DATA


def _local_module_object(module: str, qualname: str) -> Any:
    """The student side's own copy of an allow-listed module object named by the trusted side."""
    if module.split(".")[0] not in ALLOWED_PACKAGES:
        raise ProtocolError(f"module {module!r} is not allowed")
    import importlib

    found: Any = importlib.import_module(module)
    for part in filter(None, qualname.split(".")):
        found = getattr(found, part)
    return found
