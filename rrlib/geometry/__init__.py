r"""2-D geometry of spatial verification: transforms, fitters, RANSAC and fast spatial matching.

Two images of the same (planar, or distant) object are related by a geometric transform ``T``
that maps the pixels of image 1 onto those of image 2. Spatial verification fits ``T`` to the
*tentative* correspondences of two images (most of them wrong) and counts the *inliers*, the
correspondences that ``T`` explains up to a reprojection error of a few pixels.

* :mod:`~rrlib.geometry.transforms` -- conventions (``(n, 2)`` points ``(x, y)``, ``3 x 3``
  homogeneous ``T``), :func:`apply`, reprojection errors, :func:`local_scale`;
* :mod:`~rrlib.geometry.fitters` -- least-squares translation, similarity, affine map and
  homography, and the :data:`MODELS` table (degrees of freedom, minimal sample sizes);
* :mod:`~rrlib.geometry.hypotheses` -- the transform fixed by one correspondence of local frames
  ``(x, y, scale, angle)`` or of elliptical regions;
* :mod:`~rrlib.geometry.lo_ransac` -- LO-RANSAC (Fischler & Bolles 1981; Chum, Matas & Kittler 2003)
  and :class:`GeometricMatch`, the result of every verifier;
* :mod:`~rrlib.geometry.fsm` -- fast spatial matching (Philbin et al., CVPR 2007) and the scoring
  of any one-correspondence hypotheses (deep spatial matching, Simeoni et al., CVPR 2019).

All public names are re-exported here: ``from rrlib import geometry; geometry.ransac(...)``.
"""
from .fitters import MODELS, Model, fit_affine, fit_homography, fit_similarity, fit_translation, get_model
from .fsm import fast_spatial_matching, verify_hypotheses
from .hypotheses import ellipse_from_points, frame_transform, frame_transforms, region_transforms, upright_frame
from .lo_ransac import GeometricMatch, ransac, required_iterations
from .transforms import apply, inlier_mask, local_scale, reprojection_errors

__all__ = [
    "GeometricMatch", "Model", "MODELS", "get_model",
    "apply", "fit_translation", "fit_similarity", "fit_affine", "fit_homography",
    "frame_transform", "frame_transforms", "ellipse_from_points", "upright_frame", "region_transforms",
    "reprojection_errors", "inlier_mask", "local_scale", "required_iterations",
    "ransac", "verify_hypotheses", "fast_spatial_matching",
]
