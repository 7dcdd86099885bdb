"""Matplotlib figures used by the notebooks, one module per topic. Every function draws on the
``ax`` (or ``axes``) it is given, or on new ones, and returns them (or what it computed on the
way), so a notebook can compose figures; nothing here computes a metric of its own -- the numbers
come from :mod:`rrlib.evaluate`, :mod:`rrlib.nets.pooling` and the rest of the package.

* :mod:`rrlib.viz.style` -- the colours of ranked items (:data:`LABEL_COLORS`), the image panel.
* :mod:`rrlib.viz.ranking` -- ranked lists, PR curves, the AP build-up (notebook 01).
* :mod:`rrlib.viz.datasets` -- a query with its easy, hard and junk images (notebook 01).
* :mod:`rrlib.viz.local` -- keypoint frames, visual-word patches, inverted files, matches (notebook 02).
* :mod:`rrlib.viz.pooling` -- feature maps, GeM / MAC / R-MAC / CroW pictures (notebook 03).
* :mod:`rrlib.viz.learning` -- the siamese picture, tuple galleries, training curves, 2-D
  embeddings (notebook 04).
* :mod:`rrlib.viz.graph` -- a graph and its diffusion scores on 2-D points (notebook 05).
* :mod:`rrlib.viz.mom` -- the sets of mining on manifolds and the random walk's pi on 2-D points (notebook 06).
* :mod:`rrlib.viz.active` -- the active-learning loop (Algorithm 1), picks and label propagation on 2-D
  points, accuracy curves, rank scatter and agreement of acquisition functions (notebook 09).
* :mod:`rrlib.viz.beyond` -- the asymmetric setup, teacher and student embeddings, Metrix's
  positivity, GLAM's attention maps (notebook 10).

Every public name is importable from :mod:`rrlib.viz` itself.
"""
from .active import (plot_accuracy_curves, plot_active_loop, plot_agreement_bars, plot_picks, plot_propagation,
                     plot_rank_scatter)
from .beyond import joint_tsne, plot_asymmetric_setup, plot_attention_maps, plot_joint_embedding, plot_positivity
from .datasets import plot_query_examples, query_examples
from .graph import plot_graph_2d, plot_scores_2d
from .learning import pca_2d, plot_curves, plot_embedding_2d, plot_image_rows, plot_siamese
from .mom import SET_COLORS, plot_pi_2d, plot_set_2d
from .local import plot_frames, plot_inverted_file, plot_matches, plot_patch_grid
from .pooling import plot_crow_weights, plot_feature_maps, plot_gem_p, plot_mac_top_channels, plot_rmac_regions
from .ranking import plot_ap_build_up, plot_pr_curve, plot_ranking
from .style import LABEL_COLORS, image_panel

__all__ = [
    "LABEL_COLORS", "SET_COLORS", "image_panel", "joint_tsne", "plot_asymmetric_setup", "plot_attention_maps",
    "plot_joint_embedding", "plot_positivity", "plot_pi_2d", "plot_set_2d", "pca_2d", "plot_ap_build_up", "plot_crow_weights", "plot_curves",
    "plot_embedding_2d", "plot_feature_maps", "plot_frames", "plot_gem_p", "plot_graph_2d", "plot_image_rows", "plot_inverted_file",
    "plot_mac_top_channels", "plot_matches", "plot_patch_grid", "plot_pr_curve", "plot_query_examples",
    "plot_ranking", "plot_rmac_regions", "plot_scores_2d", "plot_siamese", "query_examples",
    "plot_accuracy_curves", "plot_active_loop", "plot_agreement_bars", "plot_picks", "plot_propagation",
    "plot_rank_scatter",
]
