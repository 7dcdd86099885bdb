"""[S3] §5.4.2's claim, directional: object saliency OS is more precise than feature saliency FS.

A small synth-objects collection (6 instances x 8 pictures, 12 clutter pictures, 384 px, seeded),
the off-the-shelf MobileNetV2 "↑" of notebook 08, GeM + L_w, FS.EGM regions, the region graph, Katz,
OS (eq 5.14); saliency precision inside the instance's box. Measured on seeds 0 and 1 (2026-11-30):
FS 0.169 / 0.169, FS^3 0.211 / 0.205, OS 0.234 / 0.240, OS above FS on 75 % / 94 % of the object
pictures. About 25 s on one core, most of it generating the pictures and running the network.
"""
import numpy as np
import pytest

from rrlib import datasets as ds, god, graph
from rrlib.datasets.synth_objects import NAME, ObjectsConfig, generate
from rrlib.nets import backbone, whitened_descriptors
from rrlib.nets import weights as W
from rrlib.nets.pooling import gem

CONFIG = ObjectsConfig(instances=6, db_per_instance=8, distractor_images=12, queries_per_instance=1,
                       train_instances=6, train_per_instance=8)


@pytest.fixture(scope="module")
def net():
    if W.packaged_mobilenet_v2_file() is None and not (W.checkpoint_dir() / W.MOBILENET_V2_FILE).is_file():
        pytest.skip("MobileNetV2 weights absent")
    return backbone("mobilenet_v2", upsample=True)


def test_object_saliency_is_more_precise_than_feature_saliency(net, tmp_path, monkeypatch):
    monkeypatch.setenv("RRLIB_DATA", str(tmp_path))                  # the GOD passes cache under the data root
    generate(tmp_path, seed=0, image_size=384, config=CONFIG, progress=False)
    data = ds.load(NAME, root=tmp_path)
    _, _, lw = whitened_descriptors(data, net, pools={"GeM": gem}, dim=32, progress=False)
    cfg = god.GODConfig(rhos=(), sigmas=(), patch_sides=(3,))
    R = god.collection_regions(data, net, lw, cfg, progress=False)
    u = god.katz(graph.knn_graph(R["V"], cfg.graph_k), cfg.katz_alpha)
    P = god.patch_neighbours(data, net, lw, R, u, cfg, progress=False)

    fs = god.split_maps(R["fs"], R["shapes"])
    sims, idx = god.split_maps(P["sims_3"], R["shapes"]), god.split_maps(P["idx_3"], R["shapes"])
    boxes = ds.object_boxes(data)
    objects = [i for i in range(data.n_images) if len(boxes[i])]
    assert len(objects) == CONFIG.instances * CONFIG.db_per_instance

    def precision(S, i):
        return god.saliency_precision(S, boxes[i][0], tuple(R["sizes"][i]))

    p_fs = np.array([precision(fs[i], i) for i in objects])
    p_os = np.array([precision(god.os_map(fs[i], sims[i], idx[i], R["f"], u, theta=cfg.theta), i) for i in objects])
    # measured 0.169 vs 0.234 (seed 0): the margin 0.03 is about half the measured gap
    assert p_os.mean() > p_fs.mean() + 0.03, (p_fs.mean(), p_os.mean())
    assert np.mean(p_os > p_fs) > 0.6
