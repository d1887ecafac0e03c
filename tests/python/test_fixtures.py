"""Check the fixtures against their generators, and pydicom against the synthetic cases.

Run from the repository root with the test venv: target/venv/bin/python -m pytest tests/python
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut

REPO_ROOT = Path(__file__).resolve().parents[2]
SYNTHETIC = REPO_ROOT / "fixtures" / "synthetic"
DERIVED = REPO_ROOT / "fixtures" / "dicom"


def load_script(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read(name: str) -> pydicom.Dataset:
    return pydicom.dcmread(SYNTHETIC / name, force=True)


def modality_values(name: str) -> list[float]:
    ds = read(name)
    return apply_modality_lut(ds.pixel_array, ds).astype(np.float64).ravel().tolist()


def to_8bit(display: np.ndarray, output_range: tuple[float, float]) -> list[int]:
    """Map pydicom's window output from its own output range to 0..255, rounded."""
    low, high = output_range
    scaled = (np.asarray(display, dtype=np.float64) - low) / (high - low) * 255
    return np.rint(scaled).astype(int).ravel().tolist()


@pytest.mark.parametrize(
    "script, folder",
    [
        (SYNTHETIC / "generate.py", SYNTHETIC),
        (DERIVED / "generate_derived.py", DERIVED),
    ],
)
def test_generated_fixtures_up_to_date(script: Path, folder: Path) -> None:
    files = load_script(script).build_files()
    assert files
    for name, data in files.items():
        assert (folder / name).read_bytes() == data, f"{name}: rerun {script.name}"


def test_oracle_up_to_date() -> None:
    oracle = load_script(REPO_ROOT / "tests" / "python" / "make_oracle.py")
    text, _, _, _ = oracle.build_oracle()
    assert oracle.OUTPUT.read_text(encoding="utf-8") == text, "rerun make_oracle.py"


def test_g02_sign_from_pixel_representation() -> None:
    ds = read("g02_us_or_ss_implicit.dcm")
    assert ds.PixelPaddingValue == -2000
    assert ds.SmallestImagePixelValue == -2000
    assert modality_values("g02_us_or_ss_implicit.dcm") == [-2000, -2000, 0, 40]


G03_GRID = [[10 * row + column for column in range(5)] for row in range(3)]


@pytest.mark.parametrize("name", ["g03_pixel_data_16_bytes.dcm", "g03_pixel_data_15_bytes.dcm"])
def test_g03_decodes_3x5_grid(name: str) -> None:
    assert read(name).pixel_array.tolist() == G03_GRID


def test_g03_excess_bytes_warn() -> None:
    ds = read("g03_pixel_data_20_bytes.dcm")
    with pytest.warns(UserWarning, match="5 bytes of excess padding"):
        pixels = ds.pixel_array
    assert pixels.tolist() == G03_GRID


def test_g03_short_pixel_data_rejected() -> None:
    with pytest.raises(ValueError, match="less than expected"):
        read("bad_g03_pixel_data_14_bytes.dcm").pixel_array


@pytest.mark.parametrize(
    "name, expected",
    [
        ("g05_bits_above_bits_stored.dcm", [0, 0, 3071, -1024]),
        ("g06_slice_1.dcm", [-1024, 0, 512, 3071]),
        ("g06_slice_2.dcm", [-1024, 0, 512, 3071]),
        ("g06_slice_3.dcm", [-2048, 0, 1024, 6142]),
        ("g06_dx_no_rescale.dcm", [0, 1024, 1536, 4095]),
        ("g07_two_windows.dcm", [-1000, 40, 80, 1000]),
        ("g11_monochrome2_with_palette.dcm", [5, 10, 13, 20]),
    ],
)
def test_modality_values_match_readme(name: str, expected: list[int]) -> None:
    assert modality_values(name) == expected


def test_g18_inner_hu_and_border() -> None:
    values = np.array(modality_values("g18_padding_value.dcm")).reshape(4, 4)
    assert values[1:3, 1:3].ravel().tolist() == [0, -1024, 0, -1024]
    border = np.ones((4, 4), dtype=bool)
    border[1:3, 1:3] = False
    assert (values[border] == -3024).all()


@pytest.mark.parametrize(
    "name, index, expected",
    [
        ("g07_two_windows.dcm", 0, [0, 129, 255, 255]),
        ("g07_two_windows.dcm", 1, [0, 83, 90, 247]),
        ("g08_monochrome2_window.dcm", 0, [0, 64, 255]),
        ("g08_monochrome1_window.dcm", 0, [0, 64, 255]),
    ],
)
def test_window_8bit_matches_readme(name: str, index: int, expected: list[int]) -> None:
    ds = read(name)
    bits = ds.BitsStored
    slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
    output_range = (intercept, (2**bits - 1) * slope + intercept)
    display = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds, index=index)
    assert to_8bit(display, output_range) == expected


def test_g08_monochrome1_inverted_once() -> None:
    ds = read("g08_monochrome1_window.dcm")
    display = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds)
    window_8bit = to_8bit(display, (0, 4095))
    assert [255 - value for value in window_8bit] == [255, 191, 0]


def test_g09_planar_configurations_agree() -> None:
    expected = [[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [255, 255, 255]]]
    assert read("g09_rgb_planar_1.dcm").pixel_array.tolist() == expected
    assert read("g09_rgb_planar_0.dcm").pixel_array.tolist() == expected


@pytest.mark.parametrize(
    "name, expected",
    [
        ("g11_palette.dcm", [[0, 0, 0], [255, 0, 0], [0, 255, 0], [255, 255, 255]]),
        (
            "g11_palette_first_mapped_10.dcm",
            [[0, 0, 0], [0, 0, 0], [255, 255, 255], [255, 255, 255]],
        ),
    ],
)
def test_g11_palette_rgb(name: str, expected: list[list[int]]) -> None:
    ds = read(name)
    rgb_16bit = apply_color_lut(ds.pixel_array, ds).reshape(-1, 3)
    assert (rgb_16bit // 257).tolist() == expected


@pytest.mark.parametrize(
    "name, expected",
    [
        ("g19_iso2022_ir87.dcm", "Test^Taro=試験^太郎=しけん^たろう"),
        ("g19_utf8.dcm", "Test^Taro=試験^太郎=しけん^たろう"),
        ("g19_gb18030.dcm", "测试"),
        ("g19_latin1_declared_gb18030_bytes.dcm", "²âÊÔ"),
    ],
)
def test_g19_patient_name_decodes(name: str, expected: str) -> None:
    assert str(read(name).PatientName) == expected


def test_g19_iso2022_bytes_per_component() -> None:
    data = (SYNTHETIC / "g19_iso2022_ir87.dcm").read_bytes()
    assert bytes.fromhex("1B 24 42 3B 6E 38 33 1B 28 42") in data
