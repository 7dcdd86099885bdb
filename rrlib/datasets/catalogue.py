"""The catalogue: every dataset rrlib knows, registered with :func:`rrlib.datasets.registry.register`.

What a dataset entry means (files, sizes, checksums, layout) is explained in
:mod:`rrlib.datasets.registry`. Pinned here: the SHA-256 and size of the revisitop ground-truth
files (roxford5k, rparis6k). Every other file is *unpinned* (no published checksum; the sizes of the
remote files could not be confirmed when this was written): those are checked against the length the
server announces, the pickles among them are read without running code
(:mod:`rrlib.datasets.pickles`), and the archives are verified to their last byte before extraction
(:mod:`rrlib.datasets.archives`). ``python -m rrlib datasets`` shows the count per dataset.
"""
from __future__ import annotations

from pathlib import Path

from rrlib.datasets.registry import GB, KB, MB, DatasetSpec, FileSpec, register

__all__ = ["REVISITED_GND"]

VGG = "https://www.robots.ox.ac.uk/~vgg/data"
REVISITOP = "http://cmp.felk.cvut.cz/revisitop/data"
CIRTORCH = "http://cmp.felk.cvut.cz/cnnimageretrieval/data"
R1M = "http://ptak.felk.cvut.cz/revisitop/revisitop1m"


def _prepare_synth(root: Path, force: bool = False) -> Path:
    # Imported here, not at the top: the generator pulls in PIL and the renderer, which listing or
    # downloading datasets does not need.
    from rrlib.datasets.synth import generate

    return generate(root, force=force)


def _synth_current(root: Path) -> bool:
    from rrlib.datasets.synth import VERSION, dataset_dir
    from rrlib.datasets.synth.writer import _read_stamp

    stamp = _read_stamp(dataset_dir(root))
    return stamp is None or stamp.get("version") == VERSION   # no stamp: not ours to replace


register(DatasetSpec(
    name="synth-landmarks",
    description="embedded default: generated landmarks, revisitop format (~70 queries, ~800 db, train split)",
    kind="retrieval",
    prepare=_prepare_synth,
    current=_synth_current,
))


def _prepare_synth_objects(root: Path, force: bool = False) -> Path:
    from rrlib.datasets.synth_objects import generate  # lazy, as above

    return generate(root, force=force)


def _synth_objects_current(root: Path) -> bool:
    from rrlib.datasets.synth.writer import _read_stamp
    from rrlib.datasets.synth_objects import VERSION, dataset_dir

    stamp = _read_stamp(dataset_dir(root))
    return stamp is None or stamp.get("version") == VERSION


register(DatasetSpec(
    name="synth-objects",
    description="generated INSTRE-like objects in clutter, with object boxes, revisitop format "
                "(~40 queries, ~400 db, train split)",
    kind="retrieval",
    prepare=_prepare_synth_objects,
    current=_synth_objects_current,
))

# Revisited Oxford / Paris (Radenovic et al., CVPR 2018): the face-blurred "-v1" image archives
# of the VGG pages (June 2022) and the revisitop ground truth (sha256 of the published files).
REVISITED_GND = {
    "roxford5k": FileSpec(f"{REVISITOP}/datasets/roxford5k/gnd_roxford5k.pkl", "datasets/roxford5k/gnd_roxford5k.pkl",
                          sha256="ba7967754bd2d7d2210a5799f9c45ad5835e269a80ef9d3eba44caa35816c471", size=149_871),
    "rparis6k": FileSpec(f"{REVISITOP}/datasets/rparis6k/gnd_rparis6k.pkl", "datasets/rparis6k/gnd_rparis6k.pkl",
                         sha256="d2e729a5293dda7dda8a15c8383424a42e4964a2c4cfea2f32fa85d11d2df499", size=276_508),
}
register(DatasetSpec(
    name="roxford5k",
    description="Revisited Oxford: 4,993 images, 70 queries, Easy/Medium/Hard",
    files=(
        FileSpec(f"{VGG}/oxbuildings/oxbuild_images-v1.tgz", "datasets/roxford5k/oxbuild_images-v1.tgz",
                 approx_size=int(1.8 * GB), extract_to="datasets/roxford5k/jpg", flatten=True),
        REVISITED_GND["roxford5k"],
    ),
    homepage="https://github.com/filipradenovic/revisitop",
))
register(DatasetSpec(
    name="rparis6k",
    description="Revisited Paris: 6,322 images, 70 queries, Easy/Medium/Hard",
    files=tuple(
        FileSpec(f"{VGG}/parisbuildings/paris_{i}-v1.tgz", f"datasets/rparis6k/paris_{i}-v1.tgz",
                 approx_size=int(1.2 * GB), extract_to="datasets/rparis6k/jpg", flatten=True)
        for i in (1, 2)
    ) + (REVISITED_GND["rparis6k"],),
    homepage="https://github.com/filipradenovic/revisitop",
))
register(DatasetSpec(
    name="revisitop1m",
    description="R1M: 1,001,001 distractor images for +R1M (100 archives, optional)",
    kind="distractors",
    files=tuple(
        FileSpec(f"{R1M}/jpg/revisitop1m.{i}.tar.gz", f"datasets/revisitop1m/revisitop1m.{i}.tar.gz",
                 approx_size=3 * GB, extract_to="datasets/revisitop1m/jpg")
        for i in range(1, 101)
    ) + (FileSpec(f"{R1M}/revisitop1m.txt", "datasets/revisitop1m/revisitop1m.txt", approx_size=40 * MB),),
    gnd="datasets/revisitop1m/revisitop1m.txt",
    homepage="https://github.com/filipradenovic/revisitop",
))
# Old protocol (Philbin et al. 2007 / 2008): cirtorch's ok/junk pickles; images shared with the
# revisited sets (cirtorch symlinks them; we point at the same folder).
for _old, _new in (("oxford5k", "roxford5k"), ("paris6k", "rparis6k")):
    register(DatasetSpec(
        name=_old,
        description=f"original {'Oxford 5k' if _old == 'oxford5k' else 'Paris 6k'}, old protocol (ok/junk, 55 queries); images of {_new}",
        files=(FileSpec(f"{CIRTORCH}/test/{_old}/gnd_{_old}.pkl", f"datasets/{_old}/gnd_{_old}.pkl",
                        approx_size=300 * KB),),
        images=f"datasets/{_new}/jpg",
        requires=(_new,),
        homepage="https://github.com/filipradenovic/cnnimageretrieval-pytorch",
    ))
# Training / whitening sets in the cirtorch layout (Radenovic et al., TPAMI 2018): images under
# ims/<cid[-2:]>/<cid[-4:-2]>/<cid[-6:-4]>/<cid>, db pickles with train/val splits.
register(DatasetSpec(
    name="retrieval-sfm-120k",
    description="retrieval-SfM-120k: cirtorch training + whitening set (~50 GB of images)",
    kind="training",
    files=(
        FileSpec(f"{CIRTORCH}/train/ims/ims.tar.gz", "datasets/retrieval-sfm-120k/ims.tar.gz",
                 approx_size=50 * GB, extract_to="datasets/retrieval-sfm-120k/ims"),
        FileSpec(f"{CIRTORCH}/train/dbs/retrieval-SfM-120k.pkl", "datasets/retrieval-sfm-120k/retrieval-SfM-120k.pkl",
                 approx_size=10 * MB),
        FileSpec(f"{CIRTORCH}/train/dbs/retrieval-SfM-120k-whiten.pkl",
                 "datasets/retrieval-sfm-120k/retrieval-SfM-120k-whiten.pkl", approx_size=10 * MB),
    ),
    gnd="datasets/retrieval-sfm-120k/retrieval-SfM-120k.pkl",
    images="datasets/retrieval-sfm-120k/ims",
    homepage="https://github.com/filipradenovic/cnnimageretrieval-pytorch",
))
register(DatasetSpec(
    name="retrieval-sfm-30k",
    description="retrieval-SfM-30k whitening pairs (ECCV 2016); images of retrieval-sfm-120k",
    kind="training",
    files=(FileSpec(f"{CIRTORCH}/train/dbs/retrieval-SfM-30k-whiten.pkl",
                    "datasets/retrieval-sfm-30k/retrieval-SfM-30k-whiten.pkl", approx_size=3 * MB),),
    gnd="datasets/retrieval-sfm-30k/retrieval-SfM-30k-whiten.pkl",
    images="datasets/retrieval-sfm-120k/ims",
    requires=("retrieval-sfm-120k",),
    homepage="https://github.com/filipradenovic/cnnimageretrieval-pytorch",
))
# Pre-computed R101-GeM descriptors shipped with revisitop (the first exact reproduction target:
# ROxf M 64.67 / H 38.47, RPar M 77.20 / H 56.32 with the revisitop evaluation).
register(DatasetSpec(
    name="revisitop-r101-gem",
    description="revisitop's pre-computed ResNet101-GeM (rSfM120k) features for roxford5k/rparis6k "
                "(.mat) with the two gnd files: all the exact reproduction needs, no images",
    kind="features",
    files=tuple(
        FileSpec(f"{REVISITOP}/features/{d}_resnet_rsfm120k_gem.mat", f"features/{d}_resnet_rsfm120k_gem.mat",
                 approx_size=n * MB)
        for d, n in (("roxford5k", 42), ("rparis6k", 53))
    ) + tuple(REVISITED_GND.values()),
    homepage="https://github.com/filipradenovic/revisitop",
))
# Later topics (download only for now: no loader yet).
register(DatasetSpec(
    name="holidays",
    description="INRIA Holidays: 1,491 images, 500 queries (download only, no loader yet)",
    kind="files",
    files=tuple(
        FileSpec(f"ftp://ftp.inrialpes.fr/pub/lear/douze/data/jpg{i}.tar.gz", f"datasets/holidays/jpg{i}.tar.gz",
                 approx_size=n, extract_to="datasets/holidays/jpg", flatten=True)
        for i, n in ((1, int(1.1 * GB)), (2, int(1.7 * GB)))
    ),
    homepage="https://lear.inrialpes.fr/people/jegou/data.php",
))
register(DatasetSpec(
    name="instre",
    description="INSTRE: 28,543 images, 1,250 queries, with Iscen et al.'s gnd_instre.mat "
                "(loader: rrlib.datasets.load_instre)",
    kind="files",
    files=(
        FileSpec("ftp://ftp.irisa.fr/local/texmex/corpus/instre/instre.tar.gz", "datasets/instre/instre.tar.gz",
                 approx_size=int(2.3 * GB), extract_to="datasets/instre"),
        FileSpec("ftp://ftp.irisa.fr/local/texmex/corpus/instre/gnd_instre.mat", "datasets/instre/gnd_instre.mat",
                 approx_size=200 * KB),
    ),
    homepage="http://isia.ict.ac.cn/dataset/instre.html",
))
register(DatasetSpec(
    name="cub200",
    description="CUB-200-2011: 11,788 bird images, 200 classes (metric learning; rrlib.datasets.cub200_split)",
    kind="files",
    files=(FileSpec("https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz",
                    "datasets/cub200/CUB_200_2011.tgz", approx_size=int(1.15 * GB),
                    extract_to="datasets/cub200"),),
    homepage="https://www.vision.caltech.edu/datasets/cub_200_2011/",
))
