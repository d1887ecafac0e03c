"""Convert DICOM files to windowed 8-bit PNG files with pydicom, NumPy and Pillow.

This is the baseline of benches/compare.sh, written the way a user would
write it: read the file, rescale to modality values (HU for CT), apply the
file's first Window Center/Width, scale to 0..255 and save with Pillow's
default PNG settings.

Usage: python pydicom_png.py INPUT_DIR OUTPUT_DIR [--processes N]
"""

import argparse
import os
from multiprocessing import Pool

import numpy as np
import pydicom
from PIL import Image
from pydicom.pixels import apply_modality_lut


def first_value(value):
    """Return the first of a multi-valued attribute, or the value itself."""
    if isinstance(value, pydicom.multival.MultiValue):
        return float(value[0])
    return float(value)


def convert(job):
    source, target = job
    ds = pydicom.dcmread(source)
    hu = apply_modality_lut(ds.pixel_array, ds)
    center = first_value(ds.WindowCenter)
    width = first_value(ds.WindowWidth)
    low = center - width / 2
    scaled = np.clip((hu - low) / width, 0.0, 1.0)
    image = Image.fromarray(np.round(scaled * 255).astype(np.uint8))
    image.save(target)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input_dir")
    parser.add_argument("output_dir")
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()

    os.makedirs(args.output_dir, exist_ok=True)
    jobs = [
        (os.path.join(args.input_dir, name), os.path.join(args.output_dir, name + ".png"))
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
