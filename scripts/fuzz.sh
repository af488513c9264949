#!/usr/bin/env bash
# Fuzzes one target with cargo-fuzz (libFuzzer), then minimizes the corpus back
# into fuzz/corpus/TARGET. The corpus is stored hex-encoded (*.hex) so that no
# raw JWT-shaped strings are committed; CI replays it with `cargo test`
# (tests/api/fuzz_corpus.rs) without fuzzing.
#
# usage: scripts/fuzz.sh TARGET [MAX_RUNS] [MAX_SECONDS]     TARGET: authorization | jwks | verify
# cargo-fuzz needs unstable flags; RUSTC_BOOTSTRAP=1 provides them on the stable toolchain.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
target=${1:?usage: scripts/fuzz.sh TARGET [MAX_RUNS] [MAX_SECONDS]}
runs=${2:-10000000}
seconds=${3:-1200}
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

work="work/$target"
rm -rf "$work" && mkdir -p "$work" "corpus/$target"
python3 - "corpus/$target" "$work" decode <<'PY'
import pathlib, sys
src, dst, _ = sys.argv[1:]
for f in pathlib.Path(src).glob("*.hex"):
    (pathlib.Path(dst) / f.stem).write_bytes(bytes.fromhex(f.read_text().strip()))
PY

cargo fuzz run -O "$target" "$work" -- -runs="$runs" -max_total_time="$seconds" -max_len=8192 \
  -rss_limit_mb=2048 -print_final_stats=1 2>&1 | tee "work/$target.log" | grep -E "^#[0-9]+ +(INITED|DONE)|Done|stat::number_of_executed_units|ERROR|panicked" || true
grep -q "ERROR: libFuzzer" "work/$target.log" && { echo "crash: see fuzz/artifacts/$target" >&2; exit 1; }

minimized="work/$target-min"
rm -rf "$minimized" && mkdir -p "$minimized"
cargo fuzz cmin -O "$target" "$work" -- -max_len=8192 >/dev/null 2>&1 || true
python3 - "$work" "corpus/$target" encode <<'PY'
import hashlib, pathlib, sys
src, dst, _ = sys.argv[1:]
dst = pathlib.Path(dst)
for old in dst.glob("*.hex"):
    old.unlink()
# A small corpus is kept in the repository: at most 300 inputs, in hash order
# (a pseudo-random, stable sample when minimization leaves more).
files = sorted((hashlib.sha1(f.read_bytes()).hexdigest()[:16], f) for f in pathlib.Path(src).iterdir() if f.is_file())
for name, f in files[:300]:
    (dst / (name + ".hex")).write_text(f.read_bytes().hex() + "\n")
PY
echo "$target: corpus of $(ls "corpus/$target" | wc -l) inputs; executions: $(awk '/stat::number_of_executed_units/ {print $NF}' "work/$target.log")"
