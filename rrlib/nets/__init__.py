"""Networks for image retrieval: pretrained backbones, pooling, global-descriptor extraction.

* :mod:`rrlib.nets.weights` -- torchvision weights loaded through torchvision's own API and cache,
  offline from a verified packaged copy where possible (never random weights in disguise).
* :mod:`rrlib.nets.pooling` -- SPoC, MAC, GeM, R-MAC (regions), CroW, L2 normalisation.
* :mod:`rrlib.nets.retrieval` -- the published fine-tuned GeM networks (cirtorch checkpoints).
* :mod:`rrlib.nets.whitening` -- PCA-whitening and the supervised L_w.
* :mod:`rrlib.nets.extract` -- truncated backbones and batched ``extract_global``; a dataset's descriptors,
  cached, whole or in shards (``python -m rrlib.nets --dataset NAME --shard k/n``, then ``--merge n``).
* :mod:`rrlib.nets.pipeline` -- the whitened descriptors of a dataset, as notebooks 03 and 05 make them.
* :mod:`rrlib.nets.glam` -- GLAM's local / global, channel / spatial attention (notebook 10).
"""
from .extract import BACKBONES, backbone, describe_dataset, extract_features, extract_global, merge_shards, prepare_image, to_tensor
from .retrieval import RETRIEVAL_NETWORKS, RetrievalNetwork, retrieval_network
from .pooling import GeM, crow, crow_channel_weights, crow_spatial_weights, gem, l2n, mac, power_normalize, regional, rmac, rmac_regions, spoc
from .whitening import Whitening, learn_lw, learn_pca_whitening, pairs_from_labels
from .pipeline import POOLINGS, WhitenedDescriptors, whitened_descriptors, whitening_set
from .weights import WeightsUnavailableError, load_mobilenet_v2
from .convlarge import ConvLarge
from .glam import ABLATION as GLAM_ABLATION, GLAM

__all__ = [
    "ConvLarge",
    "GLAM",
    "GLAM_ABLATION",
    "POOLINGS",
    "WhitenedDescriptors",
    "whitened_descriptors",
    "whitening_set",
    "RETRIEVAL_NETWORKS",
    "RetrievalNetwork",
    "retrieval_network",
    "BACKBONES",
    "GeM",
    "Whitening",
    "WeightsUnavailableError",
    "backbone",
    "describe_dataset",
    "extract_features",
    "extract_global",
    "merge_shards",
    "prepare_image",
    "crow",
    "crow_channel_weights",
    "crow_spatial_weights",
    "gem",
    "l2n",
    "learn_lw",
    "learn_pca_whitening",
    "load_mobilenet_v2",
    "mac",
    "pairs_from_labels",
    "power_normalize",
    "regional",
    "rmac",
    "rmac_regions",
    "spoc",
    "to_tensor",
]
