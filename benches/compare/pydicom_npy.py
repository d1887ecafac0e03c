"""Convert DICOM files to float32 modality-value (HU for CT) .npy files with pydicom and NumPy.

This is the baseline of benches/compare.sh, written the way a user would
write it. Each file becomes one array of shape (1, rows, columns), the
channel-first layout of Hounsfield's tensors.

Usage: python pydicom_npy.py INPUT_DIR OUTPUT_DIR [--processes N]
"""

import argparse
import os
from multiprocessing import Pool

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut


def convert(job):
    source, target = job
    ds = pydicom.dcmread(source)
    hu = apply_modality_lut(ds.pixel_array, ds).astype(np.float32)
    np.save(target, hu[np.newaxis])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input_dir")
    parser.add_argument("output_dir")
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()

    os.makedirs(args.output_dir, exist_ok=True)
    jobs = [
        (os.path.join(args.input_dir, name), os.path.join(args.output_dir, name + ".npy"))
        for name in sorted(os.listdir(args.input_dir))
    ]
    if args.processes == 1:
        for job in jobs:
            convert(job)
    else:
        with Pool(args.processes) as pool:
            pool.map(convert, jobs, chunksize=16)


if __name__ == "__main__":
    main()
