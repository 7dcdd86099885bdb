"""rrlib.learn.distill: asymmetric metric learning [S2] (teacher -> student) and network cost.

The integration tests use notebook 04's teacher (loaded from ``<data root>/checkpoints`` when it
was trained before, trained and saved there otherwise) and short student runs whose checkpoints
go to ``tmp_path`` (the frozen maps stay in the data root's cache, as in test_learn).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn as nn

from rrlib.learn import distill as distill_module
from rrlib.learn import train as train_module
from rrlib.learn.distill import (STUDENT, compare_cost, distill, network_cost, student_alone, teacher_descriptors,
                                 whitened_teacher)


# ---------------------------------------------------------------------------------------- cost
class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)   # 4 * 3 * 3 * 3 = 108 weights
        self.fc = nn.Linear(4, 2)                               # 8 weights + 2 biases

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))


def test_network_cost_by_hand():
    cost = network_cost(Tiny(), 8, repeats=3)
    assert cost["params"] == 108 + 10
    # conv: 4 outputs x 3 x 3 x 3 MACs at each of 8 x 8 positions; linear: 4 x 2 (bias add not a MAC)
    assert cost["gmacs"] * 1e9 == pytest.approx(4 * 27 * 64 + 8)
    assert cost["seconds"] > 0
    rect = network_cost(Tiny(), (8, 16), repeats=1)
    assert rect["gmacs"] * 1e9 == pytest.approx(4 * 27 * 128 + 8)


def test_compare_cost_ratios():
    small, big = Tiny(), nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.AdaptiveAvgPool2d(1))
    c = compare_cost(small, 8, big, 16, repeats=3)
    assert c["teacher"]["params"] == 8 * 27 and c["teacher"]["gmacs"] * 1e9 == pytest.approx(8 * 27 * 256)
    assert c["ratio"]["params"] == pytest.approx(118 / 216)
    assert c["ratio"]["gmacs"] == pytest.approx((4 * 27 * 64 + 8) / (8 * 27 * 256))
    assert c["ratio"]["seconds"] == pytest.approx(c["student"]["seconds"] / c["teacher"]["seconds"])


# ---------------------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def setting():
    from rrlib.datasets import load
    from rrlib.learn import finetune, synth_geometry

    data = load("synth-landmarks", download=True)
    cells, scale = synth_geometry(data)
    teacher = finetune(data, train_module.TrainConfig(epochs=6, image_size=256, seed=0), support=cells,
                       scale_change=scale, progress=False).model
    teacher = whitened_teacher(teacher, data)       # notebook 10's teacher: + L_w, 96-D
    return data, cells, scale, teacher, teacher_descriptors(teacher, data)


SHORT = replace(STUDENT, epochs=2, n_queries=50, pool_size=200, lr=1e-3)


def test_distill_is_deterministic_saved_and_loaded(setting, tmp_path, monkeypatch):
    data, cells, scale, teacher, td = setting
    monkeypatch.setattr(distill_module, "_run_dir", lambda key: tmp_path / key)
    kw = dict(teacher_desc=td, support=cells, scale_change=scale, threads=1, progress=False)
    a = distill(data, teacher, "contr+", SHORT, cache=False, **kw)
    b = distill(data, teacher, "contr+", SHORT, **kw)
    assert not b.cached and len(a.history) == SHORT.epochs + 1
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    for k in ("sym_medium", "asym_medium"):
        assert a.after[k] == b.after[k]
    c = distill(data, teacher, "contr+", SHORT, **kw)
    assert c.cached and c.history == b.history and c.key == b.key
    for (k, v), w in zip(b.model.trained_state().items(), c.model.trained_state().values()):
        assert torch.equal(v, w), k
    # another loss or another teacher size is another run
    assert distill_module.distill_key("reg", SHORT, data, teacher, 256, None) != b.key
    with pytest.raises(ValueError, match="loss must be"):
        distill(data, teacher, "nope", SHORT, **kw)
    with pytest.raises(ValueError, match="dimension"):
        distill(data, teacher, "reg", replace(SHORT, whiten_dim=64), **kw)


def test_regression_student_beats_the_student_alone_in_asymmetric_testing(setting, tmp_path, monkeypatch):
    """Directional [S2]: a student trained to reproduce the teacher (Reg) retrieves from the
    teacher's database; the same student trained alone with labels lives in another space."""
    data, cells, scale, teacher, td = setting
    monkeypatch.setattr(distill_module, "_run_dir", lambda key: tmp_path / key)
    monkeypatch.setattr(train_module, "_run_dir", lambda key: tmp_path / ("alone" + key))
    reg = distill(data, teacher, "reg", replace(STUDENT, epochs=3), teacher_desc=td, threads=1, progress=False)
    alone, ev = student_alone(data, SHORT, teacher_db=td["db"], support=cells, scale_change=scale, threads=1,
                              progress=False)
    assert reg.history[-1]["loss"] < reg.history[1]["loss"]
    assert reg.after["asym_medium"] > ev["asym_medium"] + 5
    assert reg.after["asym_medium"] > reg.history[0]["asym_medium"] + 5
    assert np.isfinite(alone.after["medium"])
