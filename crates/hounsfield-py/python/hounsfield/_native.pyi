"""Type hints of the extension module built from crates/hounsfield-py/src/module.rs.

Functions that return ``str`` return JSON, which :mod:`hounsfield` parses.
"""

import os

import numpy as np
import numpy.typing as npt

_Path = str | os.PathLike[str]

class HounsfieldError(Exception):
    """Base class of the errors raised by Hounsfield."""

class RecipeError(HounsfieldError):
    """A recipe is malformed or names an unknown key or an invalid value."""

class DicomError(HounsfieldError):
    """A file is not DICOM, or cannot be parsed or decoded."""

class SkippedError(HounsfieldError):
    """A conversion skips the file on purpose: not DICOM, no pixel data, or burned-in annotation."""

class PlanError(HounsfieldError):
    """A plan, a unit record or an output folder of a plan is missing, invalid or inconsistent."""

def version() -> str: ...
def default_recipe() -> str: ...
def normalize_recipe(recipe: str | None = None, recipe_path: _Path | None = None) -> str: ...
def read_metadata(path: _Path, include_patient_attributes: bool = False) -> str: ...
def decode(
    path: _Path,
    frame: int | None = None,
    recipe: str | None = None,
    recipe_path: _Path | None = None,
) -> tuple[npt.NDArray[np.float32], bool, int]: ...
def convert_file(
    path: _Path, recipe: str | None = None, recipe_path: _Path | None = None
) -> list[tuple[str, bytes, bytes, bytes | None]]: ...
def convert(
    inputs: list[_Path],
    output: _Path,
    recipe: str | None = None,
    recipe_path: _Path | None = None,
    jobs: int | None = None,
    resume: bool = False,
) -> str: ...
def validate(inputs: list[_Path], header_only: bool = False, jobs: int | None = None) -> str: ...
def plan(
    inputs: list[_Path],
    output: _Path | None = None,
    by: str = "series",
    units: int | None = None,
    jobs: int | None = None,
) -> str: ...
def convert_plan(
    plan: _Path,
    output: _Path,
    recipe: str | None = None,
    recipe_path: _Path | None = None,
    jobs: int | None = None,
    units: list[int] | None = None,
    shard_index: int | None = None,
    num_shards: int | None = None,
) -> str: ...
def shard_from_environment() -> tuple[int | None, int | None]: ...
def finalize(output: _Path) -> str: ...
