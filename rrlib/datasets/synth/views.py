"""Random cameras and photometric conditions for queries, database and training pictures."""
from __future__ import annotations

import numpy as np

from .scene import FOCAL, UNITS_PER_PX, Camera, Plane, View, front_facing, look_at, plane_homography, project

__all__ = ["image_size", "region_corners", "sample_conditions", "sample_view"]


def image_size(rng: np.random.Generator, long_side: int) -> tuple[int, int]:
    """Landscape (70%) or portrait picture with a 4:3 aspect and the given long side."""
    short = int(round(0.75 * long_side))
    return (long_side, short) if rng.random() < 0.7 else (short, long_side)


def region_corners(region: tuple[float, float, float, float]) -> np.ndarray:
    """Corners ``(4, 2)`` of a texture rectangle ``(u0, v0, u1, v1)``, clockwise from top-left."""
    u0, v0, u1, v1 = region
    return np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]], float)


def _geometry(rng: np.random.Generator, mode: str) -> tuple[float, float, float, float, float]:
    """Azimuth, elevation (deg), scale, roll (deg) and target offset for a picture of ``mode``.

    ``scale`` is the apparent size of the target (facade or query region) as a fraction of the
    image's long side: the camera distance is ``FOCAL * extent / scale``.
    """
    if mode == "query":
        return (float(np.clip(rng.normal(0, 8), -20, 20)), rng.uniform(-12, 5), rng.uniform(0.55, 0.85),
                rng.normal(0, 2), 0.03)
    u = rng.random()
    if u < 0.45:
        az = rng.uniform(-25, 25)
    elif u < 0.8:
        az = rng.choice([-1, 1]) * rng.uniform(25, 55)
    else:
        az = rng.choice([-1, 1]) * rng.uniform(55, 78)
    scale = 0.3 + 0.9 * rng.beta(1.6, 1.3)
    roll = rng.normal(0, 4) if rng.random() < 0.9 else rng.uniform(-25, 25)
    offset = rng.uniform(0.0, 0.45) if rng.random() < 0.5 else rng.uniform(0.0, 0.1)
    return float(az), rng.uniform(-22, 8), scale, float(roll), offset


def sample_conditions(rng: np.random.Generator, mode: str, view: View) -> View:
    """Occluders, clutter, illumination, colour cast, blur, noise and JPEG for a ``query`` or ``db`` picture."""
    if mode == "query":
        view.gain, view.gamma = rng.uniform(0.85, 1.15), rng.uniform(0.9, 1.1)
        view.cast = tuple(rng.normal(1, 0.03, 3).tolist())
        view.shadow, view.shadow_dir = rng.uniform(0, 0.2), rng.uniform(0, 2 * np.pi)
        view.noise, view.occlusion, view.clutter = rng.uniform(0, 3), 0.0, rng.uniform(0.5, 1)
        return view
    view.gain, view.gamma = rng.uniform(0.7, 1.25), rng.uniform(0.85, 1.2)
    view.cast = tuple(rng.normal(1, 0.05, 3).tolist())
    view.shadow = rng.uniform(0, 0.4) if rng.random() < 0.4 else 0.0
    view.shadow_dir = rng.uniform(0, 2 * np.pi)
    view.blur = rng.uniform(0.3, 1.0) if rng.random() < 0.3 else 0.0
    view.noise = rng.uniform(0, 6)
    view.jpeg = int(rng.integers(30, 76)) if rng.random() < 0.25 else 0
    view.occlusion = 0.75 * rng.uniform(0, 1) ** 2
    view.clutter = rng.uniform(0.2, 0.8)
    return view


def _valid(cam: Camera, planes: list[Plane], distance: float, region: np.ndarray | None) -> bool:
    """All corners of the visible planes lie in front of the camera; the query region is in frame."""
    for plane in planes:
        if front_facing(cam, plane):
            depth = (plane.corners() @ cam.R.T + cam.t)[:, 2]
            if depth.min() < 0.1 * distance:
                return False
    if region is not None:
        xy, z = project(plane_homography(cam, planes[0]), region)
        w, h = cam.size
        margin = 0.03 * max(w, h)
        return bool(np.all(z > 0) and xy[:, 0].min() >= margin and xy[:, 1].min() >= margin
                    and xy[:, 0].max() <= w - margin and xy[:, 1].max() <= h - margin)
    return True


def sample_view(rng: np.random.Generator, planes: list[Plane], long_side: int, mode: str,
                region: tuple[float, float, float, float] | None = None, max_tries: int = 100) -> tuple[View, dict]:
    """Sample a camera looking at plane 0 (or at ``region`` of it) and the picture's conditions.

    ``mode`` is ``"query"`` (near-frontal, scale 0.55-0.85, mild changes, the region fully in
    frame), or ``"db"`` / ``"train"`` (azimuth up to 78 degrees off the facade normal, elevation
    -22..8 degrees, scale 0.3-1.2 (0.3 + 0.9 Beta(1.6, 1.3), mean 0.8), roll, off-centre targets giving partial views,
    occluders, illumination, colour cast, blur, noise, JPEG).

    Returns the :class:`View` and a dict of the sampled parameters (``azimuth``, ``elevation``,
    ``scale``, ``roll`` in degrees / fractions).
    """
    size = image_size(rng, long_side)
    p0 = planes[0]
    tw, th = p0.texture_size
    reg = (0.0, 0.0, float(tw), float(th)) if region is None else region
    centre_uv = np.array([(reg[0] + reg[2]) / 2, (reg[1] + reg[3]) / 2, 1.0])
    centre = p0.matrix @ centre_uv
    extent = max(reg[2] - reg[0], reg[3] - reg[1]) * UNITS_PER_PX
    corners = region_corners(reg) if mode == "query" else None
    for _ in range(max_tries):
        az, el, scale, roll, offset = _geometry(rng, mode)
        dist = FOCAL * extent / scale
        el = max(el, -np.degrees(np.arcsin(min(1.0, centre[1] / dist))) + 1.0)  # stay above ground
        target = centre + offset * extent * np.array([rng.uniform(-1, 1), rng.uniform(-0.6, 0.6), 0.0])
        a, e = np.radians(az), np.radians(el)
        direction = np.array([np.sin(a) * np.cos(e), np.sin(e), np.cos(a) * np.cos(e)])
        cam = look_at(target + dist * direction, target, roll, size)
        if _valid(cam, planes, dist, corners):
            break
    else:  # a frontal view always works
        az, el, scale, roll = 0.0, 0.0, 0.7, 0.0
        dist = FOCAL * extent / scale
        cam = look_at(centre + dist * np.array([0, 0, 1.0]), centre, 0.0, size)
    view = sample_conditions(rng, "query" if mode == "query" else "db", View(cam))
    return view, {"azimuth": float(az), "elevation": float(el), "scale": float(scale), "roll": float(roll)}
