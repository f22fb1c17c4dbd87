"""The trusted side of the data-only channel to a student's kernel: requests, answers, student-object proxies.

A graded test cell runs in the trusted test process (``autograder.trusted``). A name it does not define is looked
up in the student's kernel through a ``Channel``: the answer is plain data (``None``, bool, int, float, str, bytes,
lists/tuples/dicts of these, NumPy arrays of numeric, bool or str dtype), this process's own copy of an
allow-listed module object (``np``, ``keras``, ``checks``, ``Path``), or a ``StudentObject``: a proxy whose
attribute reads, calls, indexing, ``len``, iteration and truth value are requests on the channel, answered by the
same rules. The wire format and the student side are in ``course_utils._grading_channel``.

Why our own protocol: RPyC (even its restricted configurations) and Pyro5 proxy objects in both directions and
call back into the caller (RPyC netrefs expose the trusted side's objects to the remote end; Pyro5's serpent sends
class names that the receiver may map back to classes); what we need is strictly one-way (the trusted side calls,
the student side only answers with data), with NumPy arrays as ``.npy`` blobs (``allow_pickle=False``) instead of
msgpack extensions. JSON headers plus raw blobs over a length-prefixed Unix socket does exactly that in ~300
lines, with size limits and a deadline on every read.

Nothing but plain data and handle numbers is ever sent to the student side: a test cell that passes a trusted
object (a Keras tensor, a model, a lambda) into student code gets a ``TypeError`` that says what to pass instead.
"""

from __future__ import annotations

import builtins
import socket
import sys
import time
from pathlib import PurePath
from typing import Any

from course_utils import _grading_channel as wire
from course_utils._grading_channel import Encoder, ProtocolError, decode, module_path

ITERATION_LIMIT = 100_000


class ChannelError(RuntimeError):
    """The student side did not answer as the protocol says (closed, late, malformed): the test cell fails."""


class StudentError(Exception):
    """An exception raised by the student's code, as (type name, message); subclasses mirror built-in types so
    that a test's ``except ValueError`` catches a student's ``ValueError``."""

    student_type = "Exception"

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


_STUDENT_ERRORS: dict[str, type] = {}


def student_error(type_name: str, message: str) -> StudentError:
    """A trusted exception standing for the student's ``type_name`` (e.g. ``ValueError`` -> ``StudentError`` and
    ``ValueError``); its class's ``__name__`` is the student's type name, its message the student's message."""
    cls = _STUDENT_ERRORS.get(type_name)
    if cls is None:
        builtin = getattr(builtins, type_name, None)
        bases: tuple[type, ...] = (StudentError,)
        if isinstance(builtin, type) and issubclass(builtin, Exception) and builtin is not StudentError:
            bases = (StudentError, builtin)
        try:
            cls = type(type_name.rsplit(".", 1)[-1], bases, {"student_type": type_name})
        except TypeError:  # built-in layouts that cannot be combined: keep the name only
            cls = type(type_name.rsplit(".", 1)[-1], (StudentError,), {"student_type": type_name})
        _STUDENT_ERRORS[type_name] = cls
    return cls(message)


def trusted_module_object(module: str, qualname: str) -> Any:
    """This process's own copy of an allow-listed module (or one of its top-level classes/functions).

    Only modules this process has already imported are used (the student's answer never makes it import code).
    """
    if module.split(".")[0] not in wire.ALLOWED_PACKAGES:
        raise ProtocolError(f"module {module!r} is not allow-listed")
    found: Any = sys.modules.get(module)
    if found is None:
        raise ProtocolError(f"module {module!r} is not loaded by the test process")
    for part in filter(None, qualname.split(".")):
        if part.startswith("__"):
            raise ProtocolError(f"{module}:{qualname} is not a public name")
        found = getattr(found, part, None)
        if found is None:
            raise ProtocolError(f"{module} has no {qualname}")
    return found


class Channel:
    """One test cell's connection to the student side (a connected Unix socket; ``deadline`` bounds every read)."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.closed = False
        self.requests = 0

    # -- encoding requests
    def _encode_other(self, value: Any) -> Any:
        if isinstance(value, StudentObject):
            if object.__getattribute__(value, "_course_channel") is not self:
                raise ChannelError("a student object from an earlier test cell was used (handles last one cell)")
            return {"H": object.__getattribute__(value, "_course_handle")}
        if isinstance(value, PurePath):
            return {"P": str(value)}
        path = module_path(value)
        if path is not None:
            return {"M": path[0], "a": path[1]}
        raise TypeError(
            f"a test cell may pass only plain data or student values into student code, not a {type(value).__name__} "
            "(see CONTRIBUTING: Test cells run outside the student's kernel)"
        )

    def _handle(self, number: int) -> StudentObject:
        return StudentObject(self, number)

    def request(self, op: str, **fields: Any) -> Any:
        if self.closed:
            raise ChannelError("the connection to the student's kernel is closed")
        encoder = Encoder(self._encode_other)
        tree = encoder.encode({"op": op, **fields})
        self.requests += 1
        try:
            wire.send_frame(self.sock, tree, encoder.blobs)
            reply, blobs = wire.recv_frame(self.sock, self.deadline)
        except TimeoutError as error:
            self.closed = True
            raise ChannelError("the student's code did not answer in time") from error
        except (OSError, ProtocolError) as error:
            self.closed = True
            raise ChannelError(f"the student's kernel did not answer properly ({error})") from error
        if type(reply) is not dict or len(reply) != 1:
            raise ChannelError("malformed answer from the student's kernel")
        if "error" in reply:
            detail = reply["error"]
            if type(detail) is not list or len(detail) != 2 or not all(type(x) is str for x in detail):
                raise ChannelError("malformed error answer from the student's kernel")
            raise student_error(detail[0][:200], detail[1][: wire.MAX_MESSAGE])
        if "ok" not in reply:
            raise ChannelError("malformed answer from the student's kernel")
        try:
            return decode(reply["ok"], blobs, self._handle, trusted_module_object)
        except ProtocolError as error:
            raise ChannelError(f"the student's kernel sent an answer that is not plain data ({error})") from error

    def lookup(self, name: str) -> Any:
        return self.request("lookup", name=name)

    def rng(self, seed: int) -> Any:
        return self.request("rng", seed=seed)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                encoder = Encoder(self._encode_other)
                wire.send_frame(self.sock, encoder.encode({"op": "done"}), [])
            except OSError:
                pass
        try:
            self.sock.close()
        except OSError:
            pass


ALLOWED_DUNDERS = frozenset({"__name__", "__qualname__", "__doc__", "__module__"})


class StudentObject:
    """A student object in the student's kernel, used from a test cell through the channel.

    ``checks.plain(obj)`` materialises it as plain data; ``checks.check_type`` compares its class names. Equality
    is identity (a proxy never asks the student whether it equals something).
    """

    _course_student_proxy = True
    __slots__ = ("_course_channel", "_course_handle")

    def __init__(self, channel: Channel, handle: int) -> None:
        object.__setattr__(self, "_course_channel", channel)
        object.__setattr__(self, "_course_handle", handle)

    def _course_request(self, op: str, **fields: Any) -> Any:
        return object.__getattribute__(self, "_course_channel").request(op, target=self, **fields)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__") and name not in ALLOWED_DUNDERS:
            raise AttributeError(name)  # numpy's __array__ & co. must not reach the student side
        return self._course_request("getattr", name=name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._course_request("setattr", name=name, value=value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._course_request("call", args=list(args), kwargs=kwargs)

    def __getitem__(self, key: Any) -> Any:
        return self._course_request("getitem", key=key)

    def __len__(self) -> int:
        length = self._course_request("len")
        if type(length) is not int or length < 0:
            raise ChannelError("len() of a student object did not answer a non-negative int")
        return length

    def __iter__(self):
        items = self._course_request("iter", limit=ITERATION_LIMIT)
        if type(items) is not list:
            raise ChannelError("iterating over a student object did not answer a list")
        return iter(items)

    def __bool__(self) -> bool:
        truth = self._course_request("bool")
        if type(truth) is not bool:
            raise ChannelError("bool() of a student object did not answer a bool")
        return truth

    def _course_plain(self) -> Any:
        return self._course_request("plain")

    def _course_type_names(self) -> list[str]:
        names = self._course_request("types")
        if type(names) is not list or not all(type(name) is str for name in names):
            raise ChannelError("the class names of a student object are not a list of str")
        return names

    def _course_build_model(self, shapes: list, args: list, kwargs: dict) -> Any:
        return self._course_request("build_model", shapes=shapes, args=args, kwargs=kwargs)

    def _course_round_trip(self) -> Any:
        return self._course_request("round_trip")

    def __repr__(self) -> str:
        return f"<student object #{object.__getattribute__(self, '_course_handle')}>"

    __hash__ = object.__hash__

    def __eq__(self, other: Any) -> bool:
        return self is other

    def __ne__(self, other: Any) -> bool:
        return self is not other


def connect(listener: socket.socket, token: str, deadline: float) -> Channel:
    """Accept the student side's connection on ``listener`` and check its hello (the token the grader sent it)."""
    listener.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        sock, _ = listener.accept()
    except TimeoutError as error:
        raise ChannelError("the student's kernel did not connect to the test process") from error
    try:
        hello, _ = wire.recv_frame(sock, min(deadline, time.monotonic() + 30))
    except (TimeoutError, OSError, ProtocolError) as error:
        sock.close()
        raise ChannelError(f"the student's kernel did not say hello ({error})") from error
    if hello != {"hello": token}:
        sock.close()
        raise ChannelError("the student's kernel answered with the wrong token")
    return Channel(sock, deadline)
