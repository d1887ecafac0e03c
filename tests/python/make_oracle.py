"""Regenerate fixtures/oracle/pydicom.json: what pydicom decodes from every fixture.

Run it from the test venv (see tests/python/README.md):

    target/venv/bin/python tests/python/make_oracle.py          # rewrite the JSON
    target/venv/bin/python tests/python/make_oracle.py --check  # compare only

Every file under fixtures/ (except fixtures/oracle/ itself) is checked. A file counts as
DICOM when it has 'DICM' at byte 128, or when pydicom reads it with force=True and the
first element is in group 0002 or 0008; everything else is listed under "not_dicom".
The JSON is deterministic for a given set of fixtures and package versions, so a diff
after regeneration shows exactly what changed. The "notes" field of the JSON describes
each value; NOTES below is its source.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import (
    apply_color_lut,
    apply_modality_lut,
    apply_voi_lut,
    convert_color_space,
    get_decoder,
)
from pydicom.uid import UID

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "fixtures"
ORACLE_DIR = FIXTURES / "oracle"
# Malformed inputs kept as regression tests of the Rust crates; pydicom's
# reading of them is not an oracle for anything.
REGRESSIONS_DIR = FIXTURES / "regressions"
OUTPUT = ORACLE_DIR / "pydicom.json"

VERSIONED_PACKAGES = (
    "pydicom",
    "numpy",
    "pylibjpeg",
    "pylibjpeg-libjpeg",
    "pylibjpeg-openjpeg",
    "pylibjpeg-rle",
    "pyjpegls",
    "pillow",
)

# Images with at most this many pixels store every pixel as a sample.
ALL_PIXELS_LIMIT = 64
GRID_ROWS = 4
GRID_COLUMNS = 8

MONOCHROME = ("MONOCHROME1", "MONOCHROME2")
YBR_CONVERTED_BY_PYDICOM = ("YBR_FULL", "YBR_FULL_422")

# Transfer syntax that pydicom's reader used for a file without (0002,0010), keyed by
# Dataset.original_encoding = (is_implicit_VR, is_little_endian).
ENCODING_TO_TRANSFER_SYNTAX = {
    (True, True): "1.2.840.10008.1.2",
    (False, True): "1.2.840.10008.1.2.1",
    (False, False): "1.2.840.10008.1.2.2",
}

# Image Pixel, Modality LUT and VOI LUT attributes copied into each frame's view.
FRAME_VIEW_KEYWORDS = (
    "PhotometricInterpretation",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "ModalityLUTSequence",
    "WindowCenter",
    "WindowWidth",
    "VOILUTFunction",
    "WindowCenterWidthExplanation",
    "VOILUTSequence",
)
RESCALE_KEYWORDS = ("RescaleSlope", "RescaleIntercept", "RescaleType")
WINDOW_KEYWORDS = (
    "WindowCenter",
    "WindowWidth",
    "VOILUTFunction",
    "WindowCenterWidthExplanation",
)

NOTES = {
    "paths": "Relative to fixtures/, with '/' separators.",
    "detected_by": (
        "'dicm-marker' when bytes 128..132 are 'DICM'; 'forced-read' when pydicom read the "
        "file with force=True and its first element is in group 0002 or 0008."
    ),
    "transfer_syntax_assumed": (
        "Set when (0002,0010) is missing: the transfer syntax that matches the encoding "
        "pydicom's reader detected (Dataset.original_encoding). The oracle decodes the "
        "pixels as if the file declared it."
    ),
    "value_space": (
        "'modality' for MONOCHROME1/MONOCHROME2: pydicom.pixels.apply_modality_lut on the "
        "stored values of one frame. 'rgb' for colour: RGB after pydicom's decoder, with "
        "YBR_FULL and YBR_FULL_422 converted once by convert_color_space(arr, PI, 'RGB') "
        "and PALETTE COLOR expanded by apply_color_lut (16-bit palette entries stay "
        "0..65535). 'decoded_photometric_interpretation' is what the decoder returned "
        "with raw=True, before that conversion."
    ),
    "functional_groups": (
        "pydicom 3.0.2's apply_modality_lut and apply_voi_lut read only top-level "
        "attributes. For each frame the oracle builds a view data set from the top-level "
        "Image Pixel, Modality LUT and VOI LUT attributes, overrides them with the Pixel "
        "Value Transformation and Frame VOI LUT items of the Shared Functional Groups "
        "Sequence and then of that frame's Per-Frame Functional Groups item, and passes "
        "the view to pydicom. 'rescale.source' names where slope and intercept came from."
    ),
    "statistics": (
        "Over every pixel of the frame as float64, padding included: pydicom ignores "
        "Pixel Padding Value. min and max are exact. sum is math.fsum (correctly rounded). "
        "mean is that sum divided by the pixel count. std is numpy.std with ddof=0, so "
        "compare mean and std with a relative tolerance of about 1e-12. Colour frames "
        "give one value per channel, in R, G, B order."
    ),
    "samples": (
        "[row, column, value] or [row, column, [r, g, b]], values exact (integral values "
        "are written without a fraction). Images with at "
        f"most {ALL_PIXELS_LIMIT} pixels list every pixel in row-major order. Larger "
        "images list the four corners, the centre (rows // 2, columns // 2), then a "
        f"{GRID_ROWS}x{GRID_COLUMNS} grid at row (2i + 1) * rows // {2 * GRID_ROWS} and "
        f"column (2j + 1) * columns // {2 * GRID_COLUMNS}, duplicates dropped."
    ),
    "voi": (
        "pydicom.pixels.apply_voi_lut(modality, view, index=i) with the default "
        "prefer_lut=True, for each index i that both Window Center and Window Width have "
        "(or each VOI LUT Sequence item). These are pydicom's display values, not 0..255: "
        "for a window, pydicom scales to 'pydicom_output_range', the range of stored "
        "values that Bits Stored and Pixel Representation allow (0..2^n-1 for the entry "
        "size of a Modality LUT Sequence), passed through Rescale Slope and Intercept. "
        "For a VOI LUT it returns the LUT entries. pydicom never inverts MONOCHROME1 "
        "here, so these values are before any polarity change."
    ),
    "element_count": (
        "Top-level data set elements that pydicom read; 'last_tag' is the last of them. "
        "pydicom 3.0.2 reads a file cut inside an element value without an error or a "
        "warning and keeps the partial value."
    ),
    "warnings": (
        "Messages that pydicom and its plugins issued while reading and decoding, in "
        "order, with duplicates dropped."
    ),
}


def package_versions() -> dict[str, str]:
    versions = {"python": f"{sys.version_info.major}.{sys.version_info.minor}"}
    for name in VERSIONED_PACKAGES:
        versions[name] = metadata.version(name)
    return versions


def relative_path(path: Path) -> str:
    return path.relative_to(FIXTURES).as_posix()


def clean_message(text: str, path: Path) -> str:
    """Replace absolute paths in a message by repository-relative ones."""
    return text.replace(str(path), relative_path(path)).replace(str(REPO_ROOT), "<repo>")


def describe_exception(error: BaseException, path: Path) -> str:
    return clean_message(f"{type(error).__name__}: {error}", path)


def json_value(value: Any) -> Any:
    """Convert a pydicom element value to plain JSON types."""
    if value is None:
        return None
    if isinstance(value, (MultiValue, list, tuple)):
        return [json_value(item) for item in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def element_value(ds: Dataset, keyword: str) -> Any:
    """Return an attribute as JSON, or the error text when pydicom cannot convert it."""
    try:
        return json_value(ds.get(keyword))
    except Exception as error:  # pydicom raises several types for invalid values
        return f"unreadable: {type(error).__name__}: {error}"


def read_dataset(path: Path) -> tuple[Dataset | None, str | None, str | None]:
    """Read `path` with force=True and return (dataset, detected_by, read_error).

    detected_by is None for a file that is not DICOM.
    """
    with path.open("rb") as file:
        has_marker = file.read(132)[128:132] == b"DICM"
    try:
        ds = pydicom.dcmread(path, force=True)
    except Exception as error:  # any failure to parse is recorded, not raised
        if has_marker:
            return None, "dicm-marker", describe_exception(error, path)
        return None, None, None

    if has_marker:
        return ds, "dicm-marker", None

    # force=True turns almost any byte string into a data set of one or two garbage
    # elements, so require a plausible first element before calling the file DICOM.
    elements = list(ds.file_meta) + list(ds)
    if elements and elements[0].tag.group in (0x0002, 0x0008):
        return ds, "forced-read", None
    return None, None, None


def sample_positions(rows: int, columns: int) -> list[tuple[int, int]]:
    if rows * columns <= ALL_PIXELS_LIMIT:
        return [(row, column) for row in range(rows) for column in range(columns)]

    positions = [
        (0, 0),
        (0, columns - 1),
        (rows - 1, 0),
        (rows - 1, columns - 1),
        (rows // 2, columns // 2),
    ]
    for i in range(GRID_ROWS):
        row = (2 * i + 1) * rows // (2 * GRID_ROWS)
        for j in range(GRID_COLUMNS):
            positions.append((row, (2 * j + 1) * columns // (2 * GRID_COLUMNS)))

    unique: list[tuple[int, int]] = []
    for position in positions:
        if position not in unique:
            unique.append(position)
    return unique


def exact_json_number(value: Any) -> int | float:
    """Return a numpy scalar as int when it is integral, else as float."""
    as_float = float(value)
    if as_float.is_integer() and abs(as_float) < 2**53:
        return int(as_float)
    return as_float


def channel_statistics(values: np.ndarray) -> dict[str, Any]:
    flat = values.astype(np.float64).ravel()
    total = math.fsum(flat.tolist())
    return {
        "min": float(flat.min()),
        "max": float(flat.max()),
        "mean": total / flat.size,
        "std": float(np.std(flat)),
        "sum": total,
    }


def frame_statistics(values: np.ndarray) -> dict[str, Any]:
    """Return statistics and samples of one frame, shaped (rows, columns[, 3])."""
    rows, columns = values.shape[0], values.shape[1]
    positions = sample_positions(rows, columns)
    if values.ndim == 2:
        stats = channel_statistics(values)
        stats["samples"] = [[r, c, exact_json_number(values[r, c])] for r, c in positions]
        return stats

    per_channel = [channel_statistics(values[:, :, k]) for k in range(values.shape[2])]
    stats = {key: [channel[key] for channel in per_channel] for key in per_channel[0]}
    stats["samples"] = [
        [r, c, [exact_json_number(sample) for sample in values[r, c]]] for r, c in positions
    ]
    return stats


def frame_view(ds: Dataset, frame_index: int) -> tuple[Dataset, str, str | None]:
    """Build the data set that pydicom's LUT functions see for one frame.

    Returns (view, rescale source, window source). Later sources override earlier ones:
    top level, then the shared functional group, then the frame's own functional group.
    """
    view = Dataset()
    view.file_meta = ds.file_meta
    for keyword in FRAME_VIEW_KEYWORDS:
        if keyword in ds:
            view[keyword] = ds[keyword]

    if "ModalityLUTSequence" in ds:
        rescale_source = "modality LUT sequence"
    elif "RescaleSlope" in ds and "RescaleIntercept" in ds:
        rescale_source = "top level"
    else:
        rescale_source = "none"
    window_source = "top level" if "WindowCenter" in ds else None

    groups: list[tuple[str, Dataset]] = []
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        groups.append(("shared functional group", shared[0]))
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame and frame_index < len(per_frame):
        groups.append(("per-frame functional group", per_frame[frame_index]))

    for label, item in groups:
        transformation = item.get("PixelValueTransformationSequence")
        if transformation:
            for keyword in RESCALE_KEYWORDS:
                if keyword in transformation[0]:
                    view[keyword] = transformation[0][keyword]
            rescale_source = label
        frame_voi = item.get("FrameVOILUTSequence")
        if frame_voi:
            for keyword in WINDOW_KEYWORDS:
                if keyword in frame_voi[0]:
                    view[keyword] = frame_voi[0][keyword]
            window_source = label
    return view, rescale_source, window_source


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (MultiValue, list, tuple)):
        return list(value)
    return [value]


def pydicom_window_range(view: Dataset) -> list[float]:
    """Return the output range that pydicom 3.0.2's apply_windowing scales to.

    This restates the y_min/y_max choice in pydicom.pixels.processing.apply_windowing.
    """
    if view.get("ModalityLUTSequence"):
        low, high = 0.0, float(2 ** view.ModalityLUTSequence[0].LUTDescriptor[2] - 1)
    elif view.PixelRepresentation == 0:
        low, high = 0.0, float(2**view.BitsStored - 1)
    else:
        low, high = float(-(2 ** (view.BitsStored - 1))), float(2 ** (view.BitsStored - 1) - 1)
    if view.get("RescaleSlope") is not None and view.get("RescaleIntercept") is not None:
        slope, intercept = float(view.RescaleSlope), float(view.RescaleIntercept)
        low, high = low * slope + intercept, high * slope + intercept
    return [low, high]


def voi_outputs(
    modality: np.ndarray, view: Dataset, window_source: str | None
) -> list[dict[str, Any]]:
    """Apply each VOI LUT item or each complete window pair with pydicom."""
    lut_items = view.get("VOILUTSequence") or []
    valid_lut = bool(lut_items) and all(
        "LUTDescriptor" in item and "LUTData" in item for item in lut_items
    )
    centers = as_list(view.get("WindowCenter"))
    widths = as_list(view.get("WindowWidth"))
    explanations = as_list(view.get("WindowCenterWidthExplanation"))

    pending: list[tuple[dict[str, Any], int]] = []
    if valid_lut:
        for index, item in enumerate(lut_items):
            entry: dict[str, Any] = {
                "index": index,
                "source": "voi lut sequence",
                "lut_descriptor": json_value(item.LUTDescriptor),
                "pydicom_output_range": [0.0, float(2 ** item.LUTDescriptor[2] - 1)],
            }
            pending.append((entry, index))
    else:
        for index in range(min(len(centers), len(widths))):
            entry = {
                "index": index,
                "source": f"window ({window_source})",
                "center": float(centers[index]),
                "width": float(widths[index]),
                "function": str(view.get("VOILUTFunction", "LINEAR")),
                "explanation": str(explanations[index]) if index < len(explanations) else None,
                "pydicom_output_range": pydicom_window_range(view),
            }
            pending.append((entry, index))

    results = []
    for entry, index in pending:
        try:
            display = apply_voi_lut(modality, view, index=index)
        except Exception as error:  # a window pydicom rejects is part of the record
            entry["error"] = f"{type(error).__name__}: {error}"
            results.append(entry)
            continue
        stats = frame_statistics(np.asarray(display))
        entry.update(
            {"min": stats["min"], "max": stats["max"], "samples": stats["samples"]}
        )
        results.append(entry)
    return results


def rescale_record(view: Dataset, source: str) -> dict[str, Any]:
    return {
        "source": source,
        "slope": element_value(view, "RescaleSlope"),
        "intercept": element_value(view, "RescaleIntercept"),
        "type": element_value(view, "RescaleType"),
    }


def decode_frames(ds: Dataset, record: dict[str, Any]) -> None:
    """Decode every frame and add value_space, frames and the colour handling to `record`."""
    transfer_syntax = ds.file_meta.TransferSyntaxUID
    decoder = get_decoder(transfer_syntax)
    record["decoding_plugins_available"] = list(decoder.available_plugins)
    record["colour_conversion"] = None

    frames: list[dict[str, Any]] = []
    decoded_photometric = None
    for frame_index, (stored, properties) in enumerate(decoder.iter_array(ds, raw=True)):
        decoded_photometric = str(properties.get("photometric_interpretation"))
        view, rescale_source, window_source = frame_view(ds, frame_index)
        frame: dict[str, Any] = {"index": frame_index}

        if decoded_photometric in MONOCHROME:
            record["value_space"] = "modality"
            modality = apply_modality_lut(stored, view)
            frame["rescale"] = rescale_record(view, rescale_source)
            frame.update(frame_statistics(np.asarray(modality, dtype=np.float64)))
            voi = voi_outputs(modality, view, window_source)
            if voi:
                frame["voi"] = voi
        elif decoded_photometric == "PALETTE COLOR":
            record["value_space"] = "rgb"
            record["colour_conversion"] = "apply_color_lut"
            frame.update(frame_statistics(apply_color_lut(stored, ds)))
        elif decoded_photometric in YBR_CONVERTED_BY_PYDICOM:
            record["value_space"] = "rgb"
            record["colour_conversion"] = f"convert_color_space {decoded_photometric} -> RGB"
            frame.update(frame_statistics(convert_color_space(stored, decoded_photometric, "RGB")))
        elif decoded_photometric == "RGB":
            record["value_space"] = "rgb"
            frame.update(frame_statistics(stored))
        else:
            raise ValueError(
                f"unsupported decoded Photometric Interpretation {decoded_photometric!r}: "
                "the oracle has no conversion to RGB for it"
            )
        frames.append(frame)

    record["decoded_photometric_interpretation"] = decoded_photometric
    record["frames"] = frames


def describe_file(path: Path, ds: Dataset, detected_by: str) -> dict[str, Any]:
    record: dict[str, Any] = {
        "path": relative_path(path),
        "size_bytes": path.stat().st_size,
        "detected_by": detected_by,
        "read_error": None,
    }
    file_meta = getattr(ds, "file_meta", Dataset())
    transfer_syntax = file_meta.get("TransferSyntaxUID")
    record["transfer_syntax_uid"] = json_value(transfer_syntax)
    record["transfer_syntax_assumed"] = None
    if not transfer_syntax and ds.original_encoding in ENCODING_TO_TRANSFER_SYNTAX:
        assumed = ENCODING_TO_TRANSFER_SYNTAX[ds.original_encoding]
        record["transfer_syntax_assumed"] = assumed
        ds.file_meta.TransferSyntaxUID = UID(assumed)

    for key, keyword in (
        ("sop_class_uid", "SOPClassUID"),
        ("modality", "Modality"),
        ("specific_character_set", "SpecificCharacterSet"),
        ("patient_name", "PatientName"),
        ("photometric_interpretation", "PhotometricInterpretation"),
        ("samples_per_pixel", "SamplesPerPixel"),
        ("number_of_frames", "NumberOfFrames"),
        ("rows", "Rows"),
        ("columns", "Columns"),
        ("bits_allocated", "BitsAllocated"),
        ("bits_stored", "BitsStored"),
        ("high_bit", "HighBit"),
        ("pixel_representation", "PixelRepresentation"),
        ("planar_configuration", "PlanarConfiguration"),
    ):
        record[key] = element_value(ds, keyword)

    record["element_count"] = len(ds)
    record["last_tag"] = str(list(ds.keys())[-1]) if len(ds) else None
    record["has_pixel_data"] = "PixelData" in ds
    record["decode_ok"] = None
    record["decode_error"] = None
    if not record["has_pixel_data"]:
        return record

    try:
        decode_frames(ds, record)
        record["decode_ok"] = True
    except Exception as error:  # every decoding failure is part of the oracle
        record["decode_ok"] = False
        record["decode_error"] = describe_exception(error, path)
        record.pop("frames", None)
    return record


def scan_file(path: Path) -> dict[str, Any] | None:
    """Return the oracle record for `path`, or None when it is not DICOM."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds, detected_by, read_error = read_dataset(path)
        if detected_by is None:
            return None
        if ds is None:
            record = {
                "path": relative_path(path),
                "size_bytes": path.stat().st_size,
                "detected_by": detected_by,
                "read_error": read_error,
            }
        else:
            record = describe_file(path, ds, detected_by)

    messages: list[str] = []
    for warning in caught:
        message = clean_message(str(warning.message), path)
        if message not in messages:
            messages.append(message)
    record["warnings"] = messages
    return record


def fixture_files() -> list[Path]:
    files = []
    for path in FIXTURES.rglob("*"):
        if not path.is_file():
            continue
        if ORACLE_DIR in path.parents or REGRESSIONS_DIR in path.parents:
            continue
        if "__pycache__" in path.parts:
            continue
        files.append(path)
    return sorted(files, key=relative_path)


def is_flat(value: Any) -> bool:
    """Return whether `value` is a scalar or a list of scalars and lists of scalars."""
    if isinstance(value, dict):
        return False
    if isinstance(value, list):
        return all(
            not isinstance(item, (dict, list))
            or (isinstance(item, list) and all(not isinstance(x, (dict, list)) for x in item))
            for item in value
        )
    return True


def format_json(value: Any, level: int = 0) -> str:
    """Render JSON with one key per line but each sample or short list on one line.

    json.dumps(indent=...) would put every number of a sample on its own line.
    """
    if is_flat(value):
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    inner = " " * (level + 1)
    if isinstance(value, dict):
        items = [
            f"{inner}{json.dumps(key)}: {format_json(item, level + 1)}"
            for key, item in value.items()
        ]
        opening, closing = "{", "}"
    else:
        items = [f"{inner}{format_json(item, level + 1)}" for item in value]
        opening, closing = "[", "]"
    if not items:
        return opening + closing
    return opening + "\n" + ",\n".join(items) + "\n" + " " * level + closing


def build_oracle() -> tuple[str, int, int, int]:
    """Return (JSON text, DICOM file count, undecodable count, other file count)."""
    records = []
    not_dicom = []
    for path in fixture_files():
        record = scan_file(path)
        if record is None:
            not_dicom.append(relative_path(path))
        else:
            records.append(record)

    oracle = {
        "generator": "tests/python/make_oracle.py",
        "platform": platform.machine(),
        "versions": package_versions(),
        "notes": NOTES,
        "not_dicom": not_dicom,
        "files": records,
    }
    failed = sum(1 for record in records if record.get("decode_ok") is False)
    return format_json(oracle) + "\n", len(records), failed, len(not_dicom)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"compare with the committed {OUTPUT.relative_to(REPO_ROOT)} and write "
        "nothing; exit 1 when it differs",
    )
    args = parser.parse_args()

    text, dicom_count, failed_count, other_count = build_oracle()
    output_name = OUTPUT.relative_to(REPO_ROOT)
    if args.check:
        if not OUTPUT.is_file() or OUTPUT.read_text(encoding="utf-8") != text:
            print(f"out of date: {output_name}; run tests/python/make_oracle.py")
            return 1
        return 0

    ORACLE_DIR.mkdir(exist_ok=True)
    OUTPUT.write_text(text, encoding="utf-8")
    print(
        f"wrote {output_name}: {dicom_count} DICOM files ({failed_count} not decodable), "
        f"{other_count} other files, {len(text)} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
