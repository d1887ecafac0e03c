//! Shard writer tests that read the output back with the `tar` crate.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use hounsfield_export::{
    encode_npy, encode_png_gray16, Error, Sample, ShardInfo, ShardOptions, ShardWriter,
};
use ndarray::{arr2, Array2};

/// One tar member as read back from a shard.
#[derive(Debug)]
struct Member {
    name: String,
    size: u64,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    username: Vec<u8>,
    groupname: Vec<u8>,
    entry_type: tar::EntryType,
    is_ustar: bool,
    data_offset: u64,
    contents: Vec<u8>,
}

fn read_members(path: &Path) -> Vec<Member> {
    let mut archive = tar::Archive::new(fs::File::open(path).unwrap());
    let mut members = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        let mut contents = Vec::new();
        let data_offset = entry.raw_file_position();
        entry.read_to_end(&mut contents).unwrap();
        members.push(Member {
            name: String::from_utf8(header.path_bytes().into_owned()).unwrap(),
            size: header.size().unwrap(),
            mode: header.mode().unwrap(),
            uid: header.uid().unwrap(),
            gid: header.gid().unwrap(),
            mtime: header.mtime().unwrap(),
            username: header.username_bytes().unwrap_or_default().to_vec(),
            groupname: header.groupname_bytes().unwrap_or_default().to_vec(),
            entry_type: header.entry_type(),
            is_ustar: header.as_ustar().is_some(),
            data_offset,
            contents,
        });
    }
    members
}

/// Lists the names in `dir`, sorted, or nothing if it does not exist.
fn dir_entries(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn options(max_samples: usize) -> ShardOptions {
    ShardOptions {
        max_samples_per_shard: max_samples,
        ..Default::default()
    }
}

/// Builds a sample with an npy, a json and a png member.
fn ct_sample(key: &str, seed: u16) -> Sample {
    let volume = Array2::from_shape_fn((3, 5), |(i, j)| f32::from(seed) + (i * 5 + j) as f32);
    let slice = Array2::from_shape_fn((4, 4), |(i, j)| seed.wrapping_mul(97) + (i * 4 + j) as u16);
    let mut sample = Sample::new(key);
    sample.push_npy("npy", volume.view()).unwrap();
    sample
        .push_json("json", &serde_json::json!({"seed": seed, "key": key}))
        .unwrap();
    sample.push_member("png", encode_png_gray16(slice.view()).unwrap());
    sample
}

fn write_run(dir: &Path, samples: &[Sample], options: ShardOptions) -> Vec<ShardInfo> {
    let mut writer = ShardWriter::new(dir, options).unwrap();
    for sample in samples {
        writer.write_sample(sample).unwrap();
    }
    writer.finish().unwrap()
}

#[test]
fn round_trip_member_order_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let samples = vec![
        ct_sample("case001_slice000", 1),
        ct_sample("case001_slice001", 2),
    ];

    let shards = write_run(dir.path(), &samples, options(10));

    assert_eq!(shards.len(), 1);
    let members = read_members(&dir.path().join("shard-000000.tar"));
    let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "case001_slice000.npy",
            "case001_slice000.json",
            "case001_slice000.png",
            "case001_slice001.npy",
            "case001_slice001.json",
            "case001_slice001.png",
        ]
    );
    let expected_contents = samples.iter().flat_map(|sample| sample.members.iter());
    for (member, (_, contents)) in members.iter().zip(expected_contents) {
        assert_eq!(&member.contents, contents, "{}", member.name);
        assert_eq!(member.size, contents.len() as u64, "{}", member.name);
        assert_eq!(member.mode, 0o644, "{}", member.name);
        assert_eq!(member.uid, 0, "{}", member.name);
        assert_eq!(member.gid, 0, "{}", member.name);
        assert_eq!(member.mtime, 0, "{}", member.name);
        assert!(member.username.is_empty(), "{}", member.name);
        assert!(member.groupname.is_empty(), "{}", member.name);
        assert_eq!(
            member.entry_type,
            tar::EntryType::Regular,
            "{}",
            member.name
        );
        assert!(member.is_ustar, "{}", member.name);
    }
}

#[test]
fn npy_data_aligned_inside_tar() {
    let dir = tempfile::tempdir().unwrap();
    let mut sample = Sample::new("aligned");
    sample.push_member("txt", b"odd length".to_vec());
    sample
        .push_npy("npy", arr2(&[[1.0f32, 2.0], [3.0, 4.0]]).view())
        .unwrap();

    write_run(dir.path(), &[sample], options(10));

    let members = read_members(&dir.path().join("shard-000000.tar"));
    let npy = &members[1];
    assert_eq!(npy.name, "aligned.npy");
    assert_eq!(npy.data_offset % 512, 0);
    let header_len = u16::from_le_bytes([npy.contents[8], npy.contents[9]]) as u64;
    assert_eq!((npy.data_offset + 10 + header_len) % 64, 0);
}

#[test]
fn shard_info_and_file_size() {
    let dir = tempfile::tempdir().unwrap();
    let samples = vec![ct_sample("a", 1), ct_sample("b", 2), ct_sample("c", 3)];

    let shards = write_run(dir.path(), &samples, options(2));

    assert_eq!(shards.len(), 2);
    assert_eq!(shards[0].index, 0);
    assert_eq!(shards[0].file_name, "shard-000000.tar");
    assert_eq!(shards[0].path, dir.path().join("shard-000000.tar"));
    assert_eq!(shards[0].sample_count, 2);
    assert_eq!(shards[0].keys, vec!["a", "b"]);
    assert_eq!(shards[1].index, 1);
    assert_eq!(shards[1].sample_count, 1);
    assert_eq!(shards[1].keys, vec!["c"]);
    for shard in &shards {
        let len = fs::metadata(&shard.path).unwrap().len();
        assert_eq!(shard.size_bytes, len, "{}", shard.file_name);
    }
}

#[test]
fn two_runs_byte_identical() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let samples: Vec<Sample> = (0..5).map(|i| ct_sample(&format!("s{i}"), i)).collect();

    let first_shards = write_run(first.path(), &samples, options(2));
    let second_shards = write_run(second.path(), &samples, options(2));

    assert_eq!(first_shards.len(), 3);
    assert_eq!(dir_entries(first.path()), dir_entries(second.path()));
    for (a, b) in first_shards.iter().zip(&second_shards) {
        assert_eq!(
            fs::read(&a.path).unwrap(),
            fs::read(&b.path).unwrap(),
            "{}",
            a.file_name
        );
    }
}

#[test]
fn rollover_at_max_samples() {
    let dir = tempfile::tempdir().unwrap();
    let samples: Vec<Sample> = (0..7).map(|i| ct_sample(&format!("k{i}"), i)).collect();

    let shards = write_run(dir.path(), &samples, options(3));

    let counts: Vec<usize> = shards.iter().map(|s| s.sample_count).collect();
    assert_eq!(counts, vec![3, 3, 1]);
    assert_eq!(
        dir_entries(dir.path()),
        vec!["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    );
    let names: Vec<String> = read_members(&dir.path().join("shard-000001.tar"))
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names[0], "k3.npy");
    assert_eq!(names[names.len() - 1], "k5.png");
}

#[test]
fn full_shard_committed_before_finish() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = ShardWriter::new(dir.path(), options(2)).unwrap();

    writer.write_sample(&ct_sample("a", 1)).unwrap();
    let temp_name = format!(".shard-000000.tar.tmp-{}", std::process::id());
    assert_eq!(dir_entries(dir.path()), vec![temp_name]);
    writer.write_sample(&ct_sample("b", 2)).unwrap();

    assert_eq!(dir_entries(dir.path()), vec!["shard-000000.tar"]);
    assert_eq!(writer.finished_shards().len(), 1);
    assert_eq!(writer.next_index(), 1);
    let shards = writer.finish().unwrap();
    assert_eq!(shards.len(), 1);
    assert_eq!(dir_entries(dir.path()), vec!["shard-000000.tar"]);
}

#[test]
fn rollover_at_max_bytes() {
    let dir = tempfile::tempdir().unwrap();
    // Each sample is one 1000-byte member: 512 header + 1024 data = 1536
    // bytes. Two samples plus the 1024-byte trailer make 4096 bytes.
    let samples: Vec<Sample> = (0..5)
        .map(|i| bin_sample(&format!("b{i}"), 1000, i))
        .collect();
    let options = ShardOptions {
        max_samples_per_shard: 100,
        max_bytes_per_shard: Some(4096),
        ..Default::default()
    };

    let shards = write_run(dir.path(), &samples, options);

    let counts: Vec<usize> = shards.iter().map(|s| s.sample_count).collect();
    assert_eq!(counts, vec![2, 2, 1]);
    for shard in &shards {
        let len = fs::metadata(&shard.path).unwrap().len();
        assert!(len <= 4096, "{} is {len} bytes", shard.file_name);
        assert_eq!(shard.size_bytes, len, "{}", shard.file_name);
    }
}

/// Builds a sample with one `bin` member of `len` copies of `byte`.
fn bin_sample(key: &str, len: usize, byte: u8) -> Sample {
    let mut sample = Sample::new(key);
    sample.push_member("bin", vec![byte; len]);
    sample
}

#[test]
fn oversized_sample_gets_own_shard() {
    let dir = tempfile::tempdir().unwrap();
    let samples = [
        bin_sample("small", 10, 1),
        bin_sample("large", 10_000, 2),
        bin_sample("tail", 10, 3),
    ];
    let options = ShardOptions {
        max_samples_per_shard: 100,
        max_bytes_per_shard: Some(4096),
        ..Default::default()
    };

    let shards = write_run(dir.path(), &samples, options);

    let keys: Vec<Vec<String>> = shards.iter().map(|s| s.keys.clone()).collect();
    assert_eq!(keys, vec![vec!["small"], vec!["large"], vec!["tail"]]);
}

#[test]
fn first_index_continues_numbering() {
    let dir = tempfile::tempdir().unwrap();
    let samples: Vec<Sample> = (0..3).map(|i| ct_sample(&format!("r{i}"), i)).collect();
    let options = ShardOptions {
        max_samples_per_shard: 2,
        first_index: 7,
        ..Default::default()
    };

    let shards = write_run(dir.path(), &samples, options);

    let indices: Vec<u64> = shards.iter().map(|s| s.index).collect();
    assert_eq!(indices, vec![7, 8]);
    assert_eq!(
        dir_entries(dir.path()),
        vec!["shard-000007.tar", "shard-000008.tar"]
    );
}

#[test]
fn custom_name_pattern() {
    let dir = tempfile::tempdir().unwrap();
    let options = ShardOptions {
        max_samples_per_shard: 1,
        name_pattern: "train-{:03}.tar".to_owned(),
        ..Default::default()
    };

    write_run(dir.path(), &[ct_sample("x", 1), ct_sample("y", 2)], options);

    assert_eq!(
        dir_entries(dir.path()),
        vec!["train-000.tar", "train-001.tar"]
    );
}

#[test]
fn empty_run_creates_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");

    let shards = write_run(&out, &[], options(10));

    assert!(shards.is_empty());
    assert!(!out.exists());
}

#[test]
fn invalid_keys_rejected_with_key_in_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = ShardWriter::new(dir.path(), options(10)).unwrap();
    let keys = [
        "",
        "case.001",
        "case/001",
        "case\\001",
        "case\u{0}001",
        "case\n001",
        "case\t001",
        "case\u{7f}001",
        "case\u{85}001",
    ];

    for key in keys {
        let mut sample = Sample::new(key);
        sample.push_member("bin", vec![0]);
        let err = writer.write_sample(&sample).unwrap_err();
        assert!(
            matches!(err, Error::InvalidKey { .. }),
            "key {key:?}: {err}"
        );
        assert!(
            err.to_string().contains(&format!("{key:?}")),
            "key {key:?}: {err}"
        );
    }
    assert!(writer.finish().unwrap().is_empty());
    assert!(dir_entries(dir.path()).is_empty());
}

#[test]
fn unicode_key_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let mut sample = Sample::new("patient-Ä_01 series 2");
    sample.push_member("json", b"{}".to_vec());

    write_run(dir.path(), &[sample], options(10));

    let members = read_members(&dir.path().join("shard-000000.tar"));
    assert_eq!(members[0].name, "patient-Ä_01 series 2.json");
}

#[test]
fn invalid_extensions_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = ShardWriter::new(dir.path(), options(10)).unwrap();
    let extensions = [
        "", ".npy", "npy.", "seg..png", "n/py", "np y", "npy\n", "__key__", "meta__", "_npy",
        "seg.-png",
    ];

    for extension in extensions {
        let mut sample = Sample::new("key");
        sample.push_member(extension, vec![0]);
        let err = writer.write_sample(&sample).unwrap_err();
        assert!(
            matches!(err, Error::InvalidExtension { .. }),
            "extension {extension:?}: {err}"
        );
    }
    drop(writer);
    assert!(dir_entries(dir.path()).is_empty());
}

#[test]
fn multi_part_extension_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let mut sample = Sample::new("k");
    sample.push_member("seg.png", vec![1]);
    sample.push_member("image.npy", vec![2]);
    sample.push_member("mask_1-final", vec![3]);

    write_run(dir.path(), &[sample], options(10));

    let names: Vec<String> = read_members(&dir.path().join("shard-000000.tar"))
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, vec!["k.seg.png", "k.image.npy", "k.mask_1-final"]);
}

#[test]
fn repeated_extension_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = ShardWriter::new(dir.path(), options(10)).unwrap();
    let mut sample = Sample::new("k");
    sample.push_member("png", vec![1]);
    sample.push_member("PNG", vec![2]);

    let err = writer.write_sample(&sample).unwrap_err();

    assert!(matches!(err, Error::InvalidExtension { .. }), "{err}");
}

#[test]
fn empty_sample_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = ShardWriter::new(dir.path(), options(10)).unwrap();

    let err = writer.write_sample(&Sample::new("lonely")).unwrap_err();

    assert!(matches!(err, Error::EmptySample { .. }), "{err}");
}

#[test]
fn long_member_name_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = ShardWriter::new(dir.path(), options(10)).unwrap();
    let key = "k".repeat(96);
    let mut fits = Sample::new(key.clone());
    fits.push_member("npy", vec![1]);
    let mut too_long = Sample::new(key);
    too_long.push_member("json", vec![1]);

    let err = writer.write_sample(&too_long).unwrap_err();
    writer.write_sample(&fits).unwrap();

    assert!(matches!(err, Error::InvalidKey { .. }), "{err}");
    assert!(err.to_string().contains("101 bytes"), "{err}");
    let shards = writer.finish().unwrap();
    let members = read_members(&shards[0].path);
    assert_eq!(members[0].name.len(), 100);
}

#[test]
fn duplicate_key_rejected_across_shards() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = ShardWriter::new(dir.path(), options(1)).unwrap();
    writer.write_sample(&ct_sample("same", 1)).unwrap();
    writer.write_sample(&ct_sample("other", 2)).unwrap();

    let err = writer.write_sample(&ct_sample("same", 3)).unwrap_err();

    assert!(matches!(err, Error::DuplicateKey { .. }), "{err}");
    assert!(err.to_string().contains("shard-000000.tar"), "{err}");
    assert_eq!(writer.finish().unwrap().len(), 2);
}

#[test]
fn validation_error_keeps_writer_usable() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = ShardWriter::new(dir.path(), options(10)).unwrap();
    writer.write_sample(&ct_sample("good1", 1)).unwrap();

    assert!(writer.write_sample(&ct_sample("bad.key", 2)).is_err());
    writer.write_sample(&ct_sample("good2", 3)).unwrap();
    let shards = writer.finish().unwrap();

    assert_eq!(shards[0].keys, vec!["good1", "good2"]);
}

#[test]
fn drop_without_finish_leaves_no_partial_shard() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = ShardWriter::new(dir.path(), options(2)).unwrap();
    for i in 0..3 {
        writer
            .write_sample(&ct_sample(&format!("d{i}"), i))
            .unwrap();
    }
    assert_eq!(dir_entries(dir.path()).len(), 2);

    drop(writer);

    assert_eq!(dir_entries(dir.path()), vec!["shard-000000.tar"]);
}

#[test]
fn commit_error_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let options = ShardOptions {
        max_samples_per_shard: 2,
        overwrite: false,
        ..Default::default()
    };
    let mut writer = ShardWriter::new(dir.path(), options).unwrap();
    writer.write_sample(&ct_sample("a", 1)).unwrap();
    // Another process creates the final name while the shard is open.
    let final_path: PathBuf = dir.path().join("shard-000000.tar");
    fs::write(&final_path, b"not ours").unwrap();

    let err = writer.write_sample(&ct_sample("b", 2)).unwrap_err();

    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert_eq!(dir_entries(dir.path()), vec!["shard-000000.tar"]);
    assert_eq!(fs::read(&final_path).unwrap(), b"not ours");
    let err = writer.write_sample(&ct_sample("c", 3)).unwrap_err();
    assert!(matches!(err, Error::ShardWriterFailed { .. }), "{err}");
    let err = writer.finish().unwrap_err();
    assert!(matches!(err, Error::ShardWriterFailed { .. }), "{err}");
    assert_eq!(dir_entries(dir.path()), vec!["shard-000000.tar"]);
}

#[test]
fn existing_shard_rejected_without_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("shard-000000.tar"), b"old").unwrap();
    let options = ShardOptions {
        overwrite: false,
        ..Default::default()
    };
    let mut writer = ShardWriter::new(dir.path(), options).unwrap();

    let err = writer.write_sample(&ct_sample("a", 1)).unwrap_err();

    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert_eq!(dir_entries(dir.path()), vec!["shard-000000.tar"]);
}

#[test]
fn existing_shard_replaced_by_default() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("shard-000000.tar"), b"old").unwrap();

    let shards = write_run(dir.path(), &[ct_sample("a", 1)], options(10));

    assert_eq!(read_members(&shards[0].path).len(), 3);
}

#[test]
fn invalid_options_rejected() {
    let zero_samples = ShardOptions {
        max_samples_per_shard: 0,
        ..Default::default()
    };
    let zero_bytes = ShardOptions {
        max_bytes_per_shard: Some(0),
        ..Default::default()
    };
    let bad_pattern = ShardOptions {
        name_pattern: "shard.tar".to_owned(),
        ..Default::default()
    };

    let results = [
        ShardWriter::new("unused", zero_samples),
        ShardWriter::new("unused", zero_bytes),
        ShardWriter::new("unused", bad_pattern),
    ];

    assert!(matches!(results[0], Err(Error::InvalidShardOptions { .. })));
    assert!(matches!(results[1], Err(Error::InvalidShardOptions { .. })));
    assert!(matches!(results[2], Err(Error::InvalidNamePattern { .. })));
}

#[test]
fn npy_member_matches_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let array = arr2(&[[1u16, 2], [3, 4]]);
    let mut sample = Sample::new("n");
    sample.push_npy("npy", array.t()).unwrap();

    write_run(dir.path(), &[sample], options(10));

    let members = read_members(&dir.path().join("shard-000000.tar"));
    assert_eq!(members[0].contents, encode_npy(array.t()).unwrap());
}
