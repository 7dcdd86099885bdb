"""Procedural textures of synth-landmarks: facades, backgrounds and occluders.

Everything is drawn with PIL (fast C primitives) and small numpy noise fields, from a
``numpy.random.Generator``, so a landmark is a pure function of ``(seed, split, index)``.

A facade is an RGBA texture: repeated but individually varied windows (shutters, curtains,
flower boxes, lit panes), pilasters, cornices and friezes, a ground floor of arches, doors or shop
signs with glyph "text", ornaments (rosette, clock, coat of arms), ivy and stains, and a roof line
(flat, gable, dome, crenellated, stepped) cut out with the alpha channel.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["FacadeStyle", "sample_style", "paint_facade", "paint_background", "draw_occluders"]

RGB = tuple[int, int, int]


def _hsv(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, float(np.clip(s, 0, 1)), float(np.clip(v, 0, 1)))
    return int(r * 255), int(g * 255), int(b * 255)


def _jitter(rng: np.random.Generator, c: RGB, amount: float) -> RGB:
    return tuple(int(np.clip(x + rng.normal(0, amount), 0, 255)) for x in c)  # type: ignore[return-value]


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(int(round(x * (1 - t) + y * t)) for x, y in zip(a, b))  # type: ignore[return-value]


def noise_field(rng: np.random.Generator, width: int, height: int, cell: int) -> np.ndarray:
    """Smooth value noise in [0, 1] of shape ``(height, width)``: a coarse random grid, bicubic-upsampled."""
    gw, gh = max(2, width // cell + 2), max(2, height // cell + 2)
    coarse = Image.fromarray(rng.random((gh, gw), dtype=np.float32), mode="F")
    return np.clip(np.asarray(coarse.resize((width, height), Image.BICUBIC)), 0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# Facade style: what makes one landmark look like itself
# ---------------------------------------------------------------------------------------------
MATERIALS = ("brick", "stone", "plaster", "panel")
WINDOWS = ("rect", "arch", "gothic", "round", "double")
ROOFS = ("flat", "gable", "dome", "crenel", "stepped")
GROUNDS = ("arcade", "shops", "door", "columns")


@dataclass
class FacadeStyle:
    """The appearance shared by all planes of one landmark."""

    wall: RGB
    accent: RGB
    trim: RGB
    glass: RGB
    shutter: RGB
    material: str
    window: str
    roof: str
    ground: str
    floor_h: int          # texture pixels per storey
    bay_w: int            # texture pixels per window bay
    pilasters: bool
    shutters: float       # probability that a window has shutters
    ivy: float            # fraction of the wall covered by ivy
    ornament: str         # "rosette", "clock", "arms" or "none"


def sample_style(rng: np.random.Generator) -> FacadeStyle:
    """Draw a facade style: palette, material, window shape, roof and ground-floor type."""
    hue = rng.random()
    sat = rng.uniform(0.05, 0.65)
    wall = _hsv(hue, sat, rng.uniform(0.45, 0.95))
    accent = _hsv(hue + rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.9), rng.uniform(0.3, 0.9))
    trim = _hsv(hue + rng.normal(0, 0.05), sat * rng.uniform(0.1, 0.6), rng.uniform(0.6, 1.0))
    glass = _hsv(rng.uniform(0.5, 0.7), rng.uniform(0.2, 0.6), rng.uniform(0.1, 0.45))
    shutter = _hsv(rng.random(), rng.uniform(0.3, 0.9), rng.uniform(0.2, 0.8))
    return FacadeStyle(
        wall=wall, accent=accent, trim=trim, glass=glass, shutter=shutter,
        material=str(rng.choice(MATERIALS, p=[0.3, 0.3, 0.25, 0.15])),
        window=str(rng.choice(WINDOWS)), roof=str(rng.choice(ROOFS)), ground=str(rng.choice(GROUNDS)),
        floor_h=int(rng.integers(34, 60)), bay_w=int(rng.integers(30, 56)),
        pilasters=bool(rng.random() < 0.5), shutters=float(rng.choice([0.0, 0.5, 0.9])),
        ivy=float(rng.choice([0.0, 0.0, 0.08, 0.15])),
        ornament=str(rng.choice(["rosette", "clock", "arms", "none"])),
    )


# ---------------------------------------------------------------------------------------------
# Wall materials
# ---------------------------------------------------------------------------------------------
def _wall(rng: np.random.Generator, style: FacadeStyle, w: int, h: int) -> np.ndarray:
    """Wall colour with its material pattern, float32 ``(h, w, 3)`` in [0, 255]."""
    base = np.asarray(style.wall, np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    shade = 1.0 + 0.12 * (noise_field(rng, w, h, 40) - 0.5)
    if style.material in ("brick", "stone"):
        bh, bw = (8, 18) if style.material == "brick" else (18, 40)
        row = yy // bh
        off = (row % 2) * (bw // 2)
        col = (xx + off) // bw
        table = rng.normal(1.0, 0.08 if style.material == "brick" else 0.05, size=(h // bh + 2, w // bw + 3))
        shade = shade * table[row, col]
        mortar = ((yy % bh) == 0) | (((xx + off) % bw) == 0)
        shade = np.where(mortar, shade * 0.72, shade)
    elif style.material == "panel":
        mortar = ((yy % 24) == 0) | ((xx % 24) == 0)
        shade = np.where(mortar, shade * 0.8, shade * (1 + 0.05 * np.sin(xx / 3.0)))
    else:  # plaster: fine grain
        shade = shade * (1.0 + 0.08 * (noise_field(rng, w, h, 4) - 0.5))
    return np.clip(base[None, None, :] * shade[..., None], 0, 255).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Elements
# ---------------------------------------------------------------------------------------------
def _window(draw: ImageDraw.ImageDraw, rng: np.random.Generator, style: FacadeStyle,
            box: tuple[int, int, int, int]) -> None:
    """One window with individual details: pane colour, lit or not, curtains, shutters, flowers."""
    x0, y0, x1, y1 = box
    w = x1 - x0
    glass = _jitter(rng, style.glass, 12)
    if rng.random() < 0.12:
        glass = _hsv(0.12, 0.5, rng.uniform(0.8, 1.0))  # a lit window
    frame = _jitter(rng, style.trim, 8)
    shape = style.window
    if shape == "double" and w < 16:
        shape = "rect"
    if shape in ("arch", "gothic", "round"):
        r = w // 2
        if shape == "round":
            draw.ellipse((x0 - 2, y0 - 2, x1 + 2, y0 + w + 2), fill=frame)
            draw.ellipse((x0, y0, x1, y0 + w), fill=glass)
            y0 = y0 + w // 2
        elif shape == "gothic":
            draw.polygon([(x0 - 2, y0 + r), (x0 + r, y0 - r // 2 - 2), (x1 + 2, y0 + r)], fill=frame)
            draw.polygon([(x0, y0 + r), (x0 + r, y0 - r // 2), (x1, y0 + r)], fill=glass)
            y0 = y0 + r
        else:
            draw.pieslice((x0 - 2, y0 - 2, x1 + 2, y0 + w + 2), 180, 360, fill=frame)
            draw.pieslice((x0, y0, x1, y0 + w), 180, 360, fill=glass)
            y0 = y0 + r
    draw.rectangle((x0 - 2, y0, x1 + 2, y1 + 2), fill=frame)
    draw.rectangle((x0, y0, x1, y1), fill=glass)
    if shape == "double":
        draw.line((x0 + w // 2, y0, x0 + w // 2, y1), fill=frame, width=2)
    if rng.random() < 0.6:
        ym = y0 + (y1 - y0) // 3
        draw.line((x0, ym, x1, ym), fill=frame, width=1)
        draw.line((x0 + w // 2, y0, x0 + w // 2, y1), fill=frame, width=1)
    if rng.random() < 0.3:  # curtain
        cur = _hsv(rng.random(), rng.uniform(0.2, 0.8), rng.uniform(0.5, 1.0))
        side = x0 if rng.random() < 0.5 else x1 - w // 3
        draw.rectangle((side, y0, side + w // 3, y1), fill=cur)
    if rng.random() < style.shutters:
        sh = _jitter(rng, style.shutter, 10)
        sw = max(3, w // 2 - 1)
        if rng.random() < 0.35:  # closed
            draw.rectangle((x0, y0, x1, y1), fill=sh)
            for yy in range(y0 + 2, y1, 3):
                draw.line((x0, yy, x1, yy), fill=_mix(sh, (0, 0, 0), 0.3))
        else:
            draw.rectangle((x0 - sw - 2, y0, x0 - 2, y1), fill=sh)
            draw.rectangle((x1 + 2, y0, x1 + sw + 2, y1), fill=sh)
    draw.rectangle((x0 - 4, y1 + 2, x1 + 4, y1 + 5), fill=frame)  # sill
    if rng.random() < 0.15:  # flower box
        draw.rectangle((x0 - 2, y1 - 2, x1 + 2, y1 + 5), fill=(110, 70, 40))
        for _ in range(5):
            fx = int(rng.integers(x0, x1 + 1))
            col = _hsv(rng.choice([0.0, 0.95, 0.15, 0.3]), 0.8, 0.9)
            draw.ellipse((fx - 2, y1 - 5, fx + 2, y1 - 1), fill=col)


def _glyphs(draw: ImageDraw.ImageDraw, rng: np.random.Generator, box, colour: RGB) -> None:
    """Pseudo-text: a row of random strokes that reads as lettering at a distance."""
    x0, y0, x1, y1 = box
    h = y1 - y0
    x = x0 + 3
    while x < x1 - h // 2:
        gw = int(rng.integers(max(2, h // 3), max(3, h // 2 + 2)))
        kind = rng.integers(4)
        if kind == 0:
            draw.rectangle((x, y0 + 2, x + 1, y1 - 2), fill=colour)
        elif kind == 1:
            draw.ellipse((x, y0 + 2, x + gw, y1 - 2), outline=colour, width=1)
        elif kind == 2:
            draw.line((x, y1 - 2, x + gw // 2, y0 + 2, x + gw, y1 - 2), fill=colour, width=1)
        else:
            draw.line((x, y0 + 2, x + gw, y0 + 2, x, y1 - 2, x + gw, y1 - 2), fill=colour, width=1)
        x += gw + int(rng.integers(2, 5)) + (h // 2 if rng.random() < 0.15 else 0)


def _ornament(draw: ImageDraw.ImageDraw, rng: np.random.Generator, style: FacadeStyle,
              cx: int, cy: int, r: int) -> None:
    """A distinctive central ornament: rosette window, clock face or coat of arms."""
    if r < 5 or style.ornament == "none":
        return
    if style.ornament == "rosette":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=style.trim)
        draw.ellipse((cx - r + 3, cy - r + 3, cx + r - 3, cy + r - 3), fill=style.glass)
        n = int(rng.integers(6, 13))
        for k in range(n):
            a = 2 * np.pi * k / n
            draw.line((cx, cy, cx + r * np.cos(a), cy + r * np.sin(a)), fill=style.trim, width=2)
        draw.ellipse((cx - r // 4, cy - r // 4, cx + r // 4, cy + r // 4), fill=style.accent)
    elif style.ornament == "clock":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=style.accent)
        draw.ellipse((cx - r + 3, cy - r + 3, cx + r - 3, cy + r - 3), fill=(235, 230, 210))
        for k in range(12):
            a = 2 * np.pi * k / 12
            draw.line((cx + 0.75 * r * np.cos(a), cy + 0.75 * r * np.sin(a),
                       cx + 0.9 * r * np.cos(a), cy + 0.9 * r * np.sin(a)), fill=(20, 20, 20), width=1)
        for length, ang in ((0.5, rng.random() * 2 * np.pi), (0.75, rng.random() * 2 * np.pi)):
            draw.line((cx, cy, cx + length * r * np.cos(ang), cy + length * r * np.sin(ang)),
                      fill=(20, 20, 20), width=2)
    else:
        pts = [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)]
        draw.polygon(pts, fill=style.accent, outline=style.trim)
        draw.line((cx, cy - r, cx, cy + r), fill=style.trim, width=2)
        draw.line((cx - r, cy - r // 3, cx + r, cy - r // 3), fill=style.trim, width=2)
        draw.ellipse((cx - r // 3, cy - r // 3 - r // 3, cx + r // 3, cy), fill=_hsv(0.14, 0.8, 0.9))


def _ground_floor(draw, rng, style: FacadeStyle, w: int, y0: int, y1: int, bays: list[int]) -> None:
    """Arcade, shop fronts with signs, a central door or a colonnade along the ground floor."""
    bw = style.bay_w
    if style.ground == "arcade":
        for x in bays:
            draw.rectangle((x - bw // 2 + 3, y0 + bw // 2, x + bw // 2 - 3, y1), fill=_mix(style.wall, (0, 0, 0), 0.7))
            draw.pieslice((x - bw // 2 + 3, y0 + 4, x + bw // 2 - 3, y0 + bw - 2), 180, 360,
                          fill=_mix(style.wall, (0, 0, 0), 0.7))
    elif style.ground == "shops":
        i = 0
        while i < len(bays):
            span = int(rng.integers(1, 4))
            xa, xb = bays[i] - bw // 2 + 2, bays[min(i + span, len(bays)) - 1] + bw // 2 - 2
            sign = _hsv(rng.random(), rng.uniform(0.5, 1.0), rng.uniform(0.3, 0.95))
            draw.rectangle((xa, y0 + 3, xb, y0 + 15), fill=sign)
            _glyphs(draw, rng, (xa, y0 + 4, xb, y0 + 14), (255, 255, 255) if sum(sign) < 380 else (20, 20, 20))
            draw.rectangle((xa + 2, y0 + 19, xb - 2, y1), fill=_jitter(rng, style.glass, 20))
            i += span
    elif style.ground == "columns":
        for x in bays + [bays[-1] + bw]:
            cx = x - bw // 2
            draw.rectangle((cx - 4, y0 + 6, cx + 4, y1), fill=style.trim)
            draw.rectangle((cx - 7, y0 + 2, cx + 7, y0 + 7), fill=style.trim)
            draw.line((cx - 1, y0 + 8, cx - 1, y1), fill=_mix(style.trim, (0, 0, 0), 0.3))
    mid = bays[len(bays) // 2]
    if style.ground in ("door", "columns"):
        dw = bw // 2 + 6
        draw.rectangle((mid - dw // 2 - 3, y0 + 4, mid + dw // 2 + 3, y1), fill=style.trim)
        draw.rectangle((mid - dw // 2, y0 + 8, mid + dw // 2, y1), fill=_mix(style.accent, (0, 0, 0), 0.4))
        draw.line((mid, y0 + 8, mid, y1), fill=style.trim, width=1)


def _roof_alpha(style: FacadeStyle, w: int, h: int, top: int) -> Image.Image:
    """Alpha mask of the facade: opaque below ``top``, a roof-line silhouette above it."""
    alpha = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(alpha)
    d.rectangle((0, top, w, h), fill=255)
    if style.roof == "gable":
        d.polygon([(0, top), (w // 2, 0), (w, top)], fill=255)
    elif style.roof == "dome":
        d.pieslice((w // 4, top - w // 4, 3 * w // 4, top + w // 4), 180, 360, fill=255)
        d.rectangle((w // 2 - 2, 0, w // 2 + 2, top - w // 4 + 1), fill=255)
    elif style.roof == "crenel":
        step = max(8, w // 14)
        for x in range(0, w, 2 * step):
            d.rectangle((x, top - step, x + step, top), fill=255)
    elif style.roof == "stepped":
        n = 4
        for k in range(n):
            x0, x1 = k * w // (2 * n), w - k * w // (2 * n)
            d.rectangle((x0, top - k * (top // n) - top // n, x1, top), fill=255)
    return alpha


def paint_facade(rng: np.random.Generator, style: FacadeStyle, bays: int, floors: int,
                 roof: bool = True) -> Image.Image:
    """Paint one facade plane as an RGBA texture.

    The texture is ``bays * style.bay_w`` wide and ``floors * style.floor_h`` (+ roof) high.
    Windows repeat on a grid but every one is drawn with its own random details, so a local
    patch identifies the facade -- the property local features and spatial verification rely on.
    """
    bw, fh = style.bay_w, style.floor_h
    w = bays * bw
    roof_h = int(0.35 * w) if roof and style.roof in ("gable", "dome") else (fh // 2 if roof and style.roof != "flat" else 0)
    h = floors * fh + roof_h
    rgb = np.zeros((h, w, 3), np.float32)
    rgb[:] = _wall(rng, style, w, h)
    img = Image.fromarray(rgb.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    centres = [bw // 2 + k * bw for k in range(bays)]
    # cornices and a frieze between storeys
    for f in range(floors + 1):
        y = roof_h + f * fh
        draw.rectangle((0, y - 3, w, y + 1), fill=style.trim)
        if f == 0 and rng.random() < 0.7:
            for x in range(0, w, 6):
                draw.rectangle((x, y + 2, x + 3, y + 5), fill=style.trim)
    if style.pilasters:
        for x in centres + [w]:
            draw.rectangle((x - bw // 2 - 3, roof_h, x - bw // 2 + 3, h), fill=_mix(style.wall, style.trim, 0.5))
    # upper storeys: windows, one skipped now and then for an ornament or a blind niche
    ww = int(bw * 0.5)
    for f in range(floors - 1):
        y0 = roof_h + f * fh + fh // 4
        y1 = roof_h + (f + 1) * fh - fh // 5
        for x in centres:
            if rng.random() < 0.06:
                draw.rectangle((x - ww // 2, y0, x + ww // 2, y1), fill=_mix(style.wall, (0, 0, 0), 0.25))
                continue
            _window(draw, rng, style, (x - ww // 2, y0, x + ww // 2, y1))
    _ground_floor(draw, rng, style, w, roof_h + (floors - 1) * fh, h, centres)
    # the central ornament sits in the gable / dome, or on the top storey's wall
    if roof_h > 10:
        r = int(min(roof_h * 0.35, w * 0.12))
        _ornament(draw, rng, style, w // 2, int(roof_h * 0.62), r)
    elif rng.random() < 0.6:
        _ornament(draw, rng, style, centres[int(rng.integers(len(centres)))], roof_h + fh // 2, int(fh * 0.3))
    out = np.asarray(img, np.float32)
    if style.ivy > 0:
        mask = noise_field(rng, w, h, 24) < style.ivy
        leaf = 0.5 + noise_field(rng, w, h, 2)
        ivy = np.stack([40 * leaf, 95 * leaf, 35 * leaf], -1)
        out = np.where(mask[..., None], ivy, out)
    stains = 1.0 - 0.25 * np.clip(noise_field(rng, w, h, 60) - 0.55, 0, 1)
    out = np.clip(out * stains[..., None], 0, 255).astype(np.uint8)
    rgba = Image.fromarray(out, "RGB").convert("RGBA")
    rgba.putalpha(_roof_alpha(style, w, h, roof_h) if roof else Image.new("L", (w, h), 255))
    return rgba


# ---------------------------------------------------------------------------------------------
# Backgrounds and occluders
# ---------------------------------------------------------------------------------------------
def _tree(draw: ImageDraw.ImageDraw, rng, x: float, ground: float, size: float, colour=None) -> list:
    """A trunk and a canopy of overlapping ellipses; returns the shapes for mask drawing."""
    shapes = [("rect", (x - size * 0.06, ground - size * 0.5, x + size * 0.06, ground), (90, 60, 40))]
    green = colour or _hsv(rng.uniform(0.2, 0.38), rng.uniform(0.4, 0.8), rng.uniform(0.25, 0.6))
    for _ in range(int(rng.integers(4, 9))):
        cx = x + rng.normal(0, size * 0.18)
        cy = ground - size * 0.6 + rng.normal(0, size * 0.15)
        r = size * rng.uniform(0.15, 0.3)
        shapes.append(("ellipse", (cx - r, cy - r, cx + r, cy + r), _jitter(rng, green, 15)))
    return shapes


def _building_block(rng, x0: float, y1: float, w: float, h: float) -> list:
    """A distant generic building: a block with a grid of small windows (background clutter)."""
    wall = _hsv(rng.random(), rng.uniform(0.05, 0.5), rng.uniform(0.35, 0.9))
    win = _hsv(rng.uniform(0.5, 0.7), 0.3, rng.uniform(0.1, 0.4))
    shapes = [("rect", (x0, y1 - h, x0 + w, y1), wall)]
    step_x, step_y = rng.uniform(6, 14), rng.uniform(8, 16)
    for yy in np.arange(y1 - h + 4, y1 - 6, step_y):
        for xx in np.arange(x0 + 3, x0 + w - 5, step_x):
            shapes.append(("rect", (xx, yy, xx + step_x * 0.5, yy + step_y * 0.5), win))
    return shapes


def _person(rng, x: float, ground: float, size: float) -> list:
    body = _hsv(rng.random(), rng.uniform(0.3, 0.9), rng.uniform(0.2, 0.9))
    skin = _hsv(rng.uniform(0.04, 0.1), rng.uniform(0.3, 0.6), rng.uniform(0.4, 0.9))
    return [("rect", (x - size * 0.12, ground - size * 0.85, x + size * 0.12, ground), body),
            ("ellipse", (x - size * 0.09, ground - size, x + size * 0.09, ground - size * 0.82), skin)]


def _car(rng, x: float, ground: float, size: float) -> list:
    body = _hsv(rng.random(), rng.uniform(0.4, 0.9), rng.uniform(0.3, 0.9))
    return [("rect", (x - size, ground - size * 0.55, x + size, ground - size * 0.15), body),
            ("rect", (x - size * 0.6, ground - size * 0.85, x + size * 0.5, ground - size * 0.5), body),
            ("rect", (x - size * 0.5, ground - size * 0.8, x + size * 0.4, ground - size * 0.55), (60, 80, 100)),
            ("ellipse", (x - size * 0.8, ground - size * 0.3, x - size * 0.4, ground + size * 0.05), (20, 20, 20)),
            ("ellipse", (x + size * 0.4, ground - size * 0.3, x + size * 0.8, ground + size * 0.05), (20, 20, 20))]


def _pole(rng, x: float, ground: float, size: float) -> list:
    c = _hsv(0, 0, rng.uniform(0.1, 0.4))
    shapes = [("rect", (x - 1.5, ground - size, x + 1.5, ground), c)]
    if rng.random() < 0.5:  # a street sign
        sc = _hsv(rng.choice([0.0, 0.6, 0.33]), 0.8, 0.8)
        shapes.append(("rect", (x - size * 0.15, ground - size, x + size * 0.15, ground - size * 0.8), sc))
    else:
        shapes.append(("ellipse", (x - 5, ground - size - 5, x + 5, ground - size + 5), (240, 230, 180)))
    return shapes


def _draw_shapes(draw: ImageDraw.ImageDraw, shapes: list, mask: ImageDraw.ImageDraw | None = None) -> None:
    for kind, box, colour in shapes:
        box = tuple(float(v) for v in box)
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        fn = draw.rectangle if kind == "rect" else draw.ellipse
        fn(box, fill=colour)
        if mask is not None:
            (mask.rectangle if kind == "rect" else mask.ellipse)(box, fill=255)


def paint_background(rng: np.random.Generator, width: int, height: int, clutter: float = 1.0,
                     horizon: tuple[float, float, float] | None = None) -> Image.Image:
    """A street scene without the landmark: sky, clouds, ground, distant buildings and trees.

    ``horizon`` is the image line ``(a, b, c)`` of the ground plane's vanishing line: pixels with
    ``a x + b y + c < 0`` see the ground. Default: a random horizontal line.
    """
    if horizon is None:
        horizon = (0.0, -1.0, height * rng.uniform(0.45, 0.85))
    a, b, c = horizon
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    is_ground = (a * xx + b * yy + c) < 0
    def horizon_y(x: float) -> float:
        return float(np.clip(-(a * x + c) / b, -height, 2 * height)) if abs(b) > 1e-9 else float(height)
    top = np.asarray(_hsv(rng.uniform(0.52, 0.66), rng.uniform(0.1, 0.6), rng.uniform(0.6, 1.0)), np.float32)
    bottom = np.asarray(_hsv(rng.uniform(0.05, 0.65), rng.uniform(0.0, 0.3), rng.uniform(0.7, 1.0)), np.float32)
    t = np.clip(yy / max(horizon_y(width / 2), 1.0), 0, 1)[..., None]
    sky = top * (1 - t) + bottom * t
    clouds = np.clip(noise_field(rng, width, height, 48) - rng.uniform(0.45, 0.8), 0, 1)[..., None] * 2.0
    sky = sky * (1 - clouds) + 245 * clouds
    ground_c = np.asarray(_hsv(rng.choice([0.08, 0.25, 0.0]), rng.uniform(0.0, 0.4), rng.uniform(0.3, 0.6)), np.float32)
    ground = ground_c * (0.85 + 0.3 * noise_field(rng, width, height, 6))[..., None]
    img = np.where(is_ground[..., None], ground, sky)
    image = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    x = -rng.uniform(0, 40)
    while x < width and clutter > 0:
        w = rng.uniform(25, 90)
        if rng.random() < 0.75 * clutter:
            _draw_shapes(draw, _building_block(rng, x, horizon_y(x + w / 2) + 2, w, rng.uniform(0.15, 0.6) * height))
        x += w + rng.uniform(-10, 30)
    for _ in range(int(rng.poisson(3 * clutter))):
        x = rng.uniform(0, width)
        _draw_shapes(draw, _tree(draw, rng, x, horizon_y(x) + rng.uniform(0, 10), rng.uniform(0.15, 0.45) * height))
    return image


def draw_occluders(rng: np.random.Generator, image: Image.Image, amount: float) -> np.ndarray:
    """Draw trees, people, cars and poles in front of the scene; return their boolean mask.

    ``amount`` in [0, 1] scales how many occluders appear (0: none).
    """
    width, height = image.size
    mask_img = Image.new("L", image.size, 0)
    draw, mdraw = ImageDraw.Draw(image), ImageDraw.Draw(mask_img)
    n = int(rng.poisson(4 * amount))
    for _ in range(n):
        x = rng.uniform(-0.1, 1.1) * width
        ground = height * rng.uniform(0.85, 1.05)
        kind = rng.choice(["tree", "person", "car", "pole"], p=[0.35, 0.3, 0.2, 0.15])
        if kind == "tree":
            shapes = _tree(draw, rng, x, ground, height * rng.uniform(0.3, 0.7))
        elif kind == "person":
            shapes = _person(rng, x, ground, height * rng.uniform(0.2, 0.45))
        elif kind == "car":
            shapes = _car(rng, x, ground, width * rng.uniform(0.12, 0.25))
        else:
            shapes = _pole(rng, x, ground, height * rng.uniform(0.4, 0.8))
        _draw_shapes(draw, shapes, mdraw)
    return np.asarray(mask_img) > 127
