#!/usr/bin/env bash
# Builds the README's "Use it in your own axum app" example exactly as written,
# with exactly the manifest the README shows under it, in a fresh crate
# outside the workspace (the library by path). CI runs it. The README's other
# `rust` blocks compile as doctests (src/lib.rs, ReadmeDoctests).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
crate=$(mktemp -d)
trap 'rm -rf "$crate"' EXIT
mkdir -p "$crate/src"
# The first ```rust block after the section's heading.
awk '/^## Use it in your own axum app/ { in_section = 1 }
     in_section && /^```rust/ { grab = 1; next }
     grab && /^```$/ { exit }
     grab { print }' README.md >"$crate/src/main.rs"
[ -s "$crate/src/main.rs" ] || { echo "outside-example: no rust block found in the README section" >&2; exit 1; }
# The manifest is the README's own toml block in that section, the library's path filled in.
manifest=$(awk '/^## Use it in your own axum app/ { in_section = 1 }
     in_section && /^```toml$/ { grab = 1; next }
     grab && /^```$/ { exit }
     grab { print }' README.md)
grep -q '^axum-supabase = { path = "path/to/this/repo/crates/axum-supabase" }$' <<<"$manifest" \
  || { echo "outside-example: the README's manifest no longer names the library by path" >&2; exit 1; }
cat >"$crate/Cargo.toml" <<TOML
[package]
name = "outside-example"
version = "0.0.0"
edition = "2024"
publish = false

${manifest//path\/to\/this\/repo/$top}

[workspace]
TOML
# The workspace's lock pins the versions we test with; cargo drops what this crate does not use.
cp Cargo.lock "$crate/"
CARGO_TARGET_DIR="$top/target/outside-example" cargo build --quiet --manifest-path "$crate/Cargo.toml"
echo "outside-example: the README's main.rs builds with the README's manifest alone ($(wc -l <"$crate/src/main.rs") lines)"
