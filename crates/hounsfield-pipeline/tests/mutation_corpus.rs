//! Mutation corpus: corrupted copies of real fixtures must each end as one
//! manifest entry (`ok`, `error` or `skipped`), never as a caught panic, a
//! failed run or an unbounded allocation.
//!
//! The mutants are made from the fixtures with a fixed-seed xorshift64*
//! generator, so every run converts the same bytes. The kinds are truncation,
//! bit flips, element lengths set to huge values or just past the end,
//! deleted elements, and Rows, Columns or Number of Frames set to absurd
//! values. `MUTANTS_PER_KIND` sets the count; the total is printed.
//!
//! Peak memory is read from `VmHWM` in `/proc/self/status` after resetting
//! it through `/proc/self/clear_refs` (Linux only). The tests of this file
//! share one lock, so each measures its own conversion run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hounsfield_pipeline::{convert, ConvertOptions, ManifestEntry};
use hounsfield_tensor::Recipe;
use serde_json::Value;

/// Mutants of each kind made from each fixture: 13 fixtures and 5 kinds
/// give 5,200 files. The test prints the exact count and the run time.
const MUTANTS_PER_KIND: usize = 80;

/// Fixed seed of the mutation generator.
const SEED: u64 = 0x5EED_0F0D_C04D_7E00;

/// Frame limit of the test recipe: 256 MiB of stored samples per frame.
const MAX_FRAME_BYTES: u64 = 256 << 20;

/// Growth of peak resident memory allowed while the corpus converts. The largest valid
/// mutant decodes to a few tens of MiB; one unchecked 4 GiB value buffer
/// would break this.
const MAX_PEAK_BYTES: u64 = 1 << 30;

/// Fixtures to mutate, relative to `fixtures/`.
const FIXTURES: &[&str] = &[
    "dicom/pydicom/CT_small.dcm",
    "dicom/pydicom/MR_small.dcm",
    "dicom/pydicom/MR_small_RLE.dcm",
    "dicom/pydicom/MR_small_jp2klossless.dcm",
    "dicom/pydicom/MR_small_jpeg_ls_lossless.dcm",
    "dicom/pydicom/SC_rgb_jpeg_dcmtk.dcm",
    "dicom/pydicom-data/emri_small.dcm",
    "dicom/pydicom/examples_palette.dcm",
    "synthetic/g01a_implicit_no_preamble.dcm",
    "synthetic/g09_rgb_planar_1.dcm",
    "synthetic/g11_palette.dcm",
    "synthetic/g18_padding_value.dcm",
    "synthetic/g07_two_windows.dcm",
];

/// Shards with an 8-bit PNG preview per sample. The PNG export to separate
/// files is left out because it would write the same previews again, and
/// the test already writes a few hundred MiB to the temporary folder.
const RECIPE: &str = "\
channels:
  - modality
export:
  shards: { max_samples_per_shard: 200, png: true }
input:
  max_frame_bytes: 268435456
";

static SERIAL: Mutex<()> = Mutex::new(());

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn recipe() -> Recipe {
    let recipe = Recipe::from_yaml(RECIPE).expect("test recipe");
    assert_eq!(recipe.input.max_frame_bytes, MAX_FRAME_BYTES);
    recipe
}

/// The xorshift64* generator: small, fast and deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..bound`; `bound` must be positive.
    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Syntax {
    ExplicitLittle,
    ImplicitLittle,
}

/// One element header found in a file, at any nesting depth.
#[derive(Debug, Clone, Copy)]
struct Element {
    tag: (u16, u16),
    /// Offset of the tag.
    header: usize,
    /// Offset and size (2 or 4 bytes) of the value length field.
    length_at: usize,
    length_size: usize,
    /// Offset of the value.
    value: usize,
    /// Offset after the value, or after the sequence delimiter for an
    /// undefined length.
    end: usize,
    syntax: Syntax,
}

fn u16_le(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_le(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Tells whether an explicit VR has a 4-byte length, as dicom-encoding 0.10
/// reads it: every VR but the 2-byte-length ones of PS3.5 table 7.1-2,
/// including bytes that name no VR.
fn long_length_vr(vr: &[u8]) -> bool {
    !matches!(
        vr,
        b"AE"
            | b"AS"
            | b"AT"
            | b"CS"
            | b"DA"
            | b"DS"
            | b"DT"
            | b"FL"
            | b"FD"
            | b"IS"
            | b"LO"
            | b"LT"
            | b"PN"
            | b"SH"
            | b"SL"
            | b"SS"
            | b"ST"
            | b"TM"
            | b"UI"
            | b"UL"
            | b"US"
    )
}

const UNDEFINED: u32 = 0xFFFF_FFFF;

/// Lists element headers in `[at, end)` and inside their sequence items.
/// Stops quietly at anything it cannot follow: the listing only picks
/// mutation targets, so it need not be complete.
fn list_elements(
    bytes: &[u8],
    mut at: usize,
    end: usize,
    syntax: Syntax,
    depth: usize,
    out: &mut Vec<Element>,
) -> usize {
    while at + 8 <= end && depth < 8 {
        let tag = (u16_le(bytes, at), u16_le(bytes, at + 2));
        if tag.0 == 0xFFFE {
            // An item delimiter ends the item being listed.
            return at + 8;
        }
        let (vr, length_at, length_size, value) = match syntax {
            Syntax::ImplicitLittle => (None, at + 4, 4, at + 8),
            Syntax::ExplicitLittle => {
                let vr = [bytes[at + 4], bytes[at + 5]];
                if long_length_vr(&vr) {
                    if at + 12 > end {
                        return end;
                    }
                    (Some(vr), at + 8, 4, at + 12)
                } else {
                    (Some(vr), at + 6, 2, at + 8)
                }
            }
        };
        let length = if length_size == 4 {
            u32_le(bytes, length_at)
        } else {
            u32::from(u16_le(bytes, length_at))
        };
        let mut element = Element {
            tag,
            header: at,
            length_at,
            length_size,
            value,
            end: value,
            syntax,
        };
        let index = out.len();
        out.push(element);
        let element_end = if length == UNDEFINED {
            list_items(bytes, value, end, syntax, depth + 1, out)
        } else {
            let value_end = value.saturating_add(length as usize);
            if value_end > end {
                return end;
            }
            if vr == Some(*b"SQ") {
                list_items(bytes, value, value_end, syntax, depth + 1, out);
            }
            value_end
        };
        element.end = element_end;
        out[index] = element;
        at = element_end;
    }
    at
}

/// Lists the elements inside the items of a sequence (or skips the
/// fragments of encapsulated Pixel Data) and returns the offset after it.
fn list_items(
    bytes: &[u8],
    mut at: usize,
    end: usize,
    syntax: Syntax,
    depth: usize,
    out: &mut Vec<Element>,
) -> usize {
    while at + 8 <= end {
        let tag = (u16_le(bytes, at), u16_le(bytes, at + 2));
        let length = u32_le(bytes, at + 4);
        match tag {
            (0xFFFE, 0xE0DD) => return at + 8,
            (0xFFFE, 0xE000) if length == UNDEFINED => {
                at = list_elements(bytes, at + 8, end, syntax, depth, out);
            }
            (0xFFFE, 0xE000) => {
                let item_end = (at + 8).saturating_add(length as usize).min(end);
                // Fragments of Pixel Data are not data sets; only follow
                // items whose first bytes look like an element of a group
                // below the pixel data.
                if item_end >= at + 16 && u16_le(bytes, at + 8) < 0x7FE0 {
                    list_elements(bytes, at + 8, item_end, syntax, depth, out);
                }
                at = item_end;
            }
            _ => return end,
        }
    }
    at
}

/// Finds every element header of a Part 10 file or bare data set in
/// explicit or implicit VR little endian. Other encodings give only the
/// file meta elements.
fn elements(bytes: &[u8]) -> Vec<Element> {
    let mut out = Vec::new();
    let (start, syntax) = if bytes.len() > 132 && &bytes[128..132] == b"DICM" {
        // The file meta group: explicit VR little endian, no sequences.
        let mut at = 132;
        let mut transfer_syntax = String::new();
        while at + 12 <= bytes.len() && u16_le(bytes, at) == 0x0002 {
            let long = long_length_vr(&bytes[at + 4..at + 6]);
            let (length_at, length_size, value) = if long {
                (at + 8, 4, at + 12)
            } else {
                (at + 6, 2, at + 8)
            };
            let length = if long {
                u32_le(bytes, length_at) as usize
            } else {
                usize::from(u16_le(bytes, length_at))
            };
            let end = value.saturating_add(length);
            if end > bytes.len() {
                break;
            }
            let tag = (0x0002, u16_le(bytes, at + 2));
            if tag == (0x0002, 0x0010) {
                transfer_syntax = String::from_utf8_lossy(&bytes[value..end])
                    .trim_end_matches(['\0', ' '])
                    .to_string();
            }
            out.push(Element {
                tag,
                header: at,
                length_at,
                length_size,
                value,
                end,
                syntax: Syntax::ExplicitLittle,
            });
            at = end;
        }
        let syntax = match transfer_syntax.as_str() {
            "1.2.840.10008.1.2" => Syntax::ImplicitLittle,
            "1.2.840.10008.1.2.2" | "1.2.840.10008.1.2.1.99" => return out,
            _ => Syntax::ExplicitLittle,
        };
        (at, syntax)
    } else if bytes.len() > 8 && bytes[4].is_ascii_uppercase() && bytes[5].is_ascii_uppercase() {
        (0, Syntax::ExplicitLittle)
    } else {
        (0, Syntax::ImplicitLittle)
    };
    list_elements(bytes, start, bytes.len(), syntax, 0, &mut out);
    out
}

fn write_length(bytes: &mut [u8], element: &Element, length: u32) {
    if element.length_size == 4 {
        bytes[element.length_at..element.length_at + 4].copy_from_slice(&length.to_le_bytes());
    } else {
        let short = length.min(u32::from(u16::MAX)) as u16;
        bytes[element.length_at..element.length_at + 2].copy_from_slice(&short.to_le_bytes());
    }
}

/// Replaces the value of `element` with `value` (even length), fixing its
/// length field. Lengths of enclosing items are not adjusted.
fn replace_value(bytes: &[u8], element: &Element, value: &[u8]) -> Vec<u8> {
    let mut out = bytes[..element.value].to_vec();
    out.extend_from_slice(value);
    out.extend_from_slice(&bytes[element.end..]);
    write_length(&mut out, element, value.len() as u32);
    out
}

/// Inserts Number of Frames (0028,0008) IS before `before`.
fn insert_number_of_frames(bytes: &[u8], before: &Element, value: &[u8]) -> Vec<u8> {
    let mut element = vec![0x28, 0x00, 0x08, 0x00];
    match before.syntax {
        Syntax::ExplicitLittle => {
            element.extend_from_slice(b"IS");
            element.extend_from_slice(&(value.len() as u16).to_le_bytes());
        }
        Syntax::ImplicitLittle => element.extend_from_slice(&(value.len() as u32).to_le_bytes()),
    }
    element.extend_from_slice(value);
    let mut out = bytes[..before.header].to_vec();
    out.extend_from_slice(&element);
    out.extend_from_slice(&bytes[before.header..]);
    out
}

/// Sets Rows, Columns (US) and Number of Frames (IS) of a file; `None`
/// leaves an attribute as it is. Returns `None` when the file lacks Rows or
/// Columns at the top level.
fn set_dimensions(
    bytes: &[u8],
    rows: Option<u16>,
    columns: Option<u16>,
    frames: Option<&str>,
) -> Option<Vec<u8>> {
    let mut out = bytes.to_vec();
    let find = |bytes: &[u8], tag| {
        elements(bytes)
            .into_iter()
            .find(|e| e.tag == tag && e.end - e.value == 2)
    };
    for (tag, value) in [((0x0028, 0x0010), rows), ((0x0028, 0x0011), columns)] {
        if let Some(value) = value {
            let element = find(&out, tag)?;
            out[element.value..element.value + 2].copy_from_slice(&value.to_le_bytes());
        }
    }
    if let Some(frames) = frames {
        let mut text = frames.as_bytes().to_vec();
        if text.len() % 2 == 1 {
            text.push(b' ');
        }
        let all = elements(&out);
        out = match all.iter().find(|e| e.tag == (0x0028, 0x0008)) {
            Some(element) => replace_value(&out, element, &text),
            None => {
                let rows = all.iter().find(|e| e.tag == (0x0028, 0x0010))?;
                insert_number_of_frames(&out, rows, &text)
            }
        };
    }
    Some(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Truncate,
    BitFlip,
    HugeLength,
    DeleteElement,
    Dimensions,
}

/// Makes the mutants of one fixture.
fn mutate(bytes: &[u8], rng: &mut Rng, per_kind: usize) -> Vec<(Kind, String, Vec<u8>)> {
    let mut mutants = Vec::new();
    let all = elements(bytes);

    // Truncation: at element boundaries (header, length, value, value + 1)
    // and at random offsets.
    let mut cuts: Vec<usize> = all
        .iter()
        .flat_map(|e| {
            [
                e.header,
                e.length_at,
                e.value,
                e.value + 1,
                e.end.saturating_sub(1),
            ]
        })
        .filter(|&cut| cut > 0 && cut < bytes.len())
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    for index in 0..per_kind {
        let cut = if index % 2 == 0 && !cuts.is_empty() {
            *rng.pick(&cuts)
        } else {
            1 + rng.below(bytes.len() - 1)
        };
        mutants.push((Kind::Truncate, format!("cut{cut}"), bytes[..cut].to_vec()));
    }

    // Bit flips: 1 to 4 bits, half of the mutants inside the first 2 KiB,
    // where the headers are.
    let header_region = bytes.len().min(2048);
    for index in 0..per_kind {
        let mut mutant = bytes.to_vec();
        let flips = 1 + rng.below(4);
        let mut name = String::from("flip");
        for _ in 0..flips {
            let limit = if index % 2 == 0 {
                header_region
            } else {
                bytes.len()
            };
            let at = rng.below(limit);
            let bit = rng.below(8);
            mutant[at] ^= 1 << bit;
            name.push_str(&format!("-{at}.{bit}"));
        }
        mutants.push((Kind::BitFlip, name, mutant));
    }

    // Length fields: huge, undefined, or one or two bytes past the end.
    if !all.is_empty() {
        for _ in 0..per_kind {
            let element = *rng.pick(&all);
            let past_end = (bytes.len() - element.value) as u32;
            let choices = [
                0xFFFF_FFF0,
                0x7FFF_FFFF,
                UNDEFINED,
                past_end + 1,
                past_end + 2,
                0xFFFE,
            ];
            let length = *rng.pick(&choices);
            let mut mutant = bytes.to_vec();
            write_length(&mut mutant, &element, length);
            let name = format!("len-{:04x}{:04x}-{length:x}", element.tag.0, element.tag.1);
            mutants.push((Kind::HugeLength, name, mutant));
        }
    }

    // Element deletion, at any depth; enclosing lengths are left stale.
    if !all.is_empty() {
        for _ in 0..per_kind {
            let element = *rng.pick(&all);
            let mut mutant = bytes[..element.header].to_vec();
            mutant.extend_from_slice(&bytes[element.end.min(bytes.len())..]);
            let name = format!("del-{:04x}{:04x}", element.tag.0, element.tag.1);
            mutants.push((Kind::DeleteElement, name, mutant));
        }
    }

    // Dimensions.
    let frame_counts = ["2147483647", "2147483648", "65535", "0", "-1", "2"];
    let sizes = [65535u16, 0, 1, 3];
    for index in 0..per_kind {
        let (rows, columns, frames) = match index % 4 {
            0 => (Some(*rng.pick(&sizes)), None, None),
            1 => (None, Some(*rng.pick(&sizes)), None),
            2 => (None, None, Some(*rng.pick(&frame_counts))),
            _ => (
                Some(*rng.pick(&sizes)),
                Some(*rng.pick(&sizes)),
                Some(*rng.pick(&frame_counts)),
            ),
        };
        if let Some(mutant) = set_dimensions(bytes, rows, columns, frames) {
            let name = format!("dim-{rows:?}-{columns:?}-{frames:?}").replace(['(', ')', '"'], "");
            mutants.push((Kind::Dimensions, name, mutant));
        }
    }
    mutants
}

/// Reads a `/proc/self/status` field given in KiB, as bytes.
fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The growth of this process's peak resident set size over a stretch of
/// code: `VmHWM` at the end minus `VmRSS` at the start, after `VmHWM` was
/// reset through `/proc/self/clear_refs` (Linux 4.0 or later). Memory that
/// the allocator kept from earlier tests is in `VmRSS` at the start, so it
/// does not count.
struct PeakMemory {
    start: u64,
}

impl PeakMemory {
    /// Starts a measurement, or returns `None` where Linux cannot reset the
    /// peak.
    fn start() -> Option<Self> {
        std::fs::write("/proc/self/clear_refs", "5").ok()?;
        Some(PeakMemory {
            start: status_bytes("VmRSS:")?,
        })
    }

    /// Bytes by which the peak exceeded the resident size at the start.
    fn growth(&self) -> Option<u64> {
        Some(status_bytes("VmHWM:")?.saturating_sub(self.start))
    }
}

/// Creates a temporary folder in `/dev/shm` where that exists, because the
/// corpus test writes and deletes thousands of files and tmpfs does that
/// without disk I/O.
fn temporary_folder() -> tempfile::TempDir {
    let shared_memory = Path::new("/dev/shm");
    if shared_memory.is_dir() {
        let folder = tempfile::Builder::new()
            .prefix("hounsfield-mutants-")
            .tempdir_in(shared_memory);
        if let Ok(folder) = folder {
            return folder;
        }
    }
    tempfile::tempdir().unwrap()
}

fn read_manifest(output: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(output.join("manifest.jsonl")).expect("manifest.jsonl");
    text.lines()
        .map(|line| serde_json::from_str(line).expect("manifest line is JSON"))
        .collect()
}

fn run(inputs: Vec<PathBuf>, output: &Path) -> (Vec<ManifestEntry>, Duration) {
    let options = ConvertOptions {
        inputs,
        output: output.to_path_buf(),
        recipe: recipe(),
        jobs: Some(2),
        resume: false,
    };
    let started = Instant::now();
    let mut entries = Vec::new();
    let result = convert(&options, |entry| entries.push(entry.clone()));
    let elapsed = started.elapsed();
    if let Err(error) = result {
        panic!("the run failed as a whole: {error}");
    }
    (entries, elapsed)
}

/// Members of the tar shards under `output/shards` whose sample keys are in
/// `keys` (all members when `keys` is `None`), by member name.
fn shard_members(output: &Path, keys: Option<&BTreeSet<String>>) -> BTreeMap<String, Vec<u8>> {
    let mut members = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(output.join("shards")) else {
        return members;
    };
    // The folder also contains an index of the shards, which is not a tar file.
    let mut paths: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "tar"))
        .collect();
    paths.sort();
    for path in paths {
        let bytes = std::fs::read(&path).unwrap();
        let mut at = 0;
        // ustar: a 512-byte header (name at 0, octal size at 124), the data
        // padded to 512 bytes, and two zero blocks at the end.
        while at + 512 <= bytes.len() && bytes[at] != 0 {
            let header = &bytes[at..at + 512];
            let name_end = header[..100].iter().position(|&b| b == 0).unwrap_or(100);
            let name = String::from_utf8_lossy(&header[..name_end]).into_owned();
            let size_text = String::from_utf8_lossy(&header[124..136]);
            let size =
                usize::from_str_radix(size_text.trim_matches(|c: char| c == '\0' || c == ' '), 8)
                    .expect("octal size in a tar header");
            let key = name.split('.').next().unwrap_or_default();
            if keys.is_none_or(|keys| keys.contains(key)) {
                members.insert(name, bytes[at + 512..at + 512 + size].to_vec());
            }
            at += 512 + size.div_ceil(512) * 512;
        }
    }
    members
}

/// Returns the `.npy` and `.png` members and the PNG files written for one
/// manifest entry, in order.
fn outputs_of(output: &Path, entry: &Value, members: &BTreeMap<String, Vec<u8>>) -> Vec<Vec<u8>> {
    let mut outputs = Vec::new();
    for key in entry["samples"].as_array().expect("samples") {
        let key = key.as_str().unwrap();
        for extension in ["npy", "png"] {
            let name = format!("{key}.{extension}");
            let member = members
                .get(&name)
                .unwrap_or_else(|| panic!("shard member {name} is missing"));
            outputs.push(member.clone());
        }
    }
    for png in entry["png"].as_array().expect("png") {
        outputs.push(std::fs::read(output.join(png.as_str().unwrap())).expect("PNG file"));
    }
    outputs
}

#[test]
fn mutation_corpus_converts_without_panics() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let work = temporary_folder();
    let input = work.path().join("in");
    std::fs::create_dir_all(input.join("originals")).unwrap();
    let mut rng = Rng(SEED);
    let mut counts: BTreeMap<Kind, usize> = BTreeMap::new();
    let mut mutant_paths = Vec::new();
    for (index, relative) in FIXTURES.iter().enumerate() {
        let source = fixtures().join(relative);
        let bytes =
            std::fs::read(&source).unwrap_or_else(|error| panic!("{}: {error}", source.display()));
        let stem = Path::new(relative)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let original = input
            .join("originals")
            .join(format!("{index:02}-{stem}.dcm"));
        std::fs::write(&original, &bytes).unwrap();
        let folder = input.join(format!("{index:02}-{stem}"));
        std::fs::create_dir_all(&folder).unwrap();
        for (number, (kind, name, mutant)) in mutate(&bytes, &mut rng, MUTANTS_PER_KIND)
            .into_iter()
            .enumerate()
        {
            let path = folder.join(format!("{number:04}-{name}.dcm"));
            std::fs::write(&path, mutant).unwrap();
            *counts.entry(kind).or_default() += 1;
            mutant_paths.push(path);
        }
    }
    let total: usize = counts.values().sum();
    eprintln!(
        "mutants: {total} ({counts:?}) from {} fixtures",
        FIXTURES.len()
    );
    assert!(total >= 2000, "only {total} mutants were made");

    let output = work.path().join("out");
    let memory = PeakMemory::start();
    let (entries, elapsed) = run(vec![input.clone()], &output);
    let peak = memory.as_ref().and_then(PeakMemory::growth);
    eprintln!(
        "converted {} files in {:.1} s; peak resident memory grew by {}",
        entries.len(),
        elapsed.as_secs_f64(),
        peak.map_or("an unknown amount".into(), |bytes| format!(
            "{} MiB",
            bytes >> 20
        )),
    );

    // Every input is listed exactly once, with a known status.
    let manifest = read_manifest(&output);
    assert_eq!(manifest.len(), total + FIXTURES.len(), "manifest lines");
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    let mut internal_errors = Vec::new();
    let mut unnamed = Vec::new();
    for entry in &manifest {
        let path = entry["path"].as_str().expect("path").to_string();
        *seen.entry(path.clone()).or_default() += 1;
        let status = entry["status"].as_str().expect("status").to_string();
        assert!(
            matches!(status.as_str(), "ok" | "error" | "skipped"),
            "{path}: status {status}"
        );
        *statuses.entry(status.clone()).or_default() += 1;
        if status == "error" {
            let error = entry["error"].as_str().expect("error message");
            if error.contains("internal error") {
                internal_errors.push(error.to_string());
            }
            if !error.contains(&path) {
                unnamed.push(format!("{path}: {error}"));
            }
        }
    }
    eprintln!("statuses: {statuses:?}");
    for path in &mutant_paths {
        let name = path.display().to_string();
        assert_eq!(seen.get(&name), Some(&1), "{name} must be listed once");
    }
    assert!(
        internal_errors.is_empty(),
        "caught panics:\n{}",
        internal_errors.join("\n")
    );
    assert!(
        unnamed.is_empty(),
        "errors that do not name the file:\n{}",
        unnamed.join("\n")
    );
    if let Some(peak) = peak {
        assert!(
            peak < MAX_PEAK_BYTES,
            "peak resident memory grew by {} MiB",
            peak >> 20
        );
    }

    // The originals convert to the same tensors and PNG files as alone.
    let original_names: Vec<String> = FIXTURES
        .iter()
        .enumerate()
        .map(|(index, relative)| {
            let stem = Path::new(relative)
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            input
                .join("originals")
                .join(format!("{index:02}-{stem}.dcm"))
                .display()
                .to_string()
        })
        .collect();
    let original_keys: BTreeSet<String> = manifest
        .iter()
        .filter(|entry| {
            original_names
                .iter()
                .any(|name| entry["path"] == name.as_str())
        })
        .flat_map(|entry| entry["samples"].as_array().cloned().unwrap_or_default())
        .filter_map(|key| key.as_str().map(str::to_string))
        .collect();
    let members = shard_members(&output, Some(&original_keys));
    let started = Instant::now();
    for (index, relative) in FIXTURES.iter().enumerate() {
        let stem = Path::new(relative)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let original = input
            .join("originals")
            .join(format!("{index:02}-{stem}.dcm"));
        let name = original.display().to_string();
        let in_corpus = manifest
            .iter()
            .find(|entry| entry["path"] == name.as_str())
            .unwrap();
        assert_eq!(in_corpus["status"], "ok", "{name}: {in_corpus}");
        let alone_output = work.path().join(format!("alone-{index:02}"));
        run(vec![original.clone()], &alone_output);
        let alone_manifest = read_manifest(&alone_output);
        let alone = outputs_of(
            &alone_output,
            &alone_manifest[0],
            &shard_members(&alone_output, None),
        );
        let together = outputs_of(&output, in_corpus, &members);
        assert!(!alone.is_empty(), "{name}: no outputs");
        assert!(
            alone == together,
            "{name}: outputs differ when converted among the mutants"
        );
    }
    eprintln!(
        "converted and compared the {} originals alone in {:.1} s",
        FIXTURES.len(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn absurd_dimensions_fail_fast_as_too_large() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let mut mutant_count = 0;
    for (index, relative) in FIXTURES.iter().enumerate() {
        let bytes = std::fs::read(fixtures().join(relative)).unwrap();
        for (variant, frames) in [None, Some("2147483647")].into_iter().enumerate() {
            let mutant = set_dimensions(&bytes, Some(65535), Some(65535), frames)
                .unwrap_or_else(|| panic!("{relative}: no Rows or Columns"));
            std::fs::write(input.join(format!("{index:02}-{variant}.dcm")), mutant).unwrap();
            mutant_count += 1;
        }
    }
    let output = work.path().join("out");
    let memory = PeakMemory::start();
    let (entries, elapsed) = run(vec![input], &output);
    let peak = memory.as_ref().and_then(PeakMemory::growth);
    assert_eq!(entries.len(), mutant_count);
    for entry in &entries {
        let error = entry
            .error
            .as_deref()
            .unwrap_or_else(|| panic!("{}: not an error: {entry:?}", entry.path));
        assert!(error.contains("too large"), "{error}");
        assert!(error.contains(&entry.path), "{error}");
        assert!(error.contains(&MAX_FRAME_BYTES.to_string()), "{error}");
    }
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    if let Some(peak) = peak {
        // 65535 x 65535 samples would need 4 GiB or more per frame.
        assert!(
            peak < 256 << 20,
            "peak resident memory grew by {} MiB",
            peak >> 20
        );
    }
}
