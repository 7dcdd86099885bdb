"""rrlib: the helper package of a notebook-first course on image retrieval and ranking.

The notebooks in ``notebooks/`` teach; this package computes. Modules by concept:

* :mod:`rrlib.io` -- the data root, the one image reader, SHA-256 of files.
* :mod:`rrlib.cache` -- the one cache of computed results, keyed by content, parameters and code.
* :mod:`rrlib.evaluate` -- AP (four conventions), mAP, mP@k, the revisited E/M/H protocol, R@K.
* :mod:`rrlib.datasets` -- registry and catalogue, downloads, archives, safe pickles, loaders,
  the embedded synth-landmarks and synth-objects.
* :mod:`rrlib.nets` -- pretrained backbones, pooling, extraction, whitening.
* :mod:`rrlib.local` -- SIFT/RootSIFT, visual vocabularies, the inverted file, spatial re-ranking.
* :mod:`rrlib.learn` -- siamese losses, [S4] tuple mining, a CPU fine-tuning loop.
* :mod:`rrlib.geometry` -- transforms, RANSAC and fast spatial matching (BoW and DSM share it).
* :mod:`rrlib.graph` -- kNN, affinity graphs, diffusion, query expansion.
* :mod:`rrlib.mom` -- mining on manifolds: anchors, manifold similarity, label-free tuple pools.
* :mod:`rrlib.dsm` -- deep spatial matching: local features of activation maps, re-ranking.
* :mod:`rrlib.god` -- graph-based object discovery: saliency, EGM regions, centralities.
* :mod:`rrlib.ledger` -- reported numbers of the papers, and the reproduction report.
* :mod:`rrlib.viz` (figures), :mod:`rrlib.widgets`, :mod:`rrlib.exercises` -- what the notebooks show.
* :mod:`rrlib.checks`, :mod:`rrlib.progress` -- checked numbers and progress lines of the notebooks.
"""
__version__ = "0.1.0"
