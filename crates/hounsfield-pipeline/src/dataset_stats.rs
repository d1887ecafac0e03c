//! Dataset statistics for training normalization: a deterministic,
//! optionally stratified sample of files, pooled modality values for the
//! histogram breakpoints and per-channel moments.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use hounsfield_dicom::{open, sniff_file, DicomFile, ImageMetadata, OpenOptions};
use hounsfield_export::{encode_png, write_atomic, PngImage};
use hounsfield_pixel::{read_frame, DecodeLimits, FrameImage, PixelDescription};
use hounsfield_tensor::{
    apply_spatial, channel_moments, draw_histogram_plot, fit_breakpoints, valid_values,
    ChannelStats, DatasetStats, HistogramStats, Moments, PlotWindow, Provenance, Recipe,
    RenderError, BREAKPOINT_RULE, STATS_FORMAT,
};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::discover::{check_inputs, walk, InputFile};
use crate::error::PipelineError;
use crate::ordered::thread_pool;

/// A metadata column to stratify the sample by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stratum {
    /// Modality (0008,0060).
    Modality,
    /// Manufacturer (0008,0070).
    Manufacturer,
    /// Manufacturer's Model Name (0008,1090).
    Model,
    /// Body Part Examined (0018,0015).
    BodyPart,
    /// Series Instance UID (0020,000E).
    Series,
    /// Study Instance UID (0020,000D).
    Study,
    /// Bits Stored (0028,0101).
    BitsStored,
    /// Photometric Interpretation (0028,0004).
    PhotometricInterpretation,
}

impl Stratum {
    /// Every column, for help texts.
    pub const ALL: [Stratum; 8] = [
        Stratum::Modality,
        Stratum::Manufacturer,
        Stratum::Model,
        Stratum::BodyPart,
        Stratum::Series,
        Stratum::Study,
        Stratum::BitsStored,
        Stratum::PhotometricInterpretation,
    ];

    /// The command-line name, e.g. `body_part`.
    pub fn name(self) -> &'static str {
        match self {
            Stratum::Modality => "modality",
            Stratum::Manufacturer => "manufacturer",
            Stratum::Model => "model",
            Stratum::BodyPart => "body_part",
            Stratum::Series => "series",
            Stratum::Study => "study",
            Stratum::BitsStored => "bits_stored",
            Stratum::PhotometricInterpretation => "photometric_interpretation",
        }
    }

    /// Finds a column by its command-line name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|column| column.name() == name)
    }

    /// The column's value for one file; `(none)` when the attribute is
    /// absent.
    fn value(self, file: &DicomFile) -> String {
        let mut findings = Vec::new();
        let object = file.dataset();
        let text = match self {
            Stratum::BitsStored | Stratum::PhotometricInterpretation => {
                PixelDescription::read(object, &mut findings)
                    .ok()
                    .map(|description| {
                        if self == Stratum::BitsStored {
                            description.bits_stored.to_string()
                        } else {
                            description.photometric.as_str().to_string()
                        }
                    })
            }
            _ => {
                let metadata = ImageMetadata::read(object, file.transfer_syntax(), &mut findings);
                match self {
                    Stratum::Modality => metadata.modality,
                    Stratum::Manufacturer => metadata.manufacturer,
                    Stratum::Model => metadata.manufacturer_model_name,
                    Stratum::BodyPart => metadata.body_part_examined,
                    Stratum::Series => metadata.series_instance_uid,
                    _ => metadata.study_instance_uid,
                }
            }
        };
        text.map(|text| text.trim().to_string())
            .filter(|text| !text.is_empty())
            .unwrap_or_else(|| "(none)".into())
    }
}

/// Settings of a statistics run.
#[derive(Debug, Clone)]
pub struct StatsOptions {
    /// Files and folders to sample from.
    pub inputs: Vec<PathBuf>,
    /// The recipe whose channels and spatial steps are measured.
    pub recipe: Recipe,
    /// Files to use; fewer when the inputs hold fewer usable images.
    pub sample_size: usize,
    /// Seed of the file order.
    pub seed: u64,
    /// Stratify the sample by this column.
    pub stratify: Option<Stratum>,
    /// Equal-population bins of the breakpoints.
    pub bins: usize,
    /// Use at most this many frames per file, evenly spaced.
    pub frames_per_file: Option<usize>,
    /// Pool at most this many values per frame, evenly spaced.
    pub max_pixels_per_frame: Option<usize>,
    /// Worker threads; `None` uses all cores.
    pub jobs: Option<usize>,
    /// The program and version for the provenance.
    pub tool: String,
}

/// The result of a statistics run.
#[derive(Debug, Clone)]
pub struct StatsRun {
    /// The statistics, ready to be written.
    pub stats: DatasetStats,
    /// The pooled modality values, for plotting.
    pub pooled: Vec<f32>,
}

/// The sort key of a file: SHA-256 of the seed, the input index and the
/// relative path. The order depends on the seed and the names only, not on
/// the order of the walk or the number of threads.
fn sample_key(seed: u64, file: &InputFile) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(seed.to_le_bytes());
    hasher.update((file.input_index as u64).to_le_bytes());
    hasher.update(file.relative.as_bytes());
    hasher.finalize().into()
}

fn open_options(recipe: &Recipe, stop_before_pixel_data: bool) -> OpenOptions {
    OpenOptions {
        stop_before_pixel_data,
        lenient_framing: recipe.input.accept_missing_file_meta,
    }
}

/// Opens a file when it is DICOM; `Ok(None)` for other files.
fn open_dicom(path: &Path, options: &OpenOptions) -> Result<Option<DicomFile>, String> {
    match sniff_file(path) {
        Ok(Some(_)) => {}
        Ok(None) => return Ok(None),
        Err(error) => return Err(error.to_string()),
    }
    open(path, options)
        .map(Some)
        .map_err(|error| error.to_string())
}

/// Interleaves the strata: the first file of each stratum (in the order of
/// the stratum values), then the second of each, and so on. Taking files
/// from the front gives each stratum an equal share, and a stratum that
/// runs out leaves its share to the others.
fn round_robin(
    mut strata: BTreeMap<String, VecDeque<InputFile>>,
) -> Vec<(InputFile, Option<String>)> {
    let mut order = Vec::new();
    loop {
        let mut taken = false;
        for (value, files) in strata.iter_mut() {
            if let Some(file) = files.pop_front() {
                order.push((file, Some(value.clone())));
                taken = true;
            }
        }
        if !taken {
            return order;
        }
    }
}

/// What one sampled frame contributes.
struct FrameSample {
    pooled: Vec<f32>,
    moments: Vec<Option<Moments>>,
}

/// What one sampled file contributes.
enum FileSample {
    Used(Vec<FrameSample>),
    /// A DICOM file that cannot be used, with the reason.
    Skipped(String),
    /// Not a DICOM file.
    NotDicom,
}

fn frame_indices(frames: u32, limit: Option<usize>) -> Vec<u32> {
    let frames = frames as usize;
    match limit {
        Some(limit) if limit < frames => (0..limit).map(|i| (i * frames / limit) as u32).collect(),
        _ => (0..frames as u32).collect(),
    }
}

/// Decodes the chosen frames of one file and measures them.
fn sample_file(
    file: &InputFile,
    options: &StatsOptions,
    breakpoints: Option<&[f64]>,
) -> FileSample {
    let recipe = &options.recipe;
    let dicom = match open_dicom(&file.path, &open_options(recipe, false)) {
        Ok(Some(dicom)) => dicom,
        Ok(None) => return FileSample::NotDicom,
        Err(error) => return FileSample::Skipped(error),
    };
    let mut findings = Vec::new();
    let description = match PixelDescription::read(dicom.dataset(), &mut findings) {
        Ok(description) => description,
        Err(error) => return FileSample::Skipped(hounsfield_dicom::error_chain(&error)),
    };
    let limits = DecodeLimits {
        max_frame_bytes: recipe.input.max_frame_bytes,
    };

    let mut frames = Vec::new();
    for index in frame_indices(description.frames, options.frames_per_file) {
        let image = match read_frame(&dicom, &description, index, &limits, &mut findings) {
            Ok(image) => image,
            Err(error) => {
                return FileSample::Skipped(format!(
                    "frame {index}: {}",
                    hounsfield_dicom::error_chain(&error)
                ))
            }
        };
        let measured = measure_frame(&image, recipe, options.max_pixels_per_frame, breakpoints);
        match measured {
            Ok(Some(sample)) => frames.push(sample),
            Ok(None) => return FileSample::Skipped("colour image: no modality values".into()),
            Err(error) => return FileSample::Skipped(format!("frame {index}: {error}")),
        }
    }
    if frames.is_empty() {
        return FileSample::Skipped("no frames".into());
    }
    FileSample::Used(frames)
}

/// Applies the spatial steps and measures one frame; `None` for colour.
fn measure_frame(
    image: &FrameImage,
    recipe: &Recipe,
    max_pixels: Option<usize>,
    breakpoints: Option<&[f64]>,
) -> Result<Option<FrameSample>, RenderError> {
    let (prepared, _) = apply_spatial(image, &recipe.spatial)?;
    let FrameImage::Gray(gray) = prepared else {
        return Ok(None);
    };
    let pooled = if breakpoints.is_none() {
        valid_values(&gray, max_pixels)
    } else {
        Vec::new()
    };
    let moments = channel_moments(&gray, recipe, breakpoints)?;
    Ok(Some(FrameSample { pooled, moments }))
}

/// Orders the candidate files: by sample key, or round-robin over the
/// strata when stratifying (which reads every file's header).
fn candidate_order(
    files: Vec<InputFile>,
    options: &StatsOptions,
    pool: &rayon::ThreadPool,
) -> Vec<(InputFile, Option<String>)> {
    let mut keyed: Vec<([u8; 32], InputFile)> = files
        .into_iter()
        .map(|file| (sample_key(options.seed, &file), file))
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.relative.cmp(&b.1.relative)));
    let ordered: Vec<InputFile> = keyed.into_iter().map(|(_, file)| file).collect();

    let Some(column) = options.stratify else {
        return ordered.into_iter().map(|file| (file, None)).collect();
    };
    let header_options = open_options(&options.recipe, true);
    let values: Vec<Option<String>> = pool.install(|| {
        ordered
            .par_iter()
            .map(|file| match open_dicom(&file.path, &header_options) {
                Ok(Some(dicom)) => Some(column.value(&dicom)),
                // Unreadable files are left to the decoding pass, which
                // reports them.
                Ok(None) => None,
                Err(_) => Some("(unreadable)".into()),
            })
            .collect()
    });
    let mut strata: BTreeMap<String, VecDeque<InputFile>> = BTreeMap::new();
    for (file, value) in ordered.into_iter().zip(values) {
        if let Some(value) = value {
            strata.entry(value).or_default().push_back(file);
        }
    }
    round_robin(strata)
}

/// Samples the inputs and computes the dataset statistics of the recipe.
///
/// The sample: files are ordered by [`sample_key`], or, with `stratify`,
/// taken round-robin from the strata in that order. The first
/// `sample_size` files that decode to grayscale frames are used, and the
/// DICOM files passed over are listed in the provenance as skipped. Padding pixels are left
/// out of every number. Statistics are taken after the recipe's spatial
/// steps, on what the network sees. When the recipe has `histogram`
/// channels, their moments need the breakpoints, so the used files are
/// decoded a second time.
///
/// # Errors
/// [`PipelineError::Input`] for a missing input, [`PipelineError::Render`]
/// when no breakpoints can be fitted (no valid pixels, or all equal), and
/// [`PipelineError::ThreadPool`].
pub fn dataset_statistics(options: &StatsOptions) -> Result<StatsRun, PipelineError> {
    check_inputs(&options.inputs)?;
    let pool = thread_pool(options.jobs)?;
    let mut files = Vec::new();
    for entry in walk(&options.inputs) {
        match entry {
            Ok(file) => files.push(file),
            Err((path, error)) => tracing::warn!(path = %path.display(), "not sampled: {error}"),
        }
    }
    let candidates = candidate_order(files, options, &pool);
    let batch = 4 * pool.current_num_threads().max(1);

    let mut used: Vec<(InputFile, Option<String>)> = Vec::new();
    let mut skipped = Vec::new();
    let mut pooled = Vec::new();
    let mut moments = vec![Moments::default(); options.recipe.channels.len()];
    let mut frames = 0usize;
    for chunk in candidates.chunks(batch) {
        if used.len() >= options.sample_size {
            break;
        }
        let results: Vec<FileSample> = pool.install(|| {
            chunk
                .par_iter()
                .map(|(file, _)| sample_file(file, options, None))
                .collect()
        });
        for ((file, stratum), result) in chunk.iter().zip(results) {
            if used.len() >= options.sample_size {
                break;
            }
            match result {
                FileSample::Used(samples) => {
                    for sample in samples {
                        frames += 1;
                        pooled.extend(sample.pooled);
                        for (total, frame) in moments.iter_mut().zip(sample.moments) {
                            total.merge(&frame.unwrap_or_default());
                        }
                    }
                    used.push((file.clone(), stratum.clone()));
                }
                FileSample::Skipped(reason) => {
                    tracing::warn!(path = %file.path.display(), "not sampled: {reason}");
                    skipped.push(format!("{}: {reason}", file.path.display()));
                }
                FileSample::NotDicom => {}
            }
        }
    }

    let breakpoints = fit_breakpoints(pooled.clone(), options.bins)?;
    let histogram_channels: Vec<usize> = options
        .recipe
        .channels
        .iter()
        .enumerate()
        .filter(|(_, channel)| channel.source == hounsfield_tensor::ChannelSpec::Histogram)
        .map(|(index, _)| index)
        .collect();
    if !histogram_channels.is_empty() {
        measure_histogram_channels(
            &used,
            options,
            &pool,
            &breakpoints,
            &histogram_channels,
            &mut moments,
        )?;
    }

    let stats = DatasetStats {
        format: STATS_FORMAT.into(),
        provenance: provenance(options, &used, frames, skipped),
        histogram: HistogramStats {
            bins: options.bins,
            rule: BREAKPOINT_RULE.into(),
            values: pooled.len() as u64,
            breakpoints,
        },
        channels: options
            .recipe
            .channels
            .iter()
            .zip(&moments)
            .enumerate()
            .map(|(index, (channel, moments))| ChannelStats {
                index,
                signature: channel.signature(),
                count: moments.count,
                mean: moments.mean,
                std: moments.std(),
                min: moments.min,
                max: moments.max,
            })
            .collect(),
    };
    Ok(StatsRun { stats, pooled })
}

/// Decodes the used files again and measures the `histogram` channels with
/// the fitted breakpoints.
fn measure_histogram_channels(
    used: &[(InputFile, Option<String>)],
    options: &StatsOptions,
    pool: &rayon::ThreadPool,
    breakpoints: &[f64],
    channels: &[usize],
    moments: &mut [Moments],
) -> Result<(), PipelineError> {
    let results: Vec<FileSample> = pool.install(|| {
        used.par_iter()
            .map(|(file, _)| sample_file(file, options, Some(breakpoints)))
            .collect()
    });
    for &index in channels {
        moments[index] = Moments::default();
    }
    for ((file, _), result) in used.iter().zip(results) {
        let FileSample::Used(samples) = result else {
            return Err(PipelineError::File {
                path: file.path.clone(),
                message: "could not be decoded a second time for the histogram channels".into(),
            });
        };
        for sample in samples {
            for &index in channels {
                if let Some(Some(frame)) = sample.moments.get(index) {
                    moments[index].merge(frame);
                }
            }
        }
    }
    Ok(())
}

fn provenance(
    options: &StatsOptions,
    used: &[(InputFile, Option<String>)],
    frames: usize,
    skipped: Vec<String>,
) -> Provenance {
    let mut strata = BTreeMap::new();
    for (_, stratum) in used {
        if let Some(value) = stratum {
            *strata.entry(value.clone()).or_insert(0) += 1;
        }
    }
    Provenance {
        tool: options.tool.clone(),
        inputs: options
            .inputs
            .iter()
            .map(|input| input.display().to_string())
            .collect(),
        sample_size: options.sample_size,
        seed: options.seed,
        stratify: options.stratify.map(|column| column.name().to_string()),
        strata,
        frames_per_file: options.frames_per_file,
        max_pixels_per_frame: options.max_pixels_per_frame,
        files: used
            .iter()
            .map(|(file, _)| file.path.display().to_string())
            .collect(),
        frames,
        skipped,
        recipe: options.recipe.normalization_yaml(),
        spatial: options.recipe.spatial_signature(),
    }
}

/// Writes statistics as YAML, atomically.
///
/// # Errors
/// [`PipelineError::Render`] when serialization fails,
/// [`PipelineError::Output`] when the file cannot be written.
pub fn write_stats(stats: &DatasetStats, path: &Path) -> Result<(), PipelineError> {
    let text = stats.to_yaml()?;
    write_atomic(path, text.as_bytes())?;
    Ok(())
}

/// Draws the histogram plot of a statistics run: the pooled values, the
/// breakpoints and the recipe's fixed windows (recipe values and presets),
/// and writes it as a PNG file.
///
/// # Errors
/// [`PipelineError::Render`] when drawing fails, [`PipelineError::Output`]
/// when the file cannot be written.
pub fn write_histogram_plot(
    run: &StatsRun,
    recipe: &Recipe,
    path: &Path,
) -> Result<(), PipelineError> {
    let windows: Vec<PlotWindow> = recipe
        .channels
        .iter()
        .filter_map(|channel| match &channel.source {
            hounsfield_tensor::ChannelSpec::Window(spec) => {
                spec.fixed_window().map(|window| PlotWindow {
                    label: spec.label(),
                    lower: window.center - window.width / 2.0,
                    upper: window.center + window.width / 2.0,
                })
            }
            _ => None,
        })
        .collect();
    let provenance = &run.stats.provenance;
    let title = format!(
        "{} values from {} file(s), {} frame(s); {} bins",
        run.pooled.len(),
        provenance.files.len(),
        provenance.frames,
        run.stats.histogram.bins
    );
    let image = draw_histogram_plot(
        &run.pooled,
        &run.stats.histogram.breakpoints,
        &windows,
        &title,
        (900, 420),
    )?;
    let bytes = encode_png(PngImage::Rgb8(image.view()))?;
    write_atomic(path, &bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(relative: &str) -> InputFile {
        InputFile {
            path: PathBuf::from(relative),
            relative: relative.into(),
            input_index: 0,
        }
    }

    #[test]
    fn round_robin_shares_equally_and_refills() {
        let mut strata = BTreeMap::new();
        strata.insert(
            "CT".to_string(),
            VecDeque::from([file("ct1"), file("ct2"), file("ct3")]),
        );
        strata.insert("MR".to_string(), VecDeque::from([file("mr1")]));
        let order: Vec<String> = round_robin(strata)
            .into_iter()
            .map(|(file, _)| file.relative)
            .collect();
        assert_eq!(order, ["ct1", "mr1", "ct2", "ct3"]);
    }

    #[test]
    fn sample_key_depends_on_seed_and_name() {
        assert_eq!(sample_key(1, &file("a")), sample_key(1, &file("a")));
        assert_ne!(sample_key(1, &file("a")), sample_key(2, &file("a")));
        assert_ne!(sample_key(1, &file("a")), sample_key(1, &file("b")));
    }

    #[test]
    fn frames_are_evenly_spaced() {
        assert_eq!(frame_indices(10, Some(3)), [0, 3, 6]);
        assert_eq!(frame_indices(2, Some(5)), [0, 1]);
        assert_eq!(frame_indices(3, None), [0, 1, 2]);
    }

    #[test]
    fn stratum_names_round_trip() {
        for column in Stratum::ALL {
            assert_eq!(Stratum::from_name(column.name()), Some(column));
        }
    }
}
