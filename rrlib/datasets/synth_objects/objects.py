"""Procedural planar objects and cluttered backgrounds of synth-objects, drawn with PIL.

An *object* is an RGBA texture whose alpha channel is its silhouette: the INSTRE-like things one
photographs on a table or a shelf -- a sign with lettering, a round badge, a book or box cover, a
coat of arms, a flat toy, a framed picture. Each is a pure function of its random generator, so
an object instance (seeded by its id) is drawn identically in every picture it appears in, and a
one-off distractor (seeded by its own id) exists in exactly one picture.

The pieces reuse synth-landmarks' texture vocabulary (:mod:`rrlib.datasets.synth.textures`):
glyph "text", rosettes, clock faces, coats of arms, windows, smooth value noise and the street
background.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from ..synth.textures import _glyphs, _hsv, _jitter, _mix, _ornament, _window, noise_field, paint_background, sample_style

__all__ = ["KINDS", "BACKGROUNDS", "paint_object", "paint_scene"]

RGB = tuple[int, int, int]

#: Object kinds (each a painter below); a kind is drawn uniformly unless given.
KINDS = ("sign", "badge", "cover", "shield", "toy", "frame")
#: Background kinds of :func:`paint_scene`.
BACKGROUNDS = ("table", "shelf", "tiles", "street")


# ---------------------------------------------------------------------------------------------
# Small drawing helpers
# ---------------------------------------------------------------------------------------------
def _palette(rng: np.random.Generator) -> dict[str, RGB]:
    """Four colours of one object: ``main``, ``second`` (a contrasting hue), ``accent`` and ``ink``
    (dark on light colours, light on dark ones)."""
    hue = rng.random()
    main = _hsv(hue, rng.uniform(0.25, 0.95), rng.uniform(0.35, 0.95))
    second = _hsv(hue + rng.uniform(0.25, 0.75), rng.uniform(0.3, 0.95), rng.uniform(0.3, 1.0))
    accent = _hsv(rng.random(), rng.uniform(0.5, 1.0), rng.uniform(0.6, 1.0))
    ink = (20, 20, 25) if sum(main) > 380 else (245, 240, 230)
    return {"main": main, "second": second, "accent": accent, "ink": ink}


def _pattern(rng: np.random.Generator, w: int, h: int, a: RGB, b: RGB) -> Image.Image:
    """An RGB fill of two colours: plain, stripes at an angle, checks, dots or a gradient."""
    kind = rng.choice(["plain", "stripes", "checks", "dots", "gradient"], p=[0.3, 0.2, 0.15, 0.15, 0.2])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "stripes":
        ang, period = rng.uniform(0, np.pi), rng.uniform(6, 22)
        t = (np.sin((xx * np.cos(ang) + yy * np.sin(ang)) * 2 * np.pi / period) > 0).astype(np.float32)
    elif kind == "checks":
        c = rng.uniform(8, 24)
        t = ((np.floor(xx / c) + np.floor(yy / c)) % 2).astype(np.float32)
    elif kind == "dots":
        c = rng.uniform(8, 18)
        t = ((np.mod(xx, c) - c / 2) ** 2 + (np.mod(yy, c) - c / 2) ** 2 < (0.3 * c) ** 2).astype(np.float32)
    elif kind == "gradient":
        ang = rng.uniform(0, 2 * np.pi)
        t = xx * np.cos(ang) + yy * np.sin(ang)
        t = (t - t.min()) / max(float(np.ptp(t)), 1.0)
    else:
        t = np.zeros((h, w), np.float32)
    t = t * rng.uniform(0.35, 1.0)
    shade = 0.9 + 0.2 * noise_field(rng, w, h, max(8, min(w, h) // 4))
    out = (np.asarray(a, np.float32) * (1 - t[..., None]) + np.asarray(b, np.float32) * t[..., None]) * shade[..., None]
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")


def _star(cx: float, cy: float, r: float, n: int, inner: float, phase: float) -> list[tuple[float, float]]:
    """Vertices of an ``n``-pointed star of outer radius ``r`` and inner radius ``inner * r``."""
    out = []
    for k in range(2 * n):
        rad = r if k % 2 == 0 else inner * r
        a = phase + np.pi * k / n
        out.append((cx + rad * np.cos(a), cy + rad * np.sin(a)))
    return out


def _emblem(draw: ImageDraw.ImageDraw, rng: np.random.Generator, cx: int, cy: int, r: int, pal: dict) -> None:
    """A central motif: rosette, clock or coat of arms (synth-landmarks' ornaments), a star, or
    concentric rings."""
    if r < 4:
        return
    kind = rng.choice(["ornament", "star", "rings"])
    if kind == "ornament":
        style = sample_style(rng)
        style.ornament = str(rng.choice(["rosette", "clock", "arms"]))
        style.accent, style.trim = pal["accent"], pal["second"]
        _ornament(draw, rng, style, cx, cy, r)
    elif kind == "star":
        draw.polygon(_star(cx, cy, r, int(rng.integers(4, 9)), rng.uniform(0.35, 0.6), rng.uniform(0, np.pi)),
                     fill=pal["accent"], outline=pal["ink"])
    else:
        for k, f in enumerate(np.linspace(1.0, 0.25, int(rng.integers(2, 5)))):
            c = (pal["accent"], pal["second"], pal["ink"])[k % 3]
            draw.ellipse((cx - f * r, cy - f * r, cx + f * r, cy + f * r), fill=c)


def _text_rows(draw: ImageDraw.ImageDraw, rng: np.random.Generator, box, colour: RGB, rows: int) -> None:
    """``rows`` lines of glyph "text" inside ``box`` (synth-landmarks' pseudo-lettering)."""
    x0, y0, x1, y1 = box
    h = (y1 - y0) / max(rows, 1)
    for k in range(rows):
        lh = h * rng.uniform(0.55, 0.85)
        ya = y0 + k * h + (h - lh) / 2
        xa = x0 + rng.uniform(0, 0.15) * (x1 - x0)
        xb = x1 - rng.uniform(0, 0.3) * (x1 - x0)
        if lh >= 6 and xb - xa > lh:
            _glyphs(draw, rng, (int(xa), int(ya), int(xb), int(ya + lh)), colour)


# ---------------------------------------------------------------------------------------------
# Object painters: each returns (RGB image, L silhouette) of size (w, h)
# ---------------------------------------------------------------------------------------------
def _sign(rng, long_side: int, pal: dict):
    w = long_side
    h = int(long_side / rng.uniform(1.3, 2.4))
    img = _pattern(rng, w, h, pal["main"], _mix(pal["main"], pal["second"], 0.5))
    alpha = Image.new("L", (w, h), 0)
    rad = int(min(w, h) * rng.uniform(0.0, 0.25))
    ImageDraw.Draw(alpha).rounded_rectangle((0, 0, w - 1, h - 1), rad, fill=255)
    d = ImageDraw.Draw(img)
    b = max(2, int(min(w, h) * rng.uniform(0.03, 0.08)))
    d.rounded_rectangle((b, b, w - 1 - b, h - 1 - b), max(rad - b, 0), outline=pal["second"], width=b)
    left = 2 * b
    if rng.random() < 0.6:
        r = int(h * 0.3)
        _emblem(d, rng, 2 * b + r + 2, h // 2, r, pal)
        left = 4 * b + 2 * r + 4
    _text_rows(d, rng, (left, 2 * b, w - 2 * b, h - 2 * b), pal["ink"], int(rng.integers(1, 4)))
    return img, alpha


def _badge(rng, long_side: int, pal: dict):
    w = long_side
    h = int(long_side * rng.uniform(0.8, 1.0))
    img = Image.new("RGB", (w, h), pal["main"])
    alpha = Image.new("L", (w, h), 0)
    ImageDraw.Draw(alpha).ellipse((0, 0, w - 1, h - 1), fill=255)
    d = ImageDraw.Draw(img)
    rings = int(rng.integers(1, 4))
    for k in range(rings):
        f = 0.06 + 0.08 * k
        c = (pal["second"], pal["accent"], pal["main"])[k % 3]
        d.ellipse((f * w, f * h, (1 - f) * w, (1 - f) * h), outline=c, width=max(2, int(0.04 * w)))
    n = int(rng.integers(8, 20)) if rng.random() < 0.5 else 0
    for k in range(n):  # a ring of dots or rivets
        a = 2 * np.pi * k / n
        x, y = w / 2 + 0.42 * w * np.cos(a), h / 2 + 0.42 * h * np.sin(a)
        d.ellipse((x - 0.02 * w, y - 0.02 * w, x + 0.02 * w, y + 0.02 * w), fill=pal["ink"])
    _emblem(d, rng, w // 2, h // 2, int(min(w, h) * rng.uniform(0.18, 0.3)), pal)
    if rng.random() < 0.6:  # a band of lettering across
        y0 = int(h * rng.uniform(0.62, 0.7))
        d.rectangle((int(0.18 * w), y0, int(0.82 * w), y0 + int(0.12 * h)), fill=pal["second"])
        _text_rows(d, rng, (int(0.2 * w), y0, int(0.8 * w), y0 + int(0.12 * h)), pal["ink"], 1)
    return img, alpha


def _cover(rng, long_side: int, pal: dict):
    h = long_side
    w = int(long_side / rng.uniform(1.2, 1.6))
    img = _pattern(rng, w, h, pal["main"], pal["second"])
    alpha = Image.new("L", (w, h), 255)
    d = ImageDraw.Draw(img)
    band_y = int(h * rng.uniform(0.08, 0.2))
    band_h = int(h * rng.uniform(0.12, 0.2))
    d.rectangle((0, band_y, w, band_y + band_h), fill=pal["accent"])
    _text_rows(d, rng, (int(0.06 * w), band_y, int(0.94 * w), band_y + band_h), pal["ink"] if sum(pal["accent"]) > 380
               else (245, 240, 230), int(rng.integers(1, 3)))
    _emblem(d, rng, w // 2, int(h * rng.uniform(0.52, 0.62)), int(w * rng.uniform(0.2, 0.32)), pal)
    _text_rows(d, rng, (int(0.1 * w), int(0.84 * h), int(0.9 * w), int(0.95 * h)), pal["ink"], 1)
    if rng.random() < 0.5:  # a spine or a side stripe
        d.rectangle((0, 0, int(0.07 * w), h), fill=_mix(pal["second"], (0, 0, 0), 0.3))
    return img, alpha


def _shield(rng, long_side: int, pal: dict):
    h = long_side
    w = int(long_side * rng.uniform(0.7, 0.9))
    img = Image.new("RGB", (w, h), pal["main"])
    outline = [(0, 0), (w - 1, 0), (w - 1, int(0.55 * h)), (w // 2, h - 1), (0, int(0.55 * h))]
    alpha = Image.new("L", (w, h), 0)
    ImageDraw.Draw(alpha).polygon(outline, fill=255)
    d = ImageDraw.Draw(img)
    division = rng.choice(["quarters", "bend", "chevron", "pale", "none"])
    c2 = pal["second"]
    if division == "quarters":
        d.rectangle((w // 2, 0, w, h // 2), fill=c2)
        d.rectangle((0, h // 2, w // 2, h), fill=c2)
    elif division == "bend":
        d.polygon([(0, 0), (int(0.3 * w), 0), (w, int(0.7 * h)), (w, h), (int(0.7 * w), h), (0, int(0.3 * h))], fill=c2)
    elif division == "chevron":
        d.polygon([(0, int(0.7 * h)), (w // 2, int(0.3 * h)), (w, int(0.7 * h)), (w, h), (w // 2, int(0.6 * h)),
                   (0, h)], fill=c2)
    elif division == "pale":
        d.rectangle((int(0.35 * w), 0, int(0.65 * w), h), fill=c2)
    for _ in range(int(rng.integers(1, 4))):  # charges: stars, roundels, a cross
        cx, cy = rng.uniform(0.25, 0.75) * w, rng.uniform(0.2, 0.6) * h
        r = rng.uniform(0.08, 0.16) * w
        kind = rng.integers(3)
        if kind == 0:
            d.polygon(_star(cx, cy, r, int(rng.integers(5, 8)), 0.45, -np.pi / 2), fill=pal["accent"])
        elif kind == 1:
            d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=pal["accent"], outline=pal["ink"])
        else:
            d.rectangle((cx - r, cy - r / 3, cx + r, cy + r / 3), fill=pal["accent"])
            d.rectangle((cx - r / 3, cy - r, cx + r / 3, cy + r), fill=pal["accent"])
    b = max(2, int(0.04 * w))
    d.line(outline + [outline[0]], fill=pal["ink"] if rng.random() < 0.5 else (200, 170, 60), width=b)
    return img, alpha


def _toy(rng, long_side: int, pal: dict):
    """A flat toy: a body, a round or square head, round or pointed ears or antennae, arms and feet,
    with a face and a belly patch."""
    h = long_side
    w = int(long_side * rng.uniform(0.6, 0.95))
    img = Image.new("RGB", (w, h), pal["main"])
    alpha = Image.new("L", (w, h), 0)
    d, a = ImageDraw.Draw(img), ImageDraw.Draw(alpha)
    head_r = w * rng.uniform(0.2, 0.3)
    hc = (w / 2, 1.6 * head_r + 0.02 * h)  # room above for ears and antennae
    body_w = rng.uniform(0.3, 0.4) * w
    body = (w / 2 - body_w, hc[1] + head_r * 0.6, w / 2 + body_w, h * rng.uniform(0.86, 0.93))
    body_kind = "ellipse" if rng.random() < 0.6 else "box"
    head_kind = "ellipse" if rng.random() < 0.6 else "box"
    parts = []
    ears = rng.choice(["round", "pointed", "antennae"])
    er = head_r * rng.uniform(0.3, 0.5)
    for sx in (-1, 1):
        ex, ey = hc[0] + sx * head_r * 0.75, hc[1] - head_r * 0.75
        if ears == "round":
            parts.append(("ellipse", (ex - er, ey - er, ex + er, ey + er), pal["second"]))
        elif ears == "pointed":
            parts.append(("polygon", [(ex - er, ey + er), (ex + sx * er * 0.3, ey - 1.6 * er), (ex + er, ey + er)],
                          pal["second"]))
        else:
            parts.append(("box", (ex - 2, ey - 1.2 * er, ex + 2, ey + er), pal["ink"]))
            parts.append(("ellipse", (ex - er / 2, ey - 1.7 * er, ex + er / 2, ey - 0.7 * er), pal["accent"]))
        if rng.random() < 0.7:  # arms
            ax = w / 2 + sx * body_w * 0.95
            parts.append(("ellipse", (ax - 0.1 * w, body[1] + 0.1 * h, ax + 0.1 * w, body[1] + 0.35 * h), pal["second"]))
        fx = w / 2 + sx * body_w * 0.55  # feet
        parts.append(("ellipse", (fx - 0.13 * w, body[3] - 0.06 * h, fx + 0.13 * w, min(h - 1, body[3] + 0.06 * h)),
                      pal["second"]))
    parts.append((body_kind, body, pal["main"]))
    parts.append((head_kind, (hc[0] - head_r, hc[1] - head_r, hc[0] + head_r, hc[1] + head_r), pal["main"]))
    for kind, shape, colour in parts:
        colour = _jitter(rng, colour, 6)
        if kind == "polygon":
            d.polygon(shape, fill=colour)
            a.polygon(shape, fill=255)
        elif kind == "box":
            d.rounded_rectangle(shape, radius=int(0.15 * (shape[2] - shape[0])), fill=colour)
            a.rounded_rectangle(shape, radius=int(0.15 * (shape[2] - shape[0])), fill=255)
        else:
            d.ellipse(shape, fill=colour)
            a.ellipse(shape, fill=255)
    bx0, by0, bx1, by1 = body
    patch = (bx0 + 0.25 * (bx1 - bx0), by0 + 0.25 * (by1 - by0), bx1 - 0.25 * (bx1 - bx0), by1 - 0.12 * (by1 - by0))
    (d.ellipse if rng.random() < 0.5 else d.rectangle)(patch, fill=pal["accent"])
    if rng.random() < 0.5:
        _emblem(d, rng, int(w / 2), int(by0 + 0.55 * (by1 - by0)), int(0.1 * w), pal)
    for sx in (-1, 1):  # eyes
        ex, ey, r = hc[0] + sx * head_r * 0.4, hc[1] - head_r * 0.1, head_r * rng.uniform(0.14, 0.24)
        d.ellipse((ex - r, ey - r, ex + r, ey + r), fill=(250, 250, 245))
        d.ellipse((ex - r / 2, ey - r / 2, ex + r / 2, ey + r / 2), fill=(15, 15, 20))
    d.arc((hc[0] - head_r * 0.35, hc[1], hc[0] + head_r * 0.35, hc[1] + head_r * 0.55), 20, 160, fill=(30, 20, 20),
          width=max(1, int(head_r * 0.08)))
    return img, alpha


def _frame(rng, long_side: int, pal: dict):
    """A framed picture (a little landscape) or a window of synth-landmarks."""
    w = long_side
    h = int(long_side / rng.uniform(0.7, 1.5))
    if h > w:
        w, h = int(w * w / h), w
    img = Image.new("RGB", (w, h), _mix(pal["second"], (60, 40, 20), 0.5))
    alpha = Image.new("L", (w, h), 255)
    d = ImageDraw.Draw(img)
    b = int(min(w, h) * rng.uniform(0.07, 0.14))
    if rng.random() < 0.3:
        style = sample_style(rng)
        d.rectangle((0, 0, w, h), fill=style.wall)
        _window(d, rng, style, (int(0.25 * w), int(0.15 * h), int(0.75 * w), int(0.8 * h)))
        return img, alpha
    inner = (b, b, w - b, h - b)
    sky = _hsv(rng.uniform(0.5, 0.65), rng.uniform(0.2, 0.6), rng.uniform(0.7, 1.0))
    d.rectangle(inner, fill=sky)
    horizon = int(b + (h - 2 * b) * rng.uniform(0.45, 0.7))
    sun = rng.uniform(b, w - b), rng.uniform(b, horizon)
    r = (w - 2 * b) * rng.uniform(0.05, 0.1)
    d.ellipse((sun[0] - r, sun[1] - r, sun[0] + r, sun[1] + r), fill=_hsv(rng.uniform(0.08, 0.16), 0.8, 1.0))
    for k in range(int(rng.integers(2, 4))):  # hills
        pts = [(b, h - b)] + [(x, horizon - rng.uniform(0, 0.35) * (h - 2 * b) * (1 - 0.3 * k))
                              for x in np.linspace(b, w - b, 6)] + [(w - b, h - b)]
        d.polygon(pts, fill=_hsv(rng.uniform(0.2, 0.4), rng.uniform(0.3, 0.8), rng.uniform(0.25, 0.7)))
    d.rectangle(inner, outline=pal["accent"], width=max(1, b // 4))
    return img, alpha


_PAINTERS = {"sign": _sign, "badge": _badge, "cover": _cover, "shield": _shield, "toy": _toy, "frame": _frame}


def paint_object(rng: np.random.Generator, long_side: int = 256, kind: str | None = None) -> Image.Image:
    """Draw one planar object as an RGBA texture whose alpha channel is its silhouette.

    Parameters
    ----------
    rng : numpy.random.Generator
        The object's own stream: the same stream gives the same object.
    long_side : int
        Length of the texture's longer side in pixels.
    kind : str, optional
        One of :data:`KINDS`; drawn uniformly when None.
    """
    if long_side < 16:
        raise ValueError(f"long_side must be at least 16 pixels, got {long_side}")
    if kind is None:
        kind = str(rng.choice(KINDS))
    if kind not in _PAINTERS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    pal = _palette(rng)
    img, alpha = _PAINTERS[kind](rng, int(long_side), pal)
    out = img.convert("RGBA")
    out.putalpha(alpha)
    return out


# ---------------------------------------------------------------------------------------------
# Backgrounds
# ---------------------------------------------------------------------------------------------
def _wood(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    warp = 25 * noise_field(rng, w, h, 60)
    grain = 0.5 + 0.5 * np.sin((yy + warp) * rng.uniform(0.15, 0.4) + 3 * noise_field(rng, w, h, 12))
    base = np.asarray(_hsv(rng.uniform(0.05, 0.1), rng.uniform(0.4, 0.7), rng.uniform(0.35, 0.75)), np.float32)
    return base * (0.8 + 0.3 * grain)[..., None]


def _cloth(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    return np.asarray(_pattern(rng, w, h, _hsv(rng.random(), rng.uniform(0, 0.6), rng.uniform(0.4, 0.95)),
                               _hsv(rng.random(), rng.uniform(0, 0.6), rng.uniform(0.3, 0.9))), np.float32)


def _clutter(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int, amount: int) -> None:
    """Small random marks: boxes, blobs, pens, scraps of lettering (never recorded as objects)."""
    for _ in range(amount):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        s = rng.uniform(0.015, 0.07) * max(w, h)
        c = _hsv(rng.random(), rng.uniform(0, 0.9), rng.uniform(0.15, 1.0))
        kind = rng.integers(4)
        if kind == 0:
            draw.rectangle((x, y, x + s, y + s * rng.uniform(0.3, 1.5)), fill=c)
        elif kind == 1:
            draw.ellipse((x, y, x + s, y + s * rng.uniform(0.5, 1.2)), fill=c)
        elif kind == 2:
            a = rng.uniform(0, np.pi)
            draw.line((x, y, x + 2 * s * np.cos(a), y + 2 * s * np.sin(a)), fill=c, width=int(rng.integers(1, 5)))
        elif s > 14:
            draw.rectangle((x, y, x + 2.5 * s, y + 0.5 * s), fill=c)
            _glyphs(draw, rng, (int(x), int(y + 0.1 * s), int(x + 2.5 * s), int(y + 0.4 * s)),
                    (20, 20, 20) if sum(c) > 380 else (240, 240, 240))


def paint_scene(rng: np.random.Generator, width: int, height: int, kind: str | None = None,
                clutter: float = 1.0) -> Image.Image:
    """A cluttered RGB background without any object of the dataset.

    ``kind`` is one of :data:`BACKGROUNDS` (drawn when None): a wooden or cloth-covered table
    against a wall, a wall with shelves, a tiled floor, or synth-landmarks' street scene; then
    ``clutter`` (>= 0) scales the number of small random marks scattered over it.
    """
    if width < 8 or height < 8:
        raise ValueError(f"width and height must be at least 8 pixels, got {width} x {height}")
    if kind is None:
        kind = str(rng.choice(BACKGROUNDS, p=[0.35, 0.25, 0.2, 0.2]))
    if kind == "street":
        image = paint_background(rng, width, height, clutter=min(1.0, 0.5 + clutter))
    elif kind == "table":
        top = _wood(rng, width, height) if rng.random() < 0.6 else _cloth(rng, width, height)
        wall = np.asarray(_hsv(rng.random(), rng.uniform(0, 0.3), rng.uniform(0.6, 0.95)), np.float32)
        edge = int(height * rng.uniform(0.0, 0.4))
        arr = top.copy()
        arr[:edge] = wall * (0.9 + 0.1 * noise_field(rng, width, max(edge, 1), 30)[:edge, :, None])
        image = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    elif kind == "shelf":
        wall = _cloth(rng, width, height) * 0.6 + 100
        image = Image.fromarray(np.clip(wall, 0, 255).astype(np.uint8), "RGB")
        d = ImageDraw.Draw(image)
        plank = _hsv(rng.uniform(0.05, 0.1), rng.uniform(0.3, 0.6), rng.uniform(0.3, 0.7))
        for y in np.arange(rng.uniform(0.15, 0.35), 1.0, rng.uniform(0.25, 0.4)) * height:
            d.rectangle((0, y, width, y + 0.03 * height), fill=plank)
            x = rng.uniform(0, 0.1) * width
            while x < width:  # books and boxes standing on the shelf
                bw, bh = rng.uniform(0.015, 0.06) * width, rng.uniform(0.08, 0.2) * height
                d.rectangle((x, y - bh, x + bw, y), fill=_hsv(rng.random(), rng.uniform(0.2, 0.9), rng.uniform(0.2, 0.9)))
                x += bw + rng.uniform(0, 0.02) * width
    elif kind == "tiles":
        c = rng.uniform(0.06, 0.15) * width
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        joint = (np.mod(xx, c) < 2) | (np.mod(yy, c) < 2)
        tone = rng.normal(1, 0.06, (int(height / c) + 2, int(width / c) + 2))[(yy // c).astype(int), (xx // c).astype(int)]
        base = np.asarray(_hsv(rng.random(), rng.uniform(0, 0.4), rng.uniform(0.5, 0.95)), np.float32)
        arr = base * tone[..., None]
        arr[joint] *= 0.6
        image = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    else:
        raise ValueError(f"kind must be one of {BACKGROUNDS}, got {kind!r}")
    _clutter(ImageDraw.Draw(image), rng, width, height, int(rng.poisson(25 * clutter)))
    return image
