"""rrlib: the helper package of a notebook-first course on image retrieval and ranking.

The notebooks in ``notebooks/`` teach; this package computes. Modules by concept:

* :mod:`rrlib.evaluate` -- AP (four conventions), mAP, mP@k, the revisited E/M/H protocol, R@K.
* :mod:`rrlib.datasets` -- data root, registry, downloader, loaders, the embedded synth-landmarks.
* :mod:`rrlib.nets` -- pretrained backbones, pooling, extraction, whitening.
* :mod:`rrlib.local` -- SIFT/RootSIFT, visual vocabularies, the inverted file, spatial re-ranking.
* :mod:`rrlib.learn` -- siamese losses, [S4] tuple mining, a CPU fine-tuning loop.
* :mod:`rrlib.geometry` -- transforms, RANSAC and fast spatial matching (BoW and DSM share it).
* :mod:`rrlib.graph` -- kNN, affinity graphs, diffusion, query expansion.
* :mod:`rrlib.ledger` -- reported numbers of the papers, and the reproduction report.
* :mod:`rrlib.viz`, :mod:`rrlib.widgets`, :mod:`rrlib.exercises` -- what the notebooks show.
"""
__version__ = "0.1.0"
