"""Tests of the Python package `hounsfield` against the `hounsfield` binary.

tests/run.sh builds the package with maturin and installs it into the venv, and builds
target/release/hounsfield, whose path comes in HOUNSFIELD_BIN. Values decoded through Python
must equal the `.npy` members that `hounsfield convert` writes, byte for byte. The scale-out
tests run `hounsfield plan`, several `hounsfield convert --plan` workers as separate
processes and `hounsfield finalize`, and compare the result with one local run.

Tests that need torch, wids or ray skip when those packages are missing; tests/run.sh
installs them only with HOUNSFIELD_PYTHON_EXTRAS=1 (see tests/python/requirements-extras.txt).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

try:
    import hounsfield
    from hounsfield import data as hdata
except ImportError as error:
    raise ImportError(
        "the package hounsfield is not installed in this venv; tests/run.sh builds it, or run "
        "PATH=$VENV/bin:$PATH $VENV/bin/pip install --no-build-isolation ./crates/hounsfield-py"
    ) from error

REPO_ROOT = Path(__file__).resolve().parents[2]
DICOM = REPO_ROOT / "fixtures" / "dicom"
CT_FILE = DICOM / "pydicom" / "CT_small.dcm"
NOT_DICOM_DIR = DICOM / "not-dicom"

# Several channels, so that windows and the padding fill are compared too, and small
# shards, so that the readers have several shards to split between workers.
RECIPE = """\
channels:
  - modality
  - window: { center: 40, width: 400 }
  - window: file
export:
  shards: { max_samples_per_shard: 4 }
"""


def hounsfield_bin() -> str:
    binary = os.environ.get("HOUNSFIELD_BIN")
    if not binary:
        pytest.fail("HOUNSFIELD_BIN is not set; run tests/run.sh or set it to target/release/hounsfield")
    return binary


def run_cli(*args: str | os.PathLike[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the binary; exit status 1 (some inputs failed) is expected for the fixtures."""
    result = subprocess.run(
        [hounsfield_bin(), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return result


def read_shards(output: Path) -> dict[str, dict[str, bytes]]:
    """Read every sample of the shards listed in OUTPUT/shards/index.json, by key."""
    index = json.loads((output / "shards" / "index.json").read_text())
    samples: dict[str, dict[str, bytes]] = {}
    for shard in index["shardlist"]:
        path = (output / "shards" / shard["url"]).resolve()
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                key, _, extension = member.name.partition(".")
                file = tar.extractfile(member)
                assert file is not None
                samples.setdefault(key, {})[extension] = file.read()
    return samples


@pytest.fixture(scope="session")
def recipe_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("recipe") / "recipe.yaml"
    path.write_text(RECIPE)
    return path


@pytest.fixture(scope="session")
def cli_output(tmp_path_factory: pytest.TempPathFactory, recipe_file: Path) -> Path:
    """`hounsfield convert fixtures/dicom` with RECIPE, run once."""
    output = tmp_path_factory.mktemp("cli") / "out"
    run_cli("convert", "fixtures/dicom", "--output", output, "--recipe", recipe_file, "--jobs", "2")
    return output


@pytest.fixture(scope="session")
def cli_samples(cli_output: Path) -> dict[str, dict[str, bytes]]:
    samples = read_shards(cli_output)
    assert len(samples) > 8, "the fixtures should give several shards of 4 samples"
    return samples


def test_decode_matches_cli_tensors(cli_samples: dict[str, dict[str, bytes]]) -> None:
    for key, members in cli_samples.items():
        metadata = json.loads(members["json"])
        expected = np.load(io.BytesIO(members["npy"]))
        actual = hounsfield.decode(REPO_ROOT / metadata["source"], metadata["frame"], recipe=RECIPE)
        assert actual.dtype == np.float32, key
        assert actual.shape == expected.shape, key
        assert np.array_equal(actual, expected, equal_nan=True), key


def test_decode_without_recipe_gives_modality_values(cli_samples: dict[str, dict[str, bytes]]) -> None:
    compared = 0
    for key, members in cli_samples.items():
        metadata = json.loads(members["json"])
        if metadata["padding_pixels"] or metadata["channels"][0]["name"] != "modality":
            continue
        expected = np.load(io.BytesIO(members["npy"]))[0]
        actual = hounsfield.decode(REPO_ROOT / metadata["source"], metadata["frame"])
        assert actual.shape == expected.shape, key
        assert np.array_equal(actual, expected, equal_nan=True), key
        compared += 1
    assert compared > 10


def test_decode_ct_matches_pydicom() -> None:
    dataset = pydicom.dcmread(CT_FILE)
    expected = pydicom.pixels.apply_modality_lut(dataset.pixel_array, dataset).astype(np.float32)
    actual = hounsfield.decode(CT_FILE)
    assert actual.shape == (dataset.Rows, dataset.Columns)
    assert np.array_equal(actual, expected)


def test_decode_all_frames_adds_frame_axis(cli_samples: dict[str, dict[str, bytes]]) -> None:
    multi = [
        json.loads(members["json"])
        for members in cli_samples.values()
        if json.loads(members["json"])["number_of_frames"] > 1
    ]
    assert multi, "the fixtures should include a multi-frame file"
    metadata = multi[0]
    frames = hounsfield.decode(REPO_ROOT / metadata["source"], frame=None, recipe=RECIPE)
    assert frames.shape[0] == metadata["number_of_frames"]
    one = hounsfield.decode(REPO_ROOT / metadata["source"], metadata["frame"], recipe=RECIPE)
    assert np.array_equal(frames[metadata["frame"]], one, equal_nan=True)


def test_convert_file_matches_cli_bytes(cli_samples: dict[str, dict[str, bytes]]) -> None:
    by_source: dict[tuple[str, int], dict[str, bytes]] = {}
    for members in cli_samples.values():
        metadata = json.loads(members["json"])
        by_source[(metadata["source"], metadata["frame"])] = members
    sources = sorted({source for source, _ in by_source})[:12]
    for source in sources:
        for sample in hounsfield.convert_file(source, recipe=RECIPE):
            expected = by_source[(source, sample.metadata["frame"])]
            assert sample.npy == expected["npy"], source
            expected_metadata = json.loads(expected["json"])
            # The key comes from the path relative to the input, which was the folder there.
            del expected_metadata["key"]
            del sample.metadata["key"]
            assert sample.metadata == expected_metadata, source
            assert sample.tensor.dtype == np.float32


def test_recipe_forms_give_one_tensor(recipe_file: Path) -> None:
    mapping = {
        "channels": ["modality", {"window": {"center": 40, "width": 400}}, {"window": "file"}],
        "export": {"shards": {"max_samples_per_shard": 4}},
    }
    from_mapping = hounsfield.decode(CT_FILE, recipe=mapping)
    from_yaml = hounsfield.decode(CT_FILE, recipe=RECIPE)
    from_path = hounsfield.decode(CT_FILE, recipe=recipe_file)
    assert from_mapping.shape == (3, 128, 128)
    assert np.array_equal(from_mapping, from_yaml)
    assert np.array_equal(from_path, from_yaml)
    assert hounsfield.normalize_recipe(mapping) == hounsfield.normalize_recipe(recipe_file)


def test_read_metadata_has_header_attributes() -> None:
    dataset = pydicom.dcmread(CT_FILE, stop_before_pixels=True)
    metadata = hounsfield.read_metadata(CT_FILE)
    assert metadata["sop_instance_uid"] == dataset.SOPInstanceUID
    assert metadata["modality"] == "CT"
    assert metadata["pixel"]["rows"] == dataset.Rows
    assert metadata["pixel"]["columns"] == dataset.Columns
    assert "patient" not in metadata
    with_patient = hounsfield.read_metadata(CT_FILE, include_patient_attributes=True)
    assert "patient" in with_patient


def test_errors_map_to_exceptions() -> None:
    not_dicom = next(path for path in sorted(NOT_DICOM_DIR.rglob("*")) if path.is_file())
    with pytest.raises(hounsfield.DicomError, match="not a DICOM file"):
        hounsfield.decode(not_dicom)
    with pytest.raises(hounsfield.DicomError, match="frame 5 does not exist"):
        hounsfield.decode(CT_FILE, frame=5)
    with pytest.raises(hounsfield.RecipeError, match="widht"):
        hounsfield.decode(CT_FILE, recipe="channels:\n  - window: { center: 1, widht: 2 }\n")
    with pytest.raises(hounsfield.SkippedError, match="not a DICOM file"):
        hounsfield.convert_file(not_dicom)
    with pytest.raises(FileNotFoundError, match="no-such-folder"):
        hounsfield.convert([REPO_ROOT / "no-such-folder"], REPO_ROOT / "target" / "unused")
    assert issubclass(hounsfield.RecipeError, hounsfield.HounsfieldError)


def test_convert_releases_the_gil(tmp_path: Path) -> None:
    ticks = 0
    stop = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    thread = threading.Thread(target=count)
    thread.start()
    try:
        time.sleep(0.05)
        before = ticks
        started = time.monotonic()
        hounsfield.convert([DICOM], tmp_path / "out", recipe=RECIPE, jobs=1)
        elapsed = time.monotonic() - started
        during = ticks - before
    finally:
        stop.set()
        thread.join()
    # With the GIL held for the whole call, the counting thread could not run at all.
    assert elapsed > 0.1
    assert during > 1000


def test_python_convert_writes_cli_shards(tmp_path: Path, cli_output: Path) -> None:
    summary = hounsfield.convert([DICOM.relative_to(REPO_ROOT)], tmp_path / "out", recipe=RECIPE, jobs=2)
    cli_manifest = (cli_output / "manifest.jsonl").read_text().splitlines()
    assert summary["converted"] + summary["failed"] + summary["skipped"] == len(cli_manifest)
    for shard in sorted((cli_output / "shards").glob("*.tar")):
        assert (tmp_path / "out" / "shards" / shard.name).read_bytes() == shard.read_bytes(), shard.name


def test_shard_index_lists_every_sample(cli_output: Path, cli_samples: dict[str, dict[str, bytes]]) -> None:
    index = json.loads((cli_output / "shards" / "index.json").read_text())
    assert index["wids_version"] == 1
    tars = sorted(path.name for path in (cli_output / "shards").glob("*.tar"))
    assert [shard["url"] for shard in index["shardlist"]] == tars
    assert sum(shard["nsamples"] for shard in index["shardlist"]) == len(cli_samples)
    for shard in index["shardlist"]:
        assert shard["filesize"] == (cli_output / "shards" / shard["url"]).stat().st_size


def test_validate_reports_files() -> None:
    report = hounsfield.validate([DICOM / "pydicom"], header_only=True)
    assert report["summary"]["files"] == len(report["files"])
    assert any(file["path"].endswith("CT_small.dcm") for file in report["files"])


READ_KEYS_SCRIPT = """
import json, sys
from hounsfield import data
keys = [metadata["key"] for _, metadata in data.dataset(sys.argv[1], tensor="numpy")]
print(json.dumps(keys))
"""


def test_dataset_splits_shards_between_worker_processes(
    cli_output: Path, cli_samples: dict[str, dict[str, bytes]]
) -> None:
    workers = 3
    seen: list[list[str]] = []
    for worker in range(workers):
        env = dict(os.environ, WORKER=str(worker), NUM_WORKERS=str(workers))
        result = subprocess.run(
            [sys.executable, "-c", READ_KEYS_SCRIPT, str(cli_output)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        seen.append(json.loads(result.stdout))
    assert all(seen), "every worker should get at least one shard"
    flat = [key for keys in seen for key in keys]
    assert len(flat) == len(set(flat)), "a sample was read by two workers"
    assert set(flat) == set(cli_samples)


def test_dataset_yields_numpy_pairs(cli_output: Path, cli_samples: dict[str, dict[str, bytes]]) -> None:
    for tensor, metadata in hdata.dataset(cli_output, tensor="numpy"):
        expected = np.load(io.BytesIO(cli_samples[metadata["key"]]["npy"]))
        assert np.array_equal(tensor, expected, equal_nan=True)
        assert tuple(metadata["shape"]) == tensor.shape


# torch warns when a DataLoader has more workers than the machine has cores.
@pytest.mark.filterwarnings("ignore:This DataLoader will create")
def test_dataloader_with_workers_yields_every_sample(
    cli_output: Path, cli_samples: dict[str, dict[str, bytes]]
) -> None:
    torch = pytest.importorskip("torch")
    loader = torch.utils.data.DataLoader(hdata.dataset(cli_output), batch_size=None, num_workers=3)
    keys = []
    for tensor, metadata in loader:
        assert isinstance(tensor, torch.Tensor)
        assert tensor.dtype == torch.float32
        expected = np.load(io.BytesIO(cli_samples[metadata["key"]]["npy"]))
        assert np.array_equal(tensor.numpy(), expected, equal_nan=True)
        keys.append(metadata["key"])
    assert len(keys) == len(set(keys))
    assert set(keys) == set(cli_samples)


def test_wids_reads_the_shard_index(cli_output: Path, cli_samples: dict[str, dict[str, bytes]]) -> None:
    pytest.importorskip("wids")
    indexed = hdata.indexed_dataset(cli_output, tensor="numpy")
    assert len(indexed) == len(cli_samples)
    for position in (0, len(indexed) // 2, len(indexed) - 1):
        tensor, metadata = indexed[position]
        expected = np.load(io.BytesIO(cli_samples[metadata["key"]]["npy"]))
        assert np.array_equal(tensor, expected, equal_nan=True)


def samples_by_key(output: Path) -> dict[str, bytes]:
    return {key: members["npy"] for key, members in read_shards(output).items()}


def manifest_without_locations(output: Path) -> list[dict[str, Any]]:
    """Manifest lines without the shard and PNG paths, which name the unit folders."""
    lines = [json.loads(line) for line in (output / "manifest.jsonl").read_text().splitlines()]
    for line in lines:
        del line["shards"]
        del line["png"]
    return lines


@pytest.fixture(scope="session")
def local_run(tmp_path_factory: pytest.TempPathFactory, recipe_file: Path) -> Path:
    """One local run over the fixtures, in the same form as the plan's inputs."""
    output = tmp_path_factory.mktemp("local") / "out"
    run_cli("convert", "fixtures/dicom", "--output", output, "--recipe", recipe_file)
    return output


@pytest.mark.parametrize("workers", [1, 3])
def test_plan_split_over_workers_equals_local_run(
    tmp_path: Path, recipe_file: Path, local_run: Path, workers: int
) -> None:
    plan = tmp_path / "plan.json"
    run_cli("plan", "fixtures/dicom", "--output", plan, "--units", "5")
    output = tmp_path / "distributed"
    processes = [
        subprocess.Popen(
            [
                hounsfield_bin(), "convert", "--plan", str(plan), "--output", str(output),
                "--recipe", str(recipe_file), "--jobs", "1",
                "--shard-index", str(index), "--num-shards", str(workers),
            ],
            cwd=REPO_ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(workers)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode in (0, 1), stderr
    finalized = run_cli("finalize", output)
    assert "merged 5 unit(s)" in finalized.stderr

    local = samples_by_key(local_run)
    distributed = samples_by_key(output)
    assert sorted(distributed) == sorted(local)
    for key, npy in local.items():
        assert distributed[key] == npy, key
    assert manifest_without_locations(output) == manifest_without_locations(local_run)
    assert (output / "recipe.yaml").read_bytes() == (local_run / "recipe.yaml").read_bytes()


def test_plan_units_hold_whole_series(tmp_path: Path) -> None:
    plan_path = tmp_path / "plan.json"
    plan = hounsfield.plan(["fixtures/dicom"], plan_path, by="series", units=4)
    assert json.loads(plan_path.read_text()) == plan
    assert len(plan["units"]) == 4
    unit_of_series: dict[str, int] = {}
    for unit in plan["units"]:
        for file in unit["files"]:
            path = REPO_ROOT / "fixtures" / "dicom" / file["path"]
            try:
                series = pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID
            except Exception:  # not DICOM or no UID: grouped by folder instead
                continue
            assert unit_of_series.setdefault(series, unit["index"]) == unit["index"], file["path"]
        orders = [file["order"] for file in unit["files"]]
        assert orders == sorted(orders)
    again = hounsfield.plan(["fixtures/dicom"], by="series", units=4, jobs=1)
    assert again == plan


def test_rerun_skips_finished_units(tmp_path: Path, recipe_file: Path) -> None:
    plan = tmp_path / "plan.json"
    run_cli("plan", "fixtures/dicom/pydicom", "--output", plan, "--units", "2")
    output = tmp_path / "out"
    # A Slurm array 1-2: task 2 is worker 1 of 2.
    slurm = dict(os.environ, SLURM_ARRAY_TASK_ID="2", SLURM_ARRAY_TASK_MIN="1", SLURM_ARRAY_TASK_COUNT="2")
    first = run_cli("convert", "--plan", plan, "--output", output, "--recipe", recipe_file, env=slurm)
    assert "1 unit(s) converted, 0 finished before" in first.stderr
    assert (output / "units" / "unit-000001" / "DONE.json").is_file()
    assert not (output / "units" / "unit-000000").exists()
    with pytest.raises(hounsfield.PlanError, match="unit-000000"):
        hounsfield.finalize(output)

    # A Kubernetes Indexed Job sets only the index.
    kubernetes = dict(os.environ, JOB_COMPLETION_INDEX="1")
    again = run_cli(
        "convert", "--plan", plan, "--output", output, "--recipe", recipe_file, "--num-shards", "2",
        env=kubernetes,
    )
    assert "0 unit(s) converted, 1 finished before" in again.stderr
    every = run_cli("convert", "--plan", plan, "--output", output, "--recipe", recipe_file)
    assert "1 unit(s) converted, 1 finished before" in every.stderr

    table = output / "table.csv"
    run_cli("finalize", output, "--table", table)
    direct = tmp_path / "direct.csv"
    run_cli("table", "fixtures/dicom/pydicom", "--output", direct)
    assert table.read_bytes() == direct.read_bytes()
    summary = hounsfield.finalize(output)
    assert summary["units"] == 2


def test_output_of_another_plan_is_rejected(tmp_path: Path) -> None:
    first = tmp_path / "first.json"
    second = tmp_path / "second.json"
    hounsfield.plan(["fixtures/dicom/pydicom"], first, units=1)
    hounsfield.plan(["fixtures/dicom/pydicom"], second, units=2)
    hounsfield.convert_plan(first, tmp_path / "out", units=[0], jobs=1)
    with pytest.raises(hounsfield.PlanError, match="another plan"):
        hounsfield.convert_plan(second, tmp_path / "out", units=[0], jobs=1)


# Ray Data 2.60 warns about its own deprecated settings.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_ray_example_converts_every_unit(tmp_path: Path, local_run: Path) -> None:
    ray = pytest.importorskip("ray")
    sys.path.insert(0, str(REPO_ROOT / "docs" / "examples"))
    try:
        import ray_units
    finally:
        sys.path.pop(0)
    plan = tmp_path / "plan.json"
    # Absolute inputs, because Ray workers need not share the working folder. Keys
    # depend only on the paths relative to the input, so they match the local run.
    hounsfield.plan([DICOM], plan, units=4)
    # A local instance bound to the loopback address only.
    ray.init(num_cpus=2, _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
    try:
        summary = ray_units.run(plan, tmp_path / "out", recipe=RECIPE)
    finally:
        ray.shutdown()
    assert summary["units"] == 4
    local = samples_by_key(local_run)
    assert samples_by_key(tmp_path / "out") == local
