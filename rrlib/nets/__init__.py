"""Networks for image retrieval: pretrained backbones, pooling, global-descriptor extraction.

* :mod:`rrlib.nets.weights` -- torchvision weights loaded through torchvision's own API and cache,
  offline from a verified packaged copy where possible (never random weights in disguise).
* :mod:`rrlib.nets.pooling` -- GeM (Radenović et al., TPAMI 2019) and L2 normalisation.
* :mod:`rrlib.nets.extract` -- truncated backbones and batched ``extract_global``.
"""
from .extract import BACKBONES, backbone, extract_global, to_tensor
from .pooling import GeM, gem, l2n
from .weights import WeightsUnavailableError, load_mobilenet_v2

__all__ = [
    "BACKBONES",
    "GeM",
    "WeightsUnavailableError",
    "backbone",
    "extract_global",
    "gem",
    "l2n",
    "load_mobilenet_v2",
    "to_tensor",
]
