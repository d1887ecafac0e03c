"""PHI scan of everything `hounsfield convert` and `hounsfield table` write.

Copies of real fixtures get fictional identifying values: Patient's Name, Patient ID, Birth
Date, Accession Number, Institution Name, Referring Physician's Name, Study Date, and a
private element (0009,1001) that repeats the name under its creator (0009,0010).

Every output byte is then searched for those values. That covers shard members, sample
JSON, PNG files and their text chunks, the manifest, the written recipe, output file names
and the commands' stderr. CSV and Parquet tables are searched as bytes and cell by cell,
because Parquet pages may be compressed. The search ignores ASCII case. It also looks for
each name with `^` replaced by a space, each name component of 4 or more letters alone,
and each date in ISO 8601 form (YYYY-MM-DD).

The same scan over a run with `privacy: {include_patient_attributes: true}` (and `table
--include-patient-attributes`) must find the values, which shows the scan can fail.

The binary under test comes from HOUNSFIELD_BIN, as in test_convert.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pydicom
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
DICOM = REPO_ROOT / "fixtures" / "dicom"

# Grayscale, RLE, colour JPEG, multi-frame and palette colour sources.
SOURCES = {
    "ct.dcm": DICOM / "pydicom" / "CT_small.dcm",
    "mr_rle.dcm": DICOM / "pydicom" / "MR_small_RLE.dcm",
    "rgb_jpeg.dcm": DICOM / "pydicom" / "SC_rgb_jpeg_dcmtk.dcm",
    "multiframe.dcm": DICOM / "pydicom-data" / "emri_small.dcm",
    "palette.dcm": DICOM / "pydicom" / "examples_palette.dcm",
}

# Fictional values, chosen so that no fixture, dictionary keyword or UID contains them.
PATIENT_NAME = "Quaxleigh^Ottoline^Marisol"
IDENTIFYING = {
    "PatientName": PATIENT_NAME,
    "PatientID": "HFQ-58213-ZX",
    "PatientBirthDate": "19360229",
    "AccessionNumber": "ACQ7731904",
    "InstitutionName": "Tollemache Memorial Infirmary",
    "ReferringPhysicianName": "Vandersloot^Ignatius",
    "StudyDate": "20170816",
}
PRIVATE_CREATOR = "HOUNSFIELD PHI TEST"

DATE_KEYWORDS = {"PatientBirthDate", "StudyDate"}
NAME_KEYWORDS = {"PatientName", "ReferringPhysicianName"}

RECIPE = """\
channels:
  - modality
  - window: file
export:
  shards: { max_samples_per_shard: 1000, png: true }
  png: { bits: 16, window: file }
"""

OPT_IN_RECIPE = RECIPE + "privacy: { include_patient_attributes: true }\n"


def variants(keyword: str, value: str) -> set[str]:
    """Return the lower-case forms of `value` that the scan looks for."""
    forms = {value}
    if keyword in NAME_KEYWORDS:
        forms.add(value.replace("^", " "))
        forms.update(part for part in value.split("^") if len(part) >= 4)
    if keyword in DATE_KEYWORDS:
        forms.add(f"{value[:4]}-{value[4:6]}-{value[6:]}")
    return {form.lower() for form in forms}


NEEDLES = {
    form: keyword for keyword, value in IDENTIFYING.items() for form in variants(keyword, value)
}


@dataclass
class Blob:
    """Bytes to search and where they came from."""

    origin: str
    data: bytes


def find_values(blobs: list[Blob]) -> dict[str, set[str]]:
    """Return, for each attribute keyword found, the origins where one of its forms occurs."""
    found: dict[str, set[str]] = {}
    for blob in blobs:
        haystack = blob.data.lower()
        for needle, keyword in NEEDLES.items():
            if needle.encode("utf-8") in haystack:
                found.setdefault(keyword, set()).add(blob.origin)
    return found


def output_blobs(folder: Path) -> list[Blob]:
    """Collect every byte written under `folder`, with decoded views of containers."""
    blobs = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        blobs.append(Blob(f"file name {relative}", relative.encode("utf-8")))
        if not path.is_file():
            continue
        data = path.read_bytes()
        blobs.append(Blob(relative, data))
        if path.suffix == ".tar" or path.name.endswith(".tar.gz"):
            with tarfile.open(path) as archive:
                for member in archive.getmembers():
                    blobs.append(Blob(f"{relative}:{member.name} (name)", member.name.encode()))
                    extracted = archive.extractfile(member)
                    if extracted is not None:
                        blobs.append(Blob(f"{relative}:{member.name}", extracted.read()))
        elif path.suffix == ".png":
            with Image.open(path) as image:
                text = " ".join(f"{key}={value}" for key, value in image.info.items())
            blobs.append(Blob(f"{relative} (PNG text chunks)", text.encode("utf-8", "replace")))
        elif path.suffix == ".parquet":
            table = pq.read_table(path)
            columns = table.to_pydict().values()
            cells = " ".join(str(value) for column in columns for value in column)
            names = " ".join(table.column_names)
            blobs.append(Blob(f"{relative} (Parquet cells)", f"{names} {cells}".encode()))
    return blobs


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


@pytest.fixture(scope="session")
def phi_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Copies of the sources carrying the fictional identifying values."""
    folder = tmp_path_factory.mktemp("phi") / "in"
    folder.mkdir()
    for name, source in SOURCES.items():
        ds = pydicom.dcmread(source)
        for keyword, value in IDENTIFYING.items():
            setattr(ds, keyword, value)
        block = ds.private_block(0x0009, PRIVATE_CREATOR, create=True)
        block.add_new(0x01, "LO", PATIENT_NAME)
        ds.save_as(folder / name)
    return folder


@dataclass
class Outputs:
    folder: Path
    blobs: list[Blob]
    manifest: list[dict]


def run(command: list[str], stderr_origin: str, blobs: list[Blob]) -> None:
    completed = subprocess.run(command, capture_output=True, timeout=600, check=False)
    blobs.append(Blob(stderr_origin, completed.stderr + completed.stdout))
    assert completed.returncode == 0, (
        f"{' '.join(command)} exited with {completed.returncode}: "
        f"{completed.stderr.decode('utf-8', 'replace')}"
    )


def run_all(binary: Path, inputs: Path, folder: Path, recipe: str, opt_in: bool) -> Outputs:
    """Run `convert` with `recipe` and `table` (CSV and Parquet) into `folder`."""
    folder.mkdir(parents=True)
    recipe_path = folder.parent / f"{folder.name}-recipe.yaml"
    recipe_path.write_text(recipe, encoding="utf-8")
    blobs: list[Blob] = []
    convert_out = folder / "convert"
    convert_command = [str(binary), "convert", str(inputs), "--output", str(convert_out)]
    run([*convert_command, "--recipe", str(recipe_path)], "convert stderr", blobs)
    table_flags = ["--frames", "--pixel-stats"]
    if opt_in:
        table_flags.append("--include-patient-attributes")
    for extension in ["csv", "parquet"]:
        table = folder / "tables" / f"table.{extension}"
        table.parent.mkdir(exist_ok=True)
        run(
            [str(binary), "table", str(inputs), "--output", str(table), *table_flags],
            f"table {extension} stderr",
            blobs,
        )
    blobs.extend(output_blobs(folder))
    manifest_text = (convert_out / "manifest.jsonl").read_text(encoding="utf-8")
    manifest = [json.loads(line) for line in manifest_text.splitlines()]
    return Outputs(folder=folder, blobs=blobs, manifest=manifest)


@pytest.fixture(scope="session")
def default_outputs(
    hounsfield_bin: Path, phi_inputs: Path, tmp_path_factory: pytest.TempPathFactory
) -> Outputs:
    folder = tmp_path_factory.mktemp("default") / "out"
    return run_all(hounsfield_bin, phi_inputs, folder, RECIPE, opt_in=False)


@pytest.fixture(scope="session")
def opt_in_outputs(
    hounsfield_bin: Path, phi_inputs: Path, tmp_path_factory: pytest.TempPathFactory
) -> Outputs:
    folder = tmp_path_factory.mktemp("opt-in") / "out"
    return run_all(hounsfield_bin, phi_inputs, folder, OPT_IN_RECIPE, opt_in=True)


def test_inputs_carry_the_values(phi_inputs: Path) -> None:
    for name in SOURCES:
        ds = pydicom.dcmread(phi_inputs / name)
        for keyword, value in IDENTIFYING.items():
            assert str(ds[keyword].value) == value, f"{name}: {keyword}"
        block = ds.private_block(0x0009, PRIVATE_CREATOR)
        assert block[0x01].value == PATIENT_NAME, f"{name}: private (0009,1001)"


def test_every_input_converted(default_outputs: Outputs) -> None:
    # A file that failed would export nothing, and the scan would pass for that reason.
    by_name = {Path(entry["path"]).name: entry for entry in default_outputs.manifest}
    assert sorted(by_name) == sorted(SOURCES)
    for name, entry in by_name.items():
        assert entry["status"] == "ok", f"{name}: {entry.get('error') or entry.get('reason')}"
        assert entry["samples"], f"{name}: no samples"


def test_outputs_are_scanned(default_outputs: Outputs) -> None:
    origins = [blob.origin for blob in default_outputs.blobs]
    parts = [".json", ".npy", ".png", "manifest.jsonl", "recipe.yaml", "table.csv", "table.parquet"]
    for part in parts:
        assert any(part in origin for origin in origins), f"no {part} output was scanned"


def test_no_identifying_value_by_default(default_outputs: Outputs) -> None:
    found = find_values(default_outputs.blobs)
    report = "\n".join(
        f"{keyword}: {sorted(origins)[:5]}" for keyword, origins in sorted(found.items())
    )
    assert not found, f"identifying values in the default outputs:\n{report}"


def test_opt_in_exports_every_value(opt_in_outputs: Outputs) -> None:
    found = find_values(opt_in_outputs.blobs)
    missing = sorted(set(IDENTIFYING) - set(found))
    assert not missing, f"the opt-in outputs lack {missing}; found {sorted(found)}"


def test_opt_in_values_in_json_and_csv(opt_in_outputs: Outputs) -> None:
    found = find_values(opt_in_outputs.blobs)
    for keyword in IDENTIFYING:
        origins = found.get(keyword, set())
        assert any(".json" in origin for origin in origins), f"{keyword} not in any sample JSON"
        assert any("table.csv" in origin for origin in origins), f"{keyword} not in the CSV table"


def test_scan_finds_case_and_separator_variants() -> None:
    blobs = [
        Blob("upper", PATIENT_NAME.upper().encode()),
        Blob("spaces", b'{"name": "quaxleigh ottoline marisol"}'),
        Blob("family name only", b"...QUAXLEIGH..."),
        Blob("ISO date", b"born 1936-02-29"),
    ]
    found = find_values(blobs)
    assert found.get("PatientName") == {"upper", "spaces", "family name only"}
    assert found.get("PatientBirthDate") == {"ISO date"}


def test_copies_leave_the_fixtures_unchanged(phi_inputs: Path) -> None:
    for name, source in SOURCES.items():
        original = pydicom.dcmread(source)
        patient_id = str(original.get("PatientID", ""))
        assert patient_id != IDENTIFYING["PatientID"], f"{source} was modified"
        assert (phi_inputs / name).stat().st_size > 0
