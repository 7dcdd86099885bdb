"""rrlib: the helper package of a notebook-first course on image retrieval and ranking.

The notebooks in ``notebooks/`` teach; this package computes. Modules by concept:

* :mod:`rrlib.evaluate` -- AP (four conventions), mAP, mP@k, the revisited E/M/H protocol, R@K.
* :mod:`rrlib.viz`, :mod:`rrlib.widgets` -- figures and ipywidgets explorers used by the notebooks.
"""
__version__ = "0.1.0"
