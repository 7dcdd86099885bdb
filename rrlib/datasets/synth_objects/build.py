"""Building synth-objects: the plan of pictures, one picture, the labels and the ground truth."""
from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

from ..synth.scene import View, _photometric
from .compose import Placement, mask_box, placement_homography, project_corners, quad_area, warp_onto
from .objects import KINDS, paint_object, paint_scene

NAME = "synth-objects"
VERSION = 2  # bump when the generator's output changes (2: train split 20 x 15); load() then writes it again

# Label thresholds (see the package docstring).
EASY_MIN_VISIBLE = 0.8
EASY_MAX_TILT = 25.0
EASY_MAX_ROTATION = 20.0
EASY_SCALE_RANGE = (0.6, 1.7)
JUNK_MAX_VISIBLE = 0.35
JUNK_MIN_SIZE = 0.1

MAX_DISTRACTORS = 16  # distractor ids are picture * MAX_DISTRACTORS + j: unique by construction

_CODE = {"instance": 1, "distractor": 2, "picture": 3, "plan": 4}
_SYLLABLES = ("al", "bar", "ber", "cas", "dor", "el", "fen", "gal", "har", "is", "kel", "lan", "mor",
              "nor", "os", "pel", "quin", "ros", "sel", "tor", "ul", "ven", "wen", "yor")


@dataclass(frozen=True)
class ObjectsConfig:
    """Sizes of synth-objects (INSTRE-like; see the package docstring)."""

    instances: int = 20               # test object instances
    db_per_instance: int = 15         # database pictures per instance
    distractor_images: int = 100      # database pictures of clutter and one-off objects only
    queries_per_instance: int = 2     # separate query pictures, each with its box
    train_instances: int = 20         # disjoint instances for whitening / training
    train_per_instance: int = 15      # 20 x 15: the pairs span 280 dimensions, enough for L_w in 256
    min_distractors: int = 2          # one-off objects behind the instance, per picture
    max_distractors: int = 5
    occlusion_rate: float = 0.3       # share of database pictures with one-off objects in front
    partial_rate: float = 0.1         # share of database pictures whose object may leave the frame
    texture_size: int = 256           # long side of an instance's canonical texture, pixels
    jpeg_quality: int = 90

    @classmethod
    def small(cls) -> "ObjectsConfig":
        """A tiny configuration for tests: a few instances and pictures, same code paths."""
        return cls(instances=4, db_per_instance=4, distractor_images=4, queries_per_instance=1,
                   train_instances=2, train_per_instance=3)

    def check(self) -> None:
        """Raise ValueError naming the first field out of range."""
        for name in ("instances", "db_per_instance", "queries_per_instance"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("distractor_images", "train_instances", "train_per_instance", "min_distractors"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}")
        if not self.min_distractors <= self.max_distractors <= MAX_DISTRACTORS - 2:
            raise ValueError(f"need min_distractors <= max_distractors <= {MAX_DISTRACTORS - 2}, got "
                             f"{self.min_distractors}, {self.max_distractors}")
        for name in ("occlusion_rate", "partial_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.texture_size < 32:
            raise ValueError(f"texture_size must be at least 32 pixels, got {self.texture_size}")


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), *[int(k) for k in keys]])


@lru_cache(maxsize=64)
def instance_texture(seed: int, instance: int, texture_size: int = 256) -> Image.Image:
    """The canonical RGBA texture of object instance ``instance`` (test ids first, then train ids).

    A pure function of its arguments; kinds cycle through :data:`~.objects.KINDS` so that every
    kind has instances.
    """
    return paint_object(_rng(seed, _CODE["instance"], instance), texture_size, KINDS[instance % len(KINDS)])


@lru_cache(maxsize=64)
def _alpha_fraction(seed: int, instance: int, texture_size: int) -> float:
    alpha = np.asarray(instance_texture(seed, instance, texture_size).getchannel("A")) > 127
    return float(alpha.mean())


def label(visible: float, size: float, scale_ratio: float, tilt: float, rotation: float) -> str:
    """Revisited label of a picture of the query's instance.

    Parameters
    ----------
    visible : float
        Fraction of the object's silhouette seen in the picture (inside the frame, not hidden by
        a one-off object in front of it).
    size : float
        ``sqrt(visible area in pixels)`` as a fraction of the picture's long side.
    scale_ratio : float
        ``sqrt(silhouette area in the picture / in the query picture)``.
    tilt, rotation : float
        Out-of-plane and in-plane rotation of the object, degrees.

    Returns
    -------
    ``"junk"`` when ``visible < JUNK_MAX_VISIBLE`` or ``size < JUNK_MIN_SIZE`` (too little of it
    to count either way); ``"easy"`` when ``visible >= EASY_MIN_VISIBLE``, ``tilt <=
    EASY_MAX_TILT``, ``|rotation| <= EASY_MAX_ROTATION`` and ``scale_ratio`` is within
    ``EASY_SCALE_RANGE``; ``"hard"`` otherwise.
    """
    if visible < JUNK_MAX_VISIBLE or size < JUNK_MIN_SIZE:
        return "junk"
    lo, hi = EASY_SCALE_RANGE
    rot = abs((rotation + 180.0) % 360.0 - 180.0)
    if visible >= EASY_MIN_VISIBLE and tilt <= EASY_MAX_TILT and rot <= EASY_MAX_ROTATION and lo <= scale_ratio <= hi:
        return "easy"
    return "hard"


# ---------------------------------------------------------------------------------------------
# Sampling one picture
# ---------------------------------------------------------------------------------------------
def _picture_size(rng: np.random.Generator, long_side: int) -> tuple[int, int]:
    """Landscape (70%) or portrait picture with a 4:3 aspect and the given long side."""
    short = int(round(0.75 * long_side))
    return (long_side, short) if rng.random() < 0.7 else (short, long_side)


def _geometry(rng: np.random.Generator, mode: str) -> tuple[float, float, float, float]:
    """Size (fraction of the long side), rotation, tilt and tilt axis (degrees) of the instance.

    ``query``: large and near-frontal; ``anchor`` (the first database picture of each instance,
    so that every query has a positive): a mild view; ``db`` / ``train``: size 0.18-0.58
    (0.18 + 0.4 Beta(2, 2)), rotation N(0, 12 deg) or anything (15%), tilt 0-20 deg (half) or
    20-60 deg.
    """
    axis = rng.uniform(0, 180)
    if mode == "query":
        return rng.uniform(0.35, 0.55), float(rng.normal(0, 5)), rng.uniform(0, 15), axis
    if mode == "anchor":
        return rng.uniform(0.3, 0.5), float(rng.normal(0, 8)), rng.uniform(0, 20), axis
    size = 0.18 + 0.4 * rng.beta(2, 2)
    rot = float(rng.normal(0, 12)) if rng.random() < 0.85 else rng.uniform(-180, 180)
    tilt = rng.uniform(0, 20) if rng.random() < 0.5 else rng.uniform(20, 60)
    return size, rot, tilt, axis


def _place(rng: np.random.Generator, texture_size: tuple[int, int], frame: tuple[int, int], size: float,
           rotation: float, tilt: float, axis: float, out: float = 0.0) -> Placement:
    """A placement of the given shape whose projection lies in the frame (3% margin), or may
    leave it by up to ``out`` of its own width / height."""
    w, h = frame
    probe = Placement((0.0, 0.0), size, rotation, tilt, axis)
    xy = project_corners(placement_homography(texture_size, probe), texture_size)
    lo, hi = xy.min(0), xy.max(0)
    ext = hi - lo
    margin = 0.03 * max(w, h) - out * ext
    centre = []
    for k, length in enumerate((w, h)):
        a, b = margin[k] - lo[k], length - margin[k] - hi[k]
        centre.append(rng.uniform(a, b) if a < b else length / 2 - (lo[k] + hi[k]) / 2)
    return Placement((float(centre[0]), float(centre[1])), size, rotation, tilt, axis)


def _conditions(rng: np.random.Generator, mode: str) -> View:
    """Illumination, colour cast, shading, blur, noise and JPEG (synth-landmarks' photometric model)."""
    view = View(camera=None)  # type: ignore[arg-type]  (only the photometric fields are used)
    if mode == "query":
        view.gain, view.gamma = rng.uniform(0.9, 1.1), rng.uniform(0.9, 1.1)
        view.cast = tuple(rng.normal(1, 0.03, 3).tolist())
        view.shadow, view.shadow_dir = rng.uniform(0, 0.2), rng.uniform(0, 2 * np.pi)
        view.noise = rng.uniform(0, 3)
        return view
    view.gain, view.gamma = rng.uniform(0.7, 1.25), rng.uniform(0.85, 1.2)
    view.cast = tuple(rng.normal(1, 0.05, 3).tolist())
    view.shadow = rng.uniform(0, 0.4) if rng.random() < 0.4 else 0.0
    view.shadow_dir = rng.uniform(0, 2 * np.pi)
    view.blur = rng.uniform(0.3, 1.2) if rng.random() < 0.25 else 0.0
    view.noise = rng.uniform(0, 6)
    view.jpeg = int(rng.integers(30, 76)) if rng.random() < 0.2 else 0
    return view


def _distractor(seed: int, did: int, size_px: float, texture_size: int) -> Image.Image:
    """One-off object ``did``: drawn from its own stream, at most as large as it is shown."""
    side = int(min(texture_size, max(48, np.ceil(1.2 * size_px))))
    return paint_object(_rng(seed, _CODE["distractor"], did), side)


def _one_off_placement(rng: np.random.Generator, frame: tuple[int, int]) -> Placement:
    """A one-off object behind the instance: anywhere, 0.12-0.35 of the long side, tilt up to 45 deg."""
    centre = (rng.uniform(0, frame[0]), rng.uniform(0, frame[1]))
    size = rng.uniform(0.12, 0.35) * max(frame)
    rot = float(rng.normal(0, 20)) if rng.random() < 0.8 else rng.uniform(-180, 180)
    return Placement(centre, size, rot, rng.uniform(0, 45), rng.uniform(0, 180))


@dataclass(frozen=True)
class _Task:
    name: str
    split: str        # "test", "train" or "clutter"
    instance: int     # global instance id (-1: a clutter picture)
    picture: int      # global picture number: seeds the picture and names its one-off objects
    mode: str         # "query", "anchor", "db" or "train"


def render_picture(seed: int, task: _Task, long_side: int, cfg: ObjectsConfig) -> tuple[Image.Image, dict]:
    """Render one picture; a pure function of its arguments.

    Layers, back to front: a cluttered background (:func:`~.objects.paint_scene`), the one-off
    objects behind, the instance, and (occlusion) one-off objects in front of it. Returns the RGB
    picture and its record (``bbx`` of the instance's silhouette in the frame, placement,
    ``visible``, ``in_frame``, ``area``, the ids and boxes of the one-off objects ...).
    """
    rng = _rng(seed, _CODE["picture"], task.picture)
    frame = _picture_size(rng, long_side)
    W, H = frame
    canvas = paint_scene(rng, W, H, clutter=0.6 if task.mode == "query" else 1.0)
    lo, hi = cfg.min_distractors, cfg.max_distractors
    if task.mode == "query":  # fewer one-off objects: 1 .. max - 2 (1-3 by default)
        lo = min(1, cfg.max_distractors)
        hi = max(lo, cfg.max_distractors - 2)
    n_behind = int(rng.integers(lo, hi + 1))
    ids = [task.picture * MAX_DISTRACTORS + j for j in range(n_behind)]
    one_off_boxes, in_front = [], []
    for did in ids:
        probe = _one_off_placement(rng, frame)
        tex = _distractor(seed, did, probe.size, cfg.texture_size)
        out = warp_onto(canvas, tex, placement_homography(tex.size, probe))
        one_off_boxes.append(None if out is None else _shift_box(mask_box(out[0]), out[1]))
    rec = {"name": task.name, "split": task.split, "instance": task.instance, "mode": task.mode,
           "size": frame, "bbx": None, "H": None, "placement": None, "visible": 0.0, "in_frame": 0.0,
           "area": 0.0, "size_frac": 0.0}
    if task.instance >= 0:
        tex = instance_texture(seed, task.instance, cfg.texture_size)
        size, rot, tilt, axis = _geometry(rng, task.mode)
        partial = task.mode in ("db", "train") and rng.random() < cfg.partial_rate
        place = _place(rng, tex.size, frame, size * long_side, rot, tilt, axis, out=0.4 if partial else 0.0)
        Hm = placement_homography(tex.size, place)
        area = quad_area(project_corners(Hm, tex.size)) * _alpha_fraction(seed, task.instance, cfg.texture_size)
        mask = np.zeros((H, W), bool)
        out = warp_onto(canvas, tex, Hm)
        if out is not None:
            m, (x0, y0) = out
            mask[y0:y0 + m.shape[0], x0:x0 + m.shape[1]] = m
        hidden = np.zeros((H, W), bool)
        if task.mode in ("db", "train") and rng.random() < cfg.occlusion_rate:
            for j in range(int(rng.integers(1, 3))):  # one-off objects in front of the instance
                did = task.picture * MAX_DISTRACTORS + n_behind + j
                ang = rng.uniform(0, 2 * np.pi)
                reach = place.size * rng.uniform(0.15, 0.45)
                occ = Placement((place.centre[0] + reach * np.cos(ang), place.centre[1] + reach * np.sin(ang)),
                                place.size * rng.uniform(0.35, 0.7), float(rng.normal(0, 20)), rng.uniform(0, 30),
                                rng.uniform(0, 180))
                otex = _distractor(seed, did, occ.size, cfg.texture_size)
                o = warp_onto(canvas, otex, placement_homography(otex.size, occ))
                ids.append(did)
                in_front.append(did)
                one_off_boxes.append(None if o is None else _shift_box(mask_box(o[0]), o[1]))
                if o is not None:
                    om, (ox, oy) = o
                    hidden[oy:oy + om.shape[0], ox:ox + om.shape[1]] |= om
        seen = mask & ~hidden
        rec.update({
            "bbx": mask_box(mask), "H": Hm, "area": float(area), "size_frac": float(size),
            "placement": {"centre": place.centre, "size": place.size, "rotation": place.rotation,
                          "tilt": place.tilt, "tilt_axis": place.tilt_axis},
            "in_frame": float(min(1.0, mask.sum() / max(area, 1.0))),
            "visible": float(min(1.0, seen.sum() / max(area, 1.0))),
            "visible_px": int(seen.sum()),
        })
    view = _conditions(rng, "query" if task.mode == "query" else "db")
    image = _photometric(rng, canvas, view)
    rec.update({"distractors": ids, "in_front": in_front, "distractor_bbx": one_off_boxes,
                "gain": view.gain, "gamma": view.gamma, "blur": view.blur, "noise": view.noise, "jpeg": view.jpeg})
    return image, rec


def _shift_box(box: list[float] | None, corner: tuple[int, int]) -> list[float] | None:
    if box is None:
        return None
    x0, y0 = corner
    return [box[0] + x0, box[1] + y0, box[2] + x0, box[3] + y0]


def _encode(image: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality, optimize=False, progressive=False)
    return buf.getvalue()


def _run(task: _Task, seed: int, long_side: int, cfg: ObjectsConfig) -> tuple[bytes, dict]:
    image, rec = render_picture(seed, task, long_side, cfg)
    return _encode(image, cfg.jpeg_quality), rec


# ---------------------------------------------------------------------------------------------
# The plan
# ---------------------------------------------------------------------------------------------
def instance_names(seed: int, cfg: ObjectsConfig) -> list[str]:
    """Names ``<kind>_<syllables>`` of the test instances, then of the train instances (distinct)."""
    rng = _rng(seed, _CODE["plan"], 0)
    names, used = [], set()
    for i in range(cfg.instances + cfg.train_instances):
        while True:
            name = f"{KINDS[i % len(KINDS)]}_" + "".join(rng.choice(_SYLLABLES, size=int(rng.integers(2, 4))))
            if name not in used:
                break
        used.add(name)
        names.append(name)
    return names


def plan(seed: int, cfg: ObjectsConfig) -> tuple[list[_Task], list[_Task], list[_Task]]:
    """The rendering tasks of the database (shuffled), the queries and the train split.

    Test instances have ids ``0 .. instances - 1``, train instances the next ids; every picture
    has its own global number, from which its one-off objects take their ids.
    """
    names = instance_names(seed, cfg)
    db, queries, train = [], [], []
    counter = iter(range(10 ** 9))
    for i in range(cfg.instances):
        db += [_Task(f"{names[i]}_{k:03d}", "test", i, next(counter), "anchor" if k == 0 else "db")
               for k in range(cfg.db_per_instance)]
    db += [_Task(f"clutter_{k:04d}", "clutter", -1, next(counter), "db") for k in range(cfg.distractor_images)]
    for i in range(cfg.instances):
        queries += [_Task(f"{names[i]}_query{k}", "test", i, next(counter), "query")
                    for k in range(cfg.queries_per_instance)]
    for t in range(cfg.train_instances):
        i = cfg.instances + t
        train += [_Task(f"train_{names[i]}_{k:03d}", "train", i, next(counter), "train")
                  for k in range(cfg.train_per_instance)]
    order = _rng(seed, _CODE["plan"], 1).permutation(len(db))
    return [db[j] for j in order], queries, train


def ground_truth(queries: list[dict], db: list[dict]) -> list[dict]:
    """Revisited ground truth: per query its ``bbx`` and the 0-based ``easy``/``hard``/``junk``
    indices of the database pictures of its instance (:func:`label`)."""
    gnd = []
    for q in queries:
        lists: dict[str, list[int]] = {"easy": [], "hard": [], "junk": []}
        for i, rec in enumerate(db):
            if rec["instance"] != q["instance"]:
                continue
            size = float(np.sqrt(rec["visible_px"])) / max(rec["size"])
            ratio = float(np.sqrt(rec["area"] / q["area"])) if q["area"] > 0 else 0.0
            p = rec["placement"]
            lists[label(rec["visible"], size, ratio, p["tilt"], p["rotation"])].append(i)
        gnd.append({"bbx": list(q["bbx"]), **lists})
    return gnd
