//! The extension module `hounsfield._native`. Results with nested fields are
//! returned as JSON text, which the Python package parses; arrays are NumPy
//! arrays that own the decoded values.

use std::path::{Path, PathBuf};

use hounsfield_dicom::error_chain;
use hounsfield_pipeline::units::shard_from_env;
use hounsfield_pipeline::{
    PipelineError, Plan, PlanOptions, UnitRunOptions, UnitSelection, ValidateOptions,
};
use hounsfield_tensor::{Recipe, RecipeError as RustRecipeError};
use numpy::{IntoPyArray, PyArray4};
use pyo3::exceptions::{PyException, PyFileNotFoundError, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use serde::Serialize;

pyo3::create_exception!(
    _native,
    HounsfieldError,
    PyException,
    "Base class of the errors raised by Hounsfield."
);
pyo3::create_exception!(
    _native,
    RecipeError,
    HounsfieldError,
    "A recipe is malformed or names an unknown key or an invalid value."
);
pyo3::create_exception!(
    _native,
    DicomError,
    HounsfieldError,
    "A file is not DICOM, or cannot be parsed or decoded."
);
pyo3::create_exception!(
    _native,
    SkippedError,
    HounsfieldError,
    "A conversion skips the file on purpose: not DICOM, no pixel data, or burned-in annotation."
);
pyo3::create_exception!(
    _native,
    PlanError,
    HounsfieldError,
    "A plan, a unit record or an output folder of a plan is missing, invalid or inconsistent."
);

/// Maps a pipeline error to the Python exception of its kind, with the
/// Rust message and its causes.
fn to_py_error(error: PipelineError) -> PyErr {
    let message = error_chain(&error);
    match &error {
        PipelineError::Input { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(message)
        }
        PipelineError::Input { .. } | PipelineError::OutputDir { .. } => {
            PyOSError::new_err(message)
        }
        PipelineError::File { .. } => DicomError::new_err(message),
        PipelineError::Skipped { .. } => SkippedError::new_err(message),
        PipelineError::Plan(_) => PlanError::new_err(message),
        _ => HounsfieldError::new_err(message),
    }
}

fn recipe_error(error: RustRecipeError) -> PyErr {
    RecipeError::new_err(error_chain(&error))
}

/// Reads a recipe given as YAML text or as the path of a YAML file, whose
/// statistics file is resolved relative to it. Checks that the statistics
/// its channels need are loaded. Returns `None` when neither is given.
fn read_recipe(yaml: Option<&str>, path: Option<&Path>) -> PyResult<Option<Recipe>> {
    let recipe = match (yaml, path) {
        (Some(_), Some(_)) => {
            return Err(PyValueError::new_err(
                "give the recipe as YAML text or as a path, not both",
            ))
        }
        (Some(text), None) => Recipe::from_yaml(text),
        (None, Some(path)) => Recipe::load(path),
        (None, None) => return Ok(None),
    }
    .map_err(recipe_error)?;
    recipe.require_stats().map_err(recipe_error)?;
    Ok(Some(recipe))
}

/// Like [`read_recipe`], with the default recipe when none is given.
fn recipe_or_default(yaml: Option<&str>, path: Option<&Path>) -> PyResult<Recipe> {
    Ok(read_recipe(yaml, path)?.unwrap_or_else(Recipe::default_recipe))
}

fn to_json(value: &impl Serialize) -> PyResult<String> {
    serde_json::to_string(value)
        .map_err(|error| HounsfieldError::new_err(format!("cannot encode the result: {error}")))
}

/// Returns the version of the Rust crates.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Returns the embedded default recipe as YAML.
#[pyfunction]
fn default_recipe() -> &'static str {
    hounsfield_tensor::DEFAULT_RECIPE_YAML
}

/// Parses and checks a recipe and returns it as YAML with every default
/// filled in.
#[pyfunction]
#[pyo3(signature = (recipe=None, recipe_path=None))]
fn normalize_recipe(recipe: Option<&str>, recipe_path: Option<PathBuf>) -> PyResult<String> {
    let recipe = recipe_or_default(recipe, recipe_path.as_deref())?;
    recipe.to_yaml().map_err(recipe_error)
}

/// Reads the header of one file and returns its metadata as JSON.
#[pyfunction]
#[pyo3(signature = (path, include_patient_attributes=false))]
fn read_metadata(
    py: Python<'_>,
    path: PathBuf,
    include_patient_attributes: bool,
) -> PyResult<String> {
    let value = py
        .detach(|| hounsfield_pipeline::read_metadata(&path, include_patient_attributes))
        .map_err(to_py_error)?;
    to_json(&value)
}

/// Decodes one frame (or all frames when `frame` is `None`) and returns the
/// `(F, C, H, W)` float32 array, whether the image is colour, and the
/// file's Number of Frames.
#[pyfunction]
#[pyo3(signature = (path, frame=None, recipe=None, recipe_path=None))]
fn decode<'py>(
    py: Python<'py>,
    path: PathBuf,
    frame: Option<u32>,
    recipe: Option<&str>,
    recipe_path: Option<PathBuf>,
) -> PyResult<(Bound<'py, PyArray4<f32>>, bool, u32)> {
    let recipe = read_recipe(recipe, recipe_path.as_deref())?;
    let decoded = py
        .detach(|| hounsfield_pipeline::decode_frames(&path, frame, recipe.as_ref()))
        .map_err(to_py_error)?;
    Ok((
        decoded.values.into_pyarray(py),
        decoded.colour,
        decoded.number_of_frames,
    ))
}

/// One shard sample: key, `.npy` bytes, `.json` bytes and `.png` bytes.
type SampleBytes<'py> = (
    String,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Option<Bound<'py, PyBytes>>,
);

/// Converts one file into its shard samples with a recipe (YAML, or the
/// default recipe when `None`).
#[pyfunction]
#[pyo3(signature = (path, recipe=None, recipe_path=None))]
fn convert_file<'py>(
    py: Python<'py>,
    path: PathBuf,
    recipe: Option<&str>,
    recipe_path: Option<PathBuf>,
) -> PyResult<Vec<SampleBytes<'py>>> {
    let recipe = recipe_or_default(recipe, recipe_path.as_deref())?;
    let samples = py
        .detach(|| hounsfield_pipeline::convert_single(&path, &recipe))
        .map_err(to_py_error)?;
    Ok(samples
        .into_iter()
        .map(|sample| {
            (
                sample.key,
                PyBytes::new(py, &sample.npy),
                PyBytes::new(py, &sample.json),
                sample.png.map(|png| PyBytes::new(py, &png)),
            )
        })
        .collect())
}

/// Converts files and folders into an output folder and returns the run
/// summary as JSON.
#[pyfunction]
#[pyo3(signature = (inputs, output, recipe=None, recipe_path=None, jobs=None, resume=false))]
fn convert(
    py: Python<'_>,
    inputs: Vec<PathBuf>,
    output: PathBuf,
    recipe: Option<&str>,
    recipe_path: Option<PathBuf>,
    jobs: Option<usize>,
    resume: bool,
) -> PyResult<String> {
    check_jobs(jobs)?;
    let options = hounsfield_pipeline::ConvertOptions {
        inputs,
        output,
        recipe: recipe_or_default(recipe, recipe_path.as_deref())?,
        jobs,
        resume,
    };
    let summary = py
        .detach(|| hounsfield_pipeline::convert(&options, |_| {}))
        .map_err(to_py_error)?;
    to_json(&summary)
}

fn check_jobs(jobs: Option<usize>) -> PyResult<()> {
    if jobs == Some(0) {
        return Err(PyValueError::new_err(
            "jobs must be at least 1, or None for all cores",
        ));
    }
    Ok(())
}

/// The result of [`validate`]: the summary and the report of every file.
#[derive(Serialize)]
struct ValidateResult {
    summary: hounsfield_pipeline::ValidateSummary,
    files: Vec<hounsfield_pipeline::FileReport>,
}

/// Validates files and folders and returns the summary and every file's
/// findings as JSON.
#[pyfunction]
#[pyo3(signature = (inputs, header_only=false, jobs=None))]
fn validate(
    py: Python<'_>,
    inputs: Vec<PathBuf>,
    header_only: bool,
    jobs: Option<usize>,
) -> PyResult<String> {
    check_jobs(jobs)?;
    let options = ValidateOptions {
        inputs,
        decode_pixels: !header_only,
        jobs,
    };
    let result = py
        .detach(|| {
            let mut files = Vec::new();
            let summary = hounsfield_pipeline::validate(&options, |report| {
                files.push(report.clone());
            })?;
            Ok::<_, PipelineError>(ValidateResult { summary, files })
        })
        .map_err(to_py_error)?;
    to_json(&result)
}

/// Makes a plan, writes it to `output` when given, and returns it as JSON.
#[pyfunction]
#[pyo3(signature = (inputs, output=None, by="series", units=None, jobs=None))]
fn plan(
    py: Python<'_>,
    inputs: Vec<PathBuf>,
    output: Option<PathBuf>,
    by: &str,
    units: Option<usize>,
    jobs: Option<usize>,
) -> PyResult<String> {
    check_jobs(jobs)?;
    let by = match by {
        "series" => hounsfield_pipeline::Grouping::Series,
        "study" => hounsfield_pipeline::Grouping::Study,
        other => {
            return Err(PyValueError::new_err(format!(
                "by is `{other}`, expected `series` or `study`"
            )))
        }
    };
    let options = PlanOptions {
        inputs,
        by,
        units,
        jobs,
    };
    let plan = py
        .detach(|| {
            let plan = hounsfield_pipeline::make_plan(&options)?;
            if let Some(path) = &output {
                plan.write(path)?;
            }
            Ok::<_, PipelineError>(plan)
        })
        .map_err(to_py_error)?;
    to_json(&plan)
}

/// Picks the units from explicit unit indices or a worker index and count.
fn unit_selection(
    units: Option<Vec<usize>>,
    shard_index: Option<usize>,
    num_shards: Option<usize>,
) -> PyResult<UnitSelection> {
    match (units, shard_index, num_shards) {
        (Some(units), None, None) => Ok(UnitSelection::Units(units)),
        (Some(_), _, _) => Err(PyValueError::new_err(
            "give either units or shard_index and num_shards, not both",
        )),
        (None, None, None) => Ok(UnitSelection::All),
        (None, Some(index), Some(count)) => Ok(UnitSelection::Shard { index, count }),
        (None, _, _) => Err(PyValueError::new_err(
            "shard_index and num_shards must be given together",
        )),
    }
}

/// Converts units of a plan into `output` and returns the summary as JSON.
#[pyfunction]
#[pyo3(signature = (plan, output, recipe=None, recipe_path=None, jobs=None, units=None, shard_index=None, num_shards=None))]
#[allow(clippy::too_many_arguments)] // Mirrors the keyword arguments of the Python API.
fn convert_plan(
    py: Python<'_>,
    plan: PathBuf,
    output: PathBuf,
    recipe: Option<&str>,
    recipe_path: Option<PathBuf>,
    jobs: Option<usize>,
    units: Option<Vec<usize>>,
    shard_index: Option<usize>,
    num_shards: Option<usize>,
) -> PyResult<String> {
    check_jobs(jobs)?;
    let selection = unit_selection(units, shard_index, num_shards)?;
    let recipe = recipe_or_default(recipe, recipe_path.as_deref())?;
    let summary = py
        .detach(|| {
            let options = UnitRunOptions {
                plan: Plan::read(&plan)?,
                output,
                recipe,
                jobs,
                selection,
            };
            hounsfield_pipeline::convert_units(&options, |_, _| {})
        })
        .map_err(to_py_error)?;
    to_json(&summary)
}

/// Returns the worker index and count that Slurm or Kubernetes set.
#[pyfunction]
fn shard_from_environment() -> PyResult<(Option<usize>, Option<usize>)> {
    shard_from_env().map_err(to_py_error)
}

/// Merges the finished units in `output` and returns the summary as JSON.
#[pyfunction]
fn finalize(py: Python<'_>, output: PathBuf) -> PyResult<String> {
    let summary = py
        .detach(|| hounsfield_pipeline::finalize(Path::new(&output)))
        .map_err(to_py_error)?;
    to_json(&summary)
}

/// The compiled part of the `hounsfield` package.
#[pymodule]
#[pyo3(name = "_native")]
mod native {
    #[pymodule_export]
    use super::{
        convert, convert_file, convert_plan, decode, default_recipe, finalize, normalize_recipe,
        plan, read_metadata, shard_from_environment, validate, version, DicomError,
        HounsfieldError, PlanError, RecipeError, SkippedError,
    };
}
