//! Statistics of the non-padding modality values of an image.

use hounsfield_dicom::DicomFile;
use hounsfield_pixel::{read_frame, DecodeLimits, FrameImage, PixelDescription};
use ndarray::Zip;

/// Statistics of the non-padding modality values (HU for CT) of a frame or
/// of all frames of a file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelStats {
    /// Number of values.
    pub count: u64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Mean.
    pub mean: f64,
    /// Population standard deviation (divided by `count`, as NumPy's
    /// default `ddof=0`).
    pub std: f64,
}

/// A window given as center and width, counted as the closed range
/// [center - width/2, center + width/2] of modality values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowRange {
    /// Window center in modality units.
    pub center: f64,
    /// Window width in modality units; greater than 0.
    pub width: f64,
}

impl WindowRange {
    fn contains(&self, value: f64) -> bool {
        let half = self.width / 2.0;
        (self.center - half..=self.center + half).contains(&value)
    }
}

/// Running statistics with Welford's update, which stays accurate for the
/// millions of values of a large image.
#[derive(Debug, Default)]
struct Accumulator {
    count: u64,
    min: f64,
    max: f64,
    mean: f64,
    squares: f64,
    in_window: u64,
}

impl Accumulator {
    fn add(&mut self, value: f64, window: Option<WindowRange>) {
        if value.is_nan() {
            return;
        }
        if self.count == 0 {
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.count += 1;
        let delta = value - self.mean;
        self.mean += delta / self.count as f64;
        self.squares += delta * (value - self.mean);
        if window.is_some_and(|w| w.contains(value)) {
            self.in_window += 1;
        }
    }

    fn stats(&self) -> Option<PixelStats> {
        (self.count > 0).then(|| PixelStats {
            count: self.count,
            min: self.min,
            max: self.max,
            mean: self.mean,
            std: (self.squares / self.count as f64).sqrt(),
        })
    }

    fn fraction(&self) -> Option<f64> {
        (self.count > 0).then(|| self.in_window as f64 / self.count as f64)
    }
}

/// Decodes frame `frame`, or every frame when `None`, and returns the
/// statistics of the non-padding modality values and the share of them
/// inside `window`. Colour images, and pixels that cannot be decoded, give
/// `None` (the latter with a warning in the log).
pub(crate) fn pixel_statistics(
    file: &DicomFile,
    frame: Option<u32>,
    window: Option<WindowRange>,
    limits: &DecodeLimits,
) -> (Option<PixelStats>, Option<f64>) {
    let mut findings = Vec::new();
    let description = match PixelDescription::read(file.dataset(), &mut findings) {
        Ok(description) => description,
        Err(error) => {
            tracing::warn!(path = %file.path.display(), "no pixel statistics: {error}");
            return (None, None);
        }
    };
    let frames = match frame {
        Some(frame) => frame..frame + 1,
        None => 0..description.frames,
    };
    let mut accumulator = Accumulator::default();
    for index in frames {
        match read_frame(file, &description, index, limits, &mut findings) {
            Ok(FrameImage::Gray(gray)) => match &gray.padding {
                Some(mask) => Zip::from(&gray.values)
                    .and(mask)
                    .for_each(|&value, &padded| {
                        if !padded {
                            accumulator.add(f64::from(value), window);
                        }
                    }),
                None => gray
                    .values
                    .iter()
                    .for_each(|&value| accumulator.add(f64::from(value), window)),
            },
            Ok(FrameImage::Color(_)) => return (None, None),
            Err(error) => {
                tracing::warn!(
                    path = %file.path.display(),
                    frame = index,
                    "no pixel statistics: {}",
                    hounsfield_dicom::error_chain(&error)
                );
                return (None, None);
            }
        }
    }
    let fraction = window.and_then(|_| accumulator.fraction());
    (accumulator.stats(), fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welford_matches_the_two_pass_result() {
        // Values -1000, 0, 40, 1000: mean 10, population variance
        // (1010^2 + 10^2 + 30^2 + 990^2) / 4 = 500300.
        let mut accumulator = Accumulator::default();
        let window = WindowRange {
            center: 40.0,
            width: 80.0,
        };
        for value in [-1000.0, 0.0, 40.0, 1000.0, f64::NAN] {
            accumulator.add(value, Some(window));
        }
        let stats = accumulator.stats().unwrap();
        assert_eq!(stats.count, 4);
        assert_eq!(stats.min, -1000.0);
        assert_eq!(stats.max, 1000.0);
        assert!((stats.mean - 10.0).abs() < 1e-12);
        assert!((stats.std - 500_300f64.sqrt()).abs() < 1e-9);
        // 0 and 40 lie in [0, 80].
        assert_eq!(accumulator.fraction(), Some(0.5));
    }

    #[test]
    fn empty_accumulator_has_no_statistics() {
        let accumulator = Accumulator::default();
        assert_eq!(accumulator.stats(), None);
        assert_eq!(accumulator.fraction(), None);
    }
}
