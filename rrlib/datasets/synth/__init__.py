"""synth-landmarks: the embedded default retrieval benchmark, generated offline from a seed.

A believable stand-in for revisited Oxford / Paris (Radenović et al., CVPR 2018) that every notebook
can use without a download, written in exactly the revisitop on-disk format so that the same
loaders and :func:`rrlib.evaluate.evaluate_revisited` serve it and the real benchmarks.

Content (default :class:`SynthConfig`, ``image_size=256``)
----------------------------------------------------------
* 11 test landmarks, 70 queries (each with a box around the landmark, or around a part of its
  facade for 30% of them), and a database of 800 pictures: 45 per landmark plus 240 pictures of
  160 other buildings and 65 street scenes (distractors). Queries are separate pictures, not in
  the database.
* A disjoint train split (like SfM-120k): 50 other landmarks x 30 pictures, with landmark ids and
  per-picture camera geometry, for vocabularies, whitening, metric learning and mining.
* A landmark is one to three textured vertical planes -- a facade of individually varied windows,
  shutters, signs with glyph text, ornaments (rosette, clock, coat of arms), ivy, a roof line; an
  optional wing at 60-110 degrees and a set-back tower -- seen by pinhole cameras: azimuth up to
  78 degrees off the facade normal, elevation, scale 0.3-1.2 of the long side, roll, off-centre
  targets (partial views and crops), occluders (trees, people, cars, poles), illumination, colour
  cast, shading, clutter, blur, noise and JPEG.

Files in ``<root>/datasets/synth-landmarks/``
----------------------------------------------
``jpg/<name>.jpg``
    Database, query and train pictures (JPEG quality 90).
``gnd_synth-landmarks.pkl``
    ``{"gnd", "imlist", "qimlist"}`` as revisitop: ``gnd[q] = {"bbx": [x1, y1, x2, y2] (floats),
    "easy", "hard", "junk": [0-based int indices into imlist]}``.
``meta_synth-landmarks.pkl``
    Truth for geometric verification: per database / query picture its camera ``K, R, t``, the
    texture-to-image homography ``H[k]`` of each plane, ``in_frame[k]`` and ``visible[k]`` fractions,
    the packed visibility lattice, viewpoint, scale, roll and the photometric settings; per test
    landmark its planes (``texture_size``, ``origin``, ``axis_u``, texture file).
``train_synth-landmarks.pkl``
    ``imlist``, ``cluster`` (landmark id per picture), ``H``, ``visible``, ``in_frame``,
    ``viewpoint_deg``, ``scale``, ``landmarks`` and the full ``records``.
``planes/<landmark>_p<k>.png``
    The canonical RGBA textures the homographies map from (pixel ``(i, j)`` centred at
    ``(i + 0.5, j + 0.5)``; see :mod:`rrlib.datasets.synth.scene`).
``stamp.json``
    The parameters; a folder whose stamp matches is reused (cache).

Labels (revisitop definitions, per query and picture of the same landmark)
---------------------------------------------------------------------------
With ``v`` the visible fraction of the query region (the main facade, or the part of it in the
query box: cells of a 32 x 32 lattice that project into the picture on the painted side and are
not hidden by an occluder or another plane), ``theta`` the viewing angle of the facade (0 =
frontal), ``r = sqrt(projected area in the picture / in the query)``, ``roll`` the camera roll and
``size = sqrt(v * projected area) / long side``:

* **junk**  -- ``v < 0.30`` or ``theta > 65 deg`` or ``size < 0.20`` (too little of it visible to
  count either way); also pictures that show only the landmark's other planes (``v = 0``, another
  plane >= 5% visible);
* **easy**  -- ``v >= 0.75`` and ``theta <= 30 deg`` and ``0.7 <= r <= 2.0`` and ``|roll| <= 10 deg``;
* **hard**  -- every other picture of the landmark (strong viewpoint, scale, roll, occlusion or
  partial view).

Calibration (``benchmarks/calibrate_synth.py``): MobileNetV2 ImageNet + GeM(p=3), cosine ranking,
queries cropped to their box gives mAP E / M / H of about 62 / 51 / 29 with seed 0.

Example
-------
>>> from rrlib.datasets.synth import generate
>>> folder = generate()            # doctest: +SKIP  (about 30 s once, then cached)
"""
from .build import (EASY_MAX_ANGLE, EASY_MAX_ROLL, EASY_MIN_VISIBLE, EASY_SCALE_RANGE, JUNK_MAX_VISIBLE,
                    JUNK_MIN_ANGLE, JUNK_MIN_SIZE, NAME, VERSION, SynthConfig, ground_truth, label, landmark,
                    query_box)
from .scene import grid_points, project
from .truth import true_homography
from .writer import dataset_dir, generate, stamp_of


__all__ = [
    "EASY_MAX_ANGLE", "EASY_MAX_ROLL", "EASY_MIN_VISIBLE", "EASY_SCALE_RANGE", "JUNK_MAX_VISIBLE",
    "JUNK_MIN_ANGLE", "JUNK_MIN_SIZE", "NAME", "VERSION", "SynthConfig", "dataset_dir", "generate",
    "grid_points", "ground_truth", "label", "landmark", "project", "query_box", "stamp_of",
    "true_homography",
]
