"""data_fetch.py: the three sources, the reduced format, atomic writes and every bad-input path."""

from __future__ import annotations

import hashlib
import http.server
import json
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

import data_fetch
from course_utils import data, meshes, synthetic

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------------ fixtures


def cube_off(header: str = "OFF\n8 6 0\n") -> str:
    corners = [(x, y, z) for x in (0, 1) for y in (0, 1) for z in (0, 1)]
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    return (
        header
        + "".join(f"{x} {y} {z}\n" for x, y, z in corners)
        + "".join(f"4 {a} {b} {c} {d}\n" for a, b, c, d in quads)
    )


def write_tree(root: Path, per_split: int = 2, broken: str | None = None, degenerate: str | None = None) -> Path:
    """A tiny ModelNet10-like tree: <root>/ModelNet10/<class>/{train,test}/<class>_000N.off."""
    tree = root / "ModelNet10"
    rng = np.random.default_rng(0)
    for class_name in data.CLASSES:
        for split in data.SPLITS:
            folder = tree / class_name / split
            folder.mkdir(parents=True)
            for number in range(per_split):
                file_id = f"{class_name}_{split}_{number:04d}"
                text = meshes.to_off(*synthetic.make_mesh(class_name, rng))
                if file_id == broken:
                    text = "OFF\n100 10 0\n1 2 3\n"
                if file_id == degenerate:
                    text = "OFF\n3 1 0\n0 0 0\n1 1 1\n2 2 2\n3 0 1 2\n"
                (folder / f"{file_id}.off").write_text(text)
    return tree


def zip_tree(tree: Path, target: Path, macosx: bool = True) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(tree.rglob("*.off")):
            archive.write(path, f"ModelNet10/{path.relative_to(tree)}")
        if macosx:
            archive.writestr("__MACOSX/ModelNet10/chair/train/._chair_train_0000.off", b"\x00\x05\x16\x07junk")
            archive.writestr("ModelNet10/chair/train/._chair_train_0000.off", b"\x00\x05\x16\x07junk")
    return target


def write_npz(path: Path, n_per_class: int = 2, n_points: int = 64, **overrides) -> Path:
    rng = np.random.default_rng(1)
    n = n_per_class * len(data.CLASSES)
    arrays = {
        "points": (rng.normal(size=(n, n_points, 3)) * 1000 + 50).astype(np.float32),
        "labels": np.repeat(np.arange(len(data.CLASSES)), n_per_class).astype(np.int16),
        "names": np.array([f"{c}_{i:04d}" for c in data.CLASSES for i in range(1, n_per_class + 1)]),
        "classes": np.array(data.CLASSES),
    }
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def run_cli(*args: str, root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "data_fetch.py"), "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def snapshot(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in directory.rglob("*")
        if p.is_file()
    }


# ------------------------------------------------------------------------------------------- parsing


def test_parse_off_glued_header_and_quads():
    vertices, triangles = meshes.parse_off(cube_off("OFF8 6 0\n"))
    assert vertices.shape == (8, 3)
    assert triangles.shape == (12, 3)  # six quads -> twelve triangles
    areas = meshes.triangle_areas(vertices, triangles)
    assert areas.sum() == pytest.approx(6.0)


def test_parse_off_comments_and_blank_lines():
    text = "# exported\nOFF\n\n3 1 0 # counts\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n"
    vertices, triangles = meshes.parse_off(text)
    assert triangles.tolist() == [[0, 1, 2]]


@pytest.mark.parametrize(
    "text, message",
    [
        ("PLY\n", "not an OFF file"),
        ("OFF\nx y z\n", "bad OFF header"),
        ("OFF\n10 1 0\n0 0 0\n", "truncated"),
        ("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n", "out of range"),
        ("OFF\n3 2 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n", "fewer"),
    ],
)
def test_parse_off_rejects_malformed(text, message):
    with pytest.raises(meshes.MeshError, match=message):
        meshes.parse_off(text)


def test_sampling_is_area_weighted():
    # Two triangles: the second has 9x the area, so it should get ~90% of the points.
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 5], [3, 0, 5], [0, 3, 5]], dtype=float)
    triangles = np.array([[0, 1, 2], [3, 4, 5]])
    points = meshes.sample_surface(vertices, triangles, 20_000, np.random.default_rng(0))
    assert np.mean(points[:, 2] == 5) == pytest.approx(0.9, abs=0.01)
    upper = points[points[:, 2] == 5]
    assert (upper[:, 0] >= 0).all() and (upper[:, 0] + upper[:, 1] <= 3 + 1e-9).all()  # inside the triangle


def test_degenerate_mesh_is_flagged():
    vertices = np.array([[0, 0, 0], [1, 1, 1], [2, 2, 2]], dtype=float)
    with pytest.raises(meshes.DegenerateMesh):
        meshes.sample_surface(vertices, np.array([[0, 1, 2]]), 10, np.random.default_rng(0))


# ------------------------------------------------------------------------------------------ synthetic


def test_synthetic_is_deterministic_and_well_formed(tmp_path):
    first = data_fetch.build_synthetic(3, 1, points=128, root=tmp_path / "a")
    data_fetch.build_synthetic(3, 1, points=128, root=tmp_path / "b")
    a, b = snapshot(tmp_path / "a" / "synthetic"), snapshot(tmp_path / "b" / "synthetic")
    assert a == b, "two builds with the same seed must be byte-identical"
    manifest = json.loads((tmp_path / "a" / "synthetic" / "manifest.json").read_text())
    assert manifest["classes"] == list(data.CLASSES)
    assert manifest["counts"] == {"train": 30, "test": 10}
    assert first.counts[("train", "chair")] == 3
    cloud = np.load(next((tmp_path / "a" / "synthetic" / "train" / "chair").glob("*.npy")))
    assert cloud.dtype == np.float32 and cloud.shape == (128, 3)
    assert np.abs(cloud.mean(axis=0)).max() < 1e-5
    assert np.linalg.norm(cloud, axis=1).max() == pytest.approx(1.0, abs=1e-5)


def test_synthetic_skips_when_current_and_rebuilds_on_change(tmp_path):
    assert data_fetch.build_synthetic(1, 1, points=32, root=tmp_path) is not None
    assert data_fetch.build_synthetic(1, 1, points=32, root=tmp_path) is None
    assert data_fetch.build_synthetic(2, 1, points=32, root=tmp_path) is not None


def test_synthetic_classes_are_not_identical():
    rng = np.random.default_rng(0)
    sizes = {name: synthetic.make_mesh(name, rng)[0].shape[0] for name in data.CLASSES}
    assert len(set(sizes.values())) > 3


def test_synthetic_extents_are_metres_whatever_the_random_scale(tmp_path, monkeypatch):
    data_fetch.build_synthetic(4, 1, points=256, root=tmp_path)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert data.extent_unit("synthetic") == "metre"
    samples = data.list_samples("train")
    extents = data.object_extents(samples)
    assert extents.shape == (40, 3) and extents.dtype == np.float64
    # Furniture-sized in metres, although every mesh was scaled by a random factor between 0.5 and 2.
    assert (extents.max(axis=1) > 0.3).all() and (extents.max(axis=1) < 3.5).all(), extents.max(axis=1)
    diagonal = {name: np.linalg.norm(extents[[s.class_name == name for s in samples]], axis=1).mean()
                for name in ("bed", "night_stand")}  # fmt: skip
    assert diagonal["bed"] > 2 * diagonal["night_stand"], diagonal
    # The stored (normalised, subsampled) cloud has the same proportions as the recorded box, to sampling accuracy.
    cloud_extent = np.ptp(data.load_cloud(samples[0].path), axis=0)
    assert cloud_extent / np.linalg.norm(cloud_extent) == pytest.approx(
        extents[0] / np.linalg.norm(extents[0]), abs=0.05
    )


def test_make_object_factor_undoes_the_random_scale():
    vertices, triangles, units_per_metre = synthetic.make_object("bed", np.random.default_rng(5))
    again = synthetic.make_mesh("bed", np.random.default_rng(5))  # the same draws, the same mesh
    assert np.array_equal(vertices, again[0]) and np.array_equal(triangles, again[1])
    assert 0.5 <= units_per_metre <= 2.0
    assert 1.3 < np.ptp(vertices, axis=0).max() / units_per_metre < 3.0  # a bed is about 2 m long


def test_outdated_dataset_without_extents_says_rebuild(tmp_path, monkeypatch):
    data_fetch.build_synthetic(1, 1, points=16, root=tmp_path)
    manifest_path = tmp_path / "synthetic" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["extents"], manifest["extent_unit"]
    manifest["format_version"] = 1  # as data_fetch.py wrote it before the extents were kept
    manifest_path.write_text(json.dumps(manifest))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    samples = data.list_samples("train")  # everything else still reads
    with pytest.raises(data.OutdatedDataset, match="rebuild it with `make data`"):
        data.object_extents(samples)
    with pytest.raises(data.OutdatedDataset, match="make data"):
        data.extent_unit()
    assert data_fetch.build_synthetic(1, 1, points=16, root=tmp_path) is not None, "make data must rebuild it"
    assert data.object_extents(samples).shape == (10, 3)


def test_outdated_import_names_the_import_command(tmp_path, monkeypatch):
    data_fetch.import_path(write_npz(tmp_path / "train.npz"), root=tmp_path)
    manifest_path = tmp_path / "modelnet10" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["extents"]
    manifest_path.write_text(json.dumps(manifest))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(data.OutdatedDataset, match=r"python data_fetch.py modelnet10 \(or: import PATH\)"):
        data.object_extents(data.list_samples("train", dataset="modelnet10"))


def test_read_side(tmp_path, monkeypatch):
    data_fetch.build_synthetic(2, 1, points=64, root=tmp_path)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    samples = data.list_samples("train")
    assert len(samples) == 20
    assert samples == sorted(samples, key=lambda s: (data.CLASSES[s.label], s.file_id))
    assert data.load_cloud(samples[0].path).shape == (64, 3)
    X, y = data.load_split(samples, n_points=32)
    assert X.shape == (20, 32, 3) and X.dtype == np.float32 and y.tolist() == [s.label for s in samples]
    chairs = data.list_samples("train", classes=("chair",))
    assert {s.class_name for s in chairs} == {"chair"}
    kept, held = data.holdout_split(samples, 0.5, seed=3)
    assert sorted(s.file_id for s in kept + held) == sorted(s.file_id for s in samples)
    assert not {s.file_id for s in kept} & {s.file_id for s in held}


def test_missing_dataset_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(data.DatasetNotFound, match="make data"):
        data.read_manifest("synthetic")


# ---------------------------------------------------------------------------------------- local import


def test_import_tree_and_zip_agree(tmp_path):
    tree = write_tree(tmp_path / "src")
    archive = zip_tree(tree, tmp_path / "ModelNet10.zip")
    data_fetch.import_path(tmp_path / "src", points=64, root=tmp_path / "from_tree")
    data_fetch.import_path(archive, points=64, root=tmp_path / "from_zip")
    tree_files = snapshot(tmp_path / "from_tree" / "modelnet10")
    zip_files = snapshot(tmp_path / "from_zip" / "modelnet10")
    tree_manifest = json.loads((tmp_path / "from_tree" / "modelnet10" / "manifest.json").read_text())
    zip_manifest = json.loads((tmp_path / "from_zip" / "modelnet10" / "manifest.json").read_text())
    tree_files.pop("manifest.json"), zip_files.pop("manifest.json")
    assert tree_files == zip_files and len(tree_files) == 40  # __MACOSX members ignored
    assert tree_manifest["extents"] == zip_manifest["extents"] and len(tree_manifest["extents"]) == 40
    assert tree_manifest["extent_unit"] == "mesh unit" and tree_manifest["format_version"] == data.FORMAT_VERSION
    # The meshes' own units: the bounding box of each mesh's surface, before normalisation.
    vertices, _ = meshes.parse_off((tree / "bed" / "train" / "bed_train_0000.off").read_text())
    recorded = np.array(tree_manifest["extents"]["train/bed/bed_train_0000.npy"])
    assert recorded == pytest.approx(np.ptp(vertices, axis=0), rel=1e-6)


def test_degenerate_meshes_are_skipped_and_counted(tmp_path, capsys):
    write_tree(tmp_path / "src", degenerate="sofa_train_0001")
    data_fetch.import_path(tmp_path / "src", points=32, root=tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "modelnet10" / "manifest.json").read_text())
    assert manifest["counts"]["train"] == 19
    assert [entry["file"] for entry in manifest["skipped"]] == ["sofa/train/sofa_train_0001.off"]
    assert "skipped 1 degenerate" in capsys.readouterr().out


def test_import_npz_counts_and_normalisation(tmp_path):
    npz = write_npz(tmp_path / "train.npz")
    data_fetch.import_path(npz, root=tmp_path)
    manifest = json.loads((tmp_path / "modelnet10" / "manifest.json").read_text())
    assert manifest["splits"]["train"] == {c: 2 for c in data.CLASSES}
    assert manifest["points_per_object"] == 64 and "test" not in manifest["splits"]
    cloud = np.load(tmp_path / "modelnet10" / "train" / "toilet" / "toilet_0002.npy")
    assert np.linalg.norm(cloud, axis=1).max() == pytest.approx(1.0, abs=1e-5)
    raw = np.load(npz)["points"][19].astype(np.float64)  # toilet_0002 before normalisation (units of the file)
    assert manifest["extents"]["train/toilet/toilet_0002.npy"] == pytest.approx(np.ptp(raw, axis=0), rel=1e-6)
    assert np.ptp(cloud, axis=0) * np.linalg.norm(raw - raw.mean(axis=0), axis=1).max() == pytest.approx(
        np.ptp(raw, axis=0), rel=1e-5
    )


def test_import_npz_test_split_keeps_train(tmp_path):
    write_npz(tmp_path / "train.npz")
    write_npz(tmp_path / "test.npz", n_per_class=1)
    data_fetch.import_path(tmp_path / "train.npz", root=tmp_path)
    data_fetch.import_path(tmp_path / "test.npz", root=tmp_path)
    manifest = json.loads((tmp_path / "modelnet10" / "manifest.json").read_text())
    assert manifest["counts"] == {"train": 20, "test": 10}
    assert data_fetch.verify_dataset("modelnet10", tmp_path) == 0
    assert sorted(manifest["extents"]) == sorted(manifest["files"]), "the kept train split keeps its extents"


@pytest.mark.skipif(not (ROOT.parent / "shared/data/modelnet10-pc1024/train.npz").exists(), reason="no shared data")
def test_import_real_train_split_counts(tmp_path):
    data_fetch.import_path(ROOT.parent / "shared/data/modelnet10-pc1024/train.npz", root=tmp_path)
    manifest = json.loads((tmp_path / "modelnet10" / "manifest.json").read_text())
    official = {"bathtub": 106, "bed": 515, "chair": 889, "desk": 200, "dresser": 200, "monitor": 465,
                "night_stand": 200, "sofa": 680, "table": 392, "toilet": 344}  # fmt: skip
    assert manifest["splits"]["train"] == official and manifest["counts"]["train"] == 3991
    extents = np.array([manifest["extents"][name] for name in sorted(manifest["files"])])
    assert extents.shape == (3991, 3) and (extents > 0).all()
    # Mesh units vary (see the data's README): diagonals from below 1 to above 100,000, most of them 20-200.
    diagonal = np.linalg.norm(extents, axis=1)
    assert diagonal.min() < 1 and diagonal.max() > 1e5 and 20 < np.median(diagonal) < 200


# ------------------------------------------------------------------------------------- bad input (CLI)


def existing_dataset(root: Path) -> dict[str, str]:
    data_fetch.build_synthetic(1, 1, points=16, root=root)
    write_npz(root / "good_train.npz")
    assert run_cli("import", str(root / "good_train.npz"), "--split", "train", root=root).returncode == 0
    return snapshot(root / "modelnet10")


def bad_zip(tmp_path: Path) -> Path:
    archive = zip_tree(write_tree(tmp_path / "zsrc", per_split=1), tmp_path / "full.zip")
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])  # truncated
    return corrupt


def crc_zip(tmp_path: Path) -> Path:
    archive = zip_tree(write_tree(tmp_path / "csrc", per_split=1), tmp_path / "crc.zip", macosx=False)
    blob = bytearray(archive.read_bytes())
    blob[200] ^= 0xFF  # flip a byte inside the first member's data
    archive.write_bytes(bytes(blob))
    return archive


def broken_off_tree(tmp_path: Path) -> Path:
    write_tree(tmp_path / "broken", per_split=1, broken="desk_test_0000")
    return tmp_path / "broken"


def empty_class_tree(tmp_path: Path) -> Path:
    tree = write_tree(tmp_path / "empty", per_split=1)
    for path in (tree / "bathtub").rglob("*.off"):
        path.unlink()
    return tmp_path / "empty"


BAD_INPUTS = {
    "corrupt_zip": (bad_zip, "corrupt or truncated zip"),
    "crc_error_zip": (crc_zip, "corrupt"),
    "unreadable_off": (broken_off_tree, "desk/test/desk_test_0000.off: unreadable OFF"),
    "empty_class_folder": (empty_class_tree, "empty class folder"),
    "npz_wrong_keys": (lambda p: write_npz(p / "train.npz", labels=None), "missing key"),
    "npz_wrong_shape": (lambda p: write_npz(p / "train.npz", points=np.zeros((20, 64), np.float32)), "shape"),
    "npz_unknown_class": (
        lambda p: write_npz(p / "train.npz", classes=np.array(["blob", *data.CLASSES[1:]])),
        "unknown class",
    ),
    "npz_no_split": (lambda p: write_npz(p / "clouds.npz"), "--split"),
    "not_a_file": (lambda p: p / "nothing.zip", "no such file"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_clear_error_and_data_untouched(tmp_path, case):
    root = tmp_path / "root"
    before = existing_dataset(root)
    make, message = BAD_INPUTS[case]
    source = make(tmp_path)
    result = run_cli("import", str(source), root=root)
    assert result.returncode == 2, result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and message in error_lines[0], result.stderr
    assert snapshot(root / "modelnet10") == before, "existing data must stay untouched"
    assert not list(root.glob(".tmp-*")), "no half-built data set may be left behind"


def test_interrupted_build_leaves_previous_data(tmp_path):
    before = existing_dataset(tmp_path)

    def exploding():
        yield "train", "chair", "chair_0001", np.random.default_rng(0).normal(size=(32, 3))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        data_fetch.build_dataset("modelnet10", exploding(), 16, {}, {"seed": 0}, root=tmp_path)
    assert snapshot(tmp_path / "modelnet10") == before
    assert not list(tmp_path.glob(".tmp-*"))


def test_verify_detects_damage(tmp_path):
    data_fetch.build_synthetic(1, 1, points=16, root=tmp_path)
    assert run_cli("verify", "synthetic", root=tmp_path).returncode == 0
    victim = next((tmp_path / "synthetic" / "train").rglob("*.npy"))
    victim.write_bytes(victim.read_bytes()[:-4] + b"\x00\x00\x00\x00")
    result = run_cli("verify", "synthetic", root=tmp_path)
    assert result.returncode == 1 and "1 damaged" in result.stdout


def test_help():
    result = subprocess.run([sys.executable, str(ROOT / "data_fetch.py"), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "synthetic" in result.stdout and "import" in result.stdout


# ------------------------------------------------------------------------------------------ download


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with HTTP Range support, like a real web server; counts requests."""

    payloads: dict[str, bytes] = {}
    requests: list[tuple[str, str | None]] = []
    cut_after: int | None = None  # drop the connection after this many bytes (first request only)

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = self.payloads.get(self.path)
        range_header = self.headers.get("Range")
        type(self).requests.append((self.path, range_header))
        if body is None:
            self.send_error(404)
            return
        start = int(range_header.split("=")[1].split("-")[0]) if range_header else 0
        chunk = body[start:]
        self.send_response(206 if range_header else 200)
        self.send_header("Content-Length", str(len(chunk)))
        self.end_headers()
        if type(self).cut_after is not None:
            limit, type(self).cut_after = type(self).cut_after, None
            self.wfile.write(chunk[:limit])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(chunk)


@pytest.fixture
def server():
    RangeHandler.payloads, RangeHandler.requests, RangeHandler.cut_after = {}, [], None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_download_resumes_partial_file(tmp_path, server):
    _, base = server
    payload = np.random.default_rng(0).bytes(300_000)
    RangeHandler.payloads["/ModelNet10.zip"] = payload
    target = tmp_path / "ModelNet10.zip"
    (tmp_path / "ModelNet10.zip.part").write_bytes(payload[:100_000])  # an interrupted earlier run
    data_fetch.download([f"{base}/ModelNet10.zip"], target, len(payload), hashlib.sha256(payload).hexdigest(),
                        progress=False)  # fmt: skip
    assert target.read_bytes() == payload
    assert RangeHandler.requests == [("/ModelNet10.zip", "bytes=100000-")]


def test_download_interrupted_then_resumed(tmp_path, server):
    _, base = server
    payload = np.random.default_rng(1).bytes(200_000)
    RangeHandler.payloads["/m.zip"] = payload
    RangeHandler.cut_after = 50_000
    target = tmp_path / "m.zip"
    with pytest.raises(data_fetch.DataFetchError, match="resume"):
        data_fetch.download([f"{base}/m.zip"], target, len(payload), progress=False, chunk_size=4096)
    assert not target.exists() and (tmp_path / "m.zip.part").stat().st_size < len(payload)
    data_fetch.download([f"{base}/m.zip"], target, len(payload), progress=False)
    assert target.read_bytes() == payload
    assert RangeHandler.requests[-1][1] is not None  # the second request resumed


def test_download_falls_back_to_mirror(tmp_path, server):
    _, base = server
    RangeHandler.payloads["/mirror/m.zip"] = b"x" * 1000
    target = data_fetch.download([f"{base}/missing.zip", f"{base}/mirror/m.zip"], tmp_path / "m.zip", 1000,
                                 progress=False)  # fmt: skip
    assert target.read_bytes() == b"x" * 1000


def test_download_wrong_hash_is_rejected(tmp_path, server):
    _, base = server
    RangeHandler.payloads["/m.zip"] = b"y" * 1000
    with pytest.raises(data_fetch.DataFetchError, match="SHA-256 mismatch"):
        data_fetch.download([f"{base}/m.zip"], tmp_path / "m.zip", 1000, sha256="0" * 64, progress=False)
    assert not (tmp_path / "m.zip").exists() and not (tmp_path / "m.zip.part").exists()


def test_download_wrong_size_is_rejected(tmp_path, server):
    _, base = server
    RangeHandler.payloads["/m.zip"] = b"z" * 999
    with pytest.raises(data_fetch.DataFetchError, match="expected 1,000"):
        data_fetch.download([f"{base}/m.zip"], tmp_path / "m.zip", 1000, progress=False)


def test_modelnet10_command_end_to_end(tmp_path, server):
    _, base = server
    archive = zip_tree(write_tree(tmp_path / "src", per_split=1), tmp_path / "ModelNet10.zip")
    payload = archive.read_bytes()
    RangeHandler.payloads["/ModelNet10.zip"] = payload
    root = tmp_path / "root"
    result = run_cli("modelnet10", "--url", f"{base}/ModelNet10.zip", "--points", "32",
                     "--sha256", hashlib.sha256(payload).hexdigest(), root=root)  # fmt: skip
    # The size check is against the official 473,402,300 bytes: a fixture zip must fail it clearly...
    assert result.returncode == 2 and "expected 473,402,300" in result.stderr
    # ...and the same path without the size check (as used with a known --sha256) builds the data set.
    data_fetch.fetch_modelnet10([f"{base}/ModelNet10.zip"], points=32, expected_size=None, root=root,
                                sha256=hashlib.sha256(payload).hexdigest())  # fmt: skip
    manifest = json.loads((root / "modelnet10" / "manifest.json").read_text())
    assert manifest["counts"] == {"train": 10, "test": 10} and manifest["source"]["kind"] == "zip"
