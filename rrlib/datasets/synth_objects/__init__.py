"""synth-objects: an INSTRE-like embedded benchmark where *saliency* can be measured.

Graph-based object discovery ([S3] chapter 5) finds the objects that *repeat* across a
collection and discards the clutter that does not; [S3] measures it on INSTRE (Wang & Jiang, TOMM
2015: "small objects in cluttered scenes ... rotation, occlusion and scale changes") against its
bounding boxes (*saliency precision*, §5.4). synth-objects is a miniature of that, generated
offline from a seed in the revisitop format (like :mod:`rrlib.datasets.synth`, whose textures,
photometric model and writer it reuses), with a ground-truth box for every picture of an object.
INSTRE itself is read by :func:`load_instre` (paper mode).

Content (default :class:`ObjectsConfig`, ``image_size=512``)
------------------------------------------------------------
* 20 object instances -- planar things one photographs on a table or a shelf: signs with
  lettering, round badges, book or box covers, coats of arms, flat toys, framed pictures
  (:func:`~.objects.paint_object`; kinds cycle so every kind has instances).
* A database of 400 pictures: 15 per instance (300) plus 100 *clutter* pictures with no instance.
  Each picture is a cluttered background (table, shelf, tiles or street, with small random marks)
  with 2-5 **one-off** objects of the same kinds behind the instance and, in 30% of the instance
  pictures, 1-2 more in front of it (occlusion). One-off objects are never repeated: object ``j``
  of picture ``p`` has id ``p * MAX_DISTRACTORS + j`` and is drawn from its own random stream, so
  the *only* thing that tells an instance from a distractor is that it repeats -- GOD's premise.
  Queries have 1-3 one-off objects and no occlusion.
* The instance is placed by a homography (:mod:`~.compose`): size 0.18-0.58 of the long side,
  in-plane rotation N(0, 12 deg) or any (15%), tilt 0-20 deg or 20-60 deg (half each), 10% of the
  pictures may cut it with the frame; illumination, colour cast, shading, blur, noise and JPEG
  as in synth-landmarks. The first database picture of each instance is a mild view, so every
  query has a positive.
* 40 queries (2 per instance): separate pictures, large (0.35-0.55 of the long side) and
  near-frontal, with their box.
* A disjoint train split: 20 other instances x 15 pictures (whitening, metric learning), with
  instance ids and boxes.
* The instance's box covers on average about a sixth of a database picture and a fifth of a
  query picture with seed 0 (``tests/datasets/test_synth_objects.py`` asserts at most a third).
* Cold generation: about 20 s of one CPU core at 512 px (``n_jobs`` spreads it over processes).
* Headroom for saliency (seed 0, off-the-shelf MobileNetV2 + GeM, cosine, queries cropped to
  their box): mAP E / M / H of about 25 / 24 / 15 on the full database pictures, 67 / 53 / 35
  when the database pictures are cropped to their ground-truth box -- the gap object discovery
  aims to close.

Files in ``<root>/datasets/synth-objects/``
-------------------------------------------
``jpg/<name>.jpg``
    Database (``<kind>_<name>_<k>``, ``clutter_<k>``), query (``..._query<k>``) and train
    pictures, JPEG quality 90.
``gnd_synth-objects.pkl``
    revisitop: ``{"gnd", "imlist", "qimlist"}`` with ``gnd[q] = {"bbx", "easy", "hard", "junk"}``,
    plus ``db_bbx`` (per database picture a list of ``[x1, y1, x2, y2]`` boxes: one for an
    instance picture, none for a clutter picture) and ``db_instance`` (instance id, -1 for
    clutter). :func:`rrlib.datasets.load` puts the extra keys in ``data.extra``;
    :func:`object_boxes` returns them as arrays.
``meta_synth-objects.pkl``
    Per picture its record: placement (centre, size, rotation, tilt), texture-to-image
    homography ``H``, ``visible`` / ``in_frame`` fractions, silhouette ``area``, the ids and boxes
    of its one-off objects (``distractors``, ``in_front``, ``distractor_bbx``), photometric settings.
``train_synth-objects.pkl``
    ``imlist``, ``cluster`` (instance id per picture), ``bbx``, ``records``
    (:func:`rrlib.datasets.training_split` reads it).
``objects/<name>.png``
    The canonical RGBA texture of every instance.
``stamp.json``
    The parameters; a folder whose stamp matches is reused (cache).

Boxes are ``[x1, y1, x2, y2]`` in pixel edges (PIL ``crop``): the bounding box of the
instance's silhouette inside the frame, occluders ignored (the object's extent, as an annotator
draws it).

Labels (revisitop definitions, per query and picture of the same instance)
--------------------------------------------------------------------------
With ``v`` the visible fraction of the silhouette (inside the frame and not hidden by a one-off
object in front), ``size = sqrt(visible pixels) / long side``, ``r = sqrt(silhouette area in the
picture / in the query)``, ``tilt`` and ``rotation`` the placement's angles:

* **junk** -- ``v < 0.35`` or ``size < 0.10``;
* **easy** -- ``v >= 0.8`` and ``tilt <= 25 deg`` and ``|rotation| <= 20 deg`` and ``0.6 <= r <= 1.7``;
* **hard** -- every other picture of the instance (strong tilt, rotation, scale change or occlusion).

Example
-------
>>> import rrlib.datasets as ds
>>> data = ds.load("synth-objects")       # doctest: +SKIP  (generated once, then cached)
>>> boxes = ds.object_boxes(data)         # doctest: +SKIP  (one (k, 4) array per database picture)
"""
from .build import (EASY_MAX_ROTATION, EASY_MAX_TILT, EASY_MIN_VISIBLE, EASY_SCALE_RANGE, JUNK_MAX_VISIBLE,
                    JUNK_MIN_SIZE, MAX_DISTRACTORS, NAME, VERSION, ObjectsConfig, ground_truth, instance_texture,
                    label, plan, render_picture)
from .compose import Placement, mask_box, placement_homography, project_corners
from .instre import instre_boxes, instre_ground_truth, load_instre
from .objects import BACKGROUNDS, KINDS, paint_object, paint_scene
from .writer import dataset_dir, generate, object_boxes, stamp_of

__all__ = [
    "BACKGROUNDS", "EASY_MAX_ROTATION", "EASY_MAX_TILT", "EASY_MIN_VISIBLE", "EASY_SCALE_RANGE", "JUNK_MAX_VISIBLE",
    "JUNK_MIN_SIZE", "KINDS", "MAX_DISTRACTORS", "NAME", "VERSION", "ObjectsConfig", "Placement", "dataset_dir",
    "generate", "ground_truth", "instance_texture", "instre_boxes", "instre_ground_truth", "label", "load_instre",
    "mask_box", "object_boxes", "paint_object", "paint_scene", "placement_homography", "plan", "project_corners",
    "render_picture", "stamp_of",
]
