//! The workspace denies `unsafe` code (`unsafe_code = "deny"` in the root `Cargo.toml`); the
//! only exceptions are calls into kernels compiled for a CPU feature found at run time, which
//! must be allowed one by one. This test keeps that list short and reviewed: every place
//! that allows the lint is named here with its count, and every `unsafe` block carries a
//! `// SAFETY:` comment just above it. Adding one means adding it here, in review.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

/// (file, number of `unsafe` blocks allowed in it).
const ALLOWED: &[(&str, usize)] = &[
    // Flockers in AVX: the run-time dispatch of the neighbourhood sums, of the random terms
    // and of the updates, and their bit-for-bit unit tests (one block for the sums, two for
    // the random terms and updates).
    ("agents/src/behaviors/flocking.rs", 6),
    // The AVX2 ChaCha8 for eight streams, as words and as floats: the two run-time
    // dispatches and their bit-for-bit unit tests.
    ("engine/src/rng.rs", 4),
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        if path.is_dir() {
            if name != "target" && name != "node_modules" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn unsafe_code_is_only_where_it_is_listed_and_documented() {
    let root = common::repo_root();
    let mut files = Vec::new();
    for dir in ["engine", "agents", "tools", "benches", "tests"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 50, "found only {} Rust files", files.len());
    let block = concat!("unsafe", " {");
    let allow = concat!("unsafe", "_code");
    let mut found = BTreeMap::new();
    for file in &files {
        let rel = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if rel.ends_with("tests/unsafe_audit.rs") {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut blocks = 0;
        for (i, line) in lines.iter().enumerate() {
            if line.contains(block) {
                blocks += 1;
                let above = &lines[i.saturating_sub(3)..i];
                assert!(
                    above
                        .iter()
                        .any(|l| l.trim_start().starts_with("// SAFETY:")),
                    "{rel}:{}: an unsafe block without a `// SAFETY:` comment above it",
                    i + 1
                );
            }
        }
        let allows = text.matches(allow).count();
        assert!(
            allows <= blocks,
            "{rel}: allows the unsafe lint {allows} times for {blocks} unsafe blocks"
        );
        if blocks > 0 {
            found.insert(rel, blocks);
        }
    }
    let allowed: BTreeMap<String, usize> =
        ALLOWED.iter().map(|&(f, n)| (f.to_owned(), n)).collect();
    assert_eq!(
        found, allowed,
        "unsafe blocks found (left) against the reviewed list (right)"
    );
}
