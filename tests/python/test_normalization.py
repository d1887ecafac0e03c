"""Training normalization checked against NumPy and Pillow on the same pixels.

`hounsfield stats` writes histogram breakpoints and channel moments; `hounsfield convert`
applies them. Each test recomputes the numbers from pydicom's modality values (stored values
through the Modality LUT, padding pixels left out) with NumPy and compares. Resizing is
compared with Pillow's float ("F" mode) resampling, which fast_image_resize follows.

The binary comes from HOUNSFIELD_BIN, as in test_convert.py:

    HOUNSFIELD_BIN=target/release/hounsfield target/venv/bin/python -m pytest \
        tests/python/test_normalization.py
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
import yaml
from PIL import Image
from pydicom.pixels import apply_modality_lut

REPO_ROOT = Path(__file__).resolve().parents[2]
PYDICOM_FILES = REPO_ROOT / "fixtures" / "dicom" / "pydicom"
SYNTHETIC = REPO_ROOT / "fixtures" / "synthetic"

# CT with Pixel Padding Value, MR without a Modality LUT, and the 4 x 4 padding case whose
# 12 border pixels are padding (GOTCHAS G-18).
SAMPLE_FILES = [
    PYDICOM_FILES / "CT_small.dcm",
    PYDICOM_FILES / "MR_small.dcm",
    SYNTHETIC / "g18_padding_value.dcm",
]

RECIPE = """\
channels:
  - modality
  - window: brain
  - modality:
    steps: [{ scale: { from: [-1000, 1000], to: [0, 1], clip: true } }]
  - histogram
  - modality:
    steps: [standardize]
stats: stats.yaml
"""


def hounsfield_bin() -> Path:
    value = os.environ.get("HOUNSFIELD_BIN")
    if not value:
        pytest.fail(
            "HOUNSFIELD_BIN is not set: build target/release/hounsfield and set it "
            "(tests/run.sh does both)",
            pytrace=False,
        )
    return Path(value)


def run(*args: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(hounsfield_bin()), *map(str, args)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return result


def modality_and_mask(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Modality values as float32 and the padding mask, from pydicom."""
    dataset = pydicom.dcmread(path)
    stored = dataset.pixel_array
    values = np.asarray(apply_modality_lut(stored, dataset), dtype=np.float64).astype(np.float32)
    padding = np.zeros(stored.shape, dtype=bool)
    if "PixelPaddingValue" in dataset:
        first = int(dataset.PixelPaddingValue)
        last = int(dataset.get("PixelPaddingRangeLimit", first))
        low, high = min(first, last), max(first, last)
        padding = (stored >= low) & (stored <= high)
    return values, padding


def breakpoints(values: np.ndarray, bins: int) -> np.ndarray:
    """The documented rule, written out in NumPy."""
    s = np.sort(values)
    t = np.concatenate([[0.001], (np.arange(bins) + 0.5) / bins, [0.999]])
    k = np.minimum(np.floor(len(s) * t).astype(np.int64), len(s) - 1)
    return np.unique(s[k].astype(np.float64))


def linear_window(x: np.ndarray, center: float, width: float) -> np.ndarray:
    """VOI LUT Function LINEAR of DICOM PS3.3 C.11.2.1.2.1 onto [0, 1]."""
    x = x.astype(np.float64)
    lower = center - 0.5 - (width - 1) / 2
    upper = center - 0.5 + (width - 1) / 2
    y = (x - (center - 0.5)) / (width - 1) + 0.5
    return np.where(x <= lower, 0.0, np.where(x > upper, 1.0, y))


def histogram_scale(x: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.interp(x.astype(np.float64), b, np.linspace(0.0, 1.0, len(b)))


def scale(x: np.ndarray) -> np.ndarray:
    return np.clip((x.astype(np.float64) + 1000.0) / 2000.0, 0.0, 1.0)


def as_f32(values: np.ndarray) -> np.ndarray:
    """Channels are stored as float32; compare moments of the stored values."""
    return values.astype(np.float32).astype(np.float64)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("normalization")
    inputs = folder / "inputs"
    inputs.mkdir()
    for path in SAMPLE_FILES:
        shutil.copy(path, inputs / path.name)
    (folder / "recipe.yaml").write_text(RECIPE)
    run(
        "stats", inputs, "--output", folder / "stats.yaml", "--recipe", folder / "recipe.yaml",
        "--sample", 10, "--bins", 10, "--seed", 3, "--plot", folder / "hist.png",
    )
    return folder


@pytest.fixture(scope="module")
def stats(workspace: Path) -> dict:
    return yaml.safe_load((workspace / "stats.yaml").read_text())


@pytest.fixture(scope="module")
def pooled(stats: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Valid modality values per sampled file name."""
    result = {}
    for name in stats["provenance"]["files"]:
        values, padding = modality_and_mask(Path(name))
        result[Path(name).name] = (values, padding)
    return result


def test_stats_uses_every_sampled_file(stats: dict) -> None:
    names = sorted(Path(name).name for name in stats["provenance"]["files"])
    assert names == sorted(path.name for path in SAMPLE_FILES)
    assert stats["provenance"]["seed"] == 3
    assert stats["provenance"]["sample_size"] == 10
    assert stats["format"] == "hounsfield-stats/1"


def test_breakpoints_match_numpy(stats: dict, pooled: dict) -> None:
    # Values are pooled in sample order; the rule sorts them, so order does not matter.
    values = np.concatenate([v[~p] for v, p in pooled.values()])
    assert stats["histogram"]["values"] == values.size
    np.testing.assert_array_equal(np.array(stats["histogram"]["breakpoints"]), breakpoints(values, 10))


def test_channel_moments_match_numpy(stats: dict, pooled: dict) -> None:
    valid = [v[~p] for v, p in pooled.values()]
    b = np.array(stats["histogram"]["breakpoints"])
    expected = {
        0: np.concatenate(valid).astype(np.float64),
        1: np.concatenate([as_f32(linear_window(v, 40.0, 80.0)) for v in valid]),
        2: np.concatenate([as_f32(scale(v)) for v in valid]),
        3: np.concatenate([as_f32(histogram_scale(v, b)) for v in valid]),
    }
    channels = stats["channels"]
    for index, values in expected.items():
        channel = channels[index]
        assert channel["count"] == values.size, index
        np.testing.assert_allclose(channel["mean"], values.mean(), rtol=1e-9, atol=1e-12, err_msg=str(index))
        np.testing.assert_allclose(channel["std"], values.std(), rtol=1e-9, err_msg=str(index))
        assert channel["min"] == values.min(), index
        assert channel["max"] == values.max(), index
    # The standardized channel is measured before `standardize`: plain modality values.
    assert channels[4]["signature"] == channels[0]["signature"]
    assert channels[4]["mean"] == channels[0]["mean"]


def test_statistics_exclude_padding(tmp_path: Path) -> None:
    # G-18: 16 pixels, 12 of them padding (stored -2000, which would be -3024 HU); the
    # inner 2 x 2 is HU [0, -1024, 0, -1024].
    run(
        "stats", SYNTHETIC / "g18_padding_value.dcm", "--output", tmp_path / "stats.yaml",
        "--bins", 4,
    )
    stats = yaml.safe_load((tmp_path / "stats.yaml").read_text())
    modality = stats["channels"][0]
    assert modality["count"] == 4
    assert modality["min"] == -1024.0
    assert modality["max"] == 0.0
    assert modality["mean"] == -512.0
    assert modality["std"] == 512.0
    assert stats["histogram"]["values"] == 4
    assert stats["histogram"]["breakpoints"] == [-1024.0, 0.0]


def test_stats_are_deterministic(workspace: Path, tmp_path: Path) -> None:
    run(
        "stats", workspace / "inputs", "--output", tmp_path / "again.yaml", "--recipe",
        workspace / "recipe.yaml", "--sample", 10, "--bins", 10, "--seed", 3, "--jobs", 1,
    )
    # Same inputs, seed and recipe on one thread instead of all: the same bytes.
    assert (tmp_path / "again.yaml").read_text() == (workspace / "stats.yaml").read_text()


def test_stratified_sample_takes_each_modality(workspace: Path, tmp_path: Path) -> None:
    run(
        "stats", workspace / "inputs", "--output", tmp_path / "strata.yaml", "--sample", 2,
        "--stratify", "modality",
    )
    stats = yaml.safe_load((tmp_path / "strata.yaml").read_text())
    assert stats["provenance"]["stratify"] == "modality"
    assert stats["provenance"]["strata"] == {"CT": 1, "MR": 1}


def test_plot_is_written(workspace: Path) -> None:
    with Image.open(workspace / "hist.png") as image:
        assert image.size == (900, 420)
        assert image.mode == "RGB"


def read_samples(output: Path) -> list[tuple[np.ndarray, dict]]:
    samples: dict[str, dict] = {}
    for shard in sorted((output / "shards").glob("*.tar")):
        with tarfile.open(shard) as archive:
            for member in archive.getmembers():
                key, _, extension = member.name.partition(".")
                data = archive.extractfile(member)
                assert data is not None
                samples.setdefault(key, {})[extension] = data.read()
    return [
        (np.load(io.BytesIO(parts["npy"])), json.loads(parts["json"]))
        for parts in samples.values()
    ]


def test_convert_applies_the_statistics(workspace: Path, stats: dict) -> None:
    output = workspace / "converted"
    run("convert", workspace / "inputs", "--output", output, "--recipe", workspace / "recipe.yaml")
    b = np.array(stats["histogram"]["breakpoints"])
    mean, std = stats["channels"][0]["mean"], stats["channels"][0]["std"]
    samples = read_samples(output)
    assert len(samples) == len(SAMPLE_FILES)
    for tensor, metadata in samples:
        values, padding = modality_and_mask(Path(metadata["source"]))
        valid = ~padding
        assert tensor.shape == (5,) + values.shape
        np.testing.assert_array_equal(tensor[0][valid], values[valid])
        np.testing.assert_allclose(tensor[2][valid], scale(values)[valid], atol=1e-6)
        np.testing.assert_allclose(tensor[3][valid], histogram_scale(values, b)[valid], atol=1e-6)
        standardized = (values.astype(np.float64) - mean) / std
        np.testing.assert_allclose(tensor[4][valid], standardized[valid], rtol=1e-6, atol=1e-6)

        # Padding pixels: 0 for the window and histogram channels.
        assert (tensor[1][padding] == 0).all()
        assert (tensor[3][padding] == 0).all()

        # The percentage of valid pixels strictly inside the brain window.
        display = linear_window(values, 40.0, 80.0)[valid]
        inside = 100.0 * np.count_nonzero((display > 0) & (display < 1)) / display.size
        record = metadata["channels"][1]
        assert record["window"]["source"] == "preset"
        assert record["in_window_percent"] == pytest.approx(inside, abs=1e-9)
        assert metadata["channels"][4]["steps"] == [{"step": "standardize", "mean": mean, "std": std}]

    # The output recipe contains the statistics inline, so the run can be repeated from it.
    written = yaml.safe_load((output / "recipe.yaml").read_text())
    assert written["stats"]["histogram"]["breakpoints"] == stats["histogram"]["breakpoints"]


# Pillow's name for each filter that both implement.
PILLOW_FILTERS = {
    "bilinear": Image.Resampling.BILINEAR,
    "catmull_rom": Image.Resampling.BICUBIC,
    "lanczos3": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}


@pytest.mark.parametrize("filter_name", sorted(PILLOW_FILTERS))
@pytest.mark.parametrize("size", [(40, 48), (100, 90)])
def test_resize_matches_pillow(tmp_path: Path, filter_name: str, size: tuple[int, int]) -> None:
    rows, columns = size
    recipe = tmp_path / "resize.yaml"
    recipe.write_text(
        f"channels: [modality]\nspatial:\n  - resize: {{ size: [{rows}, {columns}], "
        f"filter: {filter_name} }}\n"
    )
    source = PYDICOM_FILES / "MR_small.dcm"
    run("convert", source, "--output", tmp_path / "out", "--recipe", recipe)
    [(tensor, metadata)] = read_samples(tmp_path / "out")
    assert tensor.shape == (1, rows, columns)
    assert metadata["spatial"][0]["output_shape"] == [rows, columns]

    values, padding = modality_and_mask(source)
    assert not padding.any()
    expected = np.asarray(
        Image.fromarray(values).resize((columns, rows), PILLOW_FILTERS[filter_name])
    )
    assert expected.dtype == np.float32
    # Both resample with the same separable kernels. On MR_small (values 127 to 2145) the
    # results were identical except Hamming, off by up to 1.3e-4 from float32 rounding;
    # 1e-3 leaves room for other float32 summation orders.
    np.testing.assert_allclose(tensor[0], expected, rtol=0, atol=1e-3)


def test_preview_draws_one_cell_per_channel(workspace: Path) -> None:
    sheet = workspace / "sheet.png"
    run(
        "preview", *SAMPLE_FILES, "--output", sheet, "--recipe", workspace / "recipe.yaml",
        "--cell-size", 64,
    )
    with Image.open(sheet) as image:
        width, height = image.size
    # 5 channels of 64 pixels with 8-pixel margins; 3 rows of 64 + 58 pixels.
    assert width == 8 + 5 * (64 + 8)
    assert height == 8 + 3 * (20 + 30 + 64 + 8)
