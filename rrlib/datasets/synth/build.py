"""Building the synth-landmarks dataset on disk: splits, labels, files, cache stamp."""
from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

from .scene import Plane, View, build_landmark, look_at, project, render, viewing_angle
from .textures import sample_style
from .views import image_size, region_corners, sample_conditions, sample_view

NAME = "synth-landmarks"
VERSION = 1  # bump when the generator's output changes: the cache stamp then no longer matches

# Label thresholds (see the package docstring).
EASY_MIN_VISIBLE = 0.75
EASY_MAX_ANGLE = 30.0
EASY_SCALE_RANGE = (0.7, 2.0)
EASY_MAX_ROLL = 10.0
JUNK_MAX_VISIBLE = 0.30
JUNK_MIN_ANGLE = 65.0
JUNK_MIN_SIZE = 0.2
OTHER_PLANES_VISIBLE = 0.05

_SPLIT_CODE = {"test": 1, "train": 2, "distractor": 3, "scene": 4}
_TYPES = ("abbey", "bridge", "chapel", "college", "hall", "library", "market", "museum", "palace",
          "theatre", "tower", "church", "gate", "house", "arcade", "court")
_SYLLABLES = ("al", "bar", "ber", "cas", "dor", "el", "fen", "gal", "har", "is", "kel", "lan", "mor",
              "nor", "os", "pel", "quin", "ros", "sel", "tor", "ul", "ven", "wen", "yor")


@dataclass(frozen=True)
class SynthConfig:
    """Sizes of synth-landmarks. The defaults mimic revisited Oxford/Paris at 1/6 of the size."""

    test_landmarks: int = 11
    queries: int = 70
    db_per_landmark: int = 45
    distractor_buildings: int = 160
    distractor_images: int = 240      # pictures of distractor buildings (1-2 per building)
    scene_images: int = 65            # pictures with no building in focus at all
    train_landmarks: int = 50
    train_per_landmark: int = 30
    partial_query_rate: float = 0.3   # share of queries whose box covers only part of the facade
    grid: int = 32                    # visibility lattice per plane (grid x grid cells)
    jpeg_quality: int = 90

    @classmethod
    def small(cls) -> "SynthConfig":
        """A tiny configuration for tests: a few landmarks and images, same code paths."""
        return cls(test_landmarks=3, queries=6, db_per_landmark=8, distractor_buildings=4,
                   distractor_images=5, scene_images=3, train_landmarks=3, train_per_landmark=4)


def _name(rng: np.random.Generator, kind: str) -> str:
    return "".join(rng.choice(_SYLLABLES, size=int(rng.integers(2, 4)))) + "_" + kind


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), *[int(k) for k in keys]])


@lru_cache(maxsize=8)
def landmark(seed: int, split: str, index: int, grid: int = 32) -> tuple[list[Image.Image], list[Plane]]:
    """Textures and planes of landmark ``index`` of ``split`` (``test``, ``train``, ``distractor``).

    A pure function of its arguments: it rebuilds exactly the canonical textures the dataset's
    homographies refer to.
    """
    rng = _rng(seed, _SPLIT_CODE[split], index)
    style = sample_style(rng)
    n_planes = int(rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25]))
    return build_landmark(rng, style, n_planes, grid)


def label(visible: float, angle: float, scale_ratio: float, roll: float = 0.0,
          other_visible: float = 0.0, size: float = 1.0) -> str | None:
    """Revisited label of a picture of the query's landmark.

    Parameters
    ----------
    visible : float
        Fraction of the query region (on the main facade) visible in the picture.
    angle : float
        Viewing angle of the main facade in degrees (0 = frontal).
    scale_ratio : float
        ``sqrt(area of the region in the picture / area in the query)``.
    roll : float
        Camera roll of the picture in degrees.
    other_visible : float
        Largest visible fraction among the landmark's other planes.
    size : float
        Apparent size of the visible part of the region, ``sqrt(visible * projected area)``, as a
        fraction of the picture's long side.

    Returns
    -------
    ``"easy"``, ``"hard"``, ``"junk"`` or ``None`` (the landmark is not in the picture).
    """
    if visible <= 0.0:
        return "junk" if other_visible >= OTHER_PLANES_VISIBLE else None
    if visible < JUNK_MAX_VISIBLE or angle > JUNK_MIN_ANGLE or size < JUNK_MIN_SIZE:
        return "junk"
    lo, hi = EASY_SCALE_RANGE
    if (visible >= EASY_MIN_VISIBLE and angle <= EASY_MAX_ANGLE and lo <= scale_ratio <= hi
            and abs(roll) <= EASY_MAX_ROLL):
        return "easy"
    return "hard"


def _quad_area(xy: np.ndarray) -> float:
    x, y = xy[:, 0], xy[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _region_cells(region, texture_size, grid: int) -> np.ndarray:
    """Boolean ``(grid, grid)`` mask of lattice cells whose centre lies inside ``region``."""
    tw, th = texture_size
    c = (np.arange(grid) + 0.5) / grid
    inu = (c * tw >= region[0]) & (c * tw <= region[2])
    inv = (c * th >= region[1]) & (c * th <= region[3])
    return inv[:, None] & inu[None, :]


def _encode(image: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality, optimize=False, progressive=False)
    return buf.getvalue()


def _record(name: str, lid: int, split: str, view, params: dict, info: dict, planes) -> dict:
    cam = view.camera
    return {
        "name": name, "landmark": lid, "split": split, "size": cam.size,
        "K": cam.K, "R": cam.R, "t": cam.t,
        "H": [np.asarray(h, np.float64) for h in info["H"]],
        "in_frame": info["in_frame"], "visible": info["visible"],
        "vis_grid": [np.packbits(g) for g in info["vis_grid"]],
        "viewpoint_deg": viewing_angle(cam, planes[0]) if planes else None,
        "azimuth_deg": params.get("azimuth"), "elevation_deg": params.get("elevation"),
        "scale": params.get("scale"), "roll_deg": params.get("roll"),
        "occluded": info["occluded"], "blur": view.blur, "noise": view.noise, "jpeg": view.jpeg,
        "gain": view.gain,
    }


def _picture(seed: int, split: str, index: int, key: int, mode: str, long_side: int, grid: int,
             region=None):
    """Render one picture of landmark ``index`` of ``split``; deterministic in its arguments."""
    textures, planes = landmark(seed, split, index, grid)
    rng = _rng(seed, _SPLIT_CODE[split], index, 1_000_000 + key)
    view, params = sample_view(rng, planes, long_side, mode, region)
    image, info = render(rng, textures, planes, view, grid)
    return image, view, params, info, planes


def _scene(seed: int, key: int, long_side: int, grid: int):
    """A picture with no building in focus: background clutter and occluders only."""
    rng = _rng(seed, _SPLIT_CODE["scene"], key)
    cam = look_at(np.array([0.0, 1.6, 10.0]), np.array([0.0, rng.uniform(0.0, 4.0), 0.0]), rng.normal(0, 4),
                  image_size(rng, long_side))
    view = sample_conditions(rng, "db", View(cam))
    image, info = render(rng, [], [], view, grid)
    return image, view, {}, info


def _landmark_info(name: str, split: str, planes: list[Plane]) -> dict:
    return {"name": name, "split": split,
            "texture_size": [p.texture_size for p in planes],
            "origin": [p.origin for p in planes], "axis_u": [p.axis_u for p in planes],
            "alpha_grid": [np.packbits(p.alpha_grid) for p in planes]}


def _query_regions(rng: np.random.Generator, texture_size, n: int, partial_rate: float) -> list[tuple]:
    tw, th = texture_size
    out = []
    for _ in range(n):
        if rng.random() < partial_rate:
            fw, fh = rng.uniform(0.5, 0.8), rng.uniform(0.5, 0.8)
            u0, v0 = rng.uniform(0, 1 - fw) * tw, rng.uniform(0, 1 - fh) * th
            out.append((float(u0), float(v0), float(u0 + fw * tw), float(v0 + fh * th)))
        else:
            out.append((0.0, 0.0, float(tw), float(th)))
    return out


# ---------------------------------------------------------------------------------------------
# The plan: which picture of which landmark, under which name
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Task:
    name: str
    split: str        # "test", "train", "distractor" or "scene"
    index: int        # landmark index within its split (scene: unused)
    key: int          # picture number, seeds the picture's random stream
    mode: str         # "query", "db" or "train"
    region: tuple | None = None


def _split_counts(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (i < extra) for i in range(parts)]


def _plan(seed: int, cfg: SynthConfig) -> tuple[dict, list[_Task], list[_Task], list[_Task]]:
    """Landmark names and the rendering tasks of the database, the queries and the train split."""
    names: dict[tuple[str, int], str] = {}
    name_rng = _rng(seed, 0)
    used: set[str] = set()
    for split, n in (("test", cfg.test_landmarks), ("train", cfg.train_landmarks)):
        for i in range(n):
            kind = _TYPES[i % len(_TYPES)]
            name = _name(name_rng, kind)
            while name in used:
                name = _name(name_rng, kind)
            used.add(name)
            names[(split, i)] = name
    db, queries, train = [], [], []
    for i, nq in enumerate(_split_counts(cfg.queries, cfg.test_landmarks)):
        lm = names[("test", i)]
        db += [_Task(f"{lm}_{k:06d}", "test", i, k, "db") for k in range(cfg.db_per_landmark)]
        _, planes = landmark(seed, "test", i, cfg.grid)
        regions = _query_regions(_rng(seed, 1, i, 7), planes[0].texture_size, nq, cfg.partial_query_rate)
        queries += [_Task(f"{lm}_query{k:02d}", "test", i, 10_000 + k, "query", regions[k]) for k in range(nq)]
    for k in range(cfg.distractor_images):
        db.append(_Task(f"distractor_{k:06d}", "distractor", k % max(cfg.distractor_buildings, 1), k, "db"))
    db += [_Task(f"scene_{k:06d}", "scene", -1, k, "db") for k in range(cfg.scene_images)]
    order = _rng(seed, 99).permutation(len(db))
    db = [db[j] for j in order]
    for i in range(cfg.train_landmarks):
        lm = names[("train", i)]
        train += [_Task(f"train_{lm}_{k:06d}", "train", i, k, "train") for k in range(cfg.train_per_landmark)]
    return names, db, queries, train


def _landmark_id(split: str, index: int, cfg: SynthConfig) -> int:
    """Global landmark id: test 0..T-1, train T..T+N-1, distractor buildings after; scenes -1."""
    if split == "test":
        return index
    if split == "train":
        return cfg.test_landmarks + index
    if split == "distractor":
        return cfg.test_landmarks + cfg.train_landmarks + index
    return -1


def _run(task: _Task, seed: int, long_side: int, cfg: SynthConfig) -> tuple[bytes, dict]:
    if task.split == "scene":
        image, view, params, info = _scene(seed, task.key, long_side, cfg.grid)
        planes = []
    else:
        image, view, params, info, planes = _picture(seed, task.split, task.index, task.key, task.mode,
                                                     long_side, cfg.grid, task.region)
    rec = _record(task.name, _landmark_id(task.split, task.index, cfg), task.split, view, params, info, planes)
    if task.region is not None:
        rec["region"] = task.region
    return _encode(image, cfg.jpeg_quality), rec


# ---------------------------------------------------------------------------------------------
# Ground truth
# ---------------------------------------------------------------------------------------------
def _region_stats(rec: dict, region, plane: Plane, grid: int) -> tuple[float, float]:
    """Visible fraction of ``region`` and its projected area (pixels) in one picture."""
    cells = _region_cells(region, plane.texture_size, grid) & plane.alpha_grid
    vis = np.unpackbits(rec["vis_grid"][0])[: grid * grid].reshape(grid, grid).astype(bool)
    visible = float((vis & cells).sum() / max(cells.sum(), 1))
    xy, z = project(rec["H"][0], region_corners(region))
    area = _quad_area(xy) if np.all(z > 0) else 0.0
    return visible, area


def query_box(rec: dict) -> list[float]:
    """Bounding box ``[x1, y1, x2, y2]`` of the query region in the query picture, clipped to it."""
    xy, _ = project(rec["H"][0], region_corners(rec["region"]))
    w, h = rec["size"]
    x1, y1 = np.clip(xy.min(0), 0, [w, h])
    x2, y2 = np.clip(xy.max(0), 0, [w, h])
    return [float(round(x1, 1)), float(round(y1, 1)), float(round(x2, 1)), float(round(y2, 1))]


def ground_truth(queries: list[dict], db: list[dict], planes_of: dict[int, Plane], grid: int) -> list[dict]:
    """Revisited ground truth: for each query, ``bbx`` and the 0-based ``easy``/``hard``/``junk`` indices."""
    gnd = []
    for q in queries:
        lid, region = q["landmark"], q["region"]
        plane = planes_of[lid]
        _, q_area = _region_stats(q, region, plane, grid)
        lists = {"easy": [], "hard": [], "junk": []}
        for i, rec in enumerate(db):
            if rec["landmark"] != lid:
                continue
            vis, area = _region_stats(rec, region, plane, grid)
            ratio = float(np.sqrt(area / q_area)) if q_area > 0 else 0.0
            other = max(rec["visible"][1:], default=0.0)
            size = float(np.sqrt(vis * area)) / max(rec["size"])
            lab = label(vis, rec["viewpoint_deg"], ratio, rec["roll_deg"], other, size)
            if lab is not None:
                lists[lab].append(i)
        gnd.append({"bbx": query_box(q), **lists})
    return gnd
