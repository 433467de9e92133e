#!/usr/bin/env bash
# Prepares a checkout for development, tests and the demo: system packages, npm dependencies, the pinned MinIO
# server binary and the build. Safe to run again: every step that is already done is skipped, so a second run
# takes seconds.
# Usage: scripts/bootstrap.sh [--no-build]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

# Native builds (better-sqlite3, sd-notify), systemd-analyze for the unit tests, git and TLS roots; zsh and
# groff to check the generated completion script and man page; `script` (bsdutils) for the terminal test.
APT_PACKAGES=(build-essential python3 libsystemd-dev systemd git ca-certificates zsh groff-base bsdutils iproute2)

build=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    -h | --help)
      sed -n '2,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "bootstrap: unknown argument $arg (usage: scripts/bootstrap.sh [--no-build])" >&2
      exit 2
      ;;
  esac
done

step_name=""
step_start=$SECONDS
step() {
  step_name="$1"
  step_start=$SECONDS
}
done_step() {
  printf 'bootstrap: %-16s %s (%ds)\n' "$step_name" "$1" $((SECONDS - step_start))
}
die() {
  echo "bootstrap: $*" >&2
  exit 1
}

step "node"
command -v node >/dev/null || die "Node.js 20 or newer is required, and node is not on PATH"
command -v npm >/dev/null || die "npm is required, and it is not on PATH"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || die "Node.js 20 or newer is required (found $(node -v))"
done_step "$(node -v), npm $(npm -v)"

step "system packages"
if command -v dpkg-query >/dev/null; then
  missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    done_step "all present"
  elif [ "$(id -u)" -eq 0 ]; then
    echo "bootstrap: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q </dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
    done_step "installed ${missing[*]}"
  else
    echo "bootstrap: missing system packages: ${missing[*]}" >&2
    echo "bootstrap: install them as root: apt-get install ${missing[*]}" >&2
    done_step "missing, continuing without them"
  fi
else
  done_step "not a Debian system; make sure these (or their equivalents) are installed: ${APT_PACKAGES[*]}"
fi

# node-gyp builds native modules against the headers of the running node; use the ones installed beside it
# (Debian's nodejs package puts them in /usr/include/node) instead of downloading a copy.
node_prefix="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
if [ -z "${npm_config_nodedir:-}" ] && [ -f "$node_prefix/include/node/node_version.h" ]; then
  export npm_config_nodedir="$node_prefix"
fi

step "npm dependencies"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund </dev/null
  done_step "installed (npm ci)"
elif ! node -e 'new (require("better-sqlite3"))(":memory:").close()' 2>/dev/null; then
  # node_modules is current but its native module was built for another node version.
  npm rebuild better-sqlite3 </dev/null
  done_step "rebuilt better-sqlite3"
else
  done_step "up to date"
fi

step "MinIO server"
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
minio_bin="$(bash scripts/go-tool.sh minio)"
done_step "$minio_bin"

if [ "$build" -eq 1 ]; then
  step "build"
  newer=""
  if [ -f dist/cli.js ]; then
    newer="$(find src package.json tsconfig.json tsconfig.build.json -newer dist/cli.js -print -quit)"
  fi
  if [ -f dist/cli.js ] && [ -z "$newer" ]; then
    done_step "dist/ is up to date"
  else
    npm run build --silent </dev/null
    done_step "dist/cli.js built"
  fi
fi
