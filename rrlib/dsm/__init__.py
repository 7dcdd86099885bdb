r"""Deep spatial matching (DSM): local features and visual words emerge in CNN activations.

O. Siméoni, Y. Avrithis, O. Chum, "Local features and visual words emerge in activations", CVPR
2019 = [S3] chapter 4. The activation tensor :math:`A` that gives a global descriptor (GeM, MAC)
also gives local features: the maximally stable regions of every channel, each an ellipse
:math:`(\mu, \Sigma)` with a strength :math:`v` and its channel as visual word -- no descriptor, no
vocabulary. Two images are matched by fast spatial matching with one 5-dof upright hypothesis per
same-channel correspondence, and the inlier count re-ranks the global shortlist and seeds diffusion.

* :mod:`rrlib.dsm.detect` -- quantisation, the MSER step, MSERs per map (OpenCV + VLFeat's
  duplicate rule), region moments;
* :mod:`rrlib.dsm.features` -- :class:`DSMFeatures`, per-tensor detection, channel cap, NMS, scales;
* :mod:`rrlib.dsm.match` -- same-channel correspondences, upright hypotheses, multi-scale matching;
* :mod:`rrlib.dsm.retrieval` -- one forward pass per image, cached descriptions, re-ranking and
  spatially verified diffusion.
"""
from .detect import LEVELS, delta_from_histogram, mser_detector, mser_regions, quantize, region_moments, regions_moments, remove_duplicates
from .features import (DSMFeatures, DetectorParams, box_nms, cap_channels, detect_features, ellipse_boxes,
                       merge_scales, top_features)
from .match import DSMMatch, channel_correspondences, match_features, upright_hypotheses
from .retrieval import (SCALES, DSMReranking, calibrate, describe_dsm, describe_images, diffusion_scores,
                        dsm_rerank, dsm_rerank_cached, hires_synth, ordered_scores, rerank_scores, verified_query_vector)

__all__ = [
    "LEVELS", "SCALES", "DSMFeatures", "DSMMatch", "DSMReranking", "DetectorParams", "box_nms", "calibrate",
    "cap_channels", "channel_correspondences", "delta_from_histogram", "describe_dsm", "describe_images",
    "detect_features", "diffusion_scores", "dsm_rerank", "dsm_rerank_cached", "ellipse_boxes", "hires_synth", "match_features",
    "merge_scales", "mser_detector", "mser_regions", "ordered_scores", "quantize", "region_moments", "regions_moments", "remove_duplicates",
    "rerank_scores", "top_features", "upright_hypotheses", "verified_query_vector",
]
