"""The course's own synthetic stand-in for ModelNet10: furniture-like meshes built from primitives.

Each class is a recipe of boxes and cylinders with random proportions, optional parts (arm rests, drawers,
shelves, pillows, cushions, ...), style variants, a random rotation about the up axis (z) and a random scale.
The recipes share their building blocks the way the real ModelNet10 classes share shapes, so that the classes
are learnable but not trivially separable:

- table, desk, dresser and night stand are boxes and legs: a desk is a table top with a drawer block, panels or a
  shallow drawer; a night stand is a small dresser (unit-sphere scaling leaves only the proportions to tell them
  apart); a coffee table or a table with a drawer looks like a desk;
- sofa and bed are long low slabs with a back (a day bed has its back on the long side; a bed may lack a
  headboard); a loveseat or an upholstered armchair sits between chair and sofa;
- chair and toilet are a seat at knee height with something upright behind it;
- bathtub and bed are long boxes about half a metre high (an enclosed bathtub with a shallow basin is almost a
  slab).

On top of that every object gets small per-part misalignments and deformations, sometimes a missing part, and a
non-uniform scale. Deterministic for a given seed: everything is drawn from the generator passed in.

Recipes are written in metres. ``make_object`` also returns the random overall factor it scaled the object by
(0.5 to 2, as if models came in different units; the unit-sphere normalisation removes it), so that
``data_fetch.py`` can keep each object's extents in metres: plausible sizes per class (a bed about 2 m long, a
night stand about half a metre), within the recipes' ranges and the small per-axis jitter.
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


def _legs(rng, width, depth, height, thickness, round_legs: bool | None = None, z: float = 0.0) -> list[Part]:
    """Four legs of ``height`` standing on ``z``, inset from the corners of a width x depth rectangle."""
    round_legs = bool(rng.random() < 0.5) if round_legs is None else round_legs
    inset = thickness * rng.uniform(0.6, 1.5)
    parts = []
    for sx in (-1, 1):
        for sy in (-1, 1):
            centre = (sx * (width / 2 - inset), sy * (depth / 2 - inset), z + height / 2)
            if round_legs:
                parts.append(_cylinder(thickness / 2, height, centre, sections=8))
            else:
                parts.append(_box((thickness, thickness, height), centre))
    return parts


def _apron(width, depth, z_top, height, thickness=0.02) -> list[Part]:
    """The frame under a table top or seat: four thin boards just below ``z_top``."""
    z = z_top - height / 2
    return [
        _box((width, thickness, height), (0, -depth / 2 + thickness / 2, z)),
        _box((width, thickness, height), (0, depth / 2 - thickness / 2, z)),
        _box((thickness, depth, height), (-width / 2 + thickness / 2, 0, z)),
        _box((thickness, depth, height), (width / 2 - thickness / 2, 0, z)),
    ]


def _drawer_fronts(rng, width, depth, x, z_bottom, height, rows: int, columns: int = 1) -> list[Part]:
    """Drawer fronts with handles on the front face (-y) of a block centred at ``x``."""
    parts = []
    row_height, column_width = height / rows, width / columns
    handle_round = rng.random() < 0.4
    for row in range(rows):
        for column in range(columns):
            centre_x = x - width / 2 + column_width * (column + 0.5)
            centre_z = z_bottom + row_height * (row + 0.5)
            parts.append(_box((column_width * 0.9, 0.02, row_height * 0.82), (centre_x, -depth / 2 - 0.01, centre_z)))
            if handle_round:
                parts.append(_cylinder(0.015, 0.03, (centre_x, -depth / 2 - 0.035, centre_z), sections=6))
            else:
                parts.append(_box((column_width * 0.3, 0.03, 0.02), (centre_x, -depth / 2 - 0.035, centre_z)))
    return parts


def _open_shelf(width, depth, z_bottom, height, wall=0.02) -> list[Part]:
    """An open compartment: bottom, top, two sides and a back; the front stays open."""
    return [
        _box((width, depth, wall), (0, 0, z_bottom + wall / 2)),
        _box((width, depth, wall), (0, 0, z_bottom + height - wall / 2)),
        _box((wall, depth, height), (-width / 2 + wall / 2, 0, z_bottom + height / 2)),
        _box((wall, depth, height), (width / 2 - wall / 2, 0, z_bottom + height / 2)),
        _box((width, wall, height), (0, depth / 2 - wall / 2, z_bottom + height / 2)),
    ]


def _cabinet(rng, width, depth, height, rows: int, columns: int = 1, shelf_fraction: float = 0.0) -> list[Part]:
    """A chest of drawers on a plinth, short legs or the floor; ``shelf_fraction`` of it an open shelf."""
    base = rng.choice(["floor", "plinth", "legs"], p=[0.4, 0.3, 0.3])
    lift = {"floor": 0.0, "plinth": rng.uniform(0.03, 0.1), "legs": rng.uniform(0.05, 0.2)}[base]
    parts = []
    if base == "plinth":
        parts.append(_box((width * 0.95, depth * 0.9, lift), (0, 0.02, lift / 2)))
    elif base == "legs":
        parts += _legs(rng, width, depth, lift, rng.uniform(0.03, 0.06))
    body = height - lift
    shelf = body * shelf_fraction
    if shelf > 0:
        shelf_at_bottom = rng.random() < 0.6
        shelf_z = lift if shelf_at_bottom else lift + body - shelf
        drawers_z = lift + shelf if shelf_at_bottom else lift
        parts += _open_shelf(width, depth, shelf_z, shelf)
    else:
        drawers_z = lift
    drawers = body - shelf
    parts.append(_box((width, depth, drawers), (0, 0, drawers_z + drawers / 2)))
    parts += _drawer_fronts(rng, width, depth, 0, drawers_z, drawers, rows, columns)
    if rng.random() < 0.4:  # an overhanging top
        overhang = rng.uniform(0.01, 0.05)
        parts.append(_box((width + 2 * overhang, depth + overhang, 0.03), (0, -overhang / 2, height + 0.015)))
    return parts


def _top_on_legs(rng, width, depth, height, top) -> list[Part]:
    """A table top of ``top`` thickness at ``height`` on four legs, sometimes with an apron frame."""
    parts = [_box((width, depth, top), (0, 0, height - top / 2))]
    legs_height = height - top
    parts += _legs(rng, width, depth, legs_height, rng.uniform(0.03, 0.09))
    if rng.random() < 0.4:
        parts += _apron(width * 0.92, depth * 0.9, legs_height, rng.uniform(0.05, 0.12))
    return parts


def _side_panels(width, depth, height, thickness) -> list[Part]:
    """Two full-depth panels at the ends, as on a trestle table or a panel desk."""
    return [_box((thickness, depth * 0.9, height), (sx * (width / 2 - thickness / 2), 0, height / 2)) for sx in (-1, 1)]


def table(rng) -> list[Part]:
    kind = rng.choice(["dining", "coffee", "side"], p=[0.6, 0.25, 0.15])
    if kind == "dining":
        width, depth, height = rng.uniform(0.9, 2.2), rng.uniform(0.6, 1.2), rng.uniform(0.65, 0.8)
    elif kind == "coffee":
        width, depth, height = rng.uniform(0.8, 1.4), rng.uniform(0.45, 0.8), rng.uniform(0.35, 0.5)
    else:
        width = depth = rng.uniform(0.5, 0.9)
        height = rng.uniform(0.5, 0.75)
    top = rng.uniform(0.02, 0.08)
    base = rng.choice(["legs", "pedestal", "panels"], p=[0.7, 0.15, 0.15])
    if base == "pedestal":
        if rng.random() < 0.5:
            parts = [_cylinder(min(width, depth) / 2, top, (0, 0, height - top / 2), sections=16)]
        else:
            parts = [_box((width, depth, top), (0, 0, height - top / 2))]
        foot = min(width, depth) * rng.uniform(0.4, 0.7)
        parts += [_cylinder(rng.uniform(0.04, 0.1), height - top, (0, 0, (height - top) / 2))]
        parts += [_box((foot, foot, 0.04), (0, 0, 0.02))]
        return parts
    if base == "panels":
        parts = [_box((width, depth, top), (0, 0, height - top / 2))]
        parts += _side_panels(width * rng.uniform(0.85, 1.0), depth, height - top, rng.uniform(0.03, 0.08))
        if rng.random() < 0.5:  # stretcher between the panels
            parts.append(_box((width * 0.85, 0.04, 0.06), (0, 0, rng.uniform(0.1, 0.4) * height)))
        return parts
    parts = _top_on_legs(rng, width, depth, height, top)
    if rng.random() < 0.3:  # a lower shelf
        parts.append(_box((width * 0.9, depth * 0.85, 0.03), (0, 0, rng.uniform(0.1, 0.3) * height)))
    if rng.random() < 0.12:  # a drawer under the top, as on a writing table
        drawer = rng.uniform(0.08, 0.15)
        parts.append(_box((width * 0.4, depth * 0.8, drawer), (0, 0, height - top - drawer / 2)))
    return parts


def desk(rng) -> list[Part]:
    width, depth = rng.uniform(0.9, 1.8), rng.uniform(0.5, 0.85)
    height, top = rng.uniform(0.68, 0.8), rng.uniform(0.02, 0.06)
    legs_height = height - top
    parts = [_box((width, depth, top), (0, 0, height - top / 2))]
    support = rng.choice(["pedestal", "two_pedestals", "panels", "legs_and_drawer"], p=[0.35, 0.2, 0.2, 0.25])
    block_width = rng.uniform(0.28, 0.45) * width
    side = rng.choice((-1, 1))
    blocks = {"pedestal": [side], "two_pedestals": [side, -side]}.get(support, [])
    for block_side in blocks:
        x = block_side * (width - block_width) / 2
        parts.append(_box((block_width, depth * 0.95, legs_height), (x, 0, legs_height / 2)))
        rows = int(rng.integers(1, 5))
        parts += _drawer_fronts(rng, block_width, depth * 0.95, x, 0, legs_height, rows)
    if support == "pedestal":  # the free end stands on two legs or a panel
        if rng.random() < 0.5:
            for sy in (-1, 1):
                parts.append(_box((0.05, 0.05, legs_height), (-side * (width / 2 - 0.05), sy * (depth / 2 - 0.05),
                                                              legs_height / 2)))  # fmt: skip
        else:
            parts.append(_box((0.04, depth * 0.9, legs_height), (-side * (width / 2 - 0.02), 0, legs_height / 2)))
    elif support == "panels":
        parts += _side_panels(width, depth, legs_height, rng.uniform(0.03, 0.06))
    elif support == "legs_and_drawer":  # a writing desk: a table with a shallow drawer box under the top
        parts += _legs(rng, width, depth, legs_height, rng.uniform(0.03, 0.07))
        drawer = rng.uniform(0.1, 0.18)
        parts.append(_box((width * rng.uniform(0.5, 0.9), depth * 0.85, drawer), (0, 0, legs_height - drawer / 2)))
    if rng.random() < 0.5:  # modesty panel at the back
        parts.append(_box((width * 0.9, 0.02, legs_height * 0.5), (0, depth / 2 - 0.02, legs_height * 0.7)))
    if rng.random() < 0.2:  # a hutch: a shelf board on two uprights at the back of the top
        hutch = rng.uniform(0.25, 0.5)
        parts += [_box((0.02, depth * 0.3, hutch), (sx * (width / 2 - 0.01), depth * 0.35, height + hutch / 2))
                  for sx in (-1, 1)]  # fmt: skip
        parts.append(_box((width, depth * 0.3, 0.02), (0, depth * 0.35, height + hutch)))
    return parts


def chair(rng) -> list[Part]:
    base = rng.choice(["legs", "swivel", "upholstered"], p=[0.6, 0.15, 0.25])
    if base == "upholstered":  # an armchair, as deep and almost as wide as a small sofa
        width, depth = rng.uniform(0.55, 0.9), rng.uniform(0.55, 0.9)
    else:
        width, depth = rng.uniform(0.4, 0.65), rng.uniform(0.4, 0.65)
    seat_height, seat = rng.uniform(0.38, 0.5), rng.uniform(0.03, 0.12)
    back_height = rng.uniform(0.25, 0.75)
    parts = [_box((width, depth, seat), (0, 0, seat_height - seat / 2))]
    back_thickness = 0.05 if base != "upholstered" else rng.uniform(0.1, 0.2)
    back_y, back_z = depth / 2 - back_thickness / 2, seat_height + back_height / 2
    if base != "upholstered" and rng.random() < 0.3:  # slatted back: a top rail on uprights
        parts.append(_box((width, back_thickness, 0.06), (0, back_y, seat_height + back_height - 0.03)))
        n_slats = int(rng.integers(2, 5))
        for x in np.linspace(-width / 2 + 0.02, width / 2 - 0.02, n_slats):
            parts.append(_box((0.03, back_thickness * 0.8, back_height), (x, back_y, back_z)))
    else:
        parts.append(_box((width, back_thickness, back_height), (0, back_y, back_z)))
    if base == "legs":
        parts += _legs(rng, width, depth, seat_height - seat, rng.uniform(0.025, 0.06))
    elif base == "swivel":
        column = seat_height - seat - 0.08
        parts.append(_cylinder(0.03, column, (0, 0, 0.08 + column / 2), sections=8))
        for angle in np.linspace(0, 2 * np.pi, 6)[:-1]:
            star = _box((0.3, 0.04, 0.04), (0.15, 0, 0.06))
            star.apply_transform(trimesh.transformations.rotation_matrix(angle, (0, 0, 1)))
            parts.append(star)
    else:  # an armchair: the seat block goes down to the floor
        block = seat_height - seat
        parts.append(_box((width, depth, block), (0, 0, block / 2)))
    if base == "upholstered" or rng.random() < 0.3:  # arm rests
        arm_width = rng.uniform(0.06, 0.22) if base == "upholstered" else 0.04
        arm_top = seat_height + rng.uniform(0.15, 0.25)
        arm_height = arm_top if base == "upholstered" else 0.04
        for sx in (-1, 1):
            parts.append(_box((arm_width, depth, arm_height), (sx * (width / 2 + arm_width / 2), 0,
                                                               arm_top - arm_height / 2)))  # fmt: skip
    return parts


def sofa(rng) -> list[Part]:
    width = rng.uniform(1.5, 2.5) if rng.random() < 0.7 else rng.uniform(0.9, 1.5)  # sofa or loveseat
    depth = rng.uniform(0.75, 1.05)
    seat_height, back_height = rng.uniform(0.32, 0.48), rng.uniform(0.25, 0.55)
    back_thickness = rng.uniform(0.12, 0.25)
    lift = rng.uniform(0.05, 0.15) if rng.random() < 0.4 else 0.0
    parts = [_box((width, depth, seat_height - lift), (0, 0, lift + (seat_height - lift) / 2))]
    if lift > 0:
        parts += _legs(rng, width, depth, lift, 0.04)
    parts.append(_box((width, back_thickness, back_height),
                      (0, depth / 2 - back_thickness / 2, seat_height + back_height / 2)))  # fmt: skip
    if rng.random() < 0.8:
        arm, arm_height = rng.uniform(0.08, 0.25), seat_height + rng.uniform(0.05, 0.3)
        for sx in (-1, 1):
            parts.append(_box((arm, depth, arm_height - lift), (sx * (width / 2 + arm / 2), 0,
                                                                lift + (arm_height - lift) / 2)))  # fmt: skip
    if rng.random() < 0.5:  # seat cushions
        n_cushions = int(rng.integers(2, 4))
        cushion_width = width / n_cushions
        for index in range(n_cushions):
            x = -width / 2 + cushion_width * (index + 0.5)
            parts.append(_box((cushion_width * 0.95, depth - back_thickness, 0.08),
                              (x, -back_thickness / 2, seat_height + 0.04)))  # fmt: skip
    if rng.random() < 0.15:  # a chaise: one end extends forwards
        chaise = rng.uniform(0.5, 0.9)
        chaise_width = rng.uniform(0.6, 0.9)
        parts.append(_box((chaise_width, chaise, seat_height), (rng.choice((-1, 1)) * (width - chaise_width) / 2,
                                                                -depth / 2 - chaise / 2, seat_height / 2)))  # fmt: skip
    return parts


def bed(rng) -> list[Part]:
    width, length = rng.uniform(0.9, 1.9), rng.uniform(1.9, 2.2)
    frame, mattress = rng.uniform(0.15, 0.35), rng.uniform(0.15, 0.3)
    if rng.random() < 0.2:  # a day bed: narrow, with its back along a long side
        width = rng.uniform(0.8, 1.0)
        parts = [_box((length, width, frame + mattress), (0, 0, (frame + mattress) / 2))]
        back = frame + mattress + rng.uniform(0.3, 0.6)
        parts.append(_box((length, 0.08, back), (0, width / 2 + 0.04, back / 2)))
        for sx in (-1, 1):
            end = frame + mattress + rng.uniform(0.1, 0.4)
            parts.append(_box((0.08, width, end), (sx * (length / 2 + 0.04), 0, end / 2)))
        return parts
    if rng.random() < 0.4:  # a frame on legs
        parts = [_box((width, length, 0.08), (0, 0, frame - 0.04))]
        parts += _legs(rng, width, length, frame - 0.08, rng.uniform(0.05, 0.1))
    else:
        parts = [_box((width, length, frame), (0, 0, frame / 2))]
    parts.append(_box((width * 0.97, length * 0.97, mattress), (0, 0, frame + mattress / 2)))
    if rng.random() < 0.8:  # headboard
        head = frame + mattress + rng.uniform(0.2, 0.8)
        parts.append(_box((width, rng.uniform(0.05, 0.15), head), (0, length / 2 + 0.04, head / 2)))
    if rng.random() < 0.4:  # footboard
        foot = frame + mattress + rng.uniform(-0.1, 0.3)
        parts.append(_box((width, 0.06, foot), (0, -length / 2 - 0.03, foot / 2)))
    n_pillows = int(rng.choice([0, 1, 2], p=[0.35, 0.3, 0.35]))
    for index in range(n_pillows):
        pillow_width = width * (0.8 if n_pillows == 1 else 0.42)
        x = 0 if n_pillows == 1 else (index - 0.5) * width * 0.48
        parts.append(_box((pillow_width, 0.35, 0.12), (x, length / 2 - 0.3, frame + mattress + 0.06)))
    if rng.random() < 0.3:  # a blanket folded over the foot end
        parts.append(_box((width * 1.02, length * 0.4, 0.05), (0, -length * 0.28, frame + mattress + 0.025)))
    return parts


def monitor(rng) -> list[Part]:
    width = rng.uniform(0.35, 1.1)
    height, thickness = width * rng.uniform(0.5, 0.8), rng.uniform(0.015, 0.06)
    stand = rng.choice(["neck", "feet", "panel", "none"], p=[0.55, 0.2, 0.15, 0.1])
    neck = rng.uniform(0.05, 0.2) if stand != "none" else 0.0
    screen = _box((width, thickness, height), (0, 0, neck + height / 2))
    tilt = trimesh.transformations.rotation_matrix(np.radians(rng.uniform(-8, 15)), (1, 0, 0), (0, 0, neck))
    screen.apply_transform(tilt)
    parts = [screen]
    if rng.random() < 0.15:  # a deep CRT-like back
        back = width * rng.uniform(0.4, 0.8)
        parts.append(_box((width * 0.7, back, height * 0.7), (0, thickness / 2 + back / 2, neck + height / 2)))
    if stand == "neck":
        parts.append(_box((0.06, 0.03, neck + height * 0.3), (0, thickness, (neck + height * 0.3) / 2)))
        if rng.random() < 0.5:
            parts.append(_box((width * rng.uniform(0.3, 0.5), rng.uniform(0.12, 0.25), 0.02), (0, thickness, 0.01)))
        else:
            parts.append(_cylinder(rng.uniform(0.08, 0.14), 0.02, (0, thickness, 0.01)))
    elif stand == "feet":
        for sx in (-1, 1):
            x = sx * width * rng.uniform(0.3, 0.45)
            parts.append(_box((0.04, 0.2, neck + 0.02), (x, thickness, (neck + 0.02) / 2)))
    elif stand == "panel":
        parts.append(_box((width * 0.3, 0.02, neck + height * 0.4), (0, thickness + 0.05, (neck + height * 0.4) / 2)))
        parts.append(_box((width * 0.35, 0.25, 0.02), (0, thickness + 0.05, 0.01)))
    return parts


def dresser(rng) -> list[Part]:
    if rng.random() < 0.7:  # a low chest
        width, depth, height = rng.uniform(0.9, 1.8), rng.uniform(0.4, 0.6), rng.uniform(0.7, 1.1)
        rows, columns = int(rng.integers(2, 6)), int(rng.choice([1, 2, 3], p=[0.5, 0.35, 0.15]))
    else:  # a tall chest
        width, depth, height = rng.uniform(0.65, 1.0), rng.uniform(0.4, 0.55), rng.uniform(1.0, 1.5)
        rows, columns = int(rng.integers(4, 8)), 1
    parts = _cabinet(rng, width, depth, height, rows, columns, shelf_fraction=0.3 if rng.random() < 0.1 else 0.0)
    if rng.random() < 0.2:  # a mirror on the back edge
        mirror_width, mirror_height = width * rng.uniform(0.5, 0.9), rng.uniform(0.4, 0.9)
        parts.append(_box((mirror_width, 0.03, mirror_height), (0, depth / 2 - 0.03, height + mirror_height / 2)))
    return parts


def night_stand(rng) -> list[Part]:
    width, depth, height = rng.uniform(0.4, 0.7), rng.uniform(0.35, 0.55), rng.uniform(0.45, 0.75)
    rows = int(rng.integers(1, 4))
    parts = _cabinet(rng, width, depth, height, rows, shelf_fraction=rng.uniform(0.3, 0.5) if rng.random() < 0.4 else 0)
    if rng.random() < 0.15:  # a lamp on top
        x, y = rng.uniform(-0.1, 0.1), rng.uniform(-0.05, 0.05)
        parts.append(_cylinder(0.05, 0.25, (x, y, height + 0.125), sections=8))
        parts.append(_cylinder(0.1, 0.15, (x, y, height + 0.3), sections=8))
    return parts


def bathtub(rng) -> list[Part]:
    width, length, height = rng.uniform(0.65, 1.0), rng.uniform(1.4, 2.0), rng.uniform(0.4, 0.65)
    style = rng.choice(["open", "enclosed", "feet"], p=[0.45, 0.4, 0.15])
    wall = rng.uniform(0.04, 0.1) if style != "enclosed" else rng.uniform(0.1, 0.2)
    lift = rng.uniform(0.1, 0.2) if style == "feet" else 0.0
    floor = rng.uniform(0.04, 0.1) if style != "enclosed" else rng.uniform(0.1, 0.3)  # a shallow basin
    tub_height = height - lift
    parts = [_box((width, length, floor), (0, 0, lift + floor / 2))]
    for sx in (-1, 1):
        parts.append(_box((wall, length, tub_height), (sx * (width / 2 - wall / 2), 0, lift + tub_height / 2)))
    for sy in (-1, 1):
        parts.append(_box((width, wall, tub_height), (0, sy * (length / 2 - wall / 2), lift + tub_height / 2)))
    if style == "feet":
        parts += _legs(rng, width * 0.9, length * 0.85, lift, 0.06, round_legs=True)
    if rng.random() < 0.4:  # rim
        parts.append(_box((width + 0.1, length + 0.1, 0.03), (0, 0, height)))
    if rng.random() < 0.3:  # taps at one end
        parts.append(_cylinder(0.03, 0.15, (0, length / 2 - wall / 2, height + 0.075), sections=6))
    return parts


def toilet(rng) -> list[Part]:
    bowl_radius, bowl_height = rng.uniform(0.16, 0.24), rng.uniform(0.33, 0.45)
    elongation = rng.uniform(1.0, 1.4)
    if rng.random() < 0.2:  # a squarish bowl
        bowl = _box((bowl_radius * 2, bowl_radius * 2 * elongation, bowl_height), (0, 0, bowl_height / 2))
    else:
        bowl = _cylinder(bowl_radius, bowl_height, (0, 0, bowl_height / 2), sections=16)
        bowl.apply_scale((1, elongation, 1))
    parts = [bowl]
    if rng.random() < 0.5:  # a narrower pedestal under the bowl
        parts.append(_cylinder(bowl_radius * 0.6, bowl_height * 0.5, (0, 0.03, bowl_height * 0.25), sections=10))
    rim = bowl_radius * elongation
    if rng.random() < 0.8:  # seat ring
        seat = _cylinder(bowl_radius * 1.05, 0.03, (0, 0, bowl_height + 0.015), sections=16)
        seat.apply_scale((1, elongation, 1))
        parts.append(seat)
    lid = rng.choice(["closed", "up", "none"], p=[0.4, 0.4, 0.2])
    if rng.random() < 0.85:  # cistern
        tank_width, tank_depth, tank_height = rng.uniform(0.35, 0.5), rng.uniform(0.15, 0.22), rng.uniform(0.25, 0.45)
        parts.append(_box((tank_width, tank_depth, tank_height),
                          (0, rim + tank_depth / 2, bowl_height + tank_height / 2 - 0.05)))  # fmt: skip
    if lid == "closed":
        cover = _cylinder(bowl_radius, 0.025, (0, 0, bowl_height + 0.045), sections=16)
        cover.apply_scale((1, elongation, 1))
        parts.append(cover)
    elif lid == "up":
        parts.append(_box((bowl_radius * 2, 0.03, rim * 2), (0, rim + 0.02, bowl_height + rim)))
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


def _perturb(part: Part, rng: np.random.Generator) -> Part:
    """A small misalignment (shift, turn about z, tilt) and a slight deformation of one part, as in sloppy models."""
    transform = trimesh.transformations.rotation_matrix(rng.normal(0, np.radians(2)), (0, 0, 1), part.centroid)
    tilt_axis = (*rng.normal(size=2), 0.0)
    transform = transform @ trimesh.transformations.rotation_matrix(rng.normal(0, np.radians(1.5)), tilt_axis,
                                                                    part.centroid)  # fmt: skip
    transform[:3, 3] += rng.normal(0, 0.015, 3)
    part.apply_transform(transform)
    extent = part.extents.max()
    part.vertices = part.vertices + rng.normal(0, 0.006 * extent, part.vertices.shape)
    return part


def make_object(class_name: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """One random object of ``class_name``: (vertices, triangles, units per metre).

    The object is randomly rotated about z, stretched a little per axis and scaled by a random factor; the third
    value is that factor, so vertices / factor are in metres.
    """
    parts = [_perturb(part, rng) for part in RECIPES[class_name](rng)]
    n_missing = int(rng.choice([0, 1, 2], p=[0.75, 0.2, 0.05]))
    for _ in range(min(n_missing, len(parts) - 2)):  # missing parts, as in sloppy real models
        parts.pop(int(rng.integers(1, len(parts))))
    mesh = trimesh.util.concatenate(parts)
    angle = rng.uniform(0, 2 * np.pi)
    units_per_metre = rng.uniform(0.5, 2.0)
    scale = units_per_metre * np.exp(rng.normal(0, 0.13, size=3))
    transform = trimesh.transformations.rotation_matrix(angle, (0, 0, 1))
    transform[:3, :3] = transform[:3, :3] @ np.diag(scale)
    mesh.apply_transform(transform)
    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64), float(units_per_metre)


def make_mesh(class_name: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One random object of ``class_name`` as (vertices, triangles), randomly rotated about z and scaled."""
    vertices, triangles, _ = make_object(class_name, rng)
    return vertices, triangles
