r"""Graph-based object discovery (GOD): saliency from the whole collection, [S3] chapter 5.

O. Siméoni, A. Iscen, G. Tolias, Y. Avrithis, O. Chum, "Unsupervised object discovery for
instance recognition", WACV 2018 / "Graph-based particular object discovery", MVA 2019 = [S3]
chapter 5. No public implementation exists; every step here is a small pure function with the
equation it implements, and what the seed leaves open is a parameter (spec §11, §17 item 6).

The pipeline (offline, unsupervised, on the whole collection):

1. feature saliency FS of every image from its activations alone (eqs 5.1-5.2,
   :func:`feature_saliency`);
2. regions by EGM on the pre-processed FS map (eqs 5.3-5.8, :func:`preprocess`, :func:`egm`,
   :func:`detect_regions`);
3. per region its GeM descriptor and feature saliency (eqs 5.9-5.10, :func:`region_descriptors`),
   whitened (eq 5.11, :mod:`rrlib.nets.whitening`);
4. the kNN graph of all regions (:func:`rrlib.graph.knn_graph`) and a centrality per region
   (§5.3.7, :func:`centrality`: degree, eigenvector, PageRank, betweenness, closeness, Katz);
5. object saliency OS of every image from its patches' neighbours in the graph (eq 5.14,
   :func:`patch_descriptors`, :func:`object_saliency`);
6. EGM on OS, and the image vector: regional GeM, L2, sum, whitening (§5.3.9, :func:`aggregate_regions`).

:func:`saliency_precision` (§5.4.2) measures a map against a ground-truth box.

* :mod:`rrlib.god.saliency` -- FS, pre-processing, patch descriptors, OS, saliency precision;
* :mod:`rrlib.god.egm` -- the Expanding Gaussian Mixture;
* :mod:`rrlib.god.regions` -- the box convention, region pooling and aggregation;
* :mod:`rrlib.god.centrality` -- the six centralities on the shared graph toolbox;
* :mod:`rrlib.god.pipeline` -- the same steps over a whole dataset, cached (notebook 08).
"""
from .centrality import (CENTRALITIES, KATZ_ALPHA, PAGERANK_ALPHA, betweenness, centrality, closeness, degree,
                         edge_costs, eigenvector, katz, pagerank)
from .egm import EXTENT, MIN_VAR, PURGE, EGMResult, EGMState, component_boxes, detect_regions, egm, gaussian_inner
from .regions import aggregate_regions, box_cells, pixel_box_to_map, region_descriptors, region_gem, region_saliency
from .saliency import (feature_saliency, fs_channel_weights, object_saliency, patch_descriptors, preprocess,
                       saliency_precision)
from .pipeline import (GODConfig, collection_centralities, collection_regions, egm_vectors, feature_maps, os_map,
                       patch_neighbours, pool_scales, split_maps, sweep_grid, uniform_boxes, whiten_rows)

#: [S3] §5.4.1: mask threshold of every map before detection
TAU = 0.01
#: [S3] §5.4.1: exponent and scale before tuning
RHO_UNTUNED, SIGMA_UNTUNED = 1.0, 1.0
#: [S3] §5.4.2: FS.EGM's tuned exponent and scale (Fig 5.5)
RHO_FS, SIGMA_FS = 7.0, 2.5
#: [S3] §5.4.2: OS.EGM's tuned exponent and scale (Fig 5.8)
RHO_OS, SIGMA_OS = 2.0, 2.5
#: [S3] §5.4.1: exponent of feature saliency in eq 5.14, "by visual inspection"
THETA = 3.0

__all__ = [
    "CENTRALITIES", "EXTENT", "KATZ_ALPHA", "MIN_VAR", "PAGERANK_ALPHA", "PURGE", "RHO_FS", "RHO_OS", "RHO_UNTUNED",
    "SIGMA_FS", "SIGMA_OS", "SIGMA_UNTUNED", "TAU", "THETA",
    "EGMResult", "EGMState", "aggregate_regions", "betweenness", "box_cells", "centrality", "closeness",
    "component_boxes", "degree", "detect_regions", "edge_costs", "egm", "eigenvector", "feature_saliency",
    "fs_channel_weights", "gaussian_inner", "katz", "object_saliency", "pagerank", "patch_descriptors",
    "pixel_box_to_map", "preprocess", "region_descriptors", "region_gem", "region_saliency", "saliency_precision",
    # dataset-level glue (rrlib.god.pipeline, notebook 08)
    "GODConfig", "collection_centralities", "collection_regions", "egm_vectors", "feature_maps", "os_map",
    "patch_neighbours", "split_maps", "sweep_grid", "uniform_boxes", "whiten_rows",
]
