"""Write a CSV table of header attributes of DICOM files with pydicom.

This is the metadata baseline of benches/compare.sh: a loop over
pydicom.dcmread(path, stop_before_pixels=True) that reads the attributes a
dataset table typically needs.

Usage: python pydicom_table.py INPUT_DIR OUTPUT_CSV [--processes N]
"""

import argparse
import csv
import os
from multiprocessing import Pool

import pydicom

KEYWORDS = [
    "SOPInstanceUID",
    "SeriesInstanceUID",
    "StudyInstanceUID",
    "Modality",
    "Manufacturer",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "PhotometricInterpretation",
    "PixelSpacing",
    "SliceThickness",
    "ImageOrientationPatient",
    "ImagePositionPatient",
    "WindowCenter",
    "WindowWidth",
    "RescaleSlope",
    "RescaleIntercept",
]


def read_row(path):
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    row = [path, ds.file_meta.TransferSyntaxUID]
    for keyword in KEYWORDS:
        value = ds.get(keyword)
        row.append("" if value is None else str(value))
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input_dir")
    parser.add_argument("output_csv")
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()

    paths = [os.path.join(args.input_dir, name) for name in sorted(os.listdir(args.input_dir))]
    if args.processes == 1:
        rows = [read_row(path) for path in paths]
    else:
        with Pool(args.processes) as pool:
            rows = pool.map(read_row, paths, chunksize=64)
    with open(args.output_csv, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "TransferSyntaxUID", *KEYWORDS])
        writer.writerows(rows)


if __name__ == "__main__":
    main()
