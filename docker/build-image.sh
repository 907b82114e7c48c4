#!/usr/bin/env bash
# Builds the static `smart` binary and the `smart:dev` image from it (after
# the base images exist: docker/prepare-images.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target "$target" --bin smart
bin="target/$target/release/smart"
# Static: no interpreter, no shared libraries.
if ldd "$bin" 2>&1 | grep -q '=>'; then
    echo "error: $bin is not static" >&2
    exit 1
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$bin" "$ctx/smart"
strip "$ctx/smart" 2>/dev/null || true
DOCKER_BUILDKIT=0 docker build -q -f docker/Dockerfile -t smart:dev "$ctx"
echo "built smart:dev from $bin"
