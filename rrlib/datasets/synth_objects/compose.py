"""Placing planar objects in a picture: the placement homography, warping, boxes and visibility.

Conventions (as synth-landmarks, :mod:`rrlib.datasets.synth.scene`): texture and image pixel
``(i, j)`` is centred at ``(i + 0.5, j + 0.5)``; boxes are ``[x1, y1, x2, y2]`` in pixel edges
(``x2`` excluded), the revisitop / PIL ``crop`` convention.

A placement of an object in a picture is the homography

.. math::  H = T(c)\\, R(\\phi)\\, S(s)\\; K_{z}\\, [\\, r_1 \\;|\\; r_2 \\;|\\; z\\, e_3 \\,]\\; N

where ``N`` maps texture pixels to centred coordinates in units of the texture's long side,
``[r_1 | r_2 | z e_3]`` is the object's plane tilted by ``tilt`` degrees about an in-plane axis at
``tilt_axis`` degrees and pushed to distance ``z`` (:data:`DISTANCE` long sides, a field of view
of about 30 degrees across the object), ``K_z = diag(z, z, 1)`` projects it back so that an
untilted object keeps unit size, ``S(s)`` scales to ``s`` pixels, ``R(phi)`` rotates in the image
plane by ``rotation`` degrees and ``T(c)`` moves the object's centre to ``c``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

__all__ = ["DISTANCE", "Placement", "placement_homography", "project_corners", "quad_area", "warp_onto",
           "mask_box"]

DISTANCE = 3.0  # camera distance in object long sides (perspective strength of a tilted object)


@dataclass(frozen=True)
class Placement:
    """Where and how an object lies in a picture.

    Attributes
    ----------
    centre : (float, float)
        Image position of the object's centre, pixels.
    size : float
        Length of the untilted object's long side in the picture, pixels.
    rotation : float
        In-plane rotation, degrees (counter-clockwise on screen is negative: image ``y`` points down).
    tilt : float
        Out-of-plane rotation, degrees (0 = fronto-parallel).
    tilt_axis : float
        Direction of the in-plane axis the object is tilted about, degrees.
    """

    centre: tuple[float, float]
    size: float
    rotation: float = 0.0
    tilt: float = 0.0
    tilt_axis: float = 0.0


def _axis_rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues' rotation matrix about unit ``axis`` by ``angle`` radians."""
    x, y, z = axis
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]], float)
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def placement_homography(texture_size: tuple[int, int], placement: Placement, distance: float = DISTANCE) -> np.ndarray:
    """Texture-to-image homography ``H`` of an object placed by ``placement`` (module docstring).

    ``H`` is scaled so that ``H[2, 2] = 1``. Raises ``ValueError`` for a non-positive size or
    distance, or a tilt of 80 degrees or more (the object would be seen edge-on).
    """
    tw, th = texture_size
    if tw <= 0 or th <= 0:
        raise ValueError(f"texture_size must be positive, got {texture_size}")
    if placement.size <= 0:
        raise ValueError(f"placement.size must be positive, got {placement.size}")
    if distance <= 0:
        raise ValueError(f"distance must be positive, got {distance}")
    if abs(placement.tilt) >= 80:
        raise ValueError(f"placement.tilt must be below 80 degrees, got {placement.tilt}")
    long = float(max(tw, th))
    N = np.array([[1 / long, 0, -tw / (2 * long)], [0, 1 / long, -th / (2 * long)], [0, 0, 1.0]])
    a = np.radians(placement.tilt_axis)
    R3 = _axis_rotation(np.array([np.cos(a), np.sin(a), 0.0]), np.radians(placement.tilt))
    P = np.diag([distance, distance, 1.0]) @ np.column_stack([R3[:, 0], R3[:, 1], [0.0, 0.0, distance]])
    phi = np.radians(placement.rotation)
    c, s = np.cos(phi), np.sin(phi)
    A = np.array([[c, -s, placement.centre[0]], [s, c, placement.centre[1]], [0, 0, 1.0]]) @ np.diag(
        [placement.size, placement.size, 1.0])
    H = A @ P @ N
    return H / H[2, 2]


def project_corners(H: np.ndarray, texture_size: tuple[int, int]) -> np.ndarray:
    """Image positions ``(4, 2)`` of the texture's corners, clockwise from top-left."""
    tw, th = texture_size
    uv1 = np.array([[0, 0, 1], [tw, 0, 1], [tw, th, 1], [0, th, 1]], float)
    p = uv1 @ np.asarray(H, float).T
    return p[:, :2] / p[:, 2:3]


def quad_area(xy: np.ndarray) -> float:
    """Area of a simple polygon ``(n, 2)`` (shoelace formula)."""
    x, y = xy[:, 0], xy[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def warp_onto(canvas: Image.Image, texture: Image.Image, H: np.ndarray) -> tuple[np.ndarray, tuple[int, int]] | None:
    """Paste RGBA ``texture`` warped by ``H`` onto RGB ``canvas`` (in place), using its alpha.

    Only the bounding rectangle of the projected texture is warped (PIL's perspective transform
    maps each output pixel back through ``H^{-1}``, bilinear). Returns the warped silhouette
    (``alpha > 127``) of that rectangle and the rectangle's top-left corner ``(x0, y0)`` in the
    canvas, or None when the object falls outside the canvas.
    """
    w, h = canvas.size
    xy = project_corners(H, texture.size)
    x0, y0 = np.floor(np.clip(xy.min(0), 0, [w, h])).astype(int)
    x1, y1 = np.ceil(np.clip(xy.max(0), 0, [w, h])).astype(int)
    if x1 <= x0 or y1 <= y0:
        return None
    shift = np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1.0]])
    Hinv = np.linalg.inv(np.asarray(H, float)) @ shift
    Hinv = Hinv / Hinv[2, 2]
    warped = texture.transform((int(x1 - x0), int(y1 - y0)), Image.PERSPECTIVE, tuple(Hinv.ravel()[:8]),
                               Image.BILINEAR)
    canvas.paste(warped, (int(x0), int(y0)), warped)
    return np.asarray(warped.getchannel("A")) > 127, (int(x0), int(y0))


def mask_box(mask: np.ndarray) -> list[float] | None:
    """Bounding box ``[x1, y1, x2, y2]`` (pixel edges) of the True pixels of ``mask``, or None."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return None
    return [float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)]
