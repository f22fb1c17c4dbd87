"""OFF meshes: a tolerant parser for real ModelNet files and area-weighted surface sampling.

Used by ``data_fetch.py`` for both the real ModelNet10 meshes and the synthetic stand-in.
"""

from __future__ import annotations

import numpy as np


class MeshError(ValueError):
    """A mesh file cannot be used; the message names the problem."""


class DegenerateMesh(MeshError):
    """A mesh parsed fine but has no surface to sample (no faces, or zero area)."""


def parse_off(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse OFF text into vertices (V, 3) float64 and triangles (F, 3) int64.

    Tolerates what real ModelNet files contain: the counts glued to the keyword (``OFF28048 35408 0``),
    comments, blank lines, and polygons with more than three corners (triangulated as fans).
    """
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    tokens = " ".join(line for line in lines if line).split()
    if not tokens or not tokens[0].upper().startswith("OFF"):
        raise MeshError("not an OFF file: it must start with the keyword OFF")
    glued = tokens[0][3:]
    header_tokens = ([glued] if glued else []) + tokens[1:]
    try:
        n_vertices, n_faces = int(header_tokens[0]), int(header_tokens[1])
        int(header_tokens[2])  # edge count, unused
    except (IndexError, ValueError) as error:
        raise MeshError(f"bad OFF header (expected 'OFF', then vertex, face and edge counts): {error}") from None
    if n_vertices < 0 or n_faces < 0:
        raise MeshError(f"bad OFF header: negative counts ({n_vertices} vertices, {n_faces} faces)")
    body = header_tokens[3:]
    if len(body) < 3 * n_vertices:
        raise MeshError(f"truncated OFF file: header promises {n_vertices} vertices, file has fewer")
    try:
        vertices = np.asarray(body[: 3 * n_vertices], dtype=np.float64).reshape(n_vertices, 3)
        faces = _parse_faces(body[3 * n_vertices :], n_faces, n_vertices)
    except ValueError as error:
        raise MeshError(f"malformed OFF body: {error}") from None
    if not np.isfinite(vertices).all():
        raise MeshError("OFF file has non-finite vertex coordinates")
    return vertices, faces


def _parse_faces(tokens: list[str], n_faces: int, n_vertices: int) -> np.ndarray:
    if n_faces == 0:
        return np.zeros((0, 3), dtype=np.int64)
    # Fast path: all triangles ("3 a b c" per face, optional colour values would break the stride).
    if len(tokens) == 4 * n_faces:
        table = np.asarray(tokens, dtype=np.int64).reshape(n_faces, 4)
        if (table[:, 0] == 3).all():
            return _checked(table[:, 1:], n_vertices)
    values = np.asarray(tokens, dtype=np.float64)
    triangles = []
    position = 0
    for _ in range(n_faces):
        if position >= len(values):
            raise ValueError(f"header promises {n_faces} faces, file has fewer")
        corners = int(values[position])
        if corners < 3 or position + 1 + corners > len(values):
            raise ValueError(f"face with {corners} corners at token {position}")
        polygon = values[position + 1 : position + 1 + corners].astype(np.int64)
        triangles.extend((polygon[0], polygon[i], polygon[i + 1]) for i in range(1, corners - 1))
        position += 1 + corners
    return _checked(np.asarray(triangles, dtype=np.int64), n_vertices)


def _checked(triangles: np.ndarray, n_vertices: int) -> np.ndarray:
    if triangles.size and (triangles.min() < 0 or triangles.max() >= n_vertices):
        raise ValueError(f"face index out of range (mesh has {n_vertices} vertices)")
    return triangles


def triangle_areas(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    corners = vertices[triangles]
    return 0.5 * np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1)


def sample_surface(vertices: np.ndarray, triangles: np.ndarray, n_points: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n_points`` points uniformly on the surface (triangles chosen by area), float64 (n, 3)."""
    if len(triangles) == 0:
        raise DegenerateMesh("mesh has no faces")
    areas = triangle_areas(vertices, triangles)
    total = areas.sum()
    if not np.isfinite(total) or total <= 0:
        raise DegenerateMesh("mesh has zero surface area")
    chosen = rng.choice(len(triangles), size=n_points, p=areas / total)
    a, b, c = (vertices[triangles[chosen, i]] for i in range(3))
    u, v = rng.random((2, n_points, 1))
    flip = (u + v) > 1  # reflect points of the parallelogram's far half back into the triangle
    u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
    return a + u * (b - a) + v * (c - a)


def to_off(vertices: np.ndarray, triangles: np.ndarray) -> str:
    """Write a mesh as OFF text (the layout real ModelNet files use, minus their header quirk)."""
    lines = ["OFF", f"{len(vertices)} {len(triangles)} 0"]
    lines += [f"{x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
    lines += [f"3 {a} {b} {c}" for a, b, c in triangles]
    return "\n".join(lines) + "\n"
