//! Kills a conversion with SIGKILL mid-run, resumes it, and compares the
//! output byte for byte with an uninterrupted run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hounsfield");

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/dicom")
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every file under `root` with its bytes, by relative path.
fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                let relative = entry
                    .path()
                    .strip_prefix(root)
                    .unwrap()
                    .display()
                    .to_string();
                files.insert(relative, std::fs::read(entry.path()).unwrap());
            }
        }
    }
    files
}

fn shard_count(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("shards"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|entry| entry.file_name().to_string_lossy().starts_with("shard-"))
                .count()
        })
        .unwrap_or(0)
}

fn convert(input: &Path, output: &Path, recipe: &Path, extra: &[&str]) -> std::process::Child {
    Command::new(BIN)
        .arg("convert")
        .arg(input)
        .arg("--output")
        .arg(output)
        .arg("--recipe")
        .arg(recipe)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn killed_run_resumes_to_identical_output() {
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("input");
    for copy in 0..2 {
        let target = input.join(format!("copy{copy}"));
        std::fs::create_dir_all(&target).unwrap();
        copy_tree(&fixtures().join("dcm_qa_ct"), &target);
        copy_tree(&fixtures().join("dcm_qa_nih"), &target);
        copy_tree(&fixtures().join("broken"), &target);
    }
    let recipe = work.path().join("recipe.yaml");
    std::fs::write(
        &recipe,
        "channels: [modality, {window: file}]\nexport:\n  shards: {max_samples_per_shard: 2, png: true}\n  png: {bits: 8}\n",
    )
    .unwrap();

    let reference = work.path().join("reference");
    let status = convert(&input, &reference, &recipe, &["--jobs", "2"])
        .wait()
        .unwrap();
    assert_eq!(status.code(), Some(1), "the broken fixtures fail");
    let total_shards = shard_count(&reference);
    assert!(
        total_shards >= 8,
        "only {total_shards} shards: the kill point needs more"
    );

    let killed = work.path().join("killed");
    let mut child = convert(&input, &killed, &recipe, &["--jobs", "2"]);
    let deadline = Instant::now() + Duration::from_secs(300);
    while shard_count(&killed) < total_shards / 2 {
        assert!(
            Instant::now() < deadline,
            "the run did not reach half of its shards"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert!(
        !killed.join("manifest.jsonl").exists(),
        "no final manifest after a kill"
    );

    let status = convert(&input, &killed, &recipe, &["--resume", "--jobs", "1"])
        .wait()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    let expected = snapshot(&reference);
    let resumed = snapshot(&killed);
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        resumed.keys().collect::<Vec<_>>(),
        "different file lists"
    );
    for (name, bytes) in &expected {
        assert!(resumed[name] == *bytes, "{name} differs after resume");
    }
}

#[test]
fn resume_rejects_a_changed_recipe() {
    let work = tempfile::tempdir().unwrap();
    let output = work.path().join("out");
    let first = work.path().join("first.yaml");
    let second = work.path().join("second.yaml");
    std::fs::write(&first, "channels: [modality]\n").unwrap();
    std::fs::write(&second, "channels: [modality, {window: file}]\n").unwrap();
    let input = fixtures().join("dcm_qa_ct");
    let mut child = convert(&input, &output, &first, &["--jobs", "1"]);
    let checkpoint = output.join(".hounsfield-run/checkpoint.json");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !checkpoint.exists() {
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    if output.join("manifest.jsonl").exists() {
        // The run finished before the kill; nothing is left to resume.
        return;
    }
    let result = Command::new(BIN)
        .args(["convert", "--resume", "--recipe"])
        .arg(&second)
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("recipe or the inputs differ"), "{stderr}");
}
