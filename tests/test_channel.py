"""The data-only channel (autograder.channel, course_utils._grading_channel): wire format, limits, proxies.

The student side is served from a thread here, with a plain dict as its namespace (no kernel needed).
"""

from __future__ import annotations

import io
import json
import math
import shutil
import socket
import struct
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from autograder import channel as trusted_channel
from autograder.channel import ChannelError, StudentObject, connect
from course_utils import _grading_channel as wire
from course_utils import checks


class Student:
    """A student object with the usual kinds of members."""

    def __init__(self):
        self.size = 3
        self.items = [1, 2, 3]

    def __len__(self):
        return self.size

    def __getitem__(self, index):
        if index >= self.size:
            raise IndexError("batch index out of range")
        return np.full((2, 2), index, dtype=np.float32)

    def scale(self, values, factor=2):
        return np.asarray(values) * factor


@pytest.fixture
def session():
    """A connected Channel to a student side serving ``namespace`` from a thread."""
    folder = tempfile.mkdtemp(prefix="chan-")  # short: a Unix socket path has at most 107 bytes
    path = str(Path(folder) / "s")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
        listener.listen(1)
        namespace = {
            "values": [1.0, 2.0],
            "student": Student(),
            "np": np,
            "checks": checks,
            "Path": Path,
            "math_module": math,
            "data_dir": Path("/tmp/data"),
            "square": lambda x: x * x,
            "kind": lambda value: type(value).__name__,
            "broken": lambda: 1 / 0,
            "json": "not the json module",
            "gen": (i for i in range(5)),
            "endless": iter(int, 1),
        }
        thread = threading.Thread(target=wire.serve, args=(path, "tok"), kwargs={"namespace": namespace}, daemon=True)
        thread.start()
        chan = connect(listener, "tok", time.monotonic() + 10)
        yield chan, namespace
        chan.close()
        thread.join(5)
        assert not thread.is_alive(), "the student side stops when the trusted side says done"
    finally:
        listener.close()
        shutil.rmtree(folder, ignore_errors=True)  # the socket file stays behind otherwise


def test_plain_data_round_trip():
    values = [None, True, 3, 2.5, float("nan"), "é", b"\x00\xff", (1, [2, {"a": 3, 4: (5,)}]), slice(1, None, 2),
              Ellipsis, np.arange(6, dtype=np.int16).reshape(2, 3), np.array(["a", "bc"]), np.float32(1.5)]  # fmt: skip
    encoder = wire.Encoder(lambda value: pytest.fail(f"not data: {value!r}"))
    tree = encoder.encode(values)
    head = json.loads(json.dumps(tree))
    decoded = wire.decode(head, encoder.blobs, lambda n: pytest.fail("handle"), lambda m, a: pytest.fail("module"))
    assert decoded[:4] == [None, True, 3, 2.5] and math.isnan(decoded[4])
    assert decoded[5:10] == ["é", b"\x00\xff", (1, [2, {"a": 3, 4: (5,)}]), slice(1, None, 2), Ellipsis]
    np.testing.assert_array_equal(decoded[10], values[10])
    assert decoded[10].dtype == np.int16 and list(decoded[11]) == ["a", "bc"] and decoded[12] == 1.5


@pytest.mark.parametrize(
    "tree",
    [
        {"X": 1},  # unknown tag
        {"op": "call"},  # an untagged JSON object
        {"A": 5},  # blob index out of range
        {"D": [[{"L": []}, 1]]},  # unhashable key
        {"S": [1.5, None, None]},
        {"L": [[]]},  # a bare JSON list
        {"M": "os", "a": "system"},  # module check is the resolver's (below)
    ],
)
def test_malformed_trees_are_rejected(tree):
    def module_object(module, attribute):
        return trusted_channel.trusted_module_object(module, attribute)

    with pytest.raises(wire.ProtocolError):
        wire.decode(tree, [], lambda n: n, module_object)


def test_pickled_and_object_arrays_are_rejected():
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(wire.ProtocolError, match="malformed array"):
        wire.decode({"A": 0}, [buffer.getvalue()], lambda n: n, lambda m, a: None)


def test_deep_nesting_and_huge_headers_are_rejected():
    deep: object = 1
    for _ in range(wire.MAX_DEPTH + 5):
        deep = {"L": [deep]}
    with pytest.raises(wire.ProtocolError, match="deep"):
        wire.decode(deep, [], lambda n: n, lambda m, a: None)
    left, right = socket.socketpair()
    left.sendall(struct.pack(">I", wire.MAX_HEADER_BYTES + 1))
    with pytest.raises(wire.ProtocolError, match="larger than the limit"):
        wire.recv_frame(right, time.monotonic() + 2)
    left.sendall(struct.pack(">I", 4))  # promises 4 bytes, sends 2, then nothing: the read times out
    left.sendall(b"{}")
    with pytest.raises(TimeoutError):
        wire.recv_frame(right, time.monotonic() + 0.3)


def test_unknown_modules_are_not_imported():
    with pytest.raises(wire.ProtocolError, match="not allow-listed"):
        trusted_channel.trusted_module_object("os", "system")
    with pytest.raises(wire.ProtocolError, match="not loaded"):
        trusted_channel.trusted_module_object("course_utils.not_a_module_xyz", "")


def test_lookups_arrive_as_data_modules_or_handles(session):
    chan, _ = session
    assert chan.lookup("values") == [1.0, 2.0]
    assert chan.lookup("np") is np and chan.lookup("checks") is checks and chan.lookup("Path") is Path
    assert chan.lookup("data_dir") == "/tmp/data"
    assert chan.lookup("json") == "not the json module"
    student = chan.lookup("student")
    assert isinstance(student, StudentObject) and checks.type_names(student)[0].endswith("test_channel.Student")
    with pytest.raises(NameError):
        chan.lookup("undefined_name")


def test_proxies_read_call_index_and_iterate(session):
    chan, _ = session
    student = chan.lookup("student")
    assert len(student) == 3 and student.size == 3 and student.items == [1, 2, 3]
    batch = student[1]
    assert isinstance(batch, np.ndarray) and batch.dtype == np.float32 and batch[0, 0] == 1
    np.testing.assert_array_equal(student.scale([1, 2], factor=3), [3, 6])
    assert [b[0, 0] for b in student] == [0, 1, 2]  # iteration through __getitem__ on the student side
    assert chan.lookup("square")(4) == 16
    assert list(chan.lookup("gen")) == [0, 1, 2, 3, 4]
    student.size = 2  # setattr with plain data
    assert len(student) == 2
    assert bool(student) is True


def test_student_exceptions_arrive_as_catchable_types(session):
    chan, _ = session
    student = chan.lookup("student")
    with pytest.raises(IndexError, match="batch index out of range"):
        student[5]
    with pytest.raises(ZeroDivisionError):
        chan.lookup("broken")()
    with pytest.raises(ValueError, match="more than"):
        list(chan.lookup("endless"))


def test_trusted_objects_are_never_sent(session):
    chan, _ = session
    square = chan.lookup("square")
    with pytest.raises(TypeError, match="only plain data or student values"):
        square(lambda: 1)
    with pytest.raises(TypeError, match="only plain data or student values"):
        square(object())
    assert np.asarray(square(np.arange(3))).tolist() == [0, 1, 4]
    assert chan.lookup("kind")(Path("/tmp")) == "PosixPath"  # a path travels as a path ...
    assert chan.lookup("data_dir") == "/tmp/data"  # ... and comes back as str
    assert chan.lookup("student").scale.__name__ == "scale"
    assert square(chan.lookup("student").size) == 9


def test_proxies_do_not_forward_dunders_or_equality(session):
    chan, _ = session
    student = chan.lookup("student")
    with pytest.raises(AttributeError):
        student.__array__  # noqa: B018
    assert student == student and student != chan.lookup("student")
    # numpy's sequence protocol (len, getitem) still goes through the channel: the answers are data
    assert np.asarray(student).shape == (3, 2, 2)


def test_handles_die_with_their_session(session):
    chan, _ = session
    student = chan.lookup("student")
    chan.close()
    with pytest.raises(ChannelError, match="closed"):
        len(student)


def test_checks_on_proxies(session):
    chan, _ = session
    student = chan.lookup("student")
    checks.check_equal("items", student.items, [1, 2, 3], quiet=True)
    checks.check_shape("batch", student[0], (2, 2), quiet=True)
    checks.check_dtype("batch", student[0], np.float32, quiet=True)
    checks.check_type("student", student, object, quiet=True)
    with pytest.raises(checks.CheckFailed, match="expected an instance of int"):
        checks.check_type("student", student, int)
    with pytest.raises(TypeError, match="cannot turn a generator into plain data"):
        checks.plain(chan.lookup("gen"))


def test_a_closed_or_silent_student_side_fails_the_cell():
    left, right = socket.socketpair()
    chan = trusted_channel.Channel(left, time.monotonic() + 0.3)
    with pytest.raises(ChannelError, match="in time"):
        chan.lookup("x")  # nobody answers
    left2, right2 = socket.socketpair()
    chan2 = trusted_channel.Channel(left2, time.monotonic() + 2)
    wire.send_frame(right2, {"ok": {"H": "not an int"}}, [])
    with pytest.raises(ChannelError, match="not plain data"):
        chan2.lookup("x")
    left3, right3 = socket.socketpair()
    chan3 = trusted_channel.Channel(left3, time.monotonic() + 2)
    wire.send_frame(right3, {"error": ["ValueError"]}, [])
    with pytest.raises(ChannelError, match="malformed"):
        chan3.lookup("x")
    right.close(), right2.close(), right3.close()


def test_variable_values_carry_their_path():
    encoder = wire.Encoder(lambda value: pytest.fail("not data"))
    array_tree = encoder.encode(np.ones((2, 3), np.float32))
    tree = {"V": [array_tree, "dense/kernel", "kernel", False]}
    value = wire.decode(tree, encoder.blobs, lambda n: n, lambda m, a: None)
    assert isinstance(value, np.ndarray) and value.shape == (2, 3)
    assert (value.path, value.name, value.trainable) == ("dense/kernel", "kernel", False)
    assert type(wire.Encoder(lambda v: None).encode(value)) is dict  # sent back as a plain array
    with pytest.raises(wire.ProtocolError):
        wire.decode({"V": [array_tree, 1, "kernel", True]}, encoder.blobs, lambda n: n, lambda m, a: None)
