//! Encoding and writing outputs of the CT slice: PNG at 8 and 16 bits,
//! `.npy`, and WebDataset shards on tmpfs.

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hounsfield_export::{
    encode_npy, encode_png, unit_array_to_u16, unit_array_to_u8, PngImage, Sample, ShardOptions,
    ShardWriter,
};
use hounsfield_tensor::{render_channels, render_display, Recipe, WindowSpec};
use ndarray::Axis;

use common::{frame_of, scratch_dir, CT_SLICE};

/// Samples written to one shard per iteration of the `shard` bench.
const SAMPLES_PER_SHARD: usize = 8;

fn png(c: &mut Criterion) {
    let frame = frame_of(CT_SLICE);
    let display = render_display(&frame, &WindowSpec::File);
    let plane = display.image.index_axis(Axis(0), 0);
    let gray8 = unit_array_to_u8(plane);
    let gray16 = unit_array_to_u16(plane);

    let mut group = c.benchmark_group("png");
    group.throughput(Throughput::Elements(gray8.len() as u64));
    group.bench_function("gray8_512x512", |b| {
        b.iter(|| black_box(encode_png(PngImage::Gray8(black_box(gray8.view())))))
    });
    group.bench_function("gray16_512x512", |b| {
        b.iter(|| black_box(encode_png(PngImage::Gray16(black_box(gray16.view())))))
    });
    group.finish();
}

fn npy(c: &mut Criterion) {
    let frame = frame_of(CT_SLICE);
    let recipe = Recipe::from_yaml("channels: [modality]\n").expect("the recipe is valid");
    let tensor = render_channels(&frame, &recipe).tensor;

    let mut group = c.benchmark_group("npy");
    group.throughput(Throughput::Bytes((tensor.len() * 4) as u64));
    group.bench_function("f32_1x512x512", |b| {
        b.iter(|| black_box(encode_npy(black_box(tensor.view()))))
    });
    group.finish();
}

fn shard(c: &mut Criterion) {
    let frame = frame_of(CT_SLICE);
    let recipe = Recipe::from_yaml("channels: [modality]\n").expect("the recipe is valid");
    let tensor = render_channels(&frame, &recipe).tensor;
    let npy = encode_npy(tensor.view()).expect("the tensor encodes");
    // About the size of a real sample's metadata.
    let json = vec![b' '; 2048];
    let samples: Vec<Sample> = (0..SAMPLES_PER_SHARD)
        .map(|index| {
            let mut sample = Sample::new(format!("ct-slice-{index:04}"));
            sample.push_member("npy", npy.clone());
            sample.push_member("json", json.clone());
            sample
        })
        .collect();
    let bytes: usize = samples
        .iter()
        .flat_map(|sample| &sample.members)
        .map(|(_, contents)| contents.len())
        .sum();
    let dir = scratch_dir();

    let mut group = c.benchmark_group("shard");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("write_8_samples_tmpfs", |b| {
        b.iter(|| {
            let mut writer = ShardWriter::new(dir.path(), ShardOptions::default())
                .expect("the shard folder is writable");
            for sample in &samples {
                writer.write_sample(sample).expect("the sample is written");
            }
            black_box(writer.finish().expect("the shard is committed"))
        })
    });
    group.finish();
}

criterion_group!(benches, png, npy, shard);
criterion_main!(benches);
