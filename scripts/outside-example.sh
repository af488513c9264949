#!/usr/bin/env bash
# Builds the README's "Use it in your own axum app" example exactly as written,
# in a fresh crate outside the workspace whose only dependencies are the
# library (by path, feature postgres), axum 0.8 and tokio with `full`; and the
# "Data under RLS" handlers as a module of it. CI runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
crate=$(mktemp -d)
trap 'rm -rf "$crate"' EXIT
mkdir -p "$crate/src"
# The first ```rust block after the section's heading.
awk '/^## Use it in your own axum app/ { in_section = 1 }
     in_section && /^```rust$/ { grab = 1; next }
     grab && /^```$/ { exit }
     grab { print }' README.md >"$crate/src/main.rs"
[ -s "$crate/src/main.rs" ] || { echo "outside-example: no rust block found in the README section" >&2; exit 1; }
# And the "Data under RLS" handlers, as a module of the same crate (feature postgres).
awk '/^## Data under RLS/ { in_section = 1 }
     in_section && /^```rust$/ { grab = 1; next }
     grab && /^```$/ { exit }
     grab { print }' README.md >"$crate/src/rls.rs"
[ -s "$crate/src/rls.rs" ] || { echo "outside-example: no rust block in Data under RLS" >&2; exit 1; }
printf '\n#[allow(dead_code)]\nmod rls;\n' >>"$crate/src/main.rs"
cat >"$crate/Cargo.toml" <<TOML
[package]
name = "outside-example"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
axum-supabase = { path = "$top/crates/axum-supabase", features = ["postgres"] }
axum = "0.8"
tokio = { version = "1", features = ["full"] }

[workspace]
TOML
# The workspace's lock pins the versions we test with; cargo drops what this crate does not use.
cp Cargo.lock "$crate/"
CARGO_TARGET_DIR="$top/target/outside-example" cargo build --quiet --manifest-path "$crate/Cargo.toml"
echo "outside-example: the README's main.rs and RLS handlers build against axum-supabase, axum and tokio alone ($(wc -l <"$crate/src/main.rs") + $(wc -l <"$crate/src/rls.rs") lines)"
