"""The public functions of the package, around the extension module."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple, Union

import numpy as np

from hounsfield import _native

#: A recipe: ``None`` for the default recipe, YAML text, a mapping with the
#: same structure as the YAML, or the path of a YAML file.
RecipeLike = Union[None, str, Mapping[str, Any], "os.PathLike[str]"]

#: A file or folder path.
PathLike = Union[str, "os.PathLike[str]"]


class Sample(NamedTuple):
    """One shard sample of a file: what ``hounsfield convert`` writes for a frame."""

    key: str
    """The WebDataset key."""
    tensor: np.ndarray
    """float32 ``(C, H, W)``: the ``KEY.npy`` member."""
    metadata: dict[str, Any]
    """The ``KEY.json`` member."""
    png: bytes | None
    """The ``KEY.png`` preview, when the recipe requests one in the shards."""
    npy: bytes
    """The ``KEY.npy`` member as written to shards."""


def _recipe_arguments(recipe: RecipeLike) -> tuple[str | None, str | None]:
    """Split a recipe argument into the YAML text and the path the extension takes.

    A ``str`` is YAML text, a mapping is encoded as JSON (which is YAML), and
    an ``os.PathLike`` names a YAML file, whose ``stats`` file is resolved
    relative to it as ``hounsfield convert --recipe`` does.
    """
    if recipe is None:
        return None, None
    if isinstance(recipe, str):
        return recipe, None
    if isinstance(recipe, os.PathLike):
        return None, os.fspath(recipe)
    if isinstance(recipe, Mapping):
        return json.dumps(recipe), None
    raise TypeError(
        f"recipe must be None, YAML text, a mapping or a path, not {type(recipe).__name__}"
    )


def normalize_recipe(recipe: RecipeLike = None) -> str:
    """Check a recipe and return it as YAML with every default filled in.

    ``None`` gives the embedded default recipe.

    Raises:
        RecipeError: the recipe is invalid; the message names the key.
    """
    text, path = _recipe_arguments(recipe)
    return _native.normalize_recipe(text, path)


def _paths(inputs: PathLike | Sequence[PathLike]) -> list[str]:
    if isinstance(inputs, (str, os.PathLike)):
        return [os.fspath(inputs)]
    return [os.fspath(path) for path in inputs]


def default_recipe() -> str:
    """Return the embedded default recipe as YAML."""
    return _native.default_recipe()


def read_metadata(path: PathLike, *, include_patient_attributes: bool = False) -> dict[str, Any]:
    """Read the header of a DICOM file up to Pixel Data.

    The result has the technical attributes that samples carry in their
    metadata (UIDs, modality, manufacturer, geometry), ``pixel`` with the
    Image Pixel Module (``None`` when it is missing or invalid, with the
    reason in ``pixel_error``), ``framing`` and ``findings``. Patient
    attributes are added under ``patient`` only on request.

    Raises:
        DicomError: the file is not DICOM or cannot be parsed.
    """
    text = _native.read_metadata(os.fspath(path), include_patient_attributes)
    return json.loads(text)


def decode(
    path: PathLike,
    frame: int | None = 0,
    recipe: RecipeLike = None,
) -> np.ndarray:
    """Decode a frame of a DICOM file to a float32 NumPy array.

    Without a recipe, a grayscale frame gives its modality values (Hounsfield
    units for CT) with shape ``(H, W)``, and a colour frame gives RGB in
    [0, 1] with shape ``(3, H, W)``. Padding pixels keep their modality
    values. With a recipe, the result is the ``(C, H, W)`` tensor that
    ``hounsfield convert`` writes with that recipe. ``frame=None`` decodes
    every frame and adds a leading frame axis.

    Raises:
        DicomError: the file is not DICOM, cannot be decoded or has no such frame.
        RecipeError: the recipe is invalid.
    """
    if frame is not None and frame < 0:
        raise ValueError(f"frame must be 0 or more, not {frame}")
    text, recipe_path = _recipe_arguments(recipe)
    values, colour, _ = _native.decode(os.fspath(path), frame, text, recipe_path)
    if recipe is None and not colour:
        values = values[:, 0]
    if frame is not None:
        values = values[0]
    return values


def convert_file(path: PathLike, recipe: RecipeLike = None) -> list[Sample]:
    """Convert one file into its shard samples, one per frame.

    Keys, tensors and metadata are what ``hounsfield convert FILE`` writes
    when the file is given directly (a file found in a folder gets a key from
    its path relative to the folder). A recipe without shards is run with
    the default shard settings.

    Raises:
        SkippedError: ``convert`` would skip the file (not DICOM, no pixel
            data, burned-in annotation).
        DicomError: the file cannot be decoded.
        RecipeError: the recipe is invalid.
    """
    samples = _native.convert_file(os.fspath(path), *_recipe_arguments(recipe))
    return [
        Sample(
            key=key,
            tensor=np.load(io.BytesIO(npy), allow_pickle=False),
            metadata=json.loads(metadata),
            png=png,
            npy=npy,
        )
        for key, npy, metadata, png in samples
    ]


def convert(
    inputs: PathLike | Sequence[PathLike],
    output: PathLike,
    recipe: RecipeLike = None,
    jobs: int | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Convert files and folders into ``output``, as ``hounsfield convert`` does.

    Returns the run summary: counts of converted, failed and skipped files,
    samples, PNG files, ``shard_count`` and ``manifest``. Failed files do not
    raise: they are listed in ``manifest.jsonl``.

    Raises:
        FileNotFoundError: an input does not exist.
        RecipeError: the recipe is invalid.
        HounsfieldError: the output cannot be written or the run cannot resume.
    """
    text, recipe_path = _recipe_arguments(recipe)
    summary = _native.convert(_paths(inputs), os.fspath(output), text, recipe_path, jobs, resume)
    return json.loads(summary)


def validate(
    inputs: PathLike | Sequence[PathLike],
    *,
    header_only: bool = False,
    jobs: int | None = None,
) -> dict[str, Any]:
    """Check DICOM files and series against the standard's rules.

    Returns ``{"summary": ..., "files": [{"path", "findings"}, ...]}`` as
    ``hounsfield validate --json`` reports them.

    Raises:
        FileNotFoundError: an input does not exist.
    """
    return json.loads(_native.validate(_paths(inputs), header_only, jobs))


def plan(
    inputs: PathLike | Sequence[PathLike],
    output: PathLike | None = None,
    *,
    by: Literal["series", "study"] = "series",
    units: int | None = None,
    jobs: int | None = None,
) -> dict[str, Any]:
    """Cut the inputs into work units by series or study, from the headers only.

    Writes the plan to ``output`` when given and returns it. See
    ``hounsfield plan --help``.

    Raises:
        FileNotFoundError: an input does not exist.
        PlanError: ``units`` is 0.
    """
    out = None if output is None else os.fspath(output)
    return json.loads(_native.plan(_paths(inputs), out, by, units, jobs))


def convert_plan(
    plan: PathLike,
    output: PathLike,
    recipe: RecipeLike = None,
    *,
    jobs: int | None = None,
    units: Sequence[int] | None = None,
    shard_index: int | None = None,
    num_shards: int | None = None,
) -> dict[str, Any]:
    """Convert units of a plan file into ``output/units/``, like ``convert --plan``.

    Give the unit indices in ``units``, or a worker's ``shard_index`` and the
    ``num_shards`` (units are assigned round-robin), or neither for every
    unit. Units finished by an earlier call with the same plan and recipe are
    skipped. Unlike the command, the Slurm and Kubernetes variables are not
    read.

    Raises:
        PlanError: the plan is invalid or the output contains another plan.
    """
    text, recipe_path = _recipe_arguments(recipe)
    summary = _native.convert_plan(
        os.fspath(plan),
        os.fspath(output),
        text,
        recipe_path,
        jobs,
        None if units is None else [int(unit) for unit in units],
        shard_index,
        num_shards,
    )
    return json.loads(summary)


def finalize(output: PathLike) -> dict[str, Any]:
    """Merge the finished units of ``output`` into one manifest and shard index.

    Raises:
        PlanError: a unit is not finished, or units used different recipes.
    """
    return json.loads(_native.finalize(os.fspath(output)))
