#!/usr/bin/env bash
# Builds the README's "Use it in your own axum app" example, and runs its
# "Testing your routes" test, each exactly as written, with exactly the
# manifest the README shows beside it, in a fresh crate outside the workspace
# (the library by path). CI runs it. The README's other `rust` blocks compile
# as doctests (src/lib.rs, ReadmeDoctests).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
crate=$(mktemp -d)
tested=$(mktemp -d)
trap 'rm -rf "$crate" "$tested"' EXIT

# block HEADING LANG: the first ```LANG block after the README's "## HEADING".
block() {
  awk -v heading="## $1" -v fence="\`\`\`$2" '
    index($0, heading) == 1 { in_section = 1 }
    in_section && !grab && ($0 == fence || index($0, fence ",") == 1) { grab = 1; next }
    grab && $0 == "```" { exit }
    grab { print }' README.md
}

# manifest DIR HEADING NAME: DIR/Cargo.toml from the section's toml block, the library's path filled in.
manifest() {
  local toml
  toml=$(block "$2" toml)
  grep -q '^axum-supabase = { path = "path/to/this/repo/crates/axum-supabase"' <<<"$toml" \
    || { echo "outside-example: the manifest in \"$2\" no longer names the library by path" >&2; exit 1; }
  cat >"$1/Cargo.toml" <<TOML
[package]
name = "$3"
version = "0.0.0"
edition = "2024"
publish = false

${toml//path\/to\/this\/repo/$top}

[workspace]
TOML
  # The workspace's lock pins the versions we test with; cargo drops what the crate does not use.
  cp Cargo.lock "$1/"
}

mkdir -p "$crate/src"
block "Use it in your own axum app" rust >"$crate/src/main.rs"
[ -s "$crate/src/main.rs" ] || { echo "outside-example: no rust block found in the README section" >&2; exit 1; }
manifest "$crate" "Use it in your own axum app" outside-example
CARGO_TARGET_DIR="$top/target/outside-example" cargo build --quiet --manifest-path "$crate/Cargo.toml"
echo "outside-example: the README's main.rs builds with the README's manifest alone ($(wc -l <"$crate/src/main.rs") lines)"

# The "Testing your routes" integration test, run with the README's manifest
# for it, in another fresh crate.
mkdir -p "$tested/src" "$tested/tests"
echo '//! An empty library: the test is the point.' >"$tested/src/lib.rs"
block "Testing your routes" rust >"$tested/tests/routes.rs"
[ -s "$tested/tests/routes.rs" ] || { echo "outside-example: no rust block in Testing your routes" >&2; exit 1; }
manifest "$tested" "Testing your routes" outside-test-example
out=$(CARGO_TARGET_DIR="$top/target/outside-example" cargo test --manifest-path "$tested/Cargo.toml" 2>&1) \
  || { printf '%s\n' "$out"; echo "outside-example: the README's route test failed" >&2; exit 1; }
grep -q '^test editors_get_in_and_others_get_403 ... ok$' <<<"$out" \
  || { printf '%s\n' "$out"; echo "outside-example: the README's route test did not run" >&2; exit 1; }
echo "outside-example: the README's route test runs and passes with the README's manifest alone"
