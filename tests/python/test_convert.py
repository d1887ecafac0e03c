"""End-to-end tests of `hounsfield convert`, read back with numpy, webdataset, Pillow and pydicom.

The binary under test comes from the HOUNSFIELD_BIN environment variable; tests/run.sh
builds target/release/hounsfield and sets it. Nothing here builds the binary.

    HOUNSFIELD_BIN=target/release/hounsfield target/venv/bin/python -m pytest tests/python

Each recipe runs once per session into pytest's temporary folder, and the tests read its
shards, PNG files and manifest. Only the exit-code tests run the converter themselves.
Expected pixel values come from pydicom 3.0.2 (stored values and the Modality LUT) and from
the window formulas of DICOM PS3.3 C.11.2, written out below.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pydicom
import pytest
import webdataset as wds
import yaml
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut
from pydicom.uid import UID

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "fixtures"
SYNTHETIC = FIXTURES / "synthetic"
DICOM = FIXTURES / "dicom"


def load_make_oracle() -> ModuleType:
    """Import tests/python/make_oracle.py, which is a script and not a package module."""
    path = REPO_ROOT / "tests" / "python" / "make_oracle.py"
    spec = importlib.util.spec_from_file_location("make_oracle", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ORACLE = load_make_oracle()

# Files whose conversion must fail, with a message that names the file.
BROKEN_FILES = {
    "dicom/broken/CT_small_truncated_header.dcm",
    "dicom/broken/CT_small_truncated_pixels.dcm",
    "dicom/pydicom/MR_truncated.dcm",
    "dicom/pydicom/badVR.dcm",
    "synthetic/bad_g03_pixel_data_14_bytes.dcm",
    # Bits Stored 12 in an 8-bit container: invalid per PS3.3 C.7.6.3.
    "synthetic/bad_val_bits_stored_above_allocated.dcm",
}

# Valid files that this build cannot decode, so `error` is their expected status.
UNDECODABLE_FILES = {
    # 12-bit JPEG Extended (1.2.840.10008.1.2.4.51), which the converter reports as unsupported.
    "dicom/pydicom/JPGExtended.dcm",
    # A JPEG 2000 codestream that pydicom 3.0.2 with pylibjpeg-openjpeg cannot decode either.
    "dicom/pydicom/JPEG2000-embedded-sequence-delimiter.dcm",
}

# DICOM data sets without Pixel Data, which the converter must skip.
NON_IMAGE_DICOM = {
    "dicom/pydicom/ExplVR_BigEndNoMeta.dcm",
    "dicom/pydicom/ExplVR_LitEndNoMeta.dcm",
    "dicom/pydicom/UN_sequence.dcm",
    "dicom/pydicom/rtstruct.dcm",
    "dicom/pydicom/test-SR.dcm",
}

# Images flagged Burned In Annotation YES, which the default recipe excludes for privacy.
BURNED_IN_FILES = {
    "synthetic/val_burned_in_annotation.dcm",
}

# pydicom 3.0.2 reads no element at all from this file, because its encapsulated Pixel
# Data ends without the (FFFE,E0DD) Sequence Delimitation Item. It is emri_small.dcm
# compressed losslessly by gdcmconv (the same SOP Instance UID), so that file is its oracle.
ORACLE_SUBSTITUTES = {
    DICOM / "pydicom-data" / "emri_small_jpeg_2k_lossless_too_short.dcm": DICOM
    / "pydicom-data"
    / "emri_small.dcm",
}

# Grayscale CT and MR fixtures, plus the synthetic window, MONOCHROME1 and padding cases.
GRAYSCALE_INPUTS = [
    DICOM / "dcm_qa_ct",
    DICOM / "dcm_qa_nih",
    DICOM / "pacs-export",
    DICOM / "pydicom" / "CT_small.dcm",
    DICOM / "pydicom" / "693_J2KI.dcm",
    DICOM / "pydicom" / "MR_small.dcm",
    DICOM / "pydicom" / "MR_small_RLE.dcm",
    DICOM / "pydicom" / "MR_small_bigendian.dcm",
    DICOM / "pydicom" / "MR_small_padded.dcm",
    DICOM / "pydicom-data" / "eCT_Supplemental.dcm",
    DICOM / "pydicom-data" / "emri_small.dcm",
    SYNTHETIC / "g02_us_or_ss_implicit.dcm",
    SYNTHETIC / "g05_bits_above_bits_stored.dcm",
    SYNTHETIC / "g06_slice_3.dcm",
    SYNTHETIC / "g07_two_windows.dcm",
    SYNTHETIC / "g07_window_count_mismatch.dcm",
    SYNTHETIC / "g08_monochrome1_no_window.dcm",
    SYNTHETIC / "g08_monochrome1_window.dcm",
    SYNTHETIC / "g08_monochrome2_window.dcm",
    SYNTHETIC / "g18_padding_range.dcm",
    SYNTHETIC / "g18_padding_range_reversed.dcm",
    SYNTHETIC / "g18_padding_value.dcm",
]

# A recipe with every kind of window. WINDOW_CHANNELS gives the function, center and width
# of its channels 1 to 4.
WINDOWS_RECIPE = """\
channels:
  - modality
  - window: { center: 40, width: 80 }
  - window: { center: 600, width: 2800, function: linear_exact }
  - window: { center: 40, width: 80, function: sigmoid }
  - window: file
"""
WINDOW_CHANNELS = {
    1: ("linear", 40.0, 80.0),
    2: ("linear_exact", 600.0, 2800.0),
    3: ("sigmoid", 40.0, 80.0),
    4: "file",
}

PNG16_RECIPE = """\
channels: [modality]
export:
  png: { bits: 16 }
"""

PNG16_INPUTS = [*GRAYSCALE_INPUTS, SYNTHETIC / "g09_rgb_planar_1.dcm"]

PRIVACY_RECIPE = """\
channels: [modality]
privacy:
  include_patient_attributes: true
"""

PRIVACY_INPUTS = [
    DICOM / "deid-data" / "ctbrain1.dcm",
    DICOM / "pydicom-data" / "eCT_Supplemental.dcm",
    DICOM / "pydicom-data" / "RG3_J2KR.dcm",
    DICOM / "pydicom-data" / "liver.dcm",
    DICOM / "pydicom" / "CT_small.dcm",
    DICOM / "pydicom" / "MR_small.dcm",
    SYNTHETIC / "g19_utf8.dcm",
    SYNTHETIC / "g19_gb18030.dcm",
]

# pydicom keyword of each identifying attribute and its field in the sample's `patient`.
PATIENT_FIELDS = {
    "PatientName": "patient_name",
    "PatientID": "patient_id",
    "PatientBirthDate": "patient_birth_date",
    "AccessionNumber": "accession_number",
    "InstitutionName": "institution_name",
}

# Non-identifying attributes that the sample metadata copies from the source.
DEVICE_KEYWORDS = ("Manufacturer", "ManufacturerModelName")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# The smallest normal float32. A display value below it cannot survive the float32 tensor.
FLOAT32_TINY = float(np.finfo(np.float32).tiny)


# --------------------------------------------------------------------------------------
# Running the converter


@dataclasses.dataclass
class Sample:
    """One WebDataset sample as read from a shard with tarfile."""

    key: str
    shard: str
    tensor: np.ndarray
    metadata: dict[str, Any]
    png: bytes | None


@dataclasses.dataclass
class Run:
    """The result of one `hounsfield convert` invocation."""

    output: Path
    returncode: int
    stderr: str

    @functools.cached_property
    def manifest(self) -> list[dict[str, Any]]:
        lines = (self.output / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines]

    @functools.cached_property
    def shard_paths(self) -> list[Path]:
        return sorted((self.output / "shards").glob("*.tar"))

    @functools.cached_property
    def samples(self) -> dict[str, Sample]:
        samples: dict[str, Sample] = {}
        for shard in self.shard_paths:
            for sample in read_shard(shard):
                assert sample.key not in samples, f"key {sample.key} is in more than one sample"
                samples[sample.key] = sample
        return samples

    def samples_of(self, source: Path) -> list[Sample]:
        """Return the samples of one input file, in frame order."""
        found = [s for s in self.samples.values() if s.metadata["source"] == str(source)]
        return sorted(found, key=lambda sample: sample.metadata["frame"])

    def entry(self, source: Path) -> dict[str, Any]:
        matches = [entry for entry in self.manifest if entry["path"] == str(source)]
        assert len(matches) == 1, f"{source}: {len(matches)} manifest lines, expected 1"
        return matches[0]


def split_member_name(name: str) -> tuple[str, str]:
    """Split a tar member name into key and extension at the first dot, as webdataset does."""
    key, _, extension = name.partition(".")
    return key, extension


def read_shard(path: Path) -> Iterator[Sample]:
    """Yield the samples of one shard, grouping adjacent members by key."""
    members: dict[str, bytes] = {}
    current_key: str | None = None
    with tarfile.open(path) as archive:
        for member in archive:
            key, extension = split_member_name(member.name)
            if current_key is not None and key != current_key:
                yield make_sample(current_key, path, members)
                members = {}
            current_key = key
            data = archive.extractfile(member)
            assert data is not None, f"{path.name}: member {member.name} is not a regular file"
            members[extension] = data.read()
    if current_key is not None:
        yield make_sample(current_key, path, members)


def make_sample(key: str, shard: Path, members: dict[str, bytes]) -> Sample:
    assert "npy" in members, f"{shard.name}: sample {key} has no npy member"
    assert "json" in members, f"{shard.name}: sample {key} has no json member"
    return Sample(
        key=key,
        shard=f"shards/{shard.name}",
        tensor=np.load(io.BytesIO(members["npy"]), allow_pickle=False),
        metadata=json.loads(members["json"]),
        png=members.get("png"),
    )


@pytest.fixture(scope="session")
def hounsfield_bin() -> Path:
    value = os.environ.get("HOUNSFIELD_BIN")
    if not value:
        pytest.fail(
            "HOUNSFIELD_BIN is not set: build the CLI with "
            "`cargo build --release -p hounsfield-cli` and set "
            "HOUNSFIELD_BIN=target/release/hounsfield (tests/run.sh does both)",
            pytrace=False,
        )
    path = Path(value).resolve()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"HOUNSFIELD_BIN={value} is not an executable file", pytrace=False)
    return path


def run_convert(
    binary: Path,
    inputs: list[Path],
    output: Path,
    recipe: str | None = None,
    jobs: int | None = None,
) -> Run:
    """Run `hounsfield convert`, writing the recipe text next to the output when given."""
    command = [str(binary), "convert", *map(str, inputs), "--output", str(output)]
    if recipe is not None:
        recipe_path = output.parent / f"{output.name}-recipe.yaml"
        recipe_path.write_text(recipe, encoding="utf-8")
        command += ["--recipe", str(recipe_path)]
    if jobs is not None:
        command += ["--jobs", str(jobs)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    return Run(output=output, returncode=completed.returncode, stderr=completed.stderr)


@pytest.fixture(scope="session")
def default_run(hounsfield_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The default recipe over every file under fixtures/."""
    output = tmp_path_factory.mktemp("default") / "out"
    return run_convert(hounsfield_bin, [FIXTURES], output)


@pytest.fixture(scope="session")
def windows_run(hounsfield_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    output = tmp_path_factory.mktemp("windows") / "out"
    run = run_convert(hounsfield_bin, GRAYSCALE_INPUTS, output, WINDOWS_RECIPE)
    assert run.returncode == 0, f"window recipe run failed:\n{run.stderr}"
    return run


@pytest.fixture(scope="session")
def png16_run(hounsfield_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    output = tmp_path_factory.mktemp("png16") / "out"
    run = run_convert(hounsfield_bin, PNG16_INPUTS, output, PNG16_RECIPE)
    assert run.returncode == 0, f"16-bit PNG run failed:\n{run.stderr}"
    return run


@pytest.fixture(scope="session")
def privacy_run(hounsfield_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    output = tmp_path_factory.mktemp("privacy") / "out"
    run = run_convert(hounsfield_bin, PRIVACY_INPUTS, output, PRIVACY_RECIPE)
    assert run.returncode == 0, f"privacy run failed:\n{run.stderr}"
    return run


@pytest.fixture(scope="session")
def small_shards_run(hounsfield_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    output = tmp_path_factory.mktemp("small-shards") / "out"
    recipe = "channels: [modality]\nexport:\n  shards: { max_samples_per_shard: 4 }\n"
    inputs = [SYNTHETIC, DICOM / "pydicom-data" / "emri_small.dcm"]
    return run_convert(hounsfield_bin, inputs, output, recipe)


@pytest.fixture(scope="session")
def jobs_runs(hounsfield_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Run]:
    """The default recipe over fixtures/ again, with one and with two worker threads."""
    runs = {}
    for jobs in (1, 2):
        output = tmp_path_factory.mktemp(f"jobs-{jobs}") / "out"
        runs[jobs] = run_convert(hounsfield_bin, [FIXTURES], output, jobs=jobs)
    return runs


# --------------------------------------------------------------------------------------
# The pydicom oracle


@functools.cache
def read_source(path: Path) -> Dataset:
    """Read a source file with pydicom, supplying the transfer syntax when meta is missing."""
    path = ORACLE_SUBSTITUTES.get(path, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, force=True)
    if "TransferSyntaxUID" not in ds.file_meta:
        assumed = ORACLE.ENCODING_TO_TRANSFER_SYNTAX[ds.original_encoding]
        ds.file_meta.TransferSyntaxUID = UID(assumed)
    return ds


def is_grayscale(ds: Dataset) -> bool:
    return str(ds.PhotometricInterpretation).strip() in ("MONOCHROME1", "MONOCHROME2")


@functools.cache
def stored_frames(path: Path) -> np.ndarray:
    """Return the stored values of every frame as (frames, rows, columns)."""
    ds = read_source(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pixels = np.asarray(ds.pixel_array)
    return pixels.reshape(-1, int(ds.Rows), int(ds.Columns))


@functools.cache
def modality_frame(path: Path, frame: int) -> np.ndarray:
    """Return pydicom's modality values of one frame as float64.

    make_oracle.frame_view applies the Pixel Value Transformation of the shared and
    per-frame functional groups, which pydicom 3.0.2 ignores on its own.
    """
    ds = read_source(path)
    view, _, _ = ORACLE.frame_view(ds, frame)
    return np.asarray(apply_modality_lut(stored_frames(path)[frame], view), dtype=np.float64)


def padding_mask(path: Path, frame: int) -> np.ndarray:
    """Mark Pixel Padding on stored values (PS3.3 C.7.5.1.1.2).

    Without Pixel Padding Range Limit only Pixel Padding Value is padding. With it, every
    stored value between the two, inclusive, is padding, whichever of them is larger.
    """
    ds = read_source(path)
    stored = stored_frames(path)[frame].astype(np.int64)
    if ds.get("PixelPaddingValue") is None:
        return np.zeros(stored.shape, dtype=bool)
    value = int(ds.PixelPaddingValue)
    limit = ds.get("PixelPaddingRangeLimit")
    if limit is None:
        return stored == value
    low, high = sorted((value, int(limit)))
    return (stored >= low) & (stored <= high)


def first_value(value: Any) -> Any:
    values = ORACLE.as_list(value)
    return values[0] if values else None


def file_window(path: Path, frame: int) -> tuple[float, float, str] | None:
    """Return the frame's first Window Center/Width and its VOI LUT Function, if any."""
    view, _, _ = ORACLE.frame_view(read_source(path), frame)
    center = first_value(view.get("WindowCenter"))
    width = first_value(view.get("WindowWidth"))
    if center is None or width is None:
        return None
    function = str(view.get("VOILUTFunction") or "LINEAR").strip().lower()
    return float(center), float(width), function


# --------------------------------------------------------------------------------------
# VOI windows as the standard defines them, on a [0, 1] output range


def voi_linear(x: np.ndarray, center: float, width: float) -> np.ndarray:
    """LINEAR, PS3.3 C.11.2.1.2.1.

    x <= c - 0.5 - (w - 1) / 2 gives 0, x > c - 0.5 + (w - 1) / 2 gives 1, and otherwise
    y = (x - (c - 0.5)) / (w - 1) + 0.5.
    """
    lower = center - 0.5 - (width - 1) / 2
    upper = center - 0.5 + (width - 1) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        ramp = (x - (center - 0.5)) / (width - 1) + 0.5
    return np.where(x <= lower, 0.0, np.where(x > upper, 1.0, ramp))


def voi_linear_exact(x: np.ndarray, center: float, width: float) -> np.ndarray:
    """LINEAR_EXACT, PS3.3 C.11.2.1.3.2.

    x <= c - w / 2 gives 0, x > c + w / 2 gives 1, and otherwise y = (x - c) / w + 0.5.
    """
    ramp = (x - center) / width + 0.5
    return np.where(x <= center - width / 2, 0.0, np.where(x > center + width / 2, 1.0, ramp))


def voi_sigmoid(x: np.ndarray, center: float, width: float) -> np.ndarray:
    """SIGMOID, PS3.3 C.11.2.1.3.1: y = 1 / (1 + exp(-4 (x - c) / w))."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-4.0 * (x - center) / width))


VOI_FUNCTIONS = {
    "linear": voi_linear,
    "linear_exact": voi_linear_exact,
    "sigmoid": voi_sigmoid,
}


@dataclasses.dataclass
class ExpectedDisplay:
    """Display values of one frame in [0, 1] and the window that made them."""

    values: np.ndarray
    center: float
    width: float
    function: str
    source: str
    inverted: bool


def expected_display(path: Path, frame: int, spec: Any) -> ExpectedDisplay:
    """Compute display values from pydicom's modality values.

    `spec` is "file" or a (function, center, width) tuple. The modality values are first
    rounded to float32, as the converter stores them, so that both sides window the same
    numbers. MONOCHROME1 is inverted after the window (PS3.3 C.7.6.3.1.2: its minimum is
    shown white), and padding pixels are set to 0 last.
    """
    ds = read_source(path)
    x = modality_frame(path, frame).astype(np.float32).astype(np.float64)
    mask = padding_mask(path, frame)
    if spec == "file":
        window = file_window(path, frame)
        if window is not None:
            center, width, function = window
            source = "file"
        else:
            # No window in the file: min-max of the non-padding values as LINEAR_EXACT,
            # which maps the minimum to 0 and the maximum to 1.
            valid = x[~mask]
            low, high = float(valid.min()), float(valid.max())
            center, width, function, source = (
                (low + high) / 2,
                high - low,
                "linear_exact",
                "min_max",
            )
    else:
        function, center, width = spec
        source = "recipe"
    if width == 0:
        values = np.zeros_like(x)
    else:
        values = VOI_FUNCTIONS[function](x, center, width)
    inverted = str(ds.PhotometricInterpretation).strip() == "MONOCHROME1"
    if inverted:
        values = 1.0 - values
    values = np.where(mask, 0.0, values)
    return ExpectedDisplay(values, center, width, function, source, inverted)


def to_integers(display: np.ndarray, maximum: int) -> np.ndarray:
    """Scale display values the way the PNG writer does: float32, clip, times max, round.

    The converter stores display values as float32 and rounds half away from zero, which
    for non-negative values is floor(v + 0.5).
    """
    as_float32 = display.astype(np.float32).astype(np.float64)
    return np.floor(np.clip(as_float32, 0.0, 1.0) * maximum + 0.5).astype(np.int64)


# --------------------------------------------------------------------------------------
# Small helpers


def relative(path: str | Path) -> str:
    return Path(path).relative_to(FIXTURES).as_posix()


def fixture_files() -> list[str]:
    """Every file under fixtures/, relative to it, as os.walk finds them."""
    files = []
    for root, _, names in os.walk(FIXTURES):
        for name in names:
            files.append(relative(Path(root) / name))
    return sorted(files)


def png_header(data: bytes) -> tuple[int, int]:
    """Return (bit depth, colour type) from a PNG's IHDR chunk."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG signature"
    assert data[12:16] == b"IHDR", "the first chunk is not IHDR"
    return data[24], data[25]


def string_leaves(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from string_leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from string_leaves(item)


def normalize_text(text: str) -> str:
    """Drop surrounding spaces and trailing PN component separators such as `^^`."""
    return text.strip().rstrip("^").strip()


def identifying_values(path: Path) -> dict[str, str]:
    """Return the source's identifying attributes that are present and not empty.

    A value that equals the Manufacturer or Manufacturer's Model Name is left out, because
    the sample metadata carries those on purpose (mlut_18.dcm has Institution Name and
    Manufacturer both `OFFIS`).
    """
    ds = read_source(path)
    device = {normalize_text(str(ds.get(keyword) or "")) for keyword in DEVICE_KEYWORDS}
    values = {}
    for keyword in PATIENT_FIELDS:
        value = ds.get(keyword)
        text = normalize_text(str(value)) if value is not None else ""
        if text and text not in device:
            values[keyword] = text
    return values


def grayscale_samples(run: Run) -> list[Sample]:
    return [
        s for s in run.samples.values() if is_grayscale(read_source(Path(s.metadata["source"])))
    ]


def mismatch_report(got: np.ndarray, expected: np.ndarray, limit: int = 5) -> str:
    """Describe the first differing positions of two same-shaped arrays."""
    positions = np.argwhere(got != expected)
    lines = [f"{len(positions)} of {got.size} values differ"]
    for position in positions[:limit]:
        index = tuple(position)
        lines.append(f"  at {index}: got {got[index]}, expected {expected[index]}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Shards


def test_exit_code_full_run(default_run: Run) -> None:
    assert default_run.returncode == 1, (
        f"the fixtures include broken files, so exit 1 was expected, got "
        f"{default_run.returncode}:\n{default_run.stderr}"
    )


def test_shards_read_with_webdataset(default_run: Run) -> None:
    urls = [str(path) for path in default_run.shard_paths]
    assert urls, "no shard was written"
    dataset = wds.WebDataset(urls, shardshuffle=False)
    keys = []
    for sample in dataset:
        key = sample["__key__"]
        keys.append(key)
        assert "." not in key, f"key {key} contains a dot"
        members = {name for name in sample if not name.startswith("__")}
        assert {"npy", "json"} <= members, f"{key}: members {sorted(members)}"
        tensor = np.load(io.BytesIO(sample["npy"]), allow_pickle=False)
        metadata = json.loads(sample["json"])
        assert tensor.dtype == np.float32, f"{key}: dtype {tensor.dtype}"
        assert tensor.ndim == 3, f"{key}: shape {tensor.shape} is not (C, H, W)"
        assert list(tensor.shape) == metadata["shape"], (
            f"{key}: npy shape {tensor.shape}, json shape {metadata['shape']}"
        )
    assert len(keys) == len(set(keys)), "webdataset returned a key twice"
    assert keys == list(default_run.samples), "webdataset and tarfile disagree on the samples"


def test_shards_decode_with_webdataset(default_run: Run) -> None:
    urls = [str(path) for path in default_run.shard_paths]
    dataset = wds.WebDataset(urls, shardshuffle=False).decode()
    count = 0
    for sample in dataset:
        count += 1
        key = sample["__key__"]
        assert isinstance(sample["npy"], np.ndarray), f"{key}: npy decoded to {type(sample['npy'])}"
        assert isinstance(sample["json"], dict), f"{key}: json decoded to {type(sample['json'])}"
        assert sample["json"]["key"] == key, f"{key}: json key is {sample['json']['key']}"
    assert count == len(default_run.samples)


def test_shard_members_adjacent_and_plain(default_run: Run) -> None:
    for shard in default_run.shard_paths:
        finished_keys: set[str] = set()
        current = None
        with tarfile.open(shard) as archive:
            for member in archive:
                assert member.isfile(), f"{shard.name}: {member.name} is not a regular file"
                assert "/" not in member.name, f"{shard.name}: {member.name} has a folder"
                key, extension = split_member_name(member.name)
                assert extension, f"{shard.name}: {member.name} has no extension"
                if key != current:
                    assert key not in finished_keys, (
                        f"{shard.name}: members of {key} are not adjacent"
                    )
                    if current is not None:
                        finished_keys.add(current)
                    current = key


def test_sample_tensor_matches_json_shape(default_run: Run) -> None:
    assert default_run.samples, "no sample was written"
    for key, sample in default_run.samples.items():
        assert sample.tensor.dtype == np.float32, f"{key}: dtype {sample.tensor.dtype}"
        assert sample.tensor.ndim == 3, f"{key}: shape {sample.tensor.shape}"
        shape = list(sample.tensor.shape)
        assert shape == sample.metadata["shape"], f"{key}: json shape {sample.metadata['shape']}"
        assert shape[0] == len(sample.metadata["channels"]), (
            f"{key}: {shape[0]} channels but {len(sample.metadata['channels'])} channel records"
        )


def test_sample_json_fields(default_run: Run) -> None:
    required = (
        "source",
        "sop_instance_uid",
        "series_instance_uid",
        "frame",
        "shape",
        "modality",
        "photometric_interpretation",
        "channels",
    )
    for key, sample in default_run.samples.items():
        metadata = sample.metadata
        for field in required:
            assert field in metadata, f"{key}: json has no `{field}`"
        ds = read_source(Path(metadata["source"]))
        for field, keyword in (
            ("sop_instance_uid", "SOPInstanceUID"),
            ("series_instance_uid", "SeriesInstanceUID"),
            ("modality", "Modality"),
        ):
            value = ds.get(keyword)
            expected = str(value) if value else None
            assert metadata[field] == expected, (
                f"{key}: {field} {metadata[field]!r}, source {expected!r}"
            )
        assert (
            metadata["photometric_interpretation"] == str(ds.PhotometricInterpretation).strip()
        ), f"{key}: photometric_interpretation {metadata['photometric_interpretation']}"
        if is_grayscale(ds):
            assert metadata.get("modality_lut"), f"{key}: grayscale sample without modality_lut"
        else:
            assert sample.tensor.shape[0] == 3, (
                f"{key}: colour sample with shape {sample.tensor.shape}"
            )


def test_sample_frames_cover_source(default_run: Run) -> None:
    for entry in default_run.manifest:
        if entry["status"] != "ok":
            continue
        frames = [default_run.samples[key].metadata["frame"] for key in entry["samples"]]
        ds = read_source(Path(entry["path"]))
        expected = int(ds.get("NumberOfFrames") or 1)
        assert frames == list(range(expected)), (
            f"{entry['path']}: frames {frames}, expected {expected}"
        )


def test_pixel_spacing_from_top_level(default_run: Run) -> None:
    checked = 0
    for key, sample in default_run.samples.items():
        ds = read_source(Path(sample.metadata["source"]))
        spacing = ds.get("PixelSpacing")
        if spacing is None:
            continue
        checked += 1
        assert sample.metadata.get("pixel_spacing") == pytest.approx([float(v) for v in spacing]), (
            f"{key}: pixel_spacing {sample.metadata.get('pixel_spacing')}, source {list(spacing)}"
        )
    assert checked > 0, "no fixture with a top-level Pixel Spacing was converted"


def test_pixel_spacing_from_functional_groups(default_run: Run) -> None:
    checked = 0
    for key, sample in default_run.samples.items():
        ds = read_source(Path(sample.metadata["source"]))
        shared = ds.get("SharedFunctionalGroupsSequence")
        if ds.get("PixelSpacing") is not None or not shared:
            continue
        measures = shared[0].get("PixelMeasuresSequence")
        if not measures or measures[0].get("PixelSpacing") is None:
            continue
        checked += 1
        expected = [float(v) for v in measures[0].PixelSpacing]
        assert sample.metadata.get("pixel_spacing") == pytest.approx(expected), (
            f"{key}: pixel_spacing {sample.metadata.get('pixel_spacing')}, "
            f"Pixel Measures Sequence {expected}"
        )
    assert checked > 0, "no enhanced fixture with a Pixel Measures Sequence was converted"


def shards_of_samples(run: Run, entry: dict[str, Any]) -> list[str]:
    """Return the shards that contain a manifest entry's samples, in order of first use."""
    shards: list[str] = []
    for key in entry["samples"]:
        shard = run.samples[key].shard
        if shard not in shards:
            shards.append(shard)
    return shards


def test_small_shards_split_and_read(small_shards_run: Run) -> None:
    run = small_shards_run
    assert len(run.shard_paths) > 1, "max_samples_per_shard 4 gave a single shard"
    for shard in run.shard_paths:
        count = sum(1 for _ in read_shard(shard))
        assert 1 <= count <= 4, f"{shard.name} contains {count} samples"
    for entry in run.manifest:
        assert entry.get("shards", []) == shards_of_samples(run, entry), (
            f"{entry['path']}: manifest `shards` {entry.get('shards')}"
        )
    spanning = [e["path"] for e in run.manifest if len(e.get("shards", [])) > 1]
    assert spanning, "no file's samples span two shards, so that case went untested"
    urls = [str(path) for path in run.shard_paths]
    keys = [sample["__key__"] for sample in wds.WebDataset(urls, shardshuffle=False)]
    assert keys == list(run.samples), "webdataset did not read every sample across the shards"


# --------------------------------------------------------------------------------------
# Modality values


def test_modality_values_match_pydicom(default_run: Run) -> None:
    samples = grayscale_samples(default_run)
    assert samples, "no grayscale sample was written"
    for sample in samples:
        source = Path(sample.metadata["source"])
        frame = sample.metadata["frame"]
        label = f"{relative(source)} frame {frame}"
        got = sample.tensor[0]
        expected = modality_frame(source, frame)
        assert got.shape == expected.shape, f"{label}: shape {got.shape}, pydicom {expected.shape}"
        mask = padding_mask(source, frame)
        assert int(mask.sum()) == sample.metadata["padding_pixels"], (
            f"{label}: json padding_pixels {sample.metadata['padding_pixels']}, "
            f"Pixel Padding Value/Range Limit mark {int(mask.sum())}"
        )
        got_valid = got[~mask].astype(np.float64)
        expected_valid = expected[~mask]
        if np.array_equal(expected_valid, np.round(expected_valid)):
            assert np.array_equal(got_valid, expected_valid), (
                f"{label}: integer modality values differ from pydicom\n"
                + mismatch_report(got_valid, expected_valid)
            )
        else:
            np.testing.assert_allclose(
                got_valid, expected_valid, rtol=1e-4, err_msg=f"{label}: modality values"
            )


def test_padding_takes_valid_minimum(default_run: Run) -> None:
    checked = 0
    for sample in grayscale_samples(default_run):
        if sample.metadata["padding_pixels"] == 0:
            continue
        checked += 1
        source = Path(sample.metadata["source"])
        frame = sample.metadata["frame"]
        mask = padding_mask(source, frame)
        plane = sample.tensor[0]
        minimum = plane[~mask].min()
        assert np.all(plane[mask] == minimum), (
            f"{relative(source)} frame {frame}: padding values {np.unique(plane[mask])[:5]}, "
            f"expected the minimum of the other pixels {minimum}"
        )
    assert checked > 0, "no fixture with padding pixels was converted"


def test_g18_padding_values() -> None:
    # Checks the oracle helpers against fixtures/synthetic/README.md: G-18's mask and valid HU.
    path = SYNTHETIC / "g18_padding_range.dcm"
    mask = padding_mask(path, 0)
    values = modality_frame(path, 0)
    assert int(mask.sum()) == 8
    assert values[~mask].tolist() == [-1013, 0, 10, 976, 3071, -1012, -924, -524]


# --------------------------------------------------------------------------------------
# Window channels


def test_window_run_shape(windows_run: Run) -> None:
    assert windows_run.samples, "the window recipe wrote no sample"
    for key, sample in windows_run.samples.items():
        assert sample.tensor.shape[0] == 5, (
            f"{key}: shape {sample.tensor.shape}, expected 5 channels"
        )
        names = [channel["name"] for channel in sample.metadata["channels"]]
        assert names == ["modality", "window", "window", "window", "window"], f"{key}: {names}"


def test_window_run_modality_channel(windows_run: Run) -> None:
    for sample in windows_run.samples.values():
        source = Path(sample.metadata["source"])
        frame = sample.metadata["frame"]
        mask = padding_mask(source, frame)
        got = sample.tensor[0][~mask].astype(np.float64)
        expected = modality_frame(source, frame)[~mask]
        np.testing.assert_allclose(
            got, expected, rtol=1e-6, err_msg=f"{relative(source)} frame {frame}: modality channel"
        )


@pytest.mark.parametrize("channel", sorted(WINDOW_CHANNELS), ids=lambda c: str(WINDOW_CHANNELS[c]))
def test_window_channel_matches_standard(windows_run: Run, channel: int) -> None:
    spec = WINDOW_CHANNELS[channel]
    for sample in windows_run.samples.values():
        source = Path(sample.metadata["source"])
        frame = sample.metadata["frame"]
        label = f"{relative(source)} frame {frame} channel {channel}"
        expected = expected_display(source, frame, spec)
        # Values below the smallest normal float32 cannot be stored, hence the atol.
        np.testing.assert_allclose(
            sample.tensor[channel],
            expected.values,
            rtol=1e-5,
            atol=FLOAT32_TINY,
            err_msg=f"{label}: display values",
        )


@pytest.mark.parametrize("channel", sorted(WINDOW_CHANNELS), ids=lambda c: str(WINDOW_CHANNELS[c]))
def test_window_channel_record(windows_run: Run, channel: int) -> None:
    spec = WINDOW_CHANNELS[channel]
    for sample in windows_run.samples.values():
        source = Path(sample.metadata["source"])
        frame = sample.metadata["frame"]
        label = f"{relative(source)} frame {frame} channel {channel}"
        expected = expected_display(source, frame, spec)
        record = sample.metadata["channels"][channel]
        assert record["value_space"] == "display", f"{label}: value_space {record['value_space']}"
        window = record["window"]
        assert window["function"] == expected.function, f"{label}: function {window['function']}"
        assert window["source"] == expected.source, f"{label}: source {window['source']}"
        assert window["inverted"] == expected.inverted, f"{label}: inverted {window['inverted']}"
        assert window["center"] == pytest.approx(expected.center), (
            f"{label}: center {window['center']}"
        )
        assert window["width"] == pytest.approx(expected.width), f"{label}: width {window['width']}"


def test_window_run_inputs_cover_cases(windows_run: Run) -> None:
    # The comparisons above only test inversion and padding if such samples are present.
    sources = {relative(s.metadata["source"]) for s in windows_run.samples.values()}
    for name in (
        "g08_monochrome1_window.dcm",
        "g08_monochrome1_no_window.dcm",
        "g18_padding_value.dcm",
    ):
        assert f"synthetic/{name}" in sources, f"{name} was not converted by the window run"


@pytest.mark.parametrize(
    "name, expected",
    [
        # G-08: LINEAR 2048/4096 gives [0, 63.77, 255], and MONOCHROME1 inverts it.
        ("g08_monochrome1_window.dcm", [255, 191, 0]),
        ("g08_monochrome1_no_window.dcm", [255, 191, 0]),
        ("g08_monochrome2_window.dcm", [0, 64, 255]),
        # G-07: the first window, 40/80, gives [0, 129.11, 255, 255].
        ("g07_two_windows.dcm", [0, 129, 255, 255]),
    ],
)
def test_file_window_readme_values(windows_run: Run, name: str, expected: list[int]) -> None:
    (sample,) = windows_run.samples_of(SYNTHETIC / name)
    got = np.floor(sample.tensor[4].astype(np.float64) * 255 + 0.5).astype(int).ravel().tolist()
    assert got == expected, f"{name}: `window: file` channel at 8 bits"


# --------------------------------------------------------------------------------------
# PNG files


def png_files(run: Run) -> Iterator[tuple[dict[str, Any], int, Path]]:
    """Yield (manifest entry, frame, PNG path) for every PNG file of the run."""
    for entry in run.manifest:
        for frame, name in enumerate(entry["png"]):
            yield entry, frame, run.output / name


def expected_png_names(base: str, frames: int) -> list[str]:
    """Return the PNG paths of a file whose path relative to its input is `base`."""
    base = f"png/{base}"
    if frames == 1:
        return [f"{base}.png"]
    return [f"{base}.frame-{frame:04d}.png" for frame in range(frames)]


def test_png_paths_follow_inputs(default_run: Run) -> None:
    for entry in default_run.manifest:
        if entry["status"] != "ok":
            assert entry["png"] == [], f"{entry['path']}: PNG listed for status {entry['status']}"
            continue
        frames = len(entry["samples"])
        assert entry["png"] == expected_png_names(relative(entry["path"]), frames), (
            f"{entry['path']}: png {entry['png']}"
        )
        for name in entry["png"]:
            assert (default_run.output / name).is_file(), f"{name} is listed but missing"


def test_png_paths_multiple_inputs(png16_run: Run) -> None:
    # With several inputs, each file's PNG path starts with `input-N/`, N its input's index.
    for entry in png16_run.manifest:
        if entry["status"] != "ok":
            continue
        path = Path(entry["path"])
        index = next(
            i for i, item in enumerate(PNG16_INPUTS) if item == path or item in path.parents
        )
        base = PNG16_INPUTS[index]
        within = path.name if base == path else path.relative_to(base).as_posix()
        frames = int(read_source(path).get("NumberOfFrames") or 1)
        expected = expected_png_names(f"input-{index}/{within}", frames)
        assert entry["png"] == expected, f"{entry['path']}: png {entry['png']}"
        for name in entry["png"]:
            assert (png16_run.output / name).is_file(), f"{name} is listed but missing"


def test_png_default_depth_and_mode(default_run: Run) -> None:
    checked = 0
    for entry, _, path in png_files(default_run):
        data = path.read_bytes()
        bit_depth, colour_type = png_header(data)
        grayscale = is_grayscale(read_source(Path(entry["path"])))
        image = Image.open(io.BytesIO(data))
        assert bit_depth == 8, f"{path}: bit depth {bit_depth}, expected 8"
        if grayscale:
            assert colour_type == 0, f"{path}: colour type {colour_type}, expected 0 (grayscale)"
            assert image.mode == "L", f"{path}: Pillow mode {image.mode}"
        else:
            assert colour_type == 2, f"{path}: colour type {colour_type}, expected 2 (RGB)"
            assert image.mode == "RGB", f"{path}: Pillow mode {image.mode}"
        checked += 1
    assert checked > 0, "no PNG file was written"


def check_png_values(run: Run, bits: int) -> int:
    maximum = 2**bits - 1
    checked = 0
    for entry, frame, path in png_files(run):
        source = Path(entry["path"])
        if not is_grayscale(read_source(source)):
            continue
        with Image.open(path) as image:
            got = np.asarray(image).astype(np.int64)
        expected = to_integers(expected_display(source, frame, "file").values, maximum)
        assert got.shape == expected.shape, f"{path}: shape {got.shape}, expected {expected.shape}"
        assert np.array_equal(got, expected), (
            f"{path}: {bits}-bit values differ from the `file` window\n"
            + mismatch_report(got, expected)
        )
        checked += 1
    return checked


def test_png_8bit_values(default_run: Run) -> None:
    assert check_png_values(default_run, 8) > 0, "no grayscale PNG was checked"


def test_png_16bit_depth_and_mode(png16_run: Run) -> None:
    checked = 0
    for entry, _, path in png_files(png16_run):
        data = path.read_bytes()
        bit_depth, colour_type = png_header(data)
        assert bit_depth == 16, f"{path}: bit depth {bit_depth}, expected 16"
        if is_grayscale(read_source(Path(entry["path"]))):
            assert colour_type == 0, f"{path}: colour type {colour_type}"
            mode = Image.open(io.BytesIO(data)).mode
            assert mode == "I;16", f"{path}: Pillow mode {mode}"
        else:
            assert colour_type == 2, f"{path}: colour type {colour_type}"
        checked += 1
    assert checked > 0, "the 16-bit run wrote no PNG"


def test_png_16bit_values(png16_run: Run) -> None:
    assert check_png_values(png16_run, 16) > 0, "no grayscale PNG was checked"


def test_png_only_export_omits_shards(png16_run: Run) -> None:
    # An `export` map without `shards` writes no shards (ExportSpec in hounsfield-tensor).
    assert png16_run.shard_paths == [], "shards were written though the recipe's export has none"
    for entry in png16_run.manifest:
        assert entry["samples"] == [], f"{entry['path']}: samples {entry['samples']}"


def test_png_colour_matches_tensor(default_run: Run) -> None:
    checked = 0
    for entry, frame, path in png_files(default_run):
        if is_grayscale(read_source(Path(entry["path"]))):
            continue
        sample = default_run.samples[entry["samples"][frame]]
        expected = to_integers(np.moveaxis(sample.tensor, 0, -1).astype(np.float64), 255)
        with Image.open(path) as image:
            got = np.asarray(image).astype(np.int64)
        assert np.array_equal(got, expected), (
            f"{path}: RGB differs from the tensor\n" + mismatch_report(got, expected)
        )
        checked += 1
    assert checked > 0, "no colour PNG was written"


def read_png(run: Run, source: Path) -> np.ndarray:
    (name,) = run.entry(source)["png"]
    with Image.open(run.output / name) as image:
        return np.asarray(image).astype(np.int64)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("g07_two_windows.dcm", [[0, 129, 255, 255]]),
        ("g07_window_count_mismatch.dcm", [[0, 129, 255, 255]]),
        ("g08_monochrome1_window.dcm", [[255, 191, 0]]),
        ("g08_monochrome1_no_window.dcm", [[255, 191, 0]]),
        ("g08_monochrome2_window.dcm", [[0, 64, 255]]),
    ],
)
def test_png_readme_values(default_run: Run, name: str, expected: list[list[int]]) -> None:
    got = read_png(default_run, SYNTHETIC / name)
    assert got.tolist() == expected, f"{name}: 8-bit PNG values from fixtures/synthetic/README.md"


def test_png_g09_rgb_values(default_run: Run) -> None:
    # G-09: red, green, blue and white, whatever the Planar Configuration.
    expected = [[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [255, 255, 255]]]
    for name in ("g09_rgb_planar_0.dcm", "g09_rgb_planar_1.dcm"):
        got = read_png(default_run, SYNTHETIC / name)
        assert got.tolist() == expected, f"{name}: RGB PNG values"


def test_png_16bit_readme_values(png16_run: Run) -> None:
    # G-08 at 16 bits: LINEAR 2048/4096 maps 1024 to (1024 - 2047.5) / 4095 + 0.5 = 0.250061,
    # and MONOCHROME1 inverts it to 0.749939, which is 49147.25 of 65535.
    got = read_png(png16_run, SYNTHETIC / "g08_monochrome1_window.dcm")
    assert got.tolist() == [[65535, 49147, 0]], "g08_monochrome1_window.dcm at 16 bits"


# --------------------------------------------------------------------------------------
# Manifest and exit codes


FIXTURE_FILES = fixture_files()


# Files that are not DICOM, as make_oracle.py classified them, plus the oracle itself.
NOT_DICOM = {
    *json.loads((FIXTURES / "oracle" / "pydicom.json").read_text(encoding="utf-8"))["not_dicom"],
    "oracle/pydicom.json",
}


def expected_status(name: str) -> str:
    if name in BROKEN_FILES or name in UNDECODABLE_FILES:
        return "error"
    # Malformed inputs of the Rust regression tests, beside the script and notes that
    # describe them (fixtures/regressions/README.md).
    if name.startswith("regressions/"):
        return "error" if name.endswith(".dcm") else "skipped"
    if name in NOT_DICOM or name in NON_IMAGE_DICOM or name in BURNED_IN_FILES:
        return "skipped"
    # test_fixtures.py imports the generator scripts, which may leave bytecode here.
    if "__pycache__" in Path(name).parts:
        return "skipped"
    return "ok"


def test_manifest_one_line_per_file(default_run: Run) -> None:
    files = fixture_files()
    paths = [relative(entry["path"]) for entry in default_run.manifest]
    assert len(paths) == len(files), f"{len(paths)} manifest lines for {len(files)} files"
    assert sorted(paths) == files, "manifest paths differ from the files under fixtures/"


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            name,
            marks=pytest.mark.xfail(
                strict=True,
                reason="known limitation: the private element (4453,100C) has VR UN and "
                "undefined length, so its items are in Implicit VR (PS3.5 6.2.2); the DICOM "
                "parser (dicom-object 0.10) cannot read them, so the file is reported as an "
                "error although it has no Pixel Data and should be skipped",
            ),
        )
        if name == "dicom/pydicom/UN_sequence.dcm"
        else name
        for name in FIXTURE_FILES
    ],
)
def test_manifest_status(default_run: Run, name: str) -> None:
    entry = default_run.entry(FIXTURES / name)
    want = expected_status(name)
    detail = entry.get("error") or entry.get("reason")
    assert entry["status"] == want, f"{name}: status {entry['status']} ({detail}), expected {want}"
    if want == "error":
        assert entry.get("error"), f"{name}: status error without a message"
        assert str(FIXTURES / name) in entry["error"], (
            f"{name}: error does not name the file: {entry['error']}"
        )
        assert entry["samples"] == [], f"{name}: failed file has samples"
    if want == "skipped":
        assert entry.get("reason"), f"{name}: skipped without a reason"
        assert entry["samples"] == [], f"{name}: skipped file has samples"
    if want == "ok":
        assert entry["samples"], f"{name}: converted without samples"


def test_manifest_keys_match_shards(default_run: Run) -> None:
    manifest_keys = [key for entry in default_run.manifest for key in entry["samples"]]
    assert manifest_keys == list(default_run.samples), (
        "manifest sample keys differ from the shard keys"
    )
    for entry in default_run.manifest:
        assert entry.get("shards", []) == shards_of_samples(default_run, entry), (
            f"{entry['path']}: manifest `shards` {entry.get('shards')}"
        )
        for key in entry["samples"]:
            source = default_run.samples[key].metadata["source"]
            assert source == entry["path"], f"{key}: json source {source}"


def test_exit_code_good_files(hounsfield_bin: Path, tmp_path: Path) -> None:
    run = run_convert(hounsfield_bin, [DICOM / "dcm_qa_ct"], tmp_path / "out")
    assert run.returncode == 0, f"every file converts, so exit 0 was expected:\n{run.stderr}"
    assert [entry["status"] for entry in run.manifest] == ["ok"] * 6


def test_exit_code_unknown_recipe_key(hounsfield_bin: Path, tmp_path: Path) -> None:
    recipe = "channels: [modality]\nexport:\n  shards: { max_samples_per_shrad: 10 }\n"
    run = run_convert(hounsfield_bin, [DICOM / "dcm_qa_ct"], tmp_path / "out", recipe)
    assert run.returncode == 2, f"exit {run.returncode} for an unknown recipe key:\n{run.stderr}"
    assert "max_samples_per_shrad" in run.stderr, f"stderr does not name the key:\n{run.stderr}"
    assert not (tmp_path / "out" / "manifest.jsonl").exists(), (
        "a manifest was written for a bad recipe"
    )


def test_exit_code_missing_input(hounsfield_bin: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    run = run_convert(hounsfield_bin, [missing], tmp_path / "out")
    assert run.returncode == 2, f"exit {run.returncode} for a missing input:\n{run.stderr}"
    assert str(missing) in run.stderr, f"stderr does not name the missing input:\n{run.stderr}"


def test_recipe_written_with_defaults(windows_run: Run) -> None:
    written = yaml.safe_load((windows_run.output / "recipe.yaml").read_text(encoding="utf-8"))
    requested = yaml.safe_load(WINDOWS_RECIPE)
    assert len(written["channels"]) == len(requested["channels"]), f"channels {written['channels']}"
    assert written["channels"][0] == "modality", f"channel 0 is {written['channels'][0]}"
    assert written["channels"][4] == {"window": "file"}, f"channel 4 is {written['channels'][4]}"
    for index in (1, 2, 3):
        window = written["channels"][index]["window"]
        function, center, width = WINDOW_CHANNELS[index]
        assert (window["center"], window["width"]) == (center, width), f"channel {index}: {window}"
        assert window.get("function", "linear") == function, f"channel {index}: {window}"
    assert written["export"]["shards"]["max_samples_per_shard"] == 1000, (
        f"export {written['export']}"
    )
    assert written["privacy"]["include_patient_attributes"] is False, (
        f"privacy {written['privacy']}"
    )


# --------------------------------------------------------------------------------------
# Determinism


def output_files(run: Run) -> dict[str, bytes]:
    """Return the shards and the manifest of a run by their path relative to its output."""
    files = {"manifest.jsonl": (run.output / "manifest.jsonl").read_bytes()}
    for shard in run.shard_paths:
        files[f"shards/{shard.name}"] = shard.read_bytes()
    return files


@pytest.mark.parametrize("jobs", [1, 2])
def test_output_identical_to_rerun(default_run: Run, jobs_runs: dict[int, Run], jobs: int) -> None:
    first = output_files(default_run)
    second = output_files(jobs_runs[jobs])
    assert sorted(second) == sorted(first), f"--jobs {jobs} wrote other files: {sorted(second)}"
    for name, data in first.items():
        assert second[name] == data, f"{name} differs between the default run and --jobs {jobs}"


def test_output_identical_jobs_1_and_2(jobs_runs: dict[int, Run]) -> None:
    assert output_files(jobs_runs[1]) == output_files(jobs_runs[2]), "--jobs 1 and --jobs 2 differ"


# --------------------------------------------------------------------------------------
# Privacy


def leaked_values(metadata: dict[str, Any], values: dict[str, str]) -> list[str]:
    """Return the identifying values that occur in a sample's JSON strings.

    A value counts when a string equals it, or, for values of several words or PN
    components, when a string contains it. Matching single words inside other strings
    would flag an Accession Number `1` inside UIDs and the institution `TOSHIBA` inside
    the manufacturer `TOSHIBA_MEC`.
    """
    leaves = [normalize_text(leaf) for leaf in string_leaves(metadata)]
    leaked = []
    for keyword, value in values.items():
        substring = re.search(r"[A-Za-z][ ^][A-Za-z]", value) is not None
        for leaf in leaves:
            if leaf == value or (substring and value in leaf):
                leaked.append(f"{keyword}={value!r} in {leaf!r}")
                break
    return leaked


def test_privacy_default_omits_patient(default_run: Run) -> None:
    checked = 0
    for key, sample in default_run.samples.items():
        assert "patient" not in sample.metadata, f"{key}: json has `patient` by default"
        values = identifying_values(Path(sample.metadata["source"]))
        if not values:
            continue
        checked += 1
        leaked = leaked_values(sample.metadata, values)
        assert not leaked, f"{key}: identifying values in the json: {leaked}"
    assert checked > 0, "no converted fixture has identifying attributes"


def test_privacy_opt_in_includes_patient(privacy_run: Run) -> None:
    assert privacy_run.samples, "the privacy run wrote no sample"
    for key, sample in privacy_run.samples.items():
        patient = sample.metadata.get("patient")
        assert isinstance(patient, dict), (
            f"{key}: no `patient` object with include_patient_attributes"
        )
        for keyword, value in identifying_values(Path(sample.metadata["source"])).items():
            field = PATIENT_FIELDS[keyword]
            got = patient.get(field)
            assert got is not None and normalize_text(got) == value, (
                f"{key}: patient.{field} is {got!r}, the source has {value!r}"
            )


# --------------------------------------------------------------------------------------
# No partial files


@pytest.mark.parametrize(
    "run_name", ["default_run", "windows_run", "png16_run", "privacy_run", "small_shards_run"]
)
def test_no_partial_files(request: pytest.FixtureRequest, run_name: str) -> None:
    run: Run = request.getfixturevalue(run_name)
    leftovers = []
    for root, folders, names in os.walk(run.output):
        for name in [*folders, *names]:
            if name.startswith(".") or ".tmp" in name:
                leftovers.append(os.path.join(root, name))
    assert not leftovers, f"{run_name}: temporary or hidden files left behind: {leftovers}"


# --------------------------------------------------------------------------------------
# Output write failures


def test_png_write_failure_adds_no_sample(hounsfield_bin: Path, tmp_path: Path) -> None:
    """A file whose PNG cannot be written is an error and has no sample in the shards."""
    slices = sorted((DICOM / "dcm_qa_ct").iterdir())
    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    shutil.copyfile(slices[0], inputs / "good.dcm")
    shutil.copyfile(slices[1], inputs / "sub" / "bad.dcm")
    output = tmp_path / "out"
    # A regular file where the PNG folder of `sub/bad.dcm` must go makes
    # that one write fail, even for root, which ignores folder permissions.
    (output / "png").mkdir(parents=True)
    (output / "png" / "sub").write_text("not a folder")
    recipe = (
        "channels: [modality]\n"
        "export:\n"
        "  png: { bits: 8, window: file }\n"
        "  shards: { max_samples_per_shard: 100 }\n"
    )
    run = run_convert(hounsfield_bin, [inputs], output, recipe)
    assert run.returncode == 1, f"expected exit 1 for one failed file:\n{run.stderr}"
    entries = {Path(entry["path"]).name: entry for entry in run.manifest}
    assert entries["good.dcm"]["status"] == "ok"
    bad = entries["bad.dcm"]
    assert bad["status"] == "error"
    assert "bad.dcm" in bad["error"], f"the error does not name the input: {bad['error']}"
    assert bad["samples"] == [], f"a failed file lists samples: {bad['samples']}"
    assert list(run.samples) == entries["good.dcm"]["samples"]
