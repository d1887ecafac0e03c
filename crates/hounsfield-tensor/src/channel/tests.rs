//! Tests of channel parsing, labels and signatures.

use super::*;

fn channel(yaml: &str) -> Result<Channel, String> {
    Channel::from_value(serde_yaml_ng::from_str(yaml).unwrap())
}

#[test]
fn window_forms_parse() {
    let window = |yaml: &str| match channel(yaml).unwrap().source {
        ChannelSpec::Window(window) => window,
        other => panic!("expected a window, got {other:?}"),
    };
    assert_eq!(window("window: file"), WindowSpec::File);
    assert_eq!(
        window("window: brain"),
        WindowSpec::Preset {
            preset: WindowPreset::Brain,
            function: VoiFunction::Linear
        }
    );
    assert_eq!(
        window("window: { preset: spine_bone, function: sigmoid }"),
        WindowSpec::Preset {
            preset: WindowPreset::SpineBone,
            function: VoiFunction::Sigmoid
        }
    );
    assert_eq!(
        window("window: { file: { index: 2 } }"),
        WindowSpec::FileIndex(2)
    );
    assert_eq!(
        window("window: { file: { explanation: BONE } }"),
        WindowSpec::FileExplanation("BONE".into())
    );
}

#[test]
fn preset_window_uses_width_and_level() {
    let window = WindowSpec::Preset {
        preset: WindowPreset::Lungs,
        function: VoiFunction::Linear,
    };
    let fixed = window.fixed_window().unwrap();
    assert_eq!((fixed.center, fixed.width), (-600.0, 1500.0));
    assert_eq!(window.label(), "lungs -600/1500");
}

#[test]
fn bare_sources_parse() {
    assert_eq!(channel("modality").unwrap(), ChannelSpec::Modality);
    assert_eq!(channel("histogram").unwrap(), ChannelSpec::Histogram);
    assert_eq!(channel("padding_mask").unwrap(), ChannelSpec::PaddingMask);
    let error = channel("window").unwrap_err();
    assert!(error.contains("needs a value"), "{error}");
}

#[test]
fn channel_with_two_sources_is_rejected() {
    let error = channel("{ modality: , histogram: }").unwrap_err();
    assert!(error.contains("one source"), "{error}");
    let error = channel("{ steps: [whiten], name: x }").unwrap_err();
    assert!(error.contains("no source"), "{error}");
}

#[test]
fn signature_stops_before_standardize() {
    let standardized = channel(
        "{ modality: , steps: [{ clip: { min: -1000 } }, standardize, { clip: { max: 3 } }] }",
    )
    .unwrap();
    let plain = channel("{ modality: , steps: [{ clip: { min: -1000 } }] }").unwrap();
    assert_eq!(standardized.signature(), plain.signature());
    assert_ne!(
        plain.signature(),
        Channel::from(ChannelSpec::Modality).signature()
    );
    assert_eq!(
        Channel::from(ChannelSpec::Modality).signature(),
        r#"{"source":"modality","steps":[]}"#
    );
}

#[test]
fn labels_name_source_and_steps() {
    assert_eq!(
        channel("{ window: brain, steps: [clahe] }")
            .unwrap()
            .label(),
        "window brain + clahe"
    );
    assert_eq!(
        channel("{ histogram: , name: hist }").unwrap().label(),
        "hist"
    );
}
