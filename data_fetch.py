#!/usr/bin/env python
"""Prepare the course's point-cloud data sets in the reduced format every lab reads.

Sources (one output format, see README "Data"):

    python data_fetch.py synthetic                 # offline default: deterministic synthetic stand-in
    python data_fetch.py modelnet10                # download the official ModelNet10.zip (resumable)
    python data_fetch.py import PATH               # a local ModelNet10.zip, extracted tree, or .npz
    python data_fetch.py verify [DATASET]          # check files against the manifest's checksums

Output: ``<root>/<dataset>/<split>/<class>/<id>.npy`` (float32 (P, 3), centred, unit sphere, z up) plus
``manifest.json`` (checksums, and each object's bounding-box extents before normalisation). A data set is built
in a temporary folder and renamed into place on success, so a failed or interrupted run leaves the previous data
untouched; a re-run rebuilds (``synthetic`` also when its manifest is of an older format).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from course_utils import data, meshes, synthetic

MODELNET10_URLS: tuple[str, ...] = (
    # Official location (Princeton 3D ShapeNets). Add mirrors here or pass --url; they are tried in order.
    "http://3dvision.princeton.edu/projects/2014/3DShapeNets/ModelNet10.zip",
)
MODELNET10_SIZE = 473_402_300  # bytes; no official checksum is published, so each OFF is verified by parsing
DEFAULT_POINTS = 2048
SYNTHETIC_DEFAULTS = {"train_per_class": 100, "test_per_class": 25, "points": DEFAULT_POINTS, "seed": 0}
OFF_MEMBER = re.compile(r"(?:^|/)(?P<class>[a-z_]+)/(?P<split>train|test)/(?P<id>[A-Za-z0-9_.-]+)\.off$")


class DataFetchError(RuntimeError):
    """A data source cannot be used; the message names the file and what to do."""


# --------------------------------------------------------------------------------------------- writing


@dataclass
class BuildReport:
    dataset: str
    counts: Counter = field(default_factory=Counter)
    skipped: list = field(default_factory=list)
    seconds: float = 0.0


def object_rng(seed: int, file_id: str) -> np.random.Generator:
    """Per-object random stream: results do not depend on the order objects are processed in."""
    return np.random.default_rng([seed, zlib.crc32(file_id.encode())])


def build_dataset(
    name: str,
    objects: Iterable[tuple],
    points_per_object: int,
    source: dict,
    parameters: dict,
    root: Path | None = None,
    skipped: list | None = None,
    keep_splits: Iterable[str] = (),
    extent_unit: str = "mesh unit",
) -> BuildReport:
    """Write ``objects`` (split, class, file id, points[, extents]) as data set ``name``, atomically.

    Points are normalised to the unit sphere and shuffled (so any prefix is a random subsample). The manifest keeps
    each object's bounding-box extents before normalisation, in ``extent_unit``: the fifth item where the source
    knows them (a mesh's surface; the synthetic objects' in metres), else those of the points.
    ``keep_splits`` are copied over from the existing data set (e.g. importing only a train split).
    """
    root = Path(root or data.data_root())
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(f".tmp-{name}-*"):
        shutil.rmtree(stale, ignore_errors=True)  # left by an interrupted run
    started = time.perf_counter()
    temporary = root / f".tmp-{name}-{os.getpid()}"
    report = BuildReport(name, skipped=skipped if skipped is not None else [])
    files: dict[str, str] = {}
    extents: dict[str, list[float]] = {}
    try:
        temporary.mkdir()
        target = root / name
        for split in keep_splits:
            if (target / split).is_dir():
                shutil.copytree(target / split, temporary / split)
                old = json.loads((target / "manifest.json").read_text())
                files.update({k: v for k, v in old["files"].items() if k.startswith(f"{split}/")})
                # A split kept from a build before format 2 has no extents: data.object_extents says to re-import.
                extents.update({k: v for k, v in old.get("extents", {}).items() if k.startswith(f"{split}/")})
                report.counts.update({(split, c): n for c, n in old["splits"][split].items()})
        seed = int(parameters.get("seed", 0))
        for split, class_name, file_id, points, *known_extents in objects:
            if class_name not in data.CLASSES:
                raise DataFetchError(f"unknown class '{class_name}' ({file_id}); expected one of {data.CLASSES}")
            cloud = data.normalize_cloud(points)
            cloud = cloud[object_rng(seed + 1, file_id).permutation(len(cloud))][:points_per_object]
            relative = f"{split}/{class_name}/{file_id}.npy"
            path = temporary / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            buffer = io.BytesIO()
            np.save(buffer, np.ascontiguousarray(cloud, dtype=np.float32))
            path.write_bytes(buffer.getvalue())
            files[relative] = hashlib.sha256(buffer.getvalue()).hexdigest()
            extent = known_extents[0] if known_extents else np.ptp(np.asarray(points, dtype=np.float64), axis=0)
            extents[relative] = [float(f"{value:.7g}") for value in extent]
            report.counts[(split, class_name)] += 1
        if not files:
            raise DataFetchError(f"no objects found for data set '{name}': check the source path")
        splits = {}
        for (split, class_name), count in sorted(report.counts.items()):
            splits.setdefault(split, {})[class_name] = count
        for split, per_class in splits.items():
            missing = [c for c in data.CLASSES if c not in per_class]
            if missing:
                raise DataFetchError(f"split '{split}' has no objects of class(es) {missing}: empty class folder?")
        manifest = {
            "format_version": data.FORMAT_VERSION,
            "dataset": name,
            "classes": list(data.CLASSES),
            "up_axis": "z",
            "points_per_object": points_per_object,
            "splits": splits,
            "counts": {split: sum(per_class.values()) for split, per_class in splits.items()},
            "source": source,
            "parameters": parameters,
            "skipped": report.skipped,
            "files": dict(sorted(files.items())),
            "extent_unit": extent_unit,
            "extents": dict(sorted(extents.items())),
        }
        (temporary / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        _swap_into_place(temporary, target)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    report.seconds = time.perf_counter() - started
    return report


def _swap_into_place(temporary: Path, target: Path) -> None:
    backup = target.with_name(f".old-{target.name}-{os.getpid()}")
    if target.exists():
        target.rename(backup)
    try:
        temporary.rename(target)
    except BaseException:
        if backup.exists():
            backup.rename(target)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def dataset_is_current(name: str, parameters: dict, root: Path | None = None) -> bool:
    """True if the data set was built with ``parameters`` by this version of the format (else rebuild)."""
    manifest = Path(root or data.data_root()) / name / "manifest.json"
    if not manifest.exists():
        return False
    try:
        recorded = json.loads(manifest.read_text())
    except json.JSONDecodeError:
        return False
    return recorded.get("format_version") == data.FORMAT_VERSION and recorded.get("parameters") == parameters


def verify_dataset(name: str, root: Path | None = None) -> int:
    """Check every file against the manifest; return the number of problems (0 = intact)."""
    directory = Path(root or data.data_root()) / name
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DataFetchError(f"{directory / 'manifest.json'}: unreadable ({error}); rebuild the data set") from None
    problems = 0
    for relative, digest in manifest["files"].items():
        path = directory / relative
        if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            print(f"damaged or missing: {path}", file=sys.stderr)
            problems += 1
    return problems


# ---------------------------------------------------------------------------------------- mesh sources


def sample_off(text: str, file_id: str, n_points: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Surface points (n_points, 3) and the extents (3,) of the mesh's surface, both in the mesh's own units."""
    vertices, triangles = meshes.parse_off(text)
    points = meshes.sample_surface(vertices, triangles, n_points, object_rng(seed, file_id))
    return points, np.ptp(vertices[np.unique(triangles)], axis=0)  # vertices on a face: stray ones do not count


def sample_meshes(
    entries: Iterable[tuple],
    n_points: int,
    seed: int,
    skipped: list,
    total: int | None = None,
) -> Iterator[tuple[str, str, str, np.ndarray, np.ndarray]]:
    """Parse and sample (split, class, id, read_text[, units per metre]) entries into (split, class, id, points,
    extents); skip degenerate meshes, fail on broken ones. Extents are divided by the units per metre if given."""
    for split, class_name, file_id, read_text, *units_per_metre in tqdm(
        entries, total=total, desc="sampling meshes", unit="mesh"
    ):
        try:
            points, extents = sample_off(read_text(), file_id, n_points, seed)
        except meshes.DegenerateMesh as error:
            skipped.append({"file": f"{class_name}/{split}/{file_id}.off", "reason": str(error)})
            continue
        except (meshes.MeshError, UnicodeDecodeError) as error:
            raise DataFetchError(
                f"{class_name}/{split}/{file_id}.off: unreadable OFF mesh ({error}); re-download or remove it"
            ) from None
        yield split, class_name, file_id, points, extents / (units_per_metre or [1.0])[0]


def tree_entries(directory: Path) -> list[tuple[str, str, str, Callable[[], str]]]:
    """Entries of an extracted ``ModelNet10/<class>/{train,test}/*.off`` tree."""
    entries = []
    for class_name in data.CLASSES:
        class_dir = directory / class_name
        if not class_dir.is_dir():
            raise DataFetchError(f"{class_dir}: class folder missing; expected ModelNet10/<class>/train|test/*.off")
        found = 0
        for split in data.SPLITS:
            for path in sorted((class_dir / split).glob("*.off")):
                entries.append((split, class_name, path.stem, lambda path=path: path.read_text(errors="strict")))
                found += 1
        if found == 0:
            raise DataFetchError(f"{class_dir}: empty class folder (no train/*.off or test/*.off)")
    return entries


def zip_entries(archive: zipfile.ZipFile) -> list[tuple[str, str, str, Callable[[], str]]]:
    """Entries of a ModelNet10.zip, ignoring macOS metadata (``__MACOSX/``, ``._*``)."""
    entries = []
    for info in archive.infolist():
        name = info.filename
        if name.startswith("__MACOSX/") or "/._" in name or info.is_dir():
            continue
        match = OFF_MEMBER.search(name)
        if match and match["class"] in data.CLASSES:
            entries.append(
                (match["split"], match["class"], match["id"], lambda info=info: archive.read(info).decode("ascii"))
            )
    if not entries:
        raise DataFetchError(f"{archive.filename}: no ModelNet10/<class>/<split>/*.off members; wrong archive?")
    present = {entry[1] for entry in entries}
    missing = [c for c in data.CLASSES if c not in present]
    if missing:
        raise DataFetchError(f"{archive.filename}: no meshes for class(es) {missing}; incomplete archive?")
    return sorted(entries, key=lambda entry: entry[:3])


def build_from_meshes(entries, name: str, n_points: int, seed: int, source: dict, root: Path | None) -> BuildReport:
    skipped: list = []
    objects = sample_meshes(entries, n_points, seed, skipped, total=len(entries))
    parameters = {"points": n_points, "seed": seed}
    report = build_dataset(name, objects, n_points, source, parameters, root=root, skipped=skipped)
    if skipped:
        print(f"warning: skipped {len(skipped)} degenerate mesh(es) (listed in manifest.json 'skipped')")
    return report


def open_zip(path: Path) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(path)
        broken = archive.testzip()
    except (zipfile.BadZipFile, OSError) as error:
        raise DataFetchError(f"{path}: corrupt or truncated zip ({error}); delete it and download again") from None
    if broken is not None:
        raise DataFetchError(f"{path}: corrupt member {broken} (CRC error); delete the zip and download again")
    return archive


# ------------------------------------------------------------------------------------------- sources


def build_synthetic(
    train_per_class: int = SYNTHETIC_DEFAULTS["train_per_class"],
    test_per_class: int = SYNTHETIC_DEFAULTS["test_per_class"],
    points: int = DEFAULT_POINTS,
    seed: int = 0,
    root: Path | None = None,
    force: bool = False,
) -> BuildReport | None:
    """Build the synthetic data set (OFF meshes -> the same sampling path as real data). None if current."""
    parameters = {"train_per_class": train_per_class, "test_per_class": test_per_class, "points": points, "seed": seed}
    if not force and dataset_is_current("synthetic", parameters, root):
        return None

    def entries() -> Iterator[tuple[str, str, str, Callable[[], str]]]:
        for class_index, class_name in enumerate(data.CLASSES):
            rng = np.random.default_rng([seed, class_index])
            for split, count in (("train", train_per_class), ("test", test_per_class)):
                for number in range(count):
                    vertices, triangles, units_per_metre = synthetic.make_object(class_name, rng)
                    off_text = meshes.to_off(vertices, triangles)
                    file_id = f"{class_name}_{split}_{number + 1:04d}"
                    yield split, class_name, file_id, lambda text=off_text: text, units_per_metre

    total = len(data.CLASSES) * (train_per_class + test_per_class)
    skipped: list = []
    objects = sample_meshes(entries(), points, seed, skipped, total=total)
    source = {"kind": "synthetic", "generator": "course_utils.synthetic"}
    return build_dataset(
        "synthetic", objects, points, source, parameters, root=root, skipped=skipped, extent_unit="metre"
    )


def import_npz(path: Path, split: str | None, points: int | None, name: str, root: Path | None) -> BuildReport:
    """Import pre-sampled clouds: keys points (N, P, 3), labels (N,), names (N,), classes (C,)."""
    try:
        archive = np.load(path, allow_pickle=False)
        missing = {"points", "labels", "names", "classes"} - set(archive.files)
        if missing:
            raise DataFetchError(f"{path}: missing key(s) {sorted(missing)}; expected points, labels, names, classes")
        clouds, labels, names, classes = (archive[k] for k in ("points", "labels", "names", "classes"))
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise DataFetchError(f"{path}: not a readable .npz file ({error})") from None
    if clouds.ndim != 3 or clouds.shape[2] != 3 or len(clouds) == 0:
        raise DataFetchError(f"{path}: 'points' must have shape (N, P, 3), got {clouds.shape}")
    if labels.shape != (len(clouds),) or names.shape != (len(clouds),):
        raise DataFetchError(f"{path}: 'labels' and 'names' must have shape ({len(clouds)},)")
    unknown = [str(c) for c in classes if str(c) not in data.CLASSES]
    if unknown:
        raise DataFetchError(f"{path}: unknown class name(s) {unknown}; expected ModelNet10 classes")
    if labels.min() < 0 or labels.max() >= len(classes):
        raise DataFetchError(f"{path}: labels must index into 'classes' (0..{len(classes) - 1})")
    split = split or path.stem
    if split not in data.SPLITS:
        raise DataFetchError(f"{path}: cannot tell the split from the file name; pass --split train or --split test")
    n_points = min(points or clouds.shape[1], clouds.shape[1])
    objects = (
        (split, str(classes[label]), str(file_id), cloud) for cloud, label, file_id in zip(clouds, labels, names)
    )
    objects = tqdm(objects, total=len(clouds), desc=f"importing {path.name}", unit="object")
    keep = [s for s in data.SPLITS if s != split]
    source = {"kind": "npz", "file": path.name, "split": split}
    return build_dataset(name, objects, n_points, source, {"points": n_points, "seed": 0}, root=root, keep_splits=keep)


def import_path(
    path: Path, split: str | None = None, points: int | None = None, name: str = "modelnet10", root=None, seed=0
) -> BuildReport:
    """Import a local ModelNet10.zip, an extracted ModelNet10 tree, or an .npz of sampled clouds."""
    path = Path(path)
    if not path.exists():
        raise DataFetchError(f"{path}: no such file or folder")
    if path.suffix == ".npz":
        return import_npz(path, split, points, name, root)
    n_points = points or DEFAULT_POINTS
    if path.is_dir():
        tree = path / "ModelNet10" if (path / "ModelNet10").is_dir() else path
        source = {"kind": "off-tree", "folder": path.name}
        return build_from_meshes(tree_entries(tree), name, n_points, seed, source, root)
    if path.suffix == ".zip":
        with open_zip(path) as archive:
            source = {"kind": "zip", "file": path.name}
            return build_from_meshes(zip_entries(archive), name, n_points, seed, source, root)
    raise DataFetchError(f"{path}: expected a .zip, a .npz or a folder")


# ------------------------------------------------------------------------------------------ download


def download(
    urls: Iterable[str],
    target: Path,
    expected_size: int | None = None,
    sha256: str | None = None,
    chunk_size: int = 1 << 20,
    progress: bool = True,
) -> Path:
    """Download to ``target`` via ``target.part``, resuming a partial file with an HTTP Range request.

    Tries each URL in turn; checks the size and (if given) the SHA-256 before renaming into place.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and _matches(target, expected_size, sha256):
        return target
    part = target.with_name(target.name + ".part")
    errors = []
    for url in urls:
        try:
            _fetch(url, part, expected_size, chunk_size, progress)
            break
        except (urllib.error.URLError, OSError, DataFetchError) as error:
            errors.append(f"{url}: {error}")
    else:
        raise DataFetchError("download failed (the partial file is kept for resuming): " + "; ".join(errors))
    size = part.stat().st_size
    if expected_size is not None and size != expected_size:
        raise DataFetchError(f"{part}: size {size:,} bytes, expected {expected_size:,}; run again to resume")
    if sha256 and _sha256(part) != sha256.lower():
        part.unlink()
        raise DataFetchError(f"{target.name}: SHA-256 mismatch; the corrupt download was deleted, run again")
    part.replace(target)
    return target


def _fetch(url: str, part: Path, expected_size: int | None, chunk_size: int, progress: bool) -> None:
    have = part.stat().st_size if part.exists() else 0
    if expected_size is not None and have == expected_size:
        return
    if expected_size is not None and have > expected_size:
        part.unlink()
        have = 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(request, timeout=60) as response:
        resumed = have > 0 and response.status == 206
        if have and not resumed:
            have = 0  # server ignored the Range header: start over
        length = response.headers.get("Content-Length")
        total = have + int(length) if length else expected_size
        with (
            open(part, "ab" if resumed else "wb") as output,
            tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=part.name, disable=not progress) as bar,
        ):
            while chunk := response.read(chunk_size):
                output.write(chunk)
                bar.update(len(chunk))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _matches(path: Path, expected_size: int | None, sha256: str | None) -> bool:
    if expected_size is not None and path.stat().st_size != expected_size:
        return False
    return not sha256 or _sha256(path) == sha256.lower()


def fetch_modelnet10(
    urls: Iterable[str] = MODELNET10_URLS,
    points: int = DEFAULT_POINTS,
    sha256: str | None = None,
    expected_size: int | None = MODELNET10_SIZE,
    download_dir: Path | None = None,
    root: Path | None = None,
    seed: int = 0,
) -> BuildReport:
    """Download (or resume) the official ModelNet10.zip, verify it, and build the reduced data set."""
    root = Path(root or data.data_root())
    archive_path = download(urls, Path(download_dir or root / "downloads") / "ModelNet10.zip", expected_size, sha256)
    return import_path(archive_path, points=points, name="modelnet10", root=root, seed=seed)


# ------------------------------------------------------------------------------------------------ CLI


def _print_report(report: BuildReport, destination: Path) -> None:
    splits = Counter()
    for (split, _), count in report.counts.items():
        splits[split] += count
    summary = ", ".join(f"{count} {split}" for split, count in sorted(splits.items()))
    print(f"{report.dataset}: {summary} objects written to {destination} in {report.seconds:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, help="data root (default: $COURSE_DATA_DIR or ./data)")
    commands = parser.add_subparsers(dest="command", required=True)

    synth = commands.add_parser("synthetic", help="build the offline synthetic data set (default)")
    synth.add_argument("--train-per-class", type=int, default=SYNTHETIC_DEFAULTS["train_per_class"])
    synth.add_argument("--test-per-class", type=int, default=SYNTHETIC_DEFAULTS["test_per_class"])
    synth.add_argument("--points", type=int, default=DEFAULT_POINTS, help="surface points per object")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--force", action="store_true", help="rebuild even if the data set is current")

    online = commands.add_parser("modelnet10", help="download the official ModelNet10.zip and build from it")
    online.add_argument("--points", type=int, default=DEFAULT_POINTS)
    online.add_argument("--url", action="append", help="URL to try (repeatable; default: official + mirrors)")
    online.add_argument("--sha256", help="expected SHA-256 of the zip (none is published officially)")
    online.add_argument("--download-dir", type=Path, help="where the zip goes (default: <root>/downloads)")
    online.add_argument("--seed", type=int, default=0)

    local = commands.add_parser("import", help="import a local ModelNet10.zip, extracted tree, or .npz")
    local.add_argument("path", type=Path)
    local.add_argument("--split", choices=data.SPLITS, help=".npz only: which split it holds (default: file name)")
    local.add_argument("--points", type=int, help="points per object (default: 2048 for meshes, all for .npz)")
    local.add_argument("--dataset", default="modelnet10", help="name of the data set to write")
    local.add_argument("--seed", type=int, default=0)

    verify = commands.add_parser("verify", help="check a data set against its manifest checksums")
    verify.add_argument("dataset", nargs="?", default=None)

    args = parser.parse_args(argv)
    if args.root:
        os.environ["COURSE_DATA_DIR"] = str(args.root)
    root = data.data_root()
    try:
        if args.command == "synthetic":
            report = build_synthetic(
                args.train_per_class, args.test_per_class, args.points, args.seed, root, args.force
            )
            if report is None:
                print(f"synthetic: up to date in {root / 'synthetic'} (use --force to rebuild)")
            else:
                _print_report(report, root / "synthetic")
        elif args.command == "modelnet10":
            urls = args.url or list(os.environ.get("MODELNET10_URL", "").split()) or MODELNET10_URLS
            report = fetch_modelnet10(
                urls, args.points, args.sha256, MODELNET10_SIZE, args.download_dir, root, args.seed
            )
            _print_report(report, root / "modelnet10")
        elif args.command == "import":
            report = import_path(args.path, args.split, args.points, args.dataset, root, args.seed)
            _print_report(report, root / args.dataset)
        elif args.command == "verify":
            name = args.dataset or data.active_dataset()
            problems = verify_dataset(name, root)
            print(f"{name}: {'intact' if not problems else f'{problems} damaged or missing file(s)'}")
            return 1 if problems else 0
    except DataFetchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: existing data left untouched; run the same command again", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
