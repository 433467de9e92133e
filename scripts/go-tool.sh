#!/usr/bin/env bash
# Builds a pinned Go tool (the MinIO server, rclone) into a cache dir and prints its path: with `go install`,
# or, for a tool with patches, with `go build` from a patched copy of the module's source.
# A binary already in the cache is reused. Usage: scripts/go-tool.sh minio|rclone
set -euo pipefail

# Pinned versions. MinIO has no semver tags, so its pin is the module proxy's pseudo-version of a commit.
MINIO_MODULE="github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"
RCLONE_MODULE="github.com/rclone/rclone@v1.76.0"

cache_dir="${FEDSYNC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fedsync}"
patch_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/patches"

case "${1:-}" in
  minio)
    override="${MINIO_BIN:-}"
    module="$MINIO_MODULE"
    # The pinned commit never flushes streaming answers: bucket notifications would arrive late, in batches.
    patch_file="$patch_dir/flush-streaming.patch"
    ;;
  rclone)
    override="${RCLONE_BIN:-}"
    module="$RCLONE_MODULE"
    patch_file=""
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
[ -z "$patch_file" ] || target_dir="$target_dir-$(basename "$patch_file" .patch)"
binary="$target_dir/$1"
if [ ! -x "$binary" ]; then
  command -v go >/dev/null || { echo "go is required to build $1 ($module)" >&2; exit 1; }
  echo "building $module into $target_dir (once; reused afterwards)" >&2
  mkdir -p "$target_dir"
  if [ -z "$patch_file" ]; then
    GOBIN="$target_dir" GOFLAGS="-trimpath" go install "$module" >&2
  else
    source_dir="$(GOFLAGS=-mod=mod go mod download -json "$module" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    [ -d "$source_dir" ] || { echo "cannot download the source of $module" >&2; exit 1; }
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    cp -R "$source_dir/." "$work/"
    chmod -R u+w "$work"
    patch --silent --directory="$work" --strip=1 <"$patch_file"
    (cd "$work" && GOFLAGS="-trimpath -buildvcs=false" go build -o "$target_dir/.$1.$$" .) >&2
    mv -f "$target_dir/.$1.$$" "$binary"
  fi
fi
echo "$binary"
