//! Named CT window presets in Hounsfield units.

use hounsfield_pixel::{VoiFunction, Window};

/// A named CT window, given as width and level (Window Width and Window
/// Center) in HU.
///
/// The values are those of the `dicom_windows` table in fastai's medical
/// imaging module (`fastai/medical/imaging.py`), which credits Radiopaedia's
/// "Windowing (CT)" article; `docs/normalization.md` lists them with their
/// sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WindowPreset {
    /// Brain: width 80, level 40.
    Brain,
    /// Subdural: width 254, level 100.
    Subdural,
    /// Stroke (grey/white matter contrast): width 8, level 32.
    Stroke,
    /// Brain bone (skull): width 2800, level 600.
    BrainBone,
    /// Brain soft tissue: width 375, level 40.
    BrainSoft,
    /// Lungs: width 1500, level −600.
    Lungs,
    /// Mediastinum: width 350, level 50.
    Mediastinum,
    /// Abdomen soft tissue: width 400, level 50.
    AbdomenSoft,
    /// Liver: width 150, level 30.
    Liver,
    /// Spine soft tissue: width 250, level 50.
    SpineSoft,
    /// Spine bone: width 1800, level 400.
    SpineBone,
}

impl WindowPreset {
    /// Every preset, in the order of the documentation table.
    pub const ALL: [WindowPreset; 11] = [
        WindowPreset::Brain,
        WindowPreset::Subdural,
        WindowPreset::Stroke,
        WindowPreset::BrainBone,
        WindowPreset::BrainSoft,
        WindowPreset::Lungs,
        WindowPreset::Mediastinum,
        WindowPreset::AbdomenSoft,
        WindowPreset::Liver,
        WindowPreset::SpineSoft,
        WindowPreset::SpineBone,
    ];

    /// The recipe name, e.g. `brain_bone`.
    pub fn name(self) -> &'static str {
        match self {
            WindowPreset::Brain => "brain",
            WindowPreset::Subdural => "subdural",
            WindowPreset::Stroke => "stroke",
            WindowPreset::BrainBone => "brain_bone",
            WindowPreset::BrainSoft => "brain_soft",
            WindowPreset::Lungs => "lungs",
            WindowPreset::Mediastinum => "mediastinum",
            WindowPreset::AbdomenSoft => "abdomen_soft",
            WindowPreset::Liver => "liver",
            WindowPreset::SpineSoft => "spine_soft",
            WindowPreset::SpineBone => "spine_bone",
        }
    }

    /// Finds a preset by its recipe name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|preset| preset.name() == name)
    }

    /// Window Width and Window Center (level) in HU.
    pub fn width_level(self) -> (f64, f64) {
        match self {
            WindowPreset::Brain => (80.0, 40.0),
            WindowPreset::Subdural => (254.0, 100.0),
            WindowPreset::Stroke => (8.0, 32.0),
            WindowPreset::BrainBone => (2800.0, 600.0),
            WindowPreset::BrainSoft => (375.0, 40.0),
            WindowPreset::Lungs => (1500.0, -600.0),
            WindowPreset::Mediastinum => (350.0, 50.0),
            WindowPreset::AbdomenSoft => (400.0, 50.0),
            WindowPreset::Liver => (150.0, 30.0),
            WindowPreset::SpineSoft => (250.0, 50.0),
            WindowPreset::SpineBone => (1800.0, 400.0),
        }
    }

    /// The preset as a window with the given VOI LUT Function.
    pub fn window(self, function: VoiFunction) -> Window {
        let (width, level) = self.width_level();
        Window {
            center: level,
            width,
            function,
        }
    }

    /// The names of all presets, comma-separated, for error messages.
    pub fn names() -> String {
        Self::ALL.map(WindowPreset::name).join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_match_documented_values() {
        // Width and level in HU as listed in docs/normalization.md.
        let expected = [
            ("brain", 80.0, 40.0),
            ("subdural", 254.0, 100.0),
            ("stroke", 8.0, 32.0),
            ("brain_bone", 2800.0, 600.0),
            ("brain_soft", 375.0, 40.0),
            ("lungs", 1500.0, -600.0),
            ("mediastinum", 350.0, 50.0),
            ("abdomen_soft", 400.0, 50.0),
            ("liver", 150.0, 30.0),
            ("spine_soft", 250.0, 50.0),
            ("spine_bone", 1800.0, 400.0),
        ];
        assert_eq!(expected.len(), WindowPreset::ALL.len());
        for (name, width, level) in expected {
            let preset = WindowPreset::from_name(name);
            assert!(preset.is_some(), "preset `{name}` is missing");
            let window = preset.unwrap().window(VoiFunction::Linear);
            assert_eq!(window.width, width, "{name} width");
            assert_eq!(window.center, level, "{name} level");
        }
    }

    #[test]
    fn every_preset_is_a_valid_linear_window() {
        for preset in WindowPreset::ALL {
            assert!(
                preset.window(VoiFunction::Linear).prepare().is_ok(),
                "{}",
                preset.name()
            );
        }
    }

    #[test]
    fn documentation_lists_every_preset() {
        let doc = include_str!("../../../docs/normalization.md");
        for preset in WindowPreset::ALL {
            let (width, level) = preset.width_level();
            let row = format!("| `{}` | {width} | {level} |", preset.name());
            assert!(
                doc.contains(&row),
                "docs/normalization.md lacks the row {row}"
            );
        }
    }

    #[test]
    fn unknown_name_is_none() {
        assert_eq!(WindowPreset::from_name("bone"), None);
    }
}
