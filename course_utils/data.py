"""Read side of the course's reduced point-cloud format. Introduced in lab 1.

Layout written by ``data_fetch.py``::

    <data root>/<dataset>/manifest.json
    <data root>/<dataset>/<split>/<class>/<object id>.npy    # float32 (P, 3), centred, unit sphere, z up

The manifest also keeps each object's bounding-box extents before normalisation (``object_extents``), the one
thing about an object that scaling it into the unit sphere throws away.

The data root is ``$COURSE_DATA_DIR``, else ``data/`` in the course's checkout, else (the package installed without
a checkout: Colab, Binder) ``~/.cache/dl-lab-course/data``. The active data set is ``synthetic``
(the offline default) unless ``$COURSE_DATASET`` names another one (``modelnet10``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: ModelNet10 classes in the course's fixed order: integer label = index in this tuple (alphabetical).
CLASSES: tuple[str, ...] = (
    "bathtub",
    "bed",
    "chair",
    "desk",
    "dresser",
    "monitor",
    "night_stand",
    "sofa",
    "table",
    "toilet",
)
#: Classes the pretrained PointNet of lab 4 was trained on, in the order of its output units.
BASE_CLASSES: tuple[str, ...] = ("chair", "sofa", "bed", "monitor", "table")
#: Classes lab 4 transfers to, in the order of the new head's output units.
NEW_CLASSES: tuple[str, ...] = ("bathtub", "desk", "dresser", "night_stand", "toilet")

#: Version of the manifest's layout. 2: per-object "extents" (before normalisation) and their "extent_unit".
FORMAT_VERSION = 2
DEFAULT_DATASET = "synthetic"
SPLITS = ("train", "test")
UP_AXIS = 2  # z


class DatasetNotFound(FileNotFoundError):
    """The reduced data set has not been prepared."""


class OutdatedDataset(ValueError):
    """The data set was built by an older ``data_fetch.py`` and lacks what the caller needs: rebuild it."""


@dataclass(frozen=True)
class Sample:
    """One object of the reduced data set."""

    file_id: str  # e.g. "chair_0001"
    label: int  # index into CLASSES
    path: Path

    @property
    def class_name(self) -> str:
        return CLASSES[self.label]


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def in_checkout() -> bool:
    """True when ``course_utils`` runs from the course's repository (not from an installed wheel)."""
    return (repo_root() / "pyproject.toml").is_file() and (repo_root() / "course_utils").is_dir()


def data_root() -> Path:
    """Where reduced data sets live: ``$COURSE_DATA_DIR``, ``<repo>/data``, or a per-user cache folder."""
    if os.environ.get("COURSE_DATA_DIR"):
        return Path(os.environ["COURSE_DATA_DIR"])
    if in_checkout():
        return repo_root() / "data"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "dl-lab-course" / "data"


def active_dataset() -> str:
    """Name of the data set the labs use: ``$COURSE_DATASET`` or ``synthetic``."""
    return os.environ.get("COURSE_DATASET") or DEFAULT_DATASET


def dataset_dir(dataset: str | None = None) -> Path:
    return data_root() / (dataset or active_dataset())


def build_command(dataset: str) -> str:
    """The command that (re)builds a data set, for error messages."""
    return "make data" if dataset == DEFAULT_DATASET else f"python data_fetch.py {dataset} (or: import PATH)"


def read_manifest(dataset: str | None = None) -> dict:
    """Load ``manifest.json`` of a data set; raise ``DatasetNotFound`` with the command that builds it."""
    name = dataset or active_dataset()
    path = dataset_dir(name) / "manifest.json"
    if not path.exists():
        raise DatasetNotFound(f"data set '{name}' not found at {path.parent}: run `{build_command(name)}` first")
    return json.loads(path.read_text())


def class_names(dataset: str | None = None) -> list[str]:
    return list(read_manifest(dataset)["classes"])


def list_samples(split: str = "train", dataset: str | None = None, classes: tuple[str, ...] | None = None) -> list:
    """All samples of a split as ``Sample`` objects, sorted by (class, file id): deterministic.

    ``classes`` keeps only those classes (labels stay indices into ``CLASSES``).
    """
    manifest = read_manifest(dataset)
    if split not in manifest["splits"]:
        raise KeyError(f"split '{split}' not in data set '{manifest['dataset']}' (has {sorted(manifest['splits'])})")
    root = dataset_dir(dataset)
    wanted = set(classes) if classes is not None else None
    samples = []
    for relative in sorted(manifest["files"]):
        file_split, class_name, filename = relative.split("/")
        if file_split != split or (wanted is not None and class_name not in wanted):
            continue
        samples.append(Sample(filename[: -len(".npy")], CLASSES.index(class_name), root / relative))
    return samples


def load_cloud(path: str | os.PathLike) -> np.ndarray:
    """Load one stored point cloud: float32 array of shape (P, 3)."""
    return np.load(path, allow_pickle=False)


def load_split(samples: list, n_points: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Load samples eagerly into memory: X (N, P, 3) float32 and integer labels (N,).

    ``n_points`` keeps the first points of each cloud (stored clouds are in random order).
    """
    clouds = [load_cloud(sample.path)[:n_points] for sample in samples]
    labels = np.array([sample.label for sample in samples], dtype=np.int64)
    return np.stack(clouds).astype(np.float32), labels


def object_extents(samples: list) -> np.ndarray:
    """Bounding-box extents (x, y, z) of each object before it was scaled into the unit sphere: (N, 3) float64.

    Introduced in lab 2. Read from the manifest of the data set the samples belong to; the unit is the manifest's
    ``extent_unit`` (``extent_unit()``): metres for the synthetic set, the mesh file's own unit for ModelNet10,
    whose models come in inches, centimetres, millimetres or no unit at all. Raises ``OutdatedDataset`` for a data
    set built before the extents were kept.
    """
    manifests: dict[Path, dict] = {}
    extents = []
    for sample in samples:
        directory = Path(sample.path).parent.parent.parent  # <dataset>/<split>/<class>/<id>.npy
        if directory not in manifests:
            manifests[directory] = json.loads((directory / "manifest.json").read_text())
        manifest = manifests[directory]
        relative = "/".join(Path(sample.path).parts[-3:])
        recorded = manifest.get("extents", {}).get(relative)
        if recorded is None:
            name = manifest.get("dataset", directory.name)
            raise OutdatedDataset(
                f"data set '{name}' at {directory} has no extents for {relative} (manifest format "
                f"{manifest.get('format_version', 1)}; extents were added in format {FORMAT_VERSION}): rebuild it "
                f"with `{build_command(name)}`"
            )
        extents.append(recorded)
    return np.array(extents, dtype=np.float64).reshape(len(extents), 3)


def extent_unit(dataset: str | None = None) -> str:
    """The unit of ``object_extents`` in a data set ("metre", or "mesh unit" where the files have none)."""
    manifest = read_manifest(dataset)
    if "extent_unit" not in manifest:
        name = manifest.get("dataset", dataset or active_dataset())
        raise OutdatedDataset(f"data set '{name}' records no extents: rebuild it with `{build_command(name)}`")
    return str(manifest["extent_unit"])


def holdout_split(samples: list, fraction: float = 0.2, seed: int = 0) -> tuple[list, list]:
    """Split samples into (kept, held out), stratified by class and deterministic for a seed."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    rng = np.random.default_rng(seed)
    kept, held_out = [], []
    for label in sorted({sample.label for sample in samples}):
        members = [sample for sample in samples if sample.label == label]
        order = rng.permutation(len(members))
        n_out = max(1, round(fraction * len(members))) if len(members) > 1 else 0
        held_out += [members[i] for i in sorted(order[:n_out])]
        kept += [members[i] for i in sorted(order[n_out:])]
    return kept, held_out


def normalize_cloud(points: np.ndarray) -> np.ndarray:
    """Centre a cloud on its centroid and scale it into the unit sphere (float32)."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
        raise ValueError(f"expected a point cloud of shape (P, 3), got {points.shape}")
    centred = points - points.mean(axis=0)
    radius = np.linalg.norm(centred, axis=1).max()
    if not np.isfinite(radius) or radius == 0:
        raise ValueError("degenerate point cloud: all points coincide or are not finite")
    return (centred / radius).astype(np.float32)
