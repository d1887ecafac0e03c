//! Reading the slice headers of every input file, and the pixel hashes
//! that tell repeated positions apart.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hounsfield_dicom::{attr, open, sniff_file, tags, DicomFile, OpenOptions};
use hounsfield_pixel::{read_frame, DecodeLimits, FrameImage, PixelDescription};
use hounsfield_series::{read_slices, PixelHash, SliceHeader};
use hounsfield_tensor::Recipe;
use sha2::{Digest, Sha256};

use crate::discover::InputFile;

/// The result of the header stage for one input file.
#[derive(Debug)]
pub(crate) enum FileHeaders {
    /// One header per image plane.
    Slices(Vec<SliceHeader>),
    /// Not converted on purpose: not DICOM, not an image, or excluded by the
    /// privacy settings.
    Skipped(String),
    /// The file could not be read.
    Failed(String),
}

/// Reads the slice headers of `file`, stopping before Pixel Data.
pub(crate) fn read_file_headers(file: &InputFile, recipe: &Recipe) -> FileHeaders {
    match sniff_file(&file.path) {
        Ok(Some(_)) => {}
        Ok(None) => return FileHeaders::Skipped("not a DICOM file".into()),
        Err(error) => return FileHeaders::Failed(error.to_string()),
    }
    let options = OpenOptions {
        stop_before_pixel_data: true,
        lenient_framing: recipe.input.accept_missing_file_meta,
    };
    let dicom = match open(&file.path, &options) {
        Ok(dicom) => dicom,
        Err(error) => return FileHeaders::Failed(error.to_string()),
    };
    let object = dicom.dataset();
    if object.get(tags::ROWS).is_none() || object.get(tags::COLUMNS).is_none() {
        return FileHeaders::Skipped("no Rows and Columns (0028,0010): not an image".into());
    }
    let burned_in = attr::text(object, tags::BURNED_IN_ANNOTATION)
        .is_some_and(|value| value.eq_ignore_ascii_case("YES"));
    let keep_burned_in = matches!(
        recipe.privacy.burned_in_annotation,
        hounsfield_tensor::BurnedInAnnotationPolicy::Keep
    );
    if burned_in && !keep_burned_in {
        return FileHeaders::Skipped(
            "Burned In Annotation (0028,0301) is YES: the pixels may show identifying text; \
             set `privacy.burned_in_annotation: keep` to convert it"
                .into(),
        );
    }
    match read_slices(&file.path, object) {
        Ok(slices) => FileHeaders::Slices(slices),
        Err(error) => FileHeaders::Failed(format!("{}: {error}", file.path.display())),
    }
}

/// Computes the SHA-256 digest of a decoded frame: its kind, shape and values
/// (modality values for grayscale, RGB for colour) as little-endian float32.
pub(crate) fn pixel_hash(image: &FrameImage) -> PixelHash {
    fn update<'a>(
        hasher: &mut Sha256,
        kind: &[u8],
        shape: &[usize],
        values: impl Iterator<Item = &'a f32>,
    ) {
        hasher.update(kind);
        for &dimension in shape {
            hasher.update((dimension as u64).to_le_bytes());
        }
        for value in values {
            hasher.update(value.to_le_bytes());
        }
    }

    let mut hasher = Sha256::new();
    match image {
        FrameImage::Gray(gray) => update(
            &mut hasher,
            b"gray",
            gray.values.shape(),
            gray.values.iter(),
        ),
        FrameImage::Color(rgb) => update(&mut hasher, b"rgb", rgb.shape(), rgb.iter()),
    }
    PixelHash(hasher.finalize().into())
}

/// Opens a file with its pixels and reads its Image Pixel Module.
pub(crate) fn open_pixels(
    path: &std::path::Path,
    recipe: &Recipe,
    findings: &mut Vec<hounsfield_dicom::Finding>,
) -> Result<(DicomFile, PixelDescription), String> {
    let options = OpenOptions {
        stop_before_pixel_data: false,
        lenient_framing: recipe.input.accept_missing_file_meta,
    };
    let dicom = open(path, &options).map_err(|error| error.to_string())?;
    let description = PixelDescription::read(dicom.dataset(), findings)
        .map_err(|error| format!("{}: {error}", path.display()))?;
    Ok((dicom, description))
}

/// Decodes `frames` (slice index and frame number) of the file at `path`
/// and returns their hashes. A frame that cannot be decoded gets no hash,
/// and the volume that contains it reports the decoding error later.
pub(crate) fn hash_file_frames(
    path: &std::path::Path,
    frames: &[(usize, u32)],
    recipe: &Recipe,
) -> Vec<(usize, PixelHash)> {
    let mut findings = Vec::new();
    let (dicom, description) = match open_pixels(path, recipe, &mut findings) {
        Ok(opened) => opened,
        Err(error) => {
            tracing::debug!("pixel hash skipped: {error}");
            return Vec::new();
        }
    };
    let limits = DecodeLimits {
        max_frame_bytes: recipe.input.max_frame_bytes,
    };
    frames
        .iter()
        .filter_map(|&(slice, frame)| {
            match read_frame(&dicom, &description, frame, &limits, &mut findings) {
                Ok(image) => Some((slice, pixel_hash(&image))),
                Err(error) => {
                    tracing::debug!(path = %path.display(), frame, "pixel hash skipped: {error}");
                    None
                }
            }
        })
        .collect()
}

/// Groups slice indices by file, for opening each file once.
pub(crate) fn by_file(
    slices: &[SliceHeader],
    indices: impl IntoIterator<Item = usize>,
) -> BTreeMap<PathBuf, Vec<(usize, u32)>> {
    let mut files: BTreeMap<PathBuf, Vec<(usize, u32)>> = BTreeMap::new();
    for index in indices {
        let slice = &slices[index];
        files
            .entry(slice.path.clone())
            .or_default()
            .push((index, slice.frame));
    }
    files
}
