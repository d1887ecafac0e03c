"""Hounsfield from Python: DICOM files to float32 tensors and WebDataset shards.

The functions run the same Rust code as the ``hounsfield`` command, so a
tensor decoded here has the values of the ``.npy`` member that ``hounsfield
convert`` writes. Calls that decode or convert release the GIL.

Reading shards with PyTorch is in :mod:`hounsfield.data`.
"""

from hounsfield._api import (
    Sample,
    convert,
    convert_file,
    convert_plan,
    decode,
    default_recipe,
    finalize,
    normalize_recipe,
    plan,
    read_metadata,
    validate,
)
from hounsfield._native import (
    DicomError,
    HounsfieldError,
    PlanError,
    RecipeError,
    SkippedError,
)
from hounsfield._native import version as _native_version

__version__: str = _native_version()

__all__ = [
    "DicomError",
    "HounsfieldError",
    "PlanError",
    "RecipeError",
    "Sample",
    "SkippedError",
    "__version__",
    "convert",
    "convert_file",
    "convert_plan",
    "decode",
    "default_recipe",
    "finalize",
    "plan",
    "normalize_recipe",
    "read_metadata",
    "validate",
]
