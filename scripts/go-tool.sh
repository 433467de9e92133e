#!/usr/bin/env bash
# Builds a pinned Go tool (the MinIO server, rclone) with `go install` into a cache dir and prints its path.
# A binary already in the cache is reused. Usage: scripts/go-tool.sh minio|rclone
set -euo pipefail

# Pinned versions. MinIO has no semver tags, so its pin is the module proxy's pseudo-version of a commit.
MINIO_MODULE="github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"
RCLONE_MODULE="github.com/rclone/rclone@v1.76.0"

cache_dir="${FEDSYNC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fedsync}"

case "${1:-}" in
  minio)
    override="${MINIO_BIN:-}"
    module="$MINIO_MODULE"
    ;;
  rclone)
    override="${RCLONE_BIN:-}"
    module="$RCLONE_MODULE"
    ;;
  *)
    echo "usage: $0 minio|rclone" >&2
    exit 2
    ;;
esac

if [ -n "$override" ]; then
  [ -x "$override" ] || { echo "$1 binary $override is not executable" >&2; exit 1; }
  echo "$override"
  exit 0
fi

version="${module#*@}"
target_dir="$cache_dir/$1-$version"
binary="$target_dir/$1"
if [ ! -x "$binary" ]; then
  command -v go >/dev/null || { echo "go is required to build $1 ($module)" >&2; exit 1; }
  echo "building $module into $target_dir (once; reused afterwards)" >&2
  mkdir -p "$target_dir"
  GOBIN="$target_dir" GOFLAGS="-trimpath" go install "$module" >&2
fi
echo "$binary"
