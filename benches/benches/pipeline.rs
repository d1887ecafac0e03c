//! `convert` end to end on the six-slice CT series, with output on tmpfs:
//! discovery, opening, decoding, rendering, encoding and ordered writing.

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hounsfield_pipeline::{convert, ConvertOptions};
use hounsfield_tensor::Recipe;

use common::{ct_series_dir, folder_bytes, scratch_dir};

/// Recipes of the `convert` group: (bench name, YAML).
const RECIPES: [(&str, &str); 3] = [
    (
        "png8_only",
        "channels: [modality]\nexport:\n  png: { bits: 8, window: file }\n",
    ),
    (
        "shards_only",
        "channels: [modality]\nexport:\n  shards: { max_samples_per_shard: 1000 }\n",
    ),
    ("default_recipe", hounsfield_tensor::DEFAULT_RECIPE_YAML),
];

fn end_to_end(c: &mut Criterion) {
    let input = ct_series_dir();
    let mut group = c.benchmark_group("convert");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(folder_bytes(&input)));
    for (name, yaml) in RECIPES {
        let recipe = Recipe::from_yaml(yaml).expect("the bench recipe is valid");
        let output = scratch_dir();
        let options = ConvertOptions {
            inputs: vec![input.clone()],
            output: output.path().join("out"),
            recipe,
            jobs: Some(1),
            resume: false,
        };
        group.bench_function(format!("ct_6_files_1_thread/{name}"), |b| {
            b.iter(|| {
                let summary = convert(&options, |_| {}).expect("the run finishes");
                assert_eq!(summary.failed, 0, "a CT slice failed to convert");
                summary
            })
        });
    }
    group.finish();
}

criterion_group!(benches, end_to_end);
criterion_main!(benches);
