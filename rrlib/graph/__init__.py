"""The graph toolbox: kNN search, affinity graphs and diffusion.

One machinery for several chapters: diffusion (notebook 05) ranks database items on the kNN
graph of their descriptors; mining on manifolds, graph-based object discovery and label
propagation run the same ``S = D^{-1/2} W D^{-1/2}`` and the same linear systems on other
graphs.
"""
from .build import knn_graph, sym_normalize
from .diffusion import (
    OfflineDiffusion,
    diffuse_cg,
    diffuse_dense,
    diffusion_iterates,
    diffusion_search,
    query_matrix,
    query_vector,
    subgraph,
    truncated_columns,
)
from .expansion import alpha_qe, dba, expand
from .knn import knn, knn_brute

__all__ = [
    "OfflineDiffusion",
    "alpha_qe",
    "dba",
    "expand",
    "diffuse_cg",
    "diffuse_dense",
    "diffusion_iterates",
    "diffusion_search",
    "knn",
    "knn_brute",
    "knn_graph",
    "query_matrix",
    "query_vector",
    "subgraph",
    "sym_normalize",
    "truncated_columns",
]
