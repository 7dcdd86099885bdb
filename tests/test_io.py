"""rrlib.io: the data root and the one image reader."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rrlib.io import data_root, read_rgb


def test_env_var_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("RRLIB_DATA", str(tmp_path))
    assert data_root() == tmp_path


def test_checkout_default(monkeypatch):
    monkeypatch.delenv("RRLIB_DATA", raising=False)
    assert data_root() == Path(__file__).resolve().parents[1] / "data"


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    """A 16-bit grey PNG became 99 % white (every value above 255 clipped)."""
    ramp = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65520
    Image.fromarray(ramp).save(tmp_path / "ramp16.png")
    rgb = np.asarray(read_rgb(tmp_path / "ramp16.png"))
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[..., 0], np.rint(ramp / 257.0).astype(np.uint8))
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    assert (rgb == 255).mean() < 0.01


def test_32_bit_integers_beyond_16_bits_and_floats_are_refused(tmp_path):
    Image.fromarray(np.full((8, 8), 70000, np.int32)).save(tmp_path / "big.tif")
    with pytest.raises(ValueError, match="big.tif.*0..65535"):
        read_rgb(tmp_path / "big.tif")
    Image.fromarray(np.full((8, 8), 0.5, np.float32)).save(tmp_path / "float.tif")
    with pytest.raises(ValueError, match="float.tif.*mode F"):
        read_rgb(tmp_path / "float.tif")


def test_8_bit_images_are_read_unchanged(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "x.png")
    np.testing.assert_array_equal(np.asarray(read_rgb(tmp_path / "x.png")), arr)
    Image.fromarray(arr[..., 0]).save(tmp_path / "g.png")
    np.testing.assert_array_equal(np.asarray(read_rgb(tmp_path / "g.png"))[..., 1], arr[..., 0])


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_broken_file_is_named_in_the_error(tmp_path, damage):
    path = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not an image at all")
    with pytest.raises(OSError, match=f"{path}"):
        read_rgb(path)
    with pytest.raises(FileNotFoundError, match="absent.jpg"):
        read_rgb(tmp_path / "absent.jpg")
