"""Tests of `hounsfield table`: the Parquet and CSV tables read with pandas and pyarrow,
and their values compared with pydicom's.

The binary under test comes from the HOUNSFIELD_BIN environment variable, which
tests/run.sh sets after building target/release/hounsfield:

    HOUNSFIELD_BIN=target/release/hounsfield target/venv/bin/python -m pytest tests/python/test_table.py
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "fixtures"

# Real CT and MR files, and synthetic cases with several windows and with pixel padding.
INPUTS = [
    FIXTURES / "dicom" / "dcm_qa_ct",
    FIXTURES / "dicom" / "pydicom" / "CT_small.dcm",
    FIXTURES / "dicom" / "pydicom" / "MR_small.dcm",
    FIXTURES / "synthetic" / "g07_two_windows.dcm",
    FIXTURES / "synthetic" / "g18_padding_value.dcm",
]

INTEGER_COLUMNS = ["rows", "columns", "number_of_frames", "bits_allocated", "bits_stored",
                   "pixel_representation", "window_count"]
FLOAT_COLUMNS = ["pixel_spacing_row", "pixel_spacing_column", "slice_thickness",
                 "image_position_z", "image_orientation_row_x", "window_center_1",
                 "window_width_2", "rescale_slope", "rescale_intercept", "pixel_mean",
                 "pixel_std", "window_fraction"]
IDENTIFYING_COLUMNS = ["patient_name", "patient_id", "patient_birth_date", "accession_number",
                       "institution_name", "referring_physician_name"]


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


def write_table(binary: Path, output: Path, *options: str) -> None:
    command = [str(binary), "table", *map(str, INPUTS), "--output", str(output), *options]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert output.is_file()


@pytest.fixture(scope="session")
def parquet_path(hounsfield_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("table") / "table.parquet"
    write_table(hounsfield_bin, output, "--pixel-stats", "--window-fraction", "40,400")
    return output


@pytest.fixture(scope="session")
def csv_path(hounsfield_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("table") / "table.csv"
    write_table(hounsfield_bin, output, "--pixel-stats", "--window-fraction", "40,400")
    return output


def dicom_files() -> list[Path]:
    files = sorted((FIXTURES / "dicom" / "dcm_qa_ct").glob("*.dcm"))
    return files + [path for path in INPUTS if path.is_file()]


def row_for(table: pd.DataFrame, path: Path) -> pd.Series:
    matches = table[table["path"].map(lambda p: Path(p).name == path.name)]
    assert len(matches) == 1, path.name
    return matches.iloc[0]


def modality_values(path: Path) -> np.ndarray:
    """Modality values with pydicom 3, with the Pixel Padding Value pixels left out."""
    ds = pydicom.dcmread(path)
    values = apply_modality_lut(ds.pixel_array, ds).astype(np.float64)
    if "PixelPaddingValue" in ds:
        values = values[ds.pixel_array != ds.PixelPaddingValue]
    return values.ravel()


def test_parquet_schema_is_typed(parquet_path: Path) -> None:
    schema = pq.read_schema(parquet_path)
    for name in INTEGER_COLUMNS:
        assert schema.field(name).type == pa.int32(), name
    for name in FLOAT_COLUMNS:
        assert schema.field(name).type == pa.float64(), name
    assert schema.field("file_size").type == pa.int64()
    assert schema.field("window_multi_valued").type == pa.bool_()
    assert schema.field("lossy_image_compression").type == pa.bool_()
    assert schema.field("path").type == pa.string()
    for name in IDENTIFYING_COLUMNS:
        assert name not in schema.names, name


def test_parquet_dtypes_in_pandas(parquet_path: Path) -> None:
    table = pd.read_parquet(parquet_path, dtype_backend="numpy_nullable")
    assert len(table) == len(dicom_files())
    for name in INTEGER_COLUMNS:
        assert table[name].dtype == "Int32", name
    for name in FLOAT_COLUMNS:
        assert table[name].dtype == "Float64", name
    assert table["window_multi_valued"].dtype == "boolean"
    # CT_small has no window: its window columns are null, not 0.
    ct = row_for(table, FIXTURES / "dicom" / "pydicom" / "CT_small.dcm")
    assert pd.isna(ct["window_center_1"])
    assert pd.isna(ct["window_count"])


def test_csv_dtypes_in_pandas(csv_path: Path, parquet_path: Path) -> None:
    table = pd.read_csv(csv_path)
    assert pd.api.types.is_integer_dtype(table["rows"])
    assert pd.api.types.is_integer_dtype(table["file_size"])
    assert pd.api.types.is_float_dtype(table["rescale_intercept"])
    assert pd.api.types.is_float_dtype(table["pixel_mean"])
    assert pd.api.types.is_bool_dtype(table["window_multi_valued"])
    parquet = pd.read_parquet(parquet_path)
    assert list(table.columns) == list(parquet.columns)
    # The two formats contain the same numbers.
    for name in ["rows", "file_size", "rescale_intercept", "pixel_mean", "image_position_z"]:
        np.testing.assert_allclose(
            table[name].to_numpy(dtype=float), parquet[name].to_numpy(dtype=float),
            rtol=0, atol=1e-9, equal_nan=True, err_msg=name,
        )


def optional_float(ds: pydicom.Dataset, keyword: str, index: int = 0) -> float:
    if keyword not in ds or ds[keyword].value in (None, ""):
        return float("nan")
    value = ds[keyword].value
    values = list(value) if isinstance(value, pydicom.multival.MultiValue) else [value]
    return float(values[index]) if index < len(values) else float("nan")


@pytest.mark.parametrize("path", dicom_files(), ids=lambda p: p.name)
def test_values_match_pydicom(parquet_path: Path, path: Path) -> None:
    table = pd.read_parquet(parquet_path)
    row = row_for(table, path)
    ds = pydicom.dcmread(path, stop_before_pixels=True)

    assert row["sop_instance_uid"] == ds.SOPInstanceUID
    assert row["series_instance_uid"] == ds.SeriesInstanceUID
    assert row["modality"] == ds.Modality
    # pandas reads a null text cell as NaN.
    manufacturer = None if pd.isna(row["manufacturer"]) else row["manufacturer"]
    assert manufacturer == ds.get("Manufacturer")
    assert row["rows"] == ds.Rows
    assert row["columns"] == ds.Columns
    assert row["bits_allocated"] == ds.BitsAllocated
    assert row["bits_stored"] == ds.BitsStored
    assert row["pixel_representation"] == ds.PixelRepresentation
    assert row["photometric_interpretation"] == ds.PhotometricInterpretation
    assert row["transfer_syntax_uid"] == ds.file_meta.TransferSyntaxUID
    assert row["file_size"] == path.stat().st_size

    expected = {
        "pixel_spacing_row": optional_float(ds, "PixelSpacing", 0),
        "pixel_spacing_column": optional_float(ds, "PixelSpacing", 1),
        "slice_thickness": optional_float(ds, "SliceThickness"),
        "image_position_x": optional_float(ds, "ImagePositionPatient", 0),
        "image_position_z": optional_float(ds, "ImagePositionPatient", 2),
        "image_orientation_column_y": optional_float(ds, "ImageOrientationPatient", 4),
        "rescale_slope": optional_float(ds, "RescaleSlope"),
        "rescale_intercept": optional_float(ds, "RescaleIntercept"),
        "window_center_1": optional_float(ds, "WindowCenter", 0),
        "window_center_2": optional_float(ds, "WindowCenter", 1),
        "window_width_1": optional_float(ds, "WindowWidth", 0),
    }
    for name, value in expected.items():
        np.testing.assert_allclose(row[name], value, rtol=0, atol=1e-9, equal_nan=True,
                                   err_msg=name)

    centers = ds.get("WindowCenter")
    count = len(centers) if isinstance(centers, pydicom.multival.MultiValue) else int(centers is not None)
    assert bool(row["window_multi_valued"]) == (count > 1)


@pytest.mark.parametrize("path", dicom_files(), ids=lambda p: p.name)
def test_pixel_statistics_match_pydicom(parquet_path: Path, path: Path) -> None:
    table = pd.read_parquet(parquet_path)
    row = row_for(table, path)
    values = modality_values(path)
    assert row["pixel_count"] == values.size
    np.testing.assert_allclose(row["pixel_min"], values.min(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(row["pixel_max"], values.max(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(row["pixel_mean"], values.mean(), rtol=1e-9, atol=1e-6)
    # numpy's default ddof=0 is the population standard deviation the table holds.
    np.testing.assert_allclose(row["pixel_std"], values.std(), rtol=1e-9, atol=1e-6)
    inside = np.mean((values >= 40 - 200) & (values <= 40 + 200))
    np.testing.assert_allclose(row["window_fraction"], inside, rtol=0, atol=1e-12)


def test_patient_columns_only_on_request(hounsfield_bin: Path, tmp_path: Path) -> None:
    output = tmp_path / "with_patient.csv"
    write_table(hounsfield_bin, output, "--include-patient-attributes")
    table = pd.read_csv(output, dtype={"patient_id": str})
    path = FIXTURES / "dicom" / "pydicom" / "CT_small.dcm"
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    row = row_for(table, path)
    assert row["patient_name"] == str(ds.PatientName)
    assert row["patient_id"] == ds.PatientID
    assert row["institution_name"] == ds.InstitutionName


def test_one_row_per_frame(hounsfield_bin: Path, tmp_path: Path) -> None:
    output = tmp_path / "frames.parquet"
    write_table(hounsfield_bin, output, "--frames")
    table = pd.read_parquet(output, dtype_backend="numpy_nullable")
    assert table["frame"].dtype == "Int32"
    assert (table["frame"] == 0).all()
    assert len(table) == len(dicom_files())
