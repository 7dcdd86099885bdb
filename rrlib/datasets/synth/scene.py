"""Geometry and rendering of synth-landmarks: textured planes, pinhole cameras, homographies.

Conventions
-----------
* World frame: ``y`` up, the main facade in the plane ``z = 0`` facing ``+z``; one world unit is
  100 texture pixels.
* A plane's canonical texture has pixel coordinates ``(u, v)``: ``u`` to the right, ``v`` down,
  the top-left corner at ``(0, 0)`` and the pixel ``(i, j)`` centred at ``(i + 0.5, j + 0.5)``
  (PIL's convention). The same holds for image coordinates ``(x, y)``.
* A plane maps texture to world by ``X = M [u, v, 1]^T``; a camera ``(K, R, t)`` maps world to
  image by ``x ~ K (R X + t)`` (OpenCV axes: x right, y down, z forward). The plane-to-image
  homography is therefore

  .. math::  H = K \\, [\\, R m_1 \\;|\\; R m_2 \\;|\\; R m_3 + t \\,]

  with ``m_k`` the columns of ``M``; ``H`` is scaled so that its third row gives the depth
  ``z`` of the point in the camera frame (positive in front of the camera).
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFilter

from .textures import FacadeStyle, draw_occluders, paint_background, paint_facade

__all__ = ["Plane", "Camera", "View", "build_landmark", "look_at", "plane_homography",
           "grid_points", "project", "render"]

UNITS_PER_PX = 0.01
FOCAL = 1.1  # focal length in units of the image's long side (about 49 degrees of field of view)
UP = np.array([0.0, 1.0, 0.0])


@dataclass
class Plane:
    """A vertical textured rectangle of a landmark."""

    texture_size: tuple[int, int]   # (width, height) in texture pixels
    origin: np.ndarray              # world position of the texture's bottom-left corner
    axis_u: np.ndarray              # unit horizontal direction of increasing u
    alpha_grid: np.ndarray = field(repr=False, default=None)  # (G, G) bool: opaque cells

    @property
    def size(self) -> tuple[float, float]:
        return self.texture_size[0] * UNITS_PER_PX, self.texture_size[1] * UNITS_PER_PX

    @property
    def normal(self) -> np.ndarray:
        """Outward normal ``axis_u x up`` (the side the texture is painted on)."""
        return np.cross(self.axis_u, UP)

    @property
    def matrix(self) -> np.ndarray:
        """``M`` with ``X = M [u, v, 1]^T`` for texture pixel coordinates ``(u, v)``."""
        w, h = self.size
        tw, th = self.texture_size
        top_left = self.origin + UP * h
        return np.column_stack([self.axis_u * (w / tw), -UP * (h / th), top_left])

    @property
    def centre(self) -> np.ndarray:
        w, h = self.size
        return self.origin + self.axis_u * (w / 2) + UP * (h / 2)

    def corners(self) -> np.ndarray:
        tw, th = self.texture_size
        uv1 = np.array([[0, 0, 1], [tw, 0, 1], [tw, th, 1], [0, th, 1]], float)
        return uv1 @ self.matrix.T


def grid_points(texture_size: tuple[int, int], grid: int) -> np.ndarray:
    """Centres of a ``grid x grid`` lattice of cells over a texture, shape ``(grid * grid, 2)``.

    Row-major: point ``r * grid + c`` is the centre of cell row ``r`` (v), column ``c`` (u).
    """
    tw, th = texture_size
    c = (np.arange(grid) + 0.5) / grid
    vv, uu = np.meshgrid(c * th, c * tw, indexing="ij")
    return np.column_stack([uu.ravel(), vv.ravel()])


def project(H: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map ``(n, 2)`` points by a homography; returns image points ``(n, 2)`` and depths ``(n,)``."""
    ph = np.column_stack([pts, np.ones(len(pts))]) @ np.asarray(H, float).T
    z = ph[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = ph[:, :2] / z[:, None]
    return xy, z


def build_landmark(rng: np.random.Generator, style: FacadeStyle, n_planes: int,
                   grid: int) -> tuple[list[Image.Image], list[Plane]]:
    """Textures and 3D layout of a landmark of one to three planes.

    Plane 0 is the main facade (``z = 0``, facing ``+z``, centred on ``x = 0``). A second plane is a
    wing hinged on its left or right edge and receding at 60-110 degrees; a third is a taller
    tower set back behind the facade.
    """
    bays, floors = int(rng.integers(5, 9)), int(rng.integers(3, 6))
    textures = [paint_facade(rng, style, bays, floors)]
    tw = textures[0].width * UNITS_PER_PX
    planes = [Plane(textures[0].size, np.array([-tw / 2, 0.0, 0.0]), np.array([1.0, 0.0, 0.0]))]
    if n_planes >= 2:
        tex = paint_facade(rng, style, int(rng.integers(3, 6)), floors, roof=False)
        phi = np.deg2rad(rng.uniform(60, 110))
        length = tex.width * UNITS_PER_PX
        if rng.random() < 0.5:  # right wing: starts at the facade's right edge, goes back
            axis = np.array([np.cos(phi), 0.0, -np.sin(phi)])
            origin = np.array([tw / 2, 0.0, 0.0])
        else:  # left wing: ends at the facade's left edge
            axis = np.array([np.cos(phi), 0.0, np.sin(phi)])
            origin = np.array([-tw / 2, 0.0, 0.0]) - axis * length
        textures.append(tex)
        planes.append(Plane(tex.size, origin, axis))
    if n_planes >= 3:
        tex = paint_facade(rng, style, int(rng.integers(2, 4)), floors + int(rng.integers(2, 4)))
        width = tex.width * UNITS_PER_PX
        x0 = rng.uniform(-tw / 2, tw / 2 - width)
        textures.append(tex)
        planes.append(Plane(tex.size, np.array([x0, 0.0, -rng.uniform(0.8, 2.0)]), np.array([1.0, 0.0, 0.0])))
    for tex, plane in zip(textures, planes):
        alpha = np.asarray(tex.getchannel("A").resize((grid, grid), Image.BOX)) > 127
        plane.alpha_grid = alpha
    return textures, planes


@dataclass
class Camera:
    """A pinhole camera ``x ~ K (R X + t)`` and its image size ``(width, height)``."""

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    size: tuple[int, int]

    @property
    def centre(self) -> np.ndarray:
        return -self.R.T @ self.t


def look_at(centre: np.ndarray, target: np.ndarray, roll_deg: float, size: tuple[int, int],
            focal: float = FOCAL) -> Camera:
    """Camera at ``centre`` looking at ``target``, rolled by ``roll_deg`` about its optical axis."""
    fwd = target - centre
    fwd = fwd / np.linalg.norm(fwd)
    right = np.cross(fwd, UP)
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    R = np.stack([right, down, fwd])
    a = np.deg2rad(roll_deg)
    Rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    R = Rz @ R
    w, h = size
    f = focal * max(w, h)
    K = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1.0]])
    return Camera(K, R, -R @ centre, size)


def plane_homography(cam: Camera, plane: Plane) -> np.ndarray:
    """Texture-to-image homography ``H = K [R m1 | R m2 | R m3 + t]`` (third row = depth)."""
    M = plane.matrix
    A = np.column_stack([cam.R @ M[:, 0], cam.R @ M[:, 1], cam.R @ M[:, 2] + cam.t])
    return cam.K @ A


def front_facing(cam: Camera, plane: Plane) -> bool:
    """Whether the camera sees the painted side of the plane."""
    return float(plane.normal @ (cam.centre - plane.centre)) > 0


def viewing_angle(cam: Camera, plane: Plane) -> float:
    """Angle in degrees between the plane's normal and the direction to the camera."""
    d = cam.centre - plane.centre
    return float(np.degrees(np.arccos(np.clip(plane.normal @ d / np.linalg.norm(d), -1, 1))))


@dataclass
class View:
    """Everything sampled for one picture: camera, clutter and photometric changes."""

    camera: Camera
    occlusion: float = 0.0   # occluder amount in [0, 1]
    clutter: float = 1.0
    gain: float = 1.0
    cast: tuple[float, float, float] = (1.0, 1.0, 1.0)
    gamma: float = 1.0
    shadow: float = 0.0      # strength of a linear shading ramp
    shadow_dir: float = 0.0
    blur: float = 0.0        # Gaussian blur radius in pixels
    noise: float = 0.0       # noise standard deviation in grey levels
    jpeg: int = 0            # intermediate JPEG quality (0: none)


def _photometric(rng: np.random.Generator, img: Image.Image, view: View) -> Image.Image:
    if view.blur > 0:
        img = img.filter(ImageFilter.GaussianBlur(view.blur))
    w, h = img.size
    a = np.asarray(img, np.float32) / 255.0
    a = np.power(a, view.gamma) * view.gain * np.asarray(view.cast, np.float32)
    if view.shadow > 0:
        yy, xx = np.mgrid[0:h, 0:w]
        ramp = (np.cos(view.shadow_dir) * xx / w + np.sin(view.shadow_dir) * yy / h)
        ramp = (ramp - ramp.min()) / max(np.ptp(ramp), 1e-6)
        a = a * (1 - view.shadow * ramp)[..., None]
    a = a * 255.0
    if view.noise > 0:
        a = a + rng.normal(0, view.noise, a.shape).astype(np.float32)
    img = Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8), "RGB")
    if view.jpeg:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=int(view.jpeg))
        buf.seek(0)
        img = Image.open(buf).convert("RGB")
    return img


def render(rng: np.random.Generator, textures: list[Image.Image], planes: list[Plane],
           view: View, grid: int) -> tuple[Image.Image, dict]:
    """Render the planes seen by ``view`` over a background, with occluders and photometric changes.

    Returns
    -------
    image : PIL.Image.Image
        The RGB picture.
    info : dict
        ``H`` (list of 3x3 texture-to-image homographies, one per plane), ``in_frame`` and
        ``visible`` (per plane: fraction of the plane's opaque grid cells whose centre projects
        inside the image on the painted side, and additionally is not hidden by another plane or an
        occluder), ``vis_grid`` (per plane, ``(grid, grid)`` bool visibility of the cells),
        ``occluded`` (fraction of the image covered by occluders).
    """
    cam = view.camera
    w, h = cam.size
    horizon = np.linalg.inv(cam.K).T @ (cam.R @ UP)  # ground plane's vanishing line
    canvas = paint_background(rng, w, h, view.clutter, tuple(horizon / np.abs(horizon).max())).convert("RGBA")
    ids = np.zeros((h, w), np.int16)
    Hs = [plane_homography(cam, p) for p in planes]
    facing = [front_facing(cam, p) for p in planes]
    order = sorted((i for i in range(len(planes)) if facing[i]),
                   key=lambda i: -float((cam.R @ planes[i].centre + cam.t)[2]))
    for i in order:
        Hinv = np.linalg.inv(Hs[i])
        Hinv = Hinv / Hinv[2, 2]
        warped = textures[i].transform((w, h), Image.PERSPECTIVE, tuple(Hinv.ravel()[:8]), Image.BILINEAR)
        canvas.alpha_composite(warped)
        ids[np.asarray(warped.getchannel("A")) > 127] = i + 1
    rgb = canvas.convert("RGB")
    occ = draw_occluders(rng, rgb, view.occlusion)
    ids[occ] = 0
    info = {"H": [], "in_frame": [], "visible": [], "vis_grid": []}
    for i, plane in enumerate(planes):
        pts = grid_points(plane.texture_size, grid)
        xy, z = project(Hs[i], pts)
        inside = facing[i] & (z > 0) & np.all(np.isfinite(xy), 1)
        inside &= (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
        inside &= plane.alpha_grid.ravel()
        vis = inside.copy()
        xi = np.clip(np.nan_to_num(xy[:, 0]).astype(int), 0, w - 1)
        yi = np.clip(np.nan_to_num(xy[:, 1]).astype(int), 0, h - 1)
        vis &= ids[yi, xi] == i + 1
        n_opaque = max(int(plane.alpha_grid.sum()), 1)
        info["H"].append(Hs[i])
        info["in_frame"].append(float(inside.sum() / n_opaque))
        info["visible"].append(float(vis.sum() / n_opaque))
        info["vis_grid"].append(vis.reshape(grid, grid))
    info["occluded"] = float(occ.mean())
    return _photometric(rng, rgb, view), info
