//! VOI windows (PS3.3 C.11.2): modality values to display values in [0, 1].

use serde::{Deserialize, Serialize};

/// The VOI LUT Function (0028,1056) of a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoiFunction {
    /// `LINEAR` (PS3.3 C.11.2.1.2.1), the default; width must be at least 1.
    #[default]
    Linear,
    /// `LINEAR_EXACT` (PS3.3 C.11.2.1.3.2); width must be positive.
    LinearExact,
    /// `SIGMOID` (PS3.3 C.11.2.1.3.1); width must be positive.
    Sigmoid,
}

impl VoiFunction {
    /// Parses the defined terms of VOI LUT Function (0028,1056).
    pub fn from_dicom(term: &str) -> Option<Self> {
        match term.trim() {
            "LINEAR" => Some(VoiFunction::Linear),
            "LINEAR_EXACT" => Some(VoiFunction::LinearExact),
            "SIGMOID" => Some(VoiFunction::Sigmoid),
            _ => None,
        }
    }

    /// The DICOM defined term.
    pub fn as_dicom(self) -> &'static str {
        match self {
            VoiFunction::Linear => "LINEAR",
            VoiFunction::LinearExact => "LINEAR_EXACT",
            VoiFunction::Sigmoid => "SIGMOID",
        }
    }
}

/// A window centre and width in modality units (HU for CT) with its function.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Window Center (0028,1050).
    pub center: f64,
    /// Window Width (0028,1051).
    pub width: f64,
    /// VOI LUT Function (0028,1056).
    #[serde(default)]
    pub function: VoiFunction,
}

/// A window whose width is outside the range its function allows.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("window width {width} is invalid for {}: {}", function.as_dicom(), match function {
    VoiFunction::Linear => "LINEAR needs a width of at least 1",
    _ => "the width must be greater than 0",
})]
pub struct InvalidWindow {
    /// The width given.
    pub width: f64,
    /// The function it was given for.
    pub function: VoiFunction,
}

/// A window checked by [`Window::prepare`], ready to map values fast.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PreparedWindow {
    window: Window,
    lower: f64,
    upper: f64,
    scale: f64,
    offset: f64,
}

impl Window {
    /// Creates a LINEAR window.
    pub fn linear(center: f64, width: f64) -> Self {
        Window {
            center,
            width,
            function: VoiFunction::Linear,
        }
    }

    /// Checks the width against the function's allowed range and
    /// precomputes the thresholds.
    pub fn prepare(&self) -> Result<PreparedWindow, InvalidWindow> {
        let (c, w) = (self.center, self.width);
        let valid = match self.function {
            VoiFunction::Linear => w >= 1.0,
            VoiFunction::LinearExact | VoiFunction::Sigmoid => w > 0.0,
        } && c.is_finite()
            && w.is_finite();
        if !valid {
            return Err(InvalidWindow {
                width: w,
                function: self.function,
            });
        }
        let prepared = match self.function {
            // PS3.3 C.11.2.1.2.1: x <= c - 0.5 - (w-1)/2 gives y_min,
            // x > c - 0.5 + (w-1)/2 gives y_max, otherwise
            // y = ((x - (c - 0.5)) / (w - 1) + 0.5) on a [0, 1] output.
            // For w = 1 the two thresholds coincide and no value is in between.
            VoiFunction::Linear => PreparedWindow {
                window: *self,
                lower: c - 0.5 - (w - 1.0) / 2.0,
                upper: c - 0.5 + (w - 1.0) / 2.0,
                scale: if w > 1.0 { 1.0 / (w - 1.0) } else { 0.0 },
                offset: 0.5 - (c - 0.5) / (w - 1.0).max(f64::MIN_POSITIVE),
            },
            // PS3.3 C.11.2.1.3.2: thresholds c - w/2 and c + w/2,
            // y = (x - c) / w + 0.5.
            VoiFunction::LinearExact => PreparedWindow {
                window: *self,
                lower: c - w / 2.0,
                upper: c + w / 2.0,
                scale: 1.0 / w,
                offset: 0.5 - c / w,
            },
            VoiFunction::Sigmoid => PreparedWindow {
                window: *self,
                lower: f64::NEG_INFINITY,
                upper: f64::INFINITY,
                scale: -4.0 / w,
                offset: 4.0 * c / w,
            },
        };
        Ok(prepared)
    }
}

impl PreparedWindow {
    /// The window this was prepared from.
    pub fn window(&self) -> Window {
        self.window
    }

    /// Maps one modality value to a display value in [0, 1]. NaN stays NaN.
    #[inline]
    pub fn apply(&self, x: f64) -> f64 {
        match self.window.function {
            VoiFunction::Linear | VoiFunction::LinearExact => self.apply_linear(x),
            VoiFunction::Sigmoid => self.apply_sigmoid(x),
        }
    }

    /// Maps a slice of modality values in place, as [`apply`](Self::apply)
    /// does for each of them.
    pub fn apply_in_place(&self, values: &mut [f32]) {
        // One loop per function, so that no loop branches on the function.
        match self.window.function {
            VoiFunction::Linear | VoiFunction::LinearExact => {
                for value in values {
                    *value = self.apply_linear(f64::from(*value)) as f32;
                }
            }
            VoiFunction::Sigmoid => {
                for value in values {
                    *value = self.apply_sigmoid(f64::from(*value)) as f32;
                }
            }
        }
    }

    #[inline]
    fn apply_linear(&self, x: f64) -> f64 {
        if x <= self.lower {
            0.0
        } else if x > self.upper {
            1.0
        } else {
            x * self.scale + self.offset
        }
    }

    /// PS3.3 C.11.2.1.3.1: y = 1 / (1 + exp(-4 (x - c) / w)).
    #[inline]
    fn apply_sigmoid(&self, x: f64) -> f64 {
        1.0 / (1.0 + (x * self.scale + self.offset).exp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_8bit(y: f64) -> f64 {
        // PS3.3 C.11.2.1.2.1 with y_min 0 and y_max 255, rounded to nearest.
        (y * 255.0).round()
    }

    #[test]
    fn linear_matches_standard_brain_window() {
        // HU [-1000, 40, 80, 1000] with c 40, w 80: thresholds -0.5 and 78.5;
        // 40 gives ((40 - 39.5) / 79 + 0.5) * 255 = 129.11.
        let window = Window::linear(40.0, 80.0).prepare().unwrap();
        let out: Vec<f64> = [-1000.0, 40.0, 80.0, 1000.0]
            .map(|x| window.apply(x))
            .to_vec();
        assert_eq!(
            out.iter().map(|&y| to_8bit(y)).collect::<Vec<_>>(),
            [0.0, 129.0, 255.0, 255.0]
        );
        assert!(
            (out[1] * 255.0 - 129.1139).abs() < 1e-3,
            "{}",
            out[1] * 255.0
        );
    }

    #[test]
    fn linear_matches_standard_bone_window() {
        // c 300, w 1500: thresholds -450 and 1049; -1000 -> 0,
        // 40 -> ((40 - 299.5) / 1499 + 0.5) * 255 = 83.36,
        // 80 -> 90.16, 1000 -> 246.66 (to 4 decimals: 83.3556, 90.1601, 246.6644).
        let window = Window::linear(300.0, 1500.0).prepare().unwrap();
        let expected = [0.0, 83.3556, 90.1601, 246.6644];
        for (x, want) in [-1000.0, 40.0, 80.0, 1000.0].into_iter().zip(expected) {
            let got = window.apply(x) * 255.0;
            assert!((got - want).abs() < 1e-3, "x {x}: got {got}, want {want}");
        }
    }

    #[test]
    fn linear_width_one_is_a_threshold_at_center_minus_half() {
        // w 1: both thresholds are c - 0.5, so x <= c - 0.5 gives 0 and
        // anything above gives 1.
        let window = Window::linear(10.0, 1.0).prepare().unwrap();
        assert_eq!(window.apply(9.5), 0.0);
        assert_eq!(window.apply(9.5001), 1.0);
        assert_eq!(window.apply(10.0), 1.0);
    }

    #[test]
    fn linear_width_two_has_one_step_between_thresholds() {
        // w 2, c 10: thresholds 9.0 and 10.0; y = (x - 9.5) / 1 + 0.5, so
        // x = 9.5 -> 0.5 and x = 10 -> 1.0 (10 is not above the upper one).
        let window = Window::linear(10.0, 2.0).prepare().unwrap();
        assert_eq!(window.apply(9.0), 0.0);
        assert_eq!(window.apply(9.5), 0.5);
        assert_eq!(window.apply(10.0), 1.0);
        assert_eq!(window.apply(9.25), 0.25);
    }

    #[test]
    fn linear_exact_is_clamped_ramp() {
        // c 600, w 2800: lower -800, upper 2000; 600 -> 0.5, -800 -> 0,
        // 1300 -> (700 / 2800) + 0.5 = 0.75.
        let window = Window {
            center: 600.0,
            width: 2800.0,
            function: VoiFunction::LinearExact,
        }
        .prepare()
        .unwrap();
        assert_eq!(window.apply(-800.0), 0.0);
        assert_eq!(window.apply(600.0), 0.5);
        assert_eq!(window.apply(1300.0), 0.75);
        assert_eq!(window.apply(2000.0), 1.0);
        assert_eq!(window.apply(2000.5), 1.0);
    }

    #[test]
    fn sigmoid_is_half_at_center() {
        // y = 1 / (1 + exp(-4 (x - c) / w)): x = c -> 0.5,
        // x = c + w/4 -> 1 / (1 + e^-1) = 0.731059.
        let window = Window {
            center: 40.0,
            width: 80.0,
            function: VoiFunction::Sigmoid,
        }
        .prepare()
        .unwrap();
        assert_eq!(window.apply(40.0), 0.5);
        assert!((window.apply(60.0) - 0.731_058_578_6).abs() < 1e-9);
    }

    #[test]
    fn invalid_widths_are_rejected() {
        assert!(Window::linear(0.0, 0.5).prepare().is_err());
        assert!(Window {
            center: 0.0,
            width: 0.0,
            function: VoiFunction::LinearExact
        }
        .prepare()
        .is_err());
        assert!(Window {
            center: 0.0,
            width: -1.0,
            function: VoiFunction::Sigmoid
        }
        .prepare()
        .is_err());
        let message = Window::linear(0.0, 0.5).prepare().unwrap_err().to_string();
        assert!(
            message.contains("0.5") && message.contains("LINEAR"),
            "{message}"
        );
    }
}
