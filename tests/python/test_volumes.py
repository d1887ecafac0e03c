"""End-to-end tests of `hounsfield convert --volumes`, read back with numpy and nibabel.

The binary comes from HOUNSFIELD_BIN, as in test_convert.py; tests/run.sh builds it. From
the venv of tests/python/venv.sh:

    HOUNSFIELD_BIN=target/release/hounsfield python -m pytest tests/python/test_volumes.py

The synthetic series come from fixtures/synthetic/series/generate.py, written into pytest's
temporary folder. Their pixels equal the slice's rank along the normal, so `volume[k] == k`
checks the order. The real series are fixtures/dicom/dcm_qa_ct, a GE CT with an 18.5
degree gantry tilt and two slice steps, and one MR series: fixtures/dicom/dcm_qa_nih/mr_0004
with fixtures/dicom/pacs-export/STUDY1/SERIES4, where instance 16 repeats the position of
instance 1. Those are also converted with dcm2niix and compared through nibabel.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import nibabel as nib
import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DICOM = REPO_ROOT / "fixtures" / "dicom"
GE_CT = DICOM / "dcm_qa_ct"
MR_FILES = [
    *sorted((DICOM / "dcm_qa_nih" / "mr_0004").glob("*.dcm")),
    *sorted((DICOM / "pacs-export" / "STUDY1" / "SERIES4").iterdir()),
]
ENHANCED_CT = DICOM / "pydicom-data" / "eCT_Supplemental.dcm"

# Largest distance allowed between the voxel centres of the two tools, mm.
WORLD_TOLERANCE_MM = 1e-3
# Pixel Padding Value (0028,0120) of the GE CT files, in HU (rescale slope 1, intercept 0).
GE_PADDING_HU = -1500


def load_generator() -> ModuleType:
    """Import fixtures/synthetic/series/generate.py, a script and not a package module."""
    path = REPO_ROOT / "fixtures" / "synthetic" / "series" / "generate.py"
    spec = importlib.util.spec_from_file_location("series_generate", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the module runs.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def hounsfield_bin() -> Path:
    value = os.environ.get("HOUNSFIELD_BIN")
    if not value:
        pytest.fail("HOUNSFIELD_BIN is not set; build target/release/hounsfield and set it")
    path = Path(value)
    assert path.is_file(), f"HOUNSFIELD_BIN={value} is not a file"
    return path


@dataclasses.dataclass
class Volume:
    """One volume sample: its tensor, metadata and NIfTI image."""

    key: str
    tensor: np.ndarray
    meta: dict[str, Any]
    nifti: nib.Nifti1Image | None


@dataclasses.dataclass
class VolumeRun:
    output: Path
    returncode: int
    stderr: str
    volumes: list[Volume]
    manifest: list[dict[str, Any]]
    records: list[dict[str, Any]]

    def entry(self, path: Path) -> dict[str, Any]:
        matches = [line for line in self.manifest if Path(line["path"]) == path]
        assert len(matches) == 1, f"{path}: {len(matches)} manifest lines"
        return matches[0]


def read_volumes(output: Path) -> list[Volume]:
    members: dict[str, dict[str, bytes]] = {}
    order: list[str] = []
    for shard in sorted((output / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                key, _, extension = member.name.partition(".")
                if key not in members:
                    members[key] = {}
                    order.append(key)
                data = tar.extractfile(member)
                assert data is not None
                members[key][extension] = data.read()
    volumes = []
    for key in order:
        tensor = np.load(io.BytesIO(members[key]["npy"]))
        meta = json.loads(members[key]["json"])
        nifti_path = output / "nifti" / f"{key}.nii.gz"
        nifti = nib.load(nifti_path) if nifti_path.exists() else None
        volumes.append(Volume(key, tensor, meta, nifti))
    return volumes


def run_volumes(inputs: list[Path], output: Path, recipe: str | None = None) -> VolumeRun:
    command = [str(hounsfield_bin()), "convert", *map(str, inputs), "--output", str(output)]
    command.append("--volumes")
    if recipe is not None:
        recipe_path = output.parent / f"{output.name}-recipe.yaml"
        recipe_path.write_text(recipe, encoding="utf-8")
        command += ["--recipe", str(recipe_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    manifest_path = output / "manifest.jsonl"
    assert manifest_path.exists(), f"no manifest; stderr:\n{result.stderr}"
    manifest = [json.loads(line) for line in manifest_path.read_text().splitlines()]
    records = [
        json.loads(line) for line in (output / "volumes.jsonl").read_text().splitlines()
    ]
    volumes = read_volumes(output)
    return VolumeRun(output, result.returncode, result.stderr, volumes, manifest, records)


@pytest.fixture(scope="session")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return load_generator().write_cases(tmp_path_factory.mktemp("series-cases"))


@pytest.fixture(scope="session")
def converted(cases: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    """Convert each synthetic case once with the default recipe."""
    results: dict[str, VolumeRun] = {}

    def get(name: str) -> VolumeRun:
        if name not in results:
            output = tmp_path_factory.mktemp(name) / "out"
            results[name] = run_volumes([cases[name]], output)
        return results[name]

    return get


def world(affine: np.ndarray, ijk: np.ndarray) -> np.ndarray:
    """Voxel centres in mm of an (N, 3) array of indices."""
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def grid_indices(shape: tuple[int, ...]) -> np.ndarray:
    """Every (i, j, k) index of a 3-D grid, as an (N, 3) array."""
    axes = [np.arange(n) for n in shape[:3]]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)


def depth_values(volume: Volume) -> list[float]:
    """The value of each slice of a constant-per-slice volume, channel 0."""
    return [float(volume.tensor[0, k].mean()) for k in range(volume.tensor.shape[1])]


# --------------------------------------------------------------------------------------
# Synthetic series


@pytest.mark.parametrize("name", ["g15a_instance_number_1", "g15b_instance_numbers_reversed"])
def test_axial_order_by_position(converted, name: str) -> None:
    run = converted(name)
    assert run.returncode == 0, run.stderr
    assert len(run.volumes) == 1
    volume = run.volumes[0]
    assert volume.tensor.shape == (1, 5, 2, 2)
    assert volume.tensor.dtype == np.float32
    assert depth_values(volume) == [0, 1, 2, 3, 4]
    assert volume.meta["spacing_mm"]["slice"] == pytest.approx(2.5)
    depths = [s["image_position_patient"][2] for s in volume.meta["source_slices"]]
    assert depths == [-10, -7.5, -5, -2.5, 0]


def test_axial_order_repeats_exactly(cases, converted, tmp_path: Path) -> None:
    first = converted("g15a_instance_number_1")
    again = run_volumes([cases["g15a_instance_number_1"]], tmp_path / "again")
    shard = sorted((first.output / "shards").glob("*.tar"))[0]
    shard_again = sorted((again.output / "shards").glob("*.tar"))[0]
    assert shard.read_bytes() == shard_again.read_bytes()
    nifti = sorted((first.output / "nifti").glob("*.nii.gz"))[0]
    assert nifti.read_bytes() == (again.output / "nifti" / nifti.name).read_bytes()


def test_sagittal_order_follows_the_normal(converted) -> None:
    volume = converted("g15_sagittal").volumes[0]
    assert depth_values(volume) == [0, 1, 2, 3, 4]
    xs = [s["image_position_patient"][0] for s in volume.meta["source_slices"]]
    assert xs == [10, 5, 0, -5, -10]
    assert volume.meta["spacing_mm"]["slice"] == pytest.approx(5.0)
    affine = np.array(volume.meta["affine_lps"])
    np.testing.assert_allclose(affine[:3, 2], [-5, 0, 0])


def test_affine_maps_voxels_to_image_position(converted) -> None:
    # PS3.3 C.7.6.2.1.1: voxel (i, j, k) = IPP_k + i * column spacing * row direction
    # + j * row spacing * column direction.
    volume = converted("g15_sagittal").volumes[0]
    affine = np.array(volume.meta["affine_lps"])
    for k, source in enumerate(volume.meta["source_slices"]):
        np.testing.assert_allclose(affine @ [0, 0, k, 1], [*source["image_position_patient"], 1])
    # Row direction (0, 1, 0) at 0.5 mm per column; column direction (0, 0, -1) per row.
    np.testing.assert_allclose(affine @ [1, 0, 0, 1], [10, 0.5, 0, 1])
    np.testing.assert_allclose(affine @ [0, 1, 0, 1], [10, 0, -0.5, 1])
    ras = np.array(volume.meta["affine_ras"])
    np.testing.assert_allclose(ras, np.diag([-1, -1, 1, 1]) @ affine)


def test_nifti_holds_the_tensor_and_affine(converted) -> None:
    volume = converted("g15_sagittal").volumes[0]
    assert volume.nifti is not None
    header = volume.nifti.header
    assert int(header["qform_code"]) == 1
    assert int(header["sform_code"]) == 1
    ras = np.array(volume.meta["affine_ras"])
    np.testing.assert_allclose(volume.nifti.affine, ras, atol=1e-5)
    np.testing.assert_allclose(volume.nifti.get_qform(), ras, atol=1e-5)
    data = np.asarray(volume.nifti.dataobj)
    # NIfTI (i, j, k) = (W, H, D): the transpose of the tensor's (D, H, W).
    np.testing.assert_array_equal(data, volume.tensor[0].transpose(2, 1, 0))
    assert header.get_zooms() == pytest.approx((0.5, 0.5, 5.0))


def test_uneven_spacing_is_split_with_its_steps(converted) -> None:
    run = converted("g16_uneven_spacing")
    assert [v.tensor.shape[1] for v in run.volumes] == [4, 2]
    assert depth_values(run.volumes[0]) == [0, 1, 2, 3]
    assert depth_values(run.volumes[1]) == [4, 5]
    spacings = [v.meta["spacing_mm"]["slice"] for v in run.volumes]
    assert spacings == [pytest.approx(2.5), pytest.approx(7.5)]
    decision = run.volumes[0].meta["decisions"][0]
    assert decision["code"] == "uneven-spacing-split"
    assert decision["steps_mm"] == pytest.approx([2.5, 2.5, 2.5, 7.5, 7.5])
    assert "2.5, 2.5, 2.5, 7.5, 7.5" in decision["message"]


def test_uneven_spacing_rejected_on_request(cases, tmp_path: Path) -> None:
    run = run_volumes(
        [cases["g16_uneven_spacing"]],
        tmp_path / "out",
        "channels: [modality]\nvolumes: { uneven_spacing: reject }\n",
    )
    assert run.volumes == []
    assert all(entry["status"] == "skipped" for entry in run.manifest)
    reason = run.manifest[0]["reason"]
    assert "2.5, 2.5, 2.5, 7.5, 7.5" in reason, reason
    assert run.manifest[0]["findings"][0]["code"] == "uneven-spacing"


def test_uneven_spacing_resampled_linearly(cases, tmp_path: Path) -> None:
    run = run_volumes(
        [cases["g16_uneven_spacing"]],
        tmp_path / "out",
        "channels: [modality]\nvolumes: { uneven_spacing: resample }\n",
    )
    (volume,) = run.volumes
    # z = 0, 2.5, ..., 22.5 at the smallest step; 10 mm lies a third of the way from
    # 7.5 (value 3) to 15 (value 4).
    assert volume.tensor.shape[1] == 10
    values = depth_values(volume)
    assert values[:4] == [0, 1, 2, 3]
    assert values[4] == pytest.approx(3 + 1 / 3, abs=1e-5)
    assert values[9] == 5
    assert volume.meta["resampled"] is True
    assert volume.meta["interpolation"] == "linear"


def test_instance_number_gap_warns_only(converted) -> None:
    run = converted("g16_instance_number_gap")
    (volume,) = run.volumes
    assert depth_values(volume) == [0, 1, 2, 3, 4, 5]
    codes = [finding["code"] for finding in volume.meta["findings"]]
    assert "instance-number-gap" in codes


def test_exact_duplicate_is_dropped_with_a_warning(converted) -> None:
    run = converted("g17a_exact_duplicate")
    (volume,) = run.volumes
    assert depth_values(volume) == [0, 1, 2, 3]
    skipped = [entry for entry in run.manifest if entry["status"] == "skipped"]
    assert len(skipped) == 1
    assert skipped[0]["findings"][0]["code"] == "exact-duplicate"
    assert volume.meta["decisions"][0]["code"] == "exact-duplicates-dropped"


def test_second_acquisition_becomes_a_second_volume(converted) -> None:
    run = converted("g17b_second_acquisition")
    assert [depth_values(v) for v in run.volumes] == [[0, 1, 2, 3], [100, 101, 102, 103]]
    assert all(entry["status"] == "ok" for entry in run.manifest)
    split = run.volumes[1].meta["split"][0]
    assert split["key"] == "repeated-position"
    assert "Acquisition Number" in split["value"]


def test_same_instance_number_and_time_stack(converted) -> None:
    (volume,) = converted("g17c_same_instance_and_time").volumes
    assert depth_values(volume) == [0, 1, 2, 3]


def test_tilted_stack_keeps_an_exact_sheared_affine(converted) -> None:
    (volume,) = converted("tilted_15_degrees").volumes
    meta = volume.meta
    assert meta["sheared"] is True
    assert meta["tilt_degrees"] == pytest.approx(15.0)
    affine = np.array(meta["affine_lps"])
    for k, source in enumerate(meta["source_slices"]):
        position = [*source["image_position_patient"], 1]
        np.testing.assert_allclose(affine @ [0, 0, k, 1], position, atol=1e-9)
    assert meta["spacing_mm"]["slice"] == pytest.approx(3 * math.cos(math.radians(15)))
    assert volume.nifti is not None
    np.testing.assert_allclose(volume.nifti.affine, meta["affine_ras"], atol=1e-5)
    # The qform cannot shear: its slice axis is the normal.
    qform = volume.nifti.get_qform()
    normal_ras = np.array([0, -math.sin(math.radians(15)), math.cos(math.radians(15))])
    np.testing.assert_allclose(qform[:3, 2] / np.linalg.norm(qform[:3, 2]), normal_ras, atol=1e-6)


def test_tilted_stack_resampled_on_request(cases, tmp_path: Path) -> None:
    run = run_volumes(
        [cases["tilted_15_degrees"]],
        tmp_path / "out",
        "channels: [modality]\nvolumes: { gantry_tilt: resample }\n",
    )
    (volume,) = run.volumes
    meta = volume.meta
    assert meta["sheared"] is False
    affine = np.array(meta["affine_lps"])
    columns = affine[:3, :3]
    gram = columns.T @ columns
    np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0, atol=1e-9)
    assert volume.tensor.shape == (1, 4, 4, 4)
    # Slice 0 does not move; slice 3 moves 9 sin(15) = 2.33 mm, 4.66 rows of 0.5 mm, so
    # most of it falls outside the field and is padding.
    assert meta["padding_voxels"] > 0
    assert meta["decisions"][0]["code"] == "gantry-tilt-resampled"


def test_localizer_is_excluded_with_its_reason(converted) -> None:
    run = converted("localizer_in_series")
    (volume,) = run.volumes
    assert depth_values(volume) == [0, 1, 2]
    skipped = [entry for entry in run.manifest if entry["status"] == "skipped"]
    assert len(skipped) == 1
    assert skipped[0]["findings"][0]["code"] == "localizer"
    assert "keep_localizers" in skipped[0]["reason"]


def test_echoes_are_separate_volumes(converted) -> None:
    run = converted("two_echoes")
    assert [depth_values(v) for v in run.volumes] == [[0, 1, 2], [10, 11, 12]]
    assert run.volumes[1].meta["split"][0]["key"] == "echo-number"


def test_enhanced_frames_sorted_with_rescale_per_frame(converted) -> None:
    (volume,) = converted("enhanced_ct_per_frame_rescale").volumes
    assert volume.tensor.shape == (1, 3, 1, 1)
    assert depth_values(volume) == [11, 2, 3]
    assert volume.meta["spacing_mm"]["slice"] == pytest.approx(5.0)
    frames = [s["frame"] for s in volume.meta["source_slices"]]
    assert frames == [1, 0, 2]
    slopes = [s["modality_lut"]["slope"] for s in volume.meta["source_slices"]]
    assert slopes == [7, 3, 1]


def test_target_size_resamples_every_volume(cases, tmp_path: Path) -> None:
    run = run_volumes(
        [cases["g15a_instance_number_1"]],
        tmp_path / "out",
        "channels: [modality]\nvolumes: { resample: { size: [9, 3, 3] } }\n",
    )
    (volume,) = run.volumes
    assert volume.tensor.shape == (1, 9, 3, 3)
    np.testing.assert_allclose(depth_values(volume), np.arange(9) / 2, atol=1e-6)
    assert volume.meta["spacing_mm"]["slice"] == pytest.approx(1.25)
    assert volume.meta["spacing_mm"]["row"] == pytest.approx(0.25)


def test_window_channels_render_over_the_volume(cases, tmp_path: Path) -> None:
    run = run_volumes(
        [cases["g15a_instance_number_1"]],
        tmp_path / "out",
        "channels:\n  - modality\n  - window: { center: 2, width: 4, function: linear_exact }\n",
    )
    (volume,) = run.volumes
    assert volume.tensor.shape == (2, 5, 2, 2)
    # LINEAR_EXACT over [0, 4]: value / 4.
    np.testing.assert_allclose(volume.tensor[1, :, 0, 0], [0, 0.25, 0.5, 0.75, 1.0], atol=1e-6)
    assert volume.nifti is not None
    assert volume.nifti.shape == (2, 2, 5, 1, 2)


# --------------------------------------------------------------------------------------
# Real fixtures


@pytest.fixture(scope="session")
def ge_run(tmp_path_factory: pytest.TempPathFactory) -> VolumeRun:
    return run_volumes([GE_CT], tmp_path_factory.mktemp("ge") / "out")


@pytest.fixture(scope="session")
def mr_run(tmp_path_factory: pytest.TempPathFactory) -> VolumeRun:
    folder = tmp_path_factory.mktemp("mr-input")
    for path in MR_FILES:
        shutil.copy(path, folder / path.name)
    return run_volumes([folder], tmp_path_factory.mktemp("mr") / "out")


def test_ge_ct_splits_at_the_step_change(ge_run: VolumeRun) -> None:
    assert ge_run.returncode == 0, ge_run.stderr
    sources = [[Path(s["source"]).name for s in v.meta["source_slices"]] for v in ge_run.volumes]
    assert sources == [
        ["GE_12.dcm", "GE_13.dcm", "GE_14.dcm"],
        ["GE_15.dcm", "GE_16.dcm", "GE_17.dcm"],
    ]
    for volume, step in zip(ge_run.volumes, [4.22, 7.38]):
        meta = volume.meta
        assert meta["tilt_degrees"] == pytest.approx(18.5, abs=0.01)
        assert meta["sheared"] is True
        affine = np.array(meta["affine_lps"])
        assert np.linalg.norm(affine[:3, 2]) == pytest.approx(step, abs=1e-6)
        for k, source in enumerate(meta["source_slices"]):
            np.testing.assert_allclose(
                affine @ [0, 0, k, 1], [*source["image_position_patient"], 1], atol=1e-6
            )
    steps = ge_run.volumes[0].meta["decisions"][0]["steps_mm"]
    cos = math.cos(math.radians(18.5))
    position_steps = [4.22, 4.22, 1.14, 7.38, 7.38]
    assert steps == pytest.approx([step * cos for step in position_steps], abs=2e-3)


def test_ge_ct_is_in_hounsfield_units(ge_run: VolumeRun) -> None:
    volume = ge_run.volumes[0]
    assert volume.tensor.shape == (1, 3, 512, 512)
    # Air around the head.
    assert volume.tensor[0, 0, 5, 5] < -900


def test_mr_repeated_position_is_a_second_volume(mr_run: VolumeRun) -> None:
    assert [v.tensor.shape for v in mr_run.volumes] == [(1, 6, 64, 64), (1, 1, 64, 64)]
    first, second = mr_run.volumes
    instances = [s["instance_number"] for s in first.meta["source_slices"]]
    assert instances == [1, 2, 3, 4, 5, 6]
    assert first.meta["spacing_mm"]["slice"] == pytest.approx(5.0, abs=1e-4)
    assert second.meta["source_slices"][0]["instance_number"] == 16
    assert second.meta["split"][-1]["key"] == "repeated-position"
    assert second.meta["decisions"][0]["code"] == "single-slice"


def test_enhanced_ct_fixture_needs_keep_derived(tmp_path: Path) -> None:
    run = run_volumes([ENHANCED_CT], tmp_path / "default")
    assert run.volumes == []
    assert run.manifest[0]["findings"][0]["code"] == "derived"
    run = run_volumes(
        [ENHANCED_CT], tmp_path / "kept", "channels: [modality]\nvolumes: { keep_derived: true }\n"
    )
    (volume,) = run.volumes
    assert volume.tensor.shape == (1, 2, 512, 512)
    assert [s["frame"] for s in volume.meta["source_slices"]] == [1, 0]
    np.testing.assert_allclose(np.array(volume.meta["affine_lps"])[:3, 2], [0, 0, -10])


# --------------------------------------------------------------------------------------
# Comparison with dcm2niix


def dcm2niix_path() -> Path:
    """Find dcm2niix, installing the Debian package when running as root."""
    found = shutil.which("dcm2niix")
    if found is None and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "dcm2niix"],
            capture_output=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            timeout=600,
        )
        found = shutil.which("dcm2niix")
    if found is None:
        pytest.skip(
            "dcm2niix is not installed and cannot be installed here (apt-get needs root); "
            "install the Debian package dcm2niix to run the comparison"
        )
    return Path(found)


def run_dcm2niix(inputs: list[Path], work: Path, check: bool = True) -> list[nib.Nifti1Image]:
    """Convert `inputs` with dcm2niix (gzip output) and load the images it wrote.

    With `check`, dcm2niix must exit with status 0; it exits with 1 when it reports missing
    images but still writes them.
    """
    source = work / "input"
    source.mkdir(parents=True)
    for path in inputs:
        shutil.copy(path, source / path.name)
    output = work / "output"
    output.mkdir()
    result = subprocess.run(
        [str(dcm2niix_path()), "-z", "y", "-f", "%s_%j", "-o", str(output), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return [nib.load(path) for path in sorted(output.glob("*.nii.gz"))]


@dataclasses.dataclass
class Comparison:
    """How one of our volumes lines up with a dcm2niix image."""

    max_distance_mm: float
    matched: int
    max_value_difference: float


def compare(
    ours: nib.Nifti1Image,
    theirs: nib.Nifti1Image,
    extra_rows: bool = False,
    their_padding: float | None = None,
) -> Comparison:
    """Map every voxel centre of `ours` into `theirs` through the two affines.

    Each centre must land on a voxel centre of theirs (within WORLD_TOLERANCE_MM) inside
    their grid, and no two on the same one, so shape, slice order and spacing agree up to
    axis flips. The values there are compared too, except where theirs hold
    `their_padding`: dcm2niix keeps Pixel Padding Value, Hounsfield fills padding with the
    volume's smallest valid value. With `extra_rows`, their grid may be larger (dcm2niix
    enlarges the field when it corrects tilt).
    """
    indices = grid_indices(ours.shape)
    points = world(ours.affine, indices.astype(float))
    theirs_index = world(np.linalg.inv(theirs.affine), points)
    rounded = np.rint(theirs_index)
    distance = np.linalg.norm(world(theirs.affine, rounded) - points, axis=1)
    inside = np.all((rounded >= 0) & (rounded < np.array(theirs.shape[:3])), axis=1)
    assert inside.all(), f"{(~inside).sum()} voxel centres fall outside the dcm2niix grid"
    if not extra_rows:
        assert np.prod(ours.shape[:3]) == np.prod(theirs.shape[:3]), (ours.shape, theirs.shape)
    mapped = rounded.astype(int)
    assert len({tuple(row) for row in mapped}) == len(mapped), "two voxels map to one"
    our_values = ours.get_fdata()[tuple(indices.T)]
    their_values = theirs.get_fdata()[tuple(mapped.T)]
    valid = np.ones(len(mapped), dtype=bool)
    if their_padding is not None:
        valid = (their_values != their_padding) & (our_values != our_values.min())
    return Comparison(
        max_distance_mm=float(distance.max()),
        matched=len(mapped),
        max_value_difference=float(np.abs(our_values - their_values)[valid].max()),
    )


def report(name: str, comparison: Comparison) -> None:
    print(
        f"\n{name}: {comparison.matched} voxels, largest distance between voxel centres "
        f"{comparison.max_distance_mm:.2e} mm, largest value difference "
        f"{comparison.max_value_difference:.3g}"
    )


def test_dcm2niix_agrees_on_the_mr_time_point(mr_run: VolumeRun, tmp_path: Path) -> None:
    first_time_point = [path for path in MR_FILES if not path.name.endswith("00016.dcm")]
    (theirs,) = run_dcm2niix(first_time_point, tmp_path)
    ours = mr_run.volumes[0].nifti
    assert ours is not None
    assert theirs.shape == (64, 64, 6)
    their_zooms = sorted(theirs.header.get_zooms())
    assert their_zooms == pytest.approx(sorted(ours.header.get_zooms()), abs=1e-3)
    comparison = compare(ours, theirs)
    report("MR mr_0004 time point 1", comparison)
    assert comparison.max_distance_mm <= WORLD_TOLERANCE_MM
    assert comparison.max_value_difference == 0


def test_dcm2niix_stacks_the_repeated_mr_position(tmp_path: Path) -> None:
    # Deliberate difference: dcm2niix stacks all 7 files into one 64x64x7 image although
    # instance 16 repeats the position of instance 1; Hounsfield writes 6 + 1 slices.
    images = run_dcm2niix(MR_FILES, tmp_path, check=False)
    assert [image.shape for image in images] == [(64, 64, 7)]


def test_dcm2niix_agrees_on_the_tilt_corrected_ge_ct(tmp_path: Path) -> None:
    run = run_volumes(
        [GE_CT], tmp_path / "ours", "channels: [modality]\nvolumes: { gantry_tilt: resample }\n"
    )
    parts = [["GE_12", "GE_13", "GE_14"], ["GE_15", "GE_16", "GE_17"]]
    for part, (volume, names) in enumerate(zip(run.volumes, parts)):
        images = run_dcm2niix([GE_CT / f"{name}.dcm" for name in names], tmp_path / f"d{part}")
        (theirs,) = [image for image in images if "Tilt" in image.get_filename()]
        ours = volume.nifti
        assert ours is not None
        comparison = compare(ours, theirs, extra_rows=True, their_padding=GE_PADDING_HU)
        report(f"GE CT {names[0]}..{names[-1]}, tilt corrected", comparison)
        assert comparison.max_distance_mm <= WORLD_TOLERANCE_MM
        # Both shift the slices with linear interpolation; dcm2niix stores int16, so its
        # values are rounded to the nearest HU.
        assert comparison.max_value_difference <= 0.5 + 1e-3


def test_dcm2niix_raw_tilted_affine_is_not_exact(ge_run: VolumeRun, tmp_path: Path) -> None:
    # Deliberate difference: without tilt correction dcm2niix writes an sform that misplaces
    # the voxels of a tilted stack (and warns that the stack is incompatible with NIfTI).
    # Hounsfield's sheared affine reproduces Image Position (Patient) of every slice.
    images = run_dcm2niix([GE_CT / f"GE_1{n}.dcm" for n in (2, 3, 4)], tmp_path)
    (raw,) = [image for image in images if "Tilt" not in image.get_filename()]
    ours = ge_run.volumes[0]
    assert ours.nifti is not None
    our_affine = np.array(ours.meta["affine_ras"])
    ipp_ras = np.array([s["image_position_patient"] for s in ours.meta["source_slices"]])
    ipp_ras = ipp_ras * [-1, -1, 1]
    first_pixels = world(our_affine, np.array([[0.0, 0.0, k] for k in range(3)]))
    np.testing.assert_allclose(first_pixels, ipp_ras, atol=1e-6)
    # The same voxels: dcm2niix stores the rows bottom up.
    our_data = ours.nifti.get_fdata()
    their_data = raw.get_fdata()[:, ::-1, :]
    valid = their_data != GE_PADDING_HU
    np.testing.assert_array_equal(our_data[valid], their_data[valid])
    indices = grid_indices(our_data.shape).astype(float)
    flipped = indices * [1, -1, 1] + [0, our_data.shape[1] - 1, 0]
    distance = np.linalg.norm(world(our_affine, indices) - world(raw.affine, flipped), axis=1)
    print(
        f"\nGE CT GE_12..GE_14 without tilt correction: dcm2niix voxel centres are up to "
        f"{distance.max():.2f} mm (mean {distance.mean():.2f} mm) from the DICOM geometry"
    )
    assert distance.max() > 1.0
