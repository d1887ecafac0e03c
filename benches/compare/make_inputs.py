"""Make the input folders of benches/compare.sh from the CT series in fixtures.

- CT_DIR/: COUNT copies of the slices, named ct-NNNNN-<slice>.dcm, so the
  same bytes are converted by every tool.
- CT_DIR-500/: the first 500 of them, for the peak-RSS comparison.
- COMPRESSED_DIR/<syntax>/: COMPRESSED_COUNT copies of the slices re-encoded
  losslessly: RLE Lossless, JPEG-LS Lossless and JPEG 2000 Lossless with
  pydicom's encoders, and JPEG Lossless (process 14, selection value 1)
  with DCMTK's dcmcjpeg when it is installed.

Usage: python make_inputs.py SERIES_DIR CT_DIR COUNT COMPRESSED_DIR COMPRESSED_COUNT
"""

import os
import shutil
import subprocess
import sys
import tempfile

import pydicom
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless


def replicate(sources, target_dir, count):
    """Copy the files of `sources` round-robin into `target_dir` until it holds `count`."""
    os.makedirs(target_dir, exist_ok=True)
    for index in range(count):
        source = sources[index % len(sources)]
        name = f"ct-{index:05d}-{os.path.basename(source)}"
        shutil.copyfile(source, os.path.join(target_dir, name))


def encode_with_pydicom(sources, folder, syntax):
    """Re-encode each source with pydicom and return the new paths."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for source in sources:
        ds = pydicom.dcmread(source)
        ds.compress(syntax)
        path = os.path.join(folder, os.path.basename(source))
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def encode_with_dcmcjpeg(sources, folder):
    """Re-encode each source as JPEG Lossless SV1 with DCMTK, or return None without it."""
    if shutil.which("dcmcjpeg") is None:
        print("make_inputs: dcmcjpeg not found; no JPEG Lossless set", file=sys.stderr)
        return None
    os.makedirs(folder, exist_ok=True)
    paths = []
    for source in sources:
        path = os.path.join(folder, os.path.basename(source))
        # +e1: lossless, selection value 1 (PS3.5 A.4.3, transfer syntax 1.2.840.10008.1.2.4.70).
        subprocess.run(["dcmcjpeg", "+e1", source, path], check=True)
        paths.append(path)
    return paths


def main():
    series_dir, ct_dir, count, compressed_dir, compressed_count = sys.argv[1:6]
    count = int(count)
    compressed_count = int(compressed_count)
    sources = sorted(
        os.path.join(series_dir, name) for name in os.listdir(series_dir) if name.endswith(".dcm")
    )
    replicate(sources, ct_dir, count)
    replicate(sources, ct_dir + "-500", min(500, count))

    with tempfile.TemporaryDirectory() as scratch:
        encoded = {
            "rle": encode_with_pydicom(sources, os.path.join(scratch, "rle"), RLELossless),
            "jpeg_ls": encode_with_pydicom(sources, os.path.join(scratch, "jpeg_ls"), JPEGLSLossless),
            "j2k": encode_with_pydicom(sources, os.path.join(scratch, "j2k"), JPEG2000Lossless),
            "jpeg_lossless": encode_with_dcmcjpeg(sources, os.path.join(scratch, "jpeg_lossless")),
        }
        for name, paths in encoded.items():
            if paths:
                replicate(paths, os.path.join(compressed_dir, name), compressed_count)


if __name__ == "__main__":
    main()
