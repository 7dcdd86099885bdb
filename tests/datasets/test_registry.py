"""rrlib.datasets registry, loaders and CLI: end to end against the local HTTP server."""
from __future__ import annotations

import hashlib
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import jpeg_bytes, tar_gz_bytes

import rrlib.datasets as ds
from rrlib.__main__ import main
from rrlib.datasets import registry
from rrlib.datasets.registry import DatasetSpec, FileSpec

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO.parent / "shared" / "fixtures" / "revisitop"
EXPECTED_NAMES = {
    "synth-landmarks", "roxford5k", "rparis6k", "revisitop1m", "oxford5k", "paris6k",
    "retrieval-sfm-120k", "retrieval-sfm-30k", "revisitop-r101-gem",
}
QUADRANTS = [(250, 0, 0), (0, 250, 0), (0, 0, 250), (250, 250, 0)]  # TL, TR, BL, BR


@pytest.fixture
def isolated_registry(monkeypatch):
    """Registrations made by a test are dropped afterwards."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    return registry


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def toy(file_server, isolated_registry):
    """A revisitop-like dataset served over HTTP: a .tgz of JPEGs in sub-folders + a gnd pickle."""
    imlist = [f"toy_db_{i:03d}" for i in range(6)]
    qimlist = ["toy_q_000", "toy_q_001"]
    members = {f"toy/db/{n}.jpg": jpeg_bytes((64, 48), (40 * i, 100, 200 - 30 * i)) for i, n in enumerate(imlist)}
    members.update({f"toy/queries/{n}.jpg": jpeg_bytes((80, 60), quadrants=QUADRANTS) for n in qimlist})
    gnd = [
        {"bbx": [40.0, 0.0, 80.0, 30.0], "easy": [0, 1], "hard": [2], "junk": [3]},  # top-right quarter
        {"bbx": [0.0, 30.0, 40.0, 60.0], "easy": [4], "hard": [], "junk": [5]},      # bottom-left quarter
    ]
    archive = tar_gz_bytes(members)
    pkl = pickle.dumps({"imlist": imlist, "qimlist": qimlist, "gnd": gnd})
    spec = registry.register(DatasetSpec(
        name="toy-landmarks",
        description="toy revisitop-format set served by the test",
        files=(
            FileSpec(file_server.add("/vgg/toy-v1.tgz", archive), "datasets/toy-landmarks/toy-v1.tgz",
                     sha256=_sha(archive), size=len(archive), extract_to="datasets/toy-landmarks/jpg", flatten=True),
            FileSpec(file_server.add("/revisitop/gnd_toy-landmarks.pkl", pkl),
                     "datasets/toy-landmarks/gnd_toy-landmarks.pkl", sha256=_sha(pkl), size=len(pkl)),
        ),
    ))
    return spec, imlist, qimlist, gnd


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------
def test_registry_holds_the_benchmarks():
    assert EXPECTED_NAMES <= set(ds.names())
    assert ds.get("ROxford5k") is ds.get("roxford5k")  # case-insensitive
    for name in ds.names():
        spec = ds.get(name)
        assert spec.generated or spec.files, name
        for f in spec.files:
            assert f.url.startswith(("http://", "https://", "ftp://")), f.url
            assert f.dest.startswith(("datasets/", "features/")), f.dest
            assert (f.extract_to is not None) == f.dest.endswith((".tgz", ".tar.gz", ".zip")), f.dest
            assert f.size is not None or f.approx_size, f"{name}: no size at all for {f.url}"
    assert len(ds.get("revisitop1m").files) == 101
    # the exact reproduction needs the two descriptor files and the two gnd files, no images
    dests = sorted(f.dest for f in ds.get("revisitop-r101-gem").files)
    assert dests == ["datasets/roxford5k/gnd_roxford5k.pkl", "datasets/rparis6k/gnd_rparis6k.pkl",
                     "features/roxford5k_resnet_rsfm120k_gem.mat", "features/rparis6k_resnet_rsfm120k_gem.mat"]


@pytest.mark.parametrize("name", ["roxford5k", "rparis6k"])
def test_registered_checksums_match_the_published_gnd(name):
    fixture = FIXTURES / f"gnd_{name}.pkl"
    if not fixture.is_file():
        pytest.skip(f"{fixture} absent")
    gnd_spec = next(f for f in ds.get(name).files if f.dest.endswith(".pkl"))
    data = fixture.read_bytes()
    assert (gnd_spec.sha256, gnd_spec.size) == (_sha(data), len(data))


def test_unknown_name_lists_the_registered_ones(tmp_path):
    with pytest.raises(ds.UnknownDatasetError) as info:
        ds.load("roxford5", root=tmp_path)
    msg = str(info.value)
    assert "'roxford5'" in msg and all(n in msg for n in EXPECTED_NAMES)


def test_absent_data_says_how_to_get_it(tmp_path):
    with pytest.raises(ds.DatasetNotFoundError) as info:
        ds.load("rparis6k", root=tmp_path)
    msg = str(info.value)
    assert "python -m rrlib download rparis6k" in msg
    assert "GB" in msg and "paris_1-v1.tgz" in msg and str(tmp_path / "datasets" / "rparis6k") in msg
    assert not (tmp_path / "datasets").exists()  # looking did not create anything


def test_old_protocol_set_needs_the_shared_images(tmp_path):
    with pytest.raises(ds.DatasetNotFoundError) as info:
        ds.load("oxford5k", root=tmp_path)
    assert "roxford5k" in str(info.value) and "gnd_oxford5k.pkl" in str(info.value)


def test_features_and_training_sets_are_not_loadable_as_benchmarks(tmp_path):
    with pytest.raises(ValueError, match="dataset_files"):
        ds.load("revisitop-r101-gem", root=tmp_path)
    with pytest.raises(ValueError, match="training"):
        ds.load("retrieval-sfm-120k", root=tmp_path)


def test_generated_dataset_is_prepared_on_first_load_then_cached(tmp_path, isolated_registry):
    calls = []

    def fake_generate(root: Path, force: bool = False) -> Path:
        calls.append(force)
        folder = root / "datasets" / "gen-toy"
        (folder / "jpg").mkdir(parents=True, exist_ok=True)
        (folder / "jpg" / "a.jpg").write_bytes(jpeg_bytes())
        (folder / "jpg" / "q.jpg").write_bytes(jpeg_bytes((80, 60), quadrants=QUADRANTS))
        gnd = [{"bbx": [0, 0, 40, 30], "easy": [0], "hard": [], "junk": []}]
        with open(folder / "gnd_gen-toy.pkl", "wb") as f:
            pickle.dump({"imlist": ["a"], "qimlist": ["q"], "gnd": gnd, "train": {"cids": ["x"]}}, f)
        return folder

    registry.register(DatasetSpec(name="gen-toy", description="generated", prepare=fake_generate))
    assert not ds.get("gen-toy").is_present(tmp_path)
    data = ds.load("gen-toy", root=tmp_path)  # no network involved: generated here
    assert calls == [False] and data.n_images == 1 and data.extra == {"train": {"cids": ["x"]}}
    ds.load("gen-toy", root=tmp_path)
    assert calls == [False]  # cached
    assert main(["prepare", "gen-toy", "--root", str(tmp_path), "--force"]) == 0
    assert calls == [False, True]


# --------------------------------------------------------------------------------------------
# End to end: download a registered spec, then load it
# --------------------------------------------------------------------------------------------
def test_download_then_load_reads_images_and_cropped_queries(toy, file_server, tmp_path):
    spec, imlist, qimlist, gnd = toy
    with pytest.raises(ds.DatasetNotFoundError, match="python -m rrlib download toy-landmarks"):
        ds.load("toy-landmarks", root=tmp_path)

    data = ds.load("toy-landmarks", root=tmp_path, download=True)
    folder = tmp_path / "datasets" / "toy-landmarks"
    assert data.name == "toy-landmarks" and data.root == tmp_path and data.folder == folder
    assert data.images == [folder / "jpg" / f"{n}.jpg" for n in imlist]
    assert data.queries == [folder / "jpg" / f"{n}.jpg" for n in qimlist]
    assert all(p.is_file() for p in data.images + data.queries)
    assert data.gnd == gnd and data.revisited and len(data) == 6 and data.n_queries == 2
    # the archive is gone once extracted; a marker records the extraction
    assert not (folder / "toy-v1.tgz").exists() and spec.files[0].marker(tmp_path).is_file()
    assert sorted(p.name for p in folder.iterdir()) == ["gnd_toy-landmarks.pkl", "jpg"]

    img = data.read_image(3)
    assert img.mode == "RGB" and img.size == (64, 48)
    assert np.abs(np.asarray(img, dtype=float).mean(axis=(0, 1)) - (120, 100, 110)).max() < 6

    full = data.read_query(0, crop=False)
    assert full.size == (80, 60)
    for q, quadrant in ((0, QUADRANTS[1]), (1, QUADRANTS[2])):
        crop = data.read_query(q)
        assert crop.size == (40, 30)
        inner = np.asarray(crop, dtype=float)[5:-5, 5:-5]  # away from JPEG ringing at the edges
        assert np.abs(inner.mean(axis=(0, 1)) - quadrant).max() < 12, (q, inner.mean(axis=(0, 1)))
    np.testing.assert_array_equal(data.bbxs, [[40, 0, 80, 30], [0, 30, 40, 60]])

    medium = data.old_protocol("medium")
    assert sorted(medium[0]["ok"]) == [0, 1, 2] and list(medium[0]["junk"]) == [3]
    hard = data.old_protocol("hard")
    assert list(hard[0]["ok"]) == [2] and sorted(hard[0]["junk"]) == [0, 1, 3]

    # present now: loads with the server gone and shows in the table
    n_requests = len(file_server.requests)
    file_server.files.clear()
    assert ds.load("toy-landmarks", root=tmp_path).n_images == 6
    assert len(file_server.requests) == n_requests
    row = next(r for r in ds.available(tmp_path) if r.name == "toy-landmarks")
    assert row.present and row.size_on_disk > 0 and row.download_exact
    assert row.download_size == sum(f.size for f in spec.files)


def test_cli_download_and_datasets(toy, tmp_path, capsys):
    spec, *_ = toy
    assert main(["datasets", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in EXPECTED_NAMES | {"toy-landmarks"})
    line = next(l for l in out.splitlines() if l.startswith("toy-landmarks "))
    assert line.split()[1] == "no"

    assert main(["download", "toy-landmarks", "--root", str(tmp_path), "--quiet"]) == 0
    assert "ready" in capsys.readouterr().out
    assert main(["datasets", "--root", str(tmp_path)]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("toy-landmarks "))
    assert line.split()[1] == "yes"


def test_cli_failures_have_clear_codes(toy, file_server, tmp_path, capsys):
    assert main(["download", "no-such-set", "--root", str(tmp_path)]) == 2
    assert "unknown dataset 'no-such-set'" in capsys.readouterr().err
    file_server.files.pop("/vgg/toy-v1.tgz")  # the archive moved: 404
    assert main(["download", "toy-landmarks", "--root", str(tmp_path), "--quiet", "--retries", "0"]) == 1
    err = capsys.readouterr().err
    assert "404" in err and spec_url(toy) in err and "by hand" in err
    assert main(["prepare", "roxford5k", "--root", str(tmp_path)]) == 2


def spec_url(toy) -> str:
    return toy[0].files[0].url


def test_module_entry_point_prints_the_table(tmp_path):
    result = subprocess.run([sys.executable, "-m", "rrlib", "datasets", "--root", str(tmp_path)],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "roxford5k" in result.stdout and "synth-landmarks" in result.stdout and "generated" in result.stdout
    result = subprocess.run([sys.executable, "-m", "rrlib", "download"], capture_output=True, text=True,
                            cwd=REPO, timeout=120)
    assert result.returncode == 2 and "NAME" in result.stderr


# --------------------------------------------------------------------------------------------
# The real revisitop ground truth
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, n_db", [("roxford5k", 4993), ("rparis6k", 6322)])
def test_real_gnd_served_verified_and_loaded(name, n_db, file_server, tmp_path, isolated_registry):
    fixture = FIXTURES / f"gnd_{name}.pkl"
    if not fixture.is_file():
        pytest.skip(f"{fixture} absent")
    real = ds.get(name)
    gnd_file = next(f for f in real.files if f.dest.endswith(".pkl"))
    archives = [f for f in real.files if f.extract_to]
    # the registered spec, with its URLs pointed at the local server (same checksums and paths)
    url = file_server.add(f"/revisitop/{name}/gnd_{name}.pkl", fixture.read_bytes())
    local = FileSpec(url, gnd_file.dest, gnd_file.sha256, gnd_file.size)
    registry.register(DatasetSpec(name=name, description=real.description, files=(*archives, local)), replace=True)
    for a in archives:  # pretend the image archives were extracted (no images in the fixtures)
        a.marker(tmp_path).parent.mkdir(parents=True, exist_ok=True)
        a.marker(tmp_path).touch()

    data = ds.load(name, root=tmp_path, download=True)
    assert (data.n_images, data.n_queries) == (n_db, 70) and data.revisited
    assert data.images[0] == tmp_path / "datasets" / name / "jpg" / f"{data.imlist[0]}.jpg"
    assert not set(data.qimlist) & set(data.imlist)  # queries are not in the database
    for g in data.gnd:
        assert set(g) == {"bbx", "easy", "hard", "junk"}
        x1, y1, x2, y2 = g["bbx"]
        assert x2 > x1 >= 0 and y2 > y1 >= 0
        assert not set(g["easy"]) & set(g["hard"])
    assert data.bbxs.shape == (70, 4)
    medium = data.old_protocol("medium")
    assert len(medium) == 70
    assert all(len(m["ok"]) == len(g["easy"]) + len(g["hard"]) for m, g in zip(medium, data.gnd))


# --------------------------------------------------------------------------------------------
# Files that do not verify, malformed ground truth, what the CLI says, leftovers
# --------------------------------------------------------------------------------------------
def test_corrupt_gnd_of_the_right_size_is_not_present(toy, file_server, tmp_path):
    spec, *_ = toy
    ds.load("toy-landmarks", root=tmp_path, download=True)
    gnd = tmp_path / "datasets" / "toy-landmarks" / "gnd_toy-landmarks.pkl"
    data = bytearray(gnd.read_bytes())
    data[len(data) // 2] ^= 0xFF
    gnd.write_bytes(bytes(data))  # same size, other bytes
    assert not spec.is_present(tmp_path)
    with pytest.raises(ds.DatasetNotFoundError) as info:
        ds.load("toy-landmarks", root=tmp_path)
    assert str(gnd) in str(info.value) and "sha256" in str(info.value)
    assert ds.load("toy-landmarks", root=tmp_path, download=True).n_images == 6  # fetched again
    assert spec.is_present(tmp_path)


def _write_gnd(tmp_path, isolated_registry, content: dict) -> Path:
    registry.register(DatasetSpec(name="hand-made", description="placed by hand", files=(
        FileSpec("http://127.0.0.1:9/gnd_hand-made.pkl", "datasets/hand-made/gnd_hand-made.pkl"),)))
    path = tmp_path / "datasets" / "hand-made" / "gnd_hand-made.pkl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(content))
    return path


GOOD = {"imlist": ["a", "b"], "qimlist": ["q"], "gnd": [{"bbx": [0, 0, 4, 4], "easy": [0], "hard": [1], "junk": []}]}


@pytest.mark.parametrize("change, field", [
    ({"gnd": [{"bbx": [0, 0, 4, 4], "easy": [0.5], "hard": [], "junk": []}]}, "'easy'"),
    ({"gnd": [{"bbx": [0, 0, 4, 4], "easy": [True], "hard": [], "junk": []}]}, "'easy'"),
    ({"imlist": "ab"}, "'imlist'"),
    ({"qimlist": "q"}, "'qimlist'"),
    ({"imlist": ["a", 2]}, "imlist[1]"),
    ({"gnd": {"bbx": [0, 0, 4, 4]}}, "'gnd'"),
    ({"gnd": [{"bbx": [0, 0, "x", 4], "easy": [0], "hard": [], "junk": []}]}, "'bbx'"),
])
def test_malformed_ground_truth_names_file_and_field(tmp_path, isolated_registry, change, field):
    path = _write_gnd(tmp_path, isolated_registry, {**GOOD, **change})
    with pytest.raises(ValueError) as info:
        ds.load("hand-made", root=tmp_path)
    assert str(path) in str(info.value) and field in str(info.value)


def test_unreadable_unpinned_gnd_names_the_file(tmp_path, isolated_registry):
    path = _write_gnd(tmp_path, isolated_registry, GOOD)
    assert ds.load("hand-made", root=tmp_path).n_images == 2
    path.write_bytes(path.read_bytes()[:-20])  # truncated
    with pytest.raises(ValueError) as info:
        ds.load("hand-made", root=tmp_path)
    assert str(path) in str(info.value)


def test_cli_says_it_extracts_an_archive_already_downloaded(toy, file_server, tmp_path, capsys):
    spec, *_ = toy
    archive = spec.files[0]
    (tmp_path / archive.dest).parent.mkdir(parents=True)
    (tmp_path / archive.dest).write_bytes(file_server.files["/vgg/toy-v1.tgz"])  # placed by hand
    assert main(["download", "toy-landmarks", "--root", str(tmp_path), "--quiet"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "verifying and extracting toy-v1.tgz" in first and "downloading" in first  # the gnd is fetched
    assert "GB" not in first and file_server.requests_for("/vgg/toy-v1.tgz") == []
    assert main(["download", "toy-landmarks", "--root", str(tmp_path), "--quiet"]) == 0
    assert "checking toy-landmarks (all files present)" in capsys.readouterr().out


def test_archive_left_beside_its_done_marker_is_removed(toy, tmp_path):
    spec, *_ = toy
    ds.download("toy-landmarks", tmp_path, progress=False)
    archive = tmp_path / spec.files[0].dest
    archive.write_bytes(b"a run killed after the marker, before deleting the archive")
    (tmp_path / f"{spec.files[0].dest}.part").write_bytes(b"and a part")
    ds.download("toy-landmarks", tmp_path, progress=False)
    assert not archive.exists() and not (tmp_path / f"{spec.files[0].dest}.part").exists()


def test_table_counts_the_pinned_files(tmp_path):
    out = ds.format_table(root=tmp_path)
    line = next(l for l in out.splitlines() if l.startswith("roxford5k "))
    assert "1/2" in line.split() and "pinned" in out
    assert all(f.sha256 and f.size for f in ds.get("revisitop-r101-gem").files if f.dest.endswith(".pkl"))
