//! The library's shape, kept: no source file grows past 500 lines before
//! its tests, so each stays one job that a newcomer can read in one go.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_source_file_is_over_500_lines_before_its_tests() {
    let mut files = Vec::new();
    sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    assert!(files.len() > 20, "{files:?}");
    let long: Vec<(usize, &PathBuf)> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            let code = text.lines().take_while(|l| l.trim() != "#[cfg(test)]").count();
            (code, f)
        })
        .filter(|(code, _)| *code > 500)
        .collect();
    assert!(long.is_empty(), "over 500 lines before the tests: {long:?}");
}
