"""The course's own synthetic stand-in for ModelNet10: furniture-like meshes built from primitives.

Each class is a recipe of boxes and cylinders (a table is a top on legs, a chair a seat, back and legs, ...)
with random proportions, optional parts, a random rotation about the up axis (z) and a random scale. The
recipes overlap on purpose (desk vs table, night stand vs dresser, sofa vs bed) so that the classes are
learnable but not trivially separable. Deterministic for a given seed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import trimesh

Part = trimesh.Trimesh


def _box(extents, centre) -> Part:
    return trimesh.creation.box(extents=extents, transform=trimesh.transformations.translation_matrix(centre))


def _cylinder(radius, height, centre, sections: int = 12) -> Part:
    transform = trimesh.transformations.translation_matrix(centre)
    return trimesh.creation.cylinder(radius=radius, height=height, sections=sections, transform=transform)


def _legs(rng, width, depth, height, thickness, round_legs: bool | None = None) -> list[Part]:
    round_legs = bool(rng.random() < 0.5) if round_legs is None else round_legs
    inset = thickness * rng.uniform(0.6, 1.5)
    parts = []
    for sx in (-1, 1):
        for sy in (-1, 1):
            centre = (sx * (width / 2 - inset), sy * (depth / 2 - inset), height / 2)
            if round_legs:
                parts.append(_cylinder(thickness / 2, height, centre, sections=8))
            else:
                parts.append(_box((thickness, thickness, height), centre))
    return parts


def table(rng) -> list[Part]:
    width, depth = rng.uniform(1.0, 2.2), rng.uniform(0.6, 1.2)
    height, top = rng.uniform(0.6, 0.9), rng.uniform(0.03, 0.08)
    parts = [_box((width, depth, top), (0, 0, height - top / 2))]
    if rng.random() < 0.25:  # pedestal table
        parts += [_cylinder(0.06, height - top, (0, 0, (height - top) / 2)), _box((0.6, 0.6, 0.04), (0, 0, 0.02))]
    else:
        parts += _legs(rng, width, depth, height - top, rng.uniform(0.04, 0.09))
    return parts


def desk(rng) -> list[Part]:
    width, depth = rng.uniform(1.0, 1.8), rng.uniform(0.5, 0.8)
    height, top = rng.uniform(0.7, 0.8), rng.uniform(0.03, 0.06)
    legs_height = height - top
    parts = [_box((width, depth, top), (0, 0, height - top / 2))]
    pedestal_width = rng.uniform(0.3, 0.45) * width
    side = rng.choice((-1, 1))
    parts.append(
        _box((pedestal_width, depth * 0.95, legs_height), (side * (width - pedestal_width) / 2, 0, legs_height / 2))
    )
    if rng.random() < 0.5:  # second pedestal, otherwise a panel
        parts.append(
            _box(
                (pedestal_width, depth * 0.95, legs_height), (-side * (width - pedestal_width) / 2, 0, legs_height / 2)
            )
        )
    else:
        parts.append(_box((0.04, depth * 0.9, legs_height), (-side * (width / 2 - 0.02), 0, legs_height / 2)))
    if rng.random() < 0.5:  # modesty panel at the back
        parts.append(_box((width * 0.9, 0.02, legs_height * 0.5), (0, depth / 2 - 0.02, legs_height * 0.7)))
    return parts


def chair(rng) -> list[Part]:
    width, depth = rng.uniform(0.4, 0.6), rng.uniform(0.4, 0.6)
    seat_height, seat = rng.uniform(0.4, 0.5), rng.uniform(0.04, 0.1)
    back_height = rng.uniform(0.3, 0.6)
    parts = [_box((width, depth, seat), (0, 0, seat_height - seat / 2))]
    parts.append(_box((width, 0.05, back_height), (0, depth / 2 - 0.025, seat_height + back_height / 2)))
    parts += _legs(rng, width, depth, seat_height - seat, rng.uniform(0.03, 0.06))
    if rng.random() < 0.3:  # arm rests
        for sx in (-1, 1):
            parts.append(_box((0.04, depth, 0.04), (sx * (width / 2 - 0.02), 0, seat_height + 0.2)))
    return parts


def sofa(rng) -> list[Part]:
    width, depth = rng.uniform(1.4, 2.4), rng.uniform(0.8, 1.0)
    seat_height, back_height = rng.uniform(0.35, 0.45), rng.uniform(0.3, 0.5)
    arm = rng.uniform(0.1, 0.25)
    parts = [_box((width, depth, seat_height), (0, 0, seat_height / 2))]
    parts.append(_box((width, 0.2, back_height), (0, depth / 2 - 0.1, seat_height + back_height / 2)))
    if rng.random() < 0.85:
        arm_height = seat_height + rng.uniform(0.1, 0.25)
        for sx in (-1, 1):
            parts.append(_box((arm, depth, arm_height), (sx * (width / 2 + arm / 2), 0, arm_height / 2)))
    return parts


def bed(rng) -> list[Part]:
    width, length = rng.uniform(1.0, 1.8), rng.uniform(1.9, 2.2)
    mattress = rng.uniform(0.35, 0.55)
    head = rng.uniform(0.7, 1.2)
    parts = [_box((width, length, mattress), (0, 0, mattress / 2))]
    parts.append(_box((width, 0.08, head), (0, length / 2 + 0.04, head / 2)))
    if rng.random() < 0.5:  # footboard
        foot = rng.uniform(0.4, 0.6)
        parts.append(_box((width, 0.06, foot), (0, -length / 2 - 0.03, foot / 2)))
    if rng.random() < 0.5:  # pillow
        parts.append(_box((width * 0.8, 0.3, 0.1), (0, length / 2 - 0.25, mattress + 0.05)))
    return parts


def monitor(rng) -> list[Part]:
    width, height = rng.uniform(0.4, 0.8), rng.uniform(0.3, 0.5)
    thickness, neck = rng.uniform(0.02, 0.06), rng.uniform(0.08, 0.2)
    parts = [_box((width, thickness, height), (0, 0, neck + height / 2))]
    parts.append(_box((0.05, 0.03, neck + 0.05), (0, thickness, (neck + 0.05) / 2)))
    if rng.random() < 0.5:
        parts.append(_box((width * rng.uniform(0.3, 0.5), 0.18, 0.02), (0, thickness, 0.01)))
    else:
        parts.append(_cylinder(0.1, 0.02, (0, thickness, 0.01)))
    return parts


def _cabinet(rng, width, depth, height, n_drawers: int) -> list[Part]:
    leg = rng.uniform(0.0, 0.1) if rng.random() < 0.6 else 0.0
    parts = [_box((width, depth, height - leg), (0, 0, leg + (height - leg) / 2))]
    if leg > 0:
        parts += _legs(rng, width, depth, leg, 0.04)
    drawer_height = (height - leg) / n_drawers
    for i in range(n_drawers):
        centre_z = leg + drawer_height * (i + 0.5)
        parts.append(_box((width * 0.85, 0.02, drawer_height * 0.8), (0, -depth / 2 - 0.01, centre_z)))
        parts.append(_box((width * 0.15, 0.03, 0.02), (0, -depth / 2 - 0.035, centre_z)))
    return parts


def dresser(rng) -> list[Part]:
    width, depth, height = rng.uniform(0.8, 1.6), rng.uniform(0.4, 0.55), rng.uniform(0.8, 1.3)
    return _cabinet(rng, width, depth, height, int(rng.integers(3, 6)))


def night_stand(rng) -> list[Part]:
    width, depth, height = rng.uniform(0.4, 0.6), rng.uniform(0.35, 0.5), rng.uniform(0.45, 0.7)
    return _cabinet(rng, width, depth, height, int(rng.integers(1, 4)))


def bathtub(rng) -> list[Part]:
    width, length, height = rng.uniform(0.7, 0.9), rng.uniform(1.5, 1.9), rng.uniform(0.45, 0.6)
    wall = rng.uniform(0.04, 0.1)
    parts = [_box((width, length, wall), (0, 0, wall / 2))]
    for sx in (-1, 1):
        parts.append(_box((wall, length, height), (sx * (width / 2 - wall / 2), 0, height / 2)))
    for sy in (-1, 1):
        parts.append(_box((width, wall, height), (0, sy * (length / 2 - wall / 2), height / 2)))
    if rng.random() < 0.3:  # rim
        parts.append(_box((width + 0.1, length + 0.1, 0.03), (0, 0, height)))
    return parts


def toilet(rng) -> list[Part]:
    bowl_radius, bowl_height = rng.uniform(0.18, 0.24), rng.uniform(0.35, 0.42)
    parts = [_cylinder(bowl_radius, bowl_height, (0, 0, bowl_height / 2), sections=16)]
    parts.append(_cylinder(bowl_radius * 1.05, 0.03, (0, 0, bowl_height + 0.015), sections=16))  # seat
    tank_height = rng.uniform(0.3, 0.45)
    parts.append(
        _box((bowl_radius * 2.2, 0.18, tank_height), (0, bowl_radius + 0.09, bowl_height + tank_height / 2 - 0.05))
    )
    if rng.random() < 0.5:  # lid up
        parts.append(_box((bowl_radius * 2, 0.03, bowl_radius * 2), (0, bowl_radius + 0.2, bowl_height + bowl_radius)))
    return parts


RECIPES: dict[str, Callable[[np.random.Generator], list[Part]]] = {
    "bathtub": bathtub,
    "bed": bed,
    "chair": chair,
    "desk": desk,
    "dresser": dresser,
    "monitor": monitor,
    "night_stand": night_stand,
    "sofa": sofa,
    "table": table,
    "toilet": toilet,
}


def make_mesh(class_name: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One random object of ``class_name`` as (vertices, triangles), randomly rotated about z and scaled."""
    parts = RECIPES[class_name](rng)
    if rng.random() < 0.15 and len(parts) > 2:  # a missing part, as in sloppy real models
        parts.pop(int(rng.integers(1, len(parts))))
    mesh = trimesh.util.concatenate(parts)
    angle = rng.uniform(0, 2 * np.pi)
    scale = rng.uniform(0.5, 2.0) * rng.uniform(0.9, 1.1, size=3)
    transform = trimesh.transformations.rotation_matrix(angle, (0, 0, 1))
    transform[:3, :3] = transform[:3, :3] @ np.diag(scale)
    mesh.apply_transform(transform)
    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)
