//! Pixel transforms of the CT slice: the modality LUT, windowing to display
//! samples, and rendering the recipe's tensor channels.

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hounsfield_export::{unit_to_u16, unit_to_u8};
use hounsfield_pixel::{decode_frame, read_frame, DecodeLimits, ModalityLut};
use hounsfield_tensor::{
    render_channels, render_display, render_display_quantized, Recipe, WindowSpec,
};
use ndarray::Axis;

use common::{describe, frame_of, open_fixture, CT_SLICE};

/// Recipes of the `render_channels` group: (bench name, channel list).
const RECIPES: [(&str, &str); 3] = [
    ("modality", "channels: [modality]\n"),
    (
        "modality_and_two_windows",
        "channels:\n  - modality\n  - window: { center: 40, width: 80 }\n  \
         - window: { center: 300, width: 1500 }\n",
    ),
    ("file_window", "channels:\n  - window: file\n"),
];

fn modality(c: &mut Criterion) {
    let file = open_fixture(CT_SLICE);
    let description = describe(&file);
    let limits = DecodeLimits::default();
    let stored = decode_frame(&file, &description, 0, &limits, &mut Vec::new())
        .expect("the fixture decodes");
    let plane = stored.values.index_axis(Axis(0), 0);

    let mut group = c.benchmark_group("modality");
    group.throughput(Throughput::Elements(description.pixels_per_frame() as u64));
    group.bench_function("lut_apply", |b| {
        b.iter(|| {
            let lut = ModalityLut::for_frame(file.dataset(), &description, 0, &mut Vec::new())
                .expect("the fixture has a valid Modality LUT");
            black_box(lut.apply(black_box(plane)))
        })
    });
    // Decoding, the modality LUT, the Pixel Padding mask and the file's
    // windows: everything `convert` does before rendering.
    group.bench_function("read_frame", |b| {
        b.iter(|| {
            let frame = read_frame(&file, &description, 0, &limits, &mut Vec::new())
                .expect("the fixture decodes");
            black_box(frame)
        })
    });
    group.finish();
}

fn windowing(c: &mut Criterion) {
    let frame = frame_of(CT_SLICE);
    let mut group = c.benchmark_group("window");
    group.throughput(Throughput::Elements(512 * 512));
    // What `convert` does for a PNG preview: window and quantise in one pass.
    group.bench_function("file_window_to_8bit", |b| {
        b.iter(|| {
            black_box(render_display_quantized(
                black_box(&frame),
                &WindowSpec::File,
                unit_to_u8,
            ))
        })
    });
    group.bench_function("file_window_to_16bit", |b| {
        b.iter(|| {
            black_box(render_display_quantized(
                black_box(&frame),
                &WindowSpec::File,
                unit_to_u16,
            ))
        })
    });
    // Display values in [0, 1] as `f32`, with the in-window share counted.
    group.bench_function("file_window_to_f32", |b| {
        b.iter(|| black_box(render_display(black_box(&frame), &WindowSpec::File)))
    });
    group.finish();
}

fn normalization(c: &mut Criterion) {
    let frame = frame_of(CT_SLICE);
    let mut group = c.benchmark_group("render_channels");
    group.throughput(Throughput::Elements(512 * 512));
    for (name, yaml) in RECIPES {
        let recipe = Recipe::from_yaml(yaml).expect("the bench recipe is valid");
        group.bench_function(name, |b| {
            b.iter(|| black_box(render_channels(black_box(&frame), &recipe)))
        });
    }
    group.finish();
}

criterion_group!(benches, modality, windowing, normalization);
criterion_main!(benches);
