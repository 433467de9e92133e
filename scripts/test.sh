#!/usr/bin/env bash
# The project's test command: prepares the checkout (scripts/bootstrap.sh), lints, then builds and runs every
# unit and integration test (`npm test`). With test files as arguments, runs only those after the build.
# The exit code is the tests' exit code; when the tests pass but lint failed, it is lint's.
# Usage: scripts/test.sh [test/unit/x.test.ts ...]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

section_name=""
section_start=$SECONDS
end_section() {
  if [ -n "$section_name" ]; then
    printf '==> %s: %s after %ds\n' "$section_name" "$1" $((SECONDS - section_start))
  fi
}
section() {
  section_name="$1"
  section_start=$SECONDS
  printf '\n==> %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"
}
status_text() {
  if [ "$1" -eq 0 ]; then echo "ok"; else echo "failed (exit $1)"; fi
}

section "bootstrap"
# `npm test` builds, so the bootstrap does not.
bash scripts/bootstrap.sh --no-build
end_section "ok"

section "lint"
lint_status=0
npm run lint </dev/null || lint_status=$?
end_section "$(status_text "$lint_status")"

section "build and test"
test_status=0
if [ $# -gt 0 ]; then
  { npm run build --silent </dev/null &&
    node --import tsx --test --test-concurrency=1 --test-reporter=spec "$@" </dev/null; } || test_status=$?
else
  npm test </dev/null || test_status=$?
fi
end_section "$(status_text "$test_status")"

printf '\n==> lint: %s, tests: %s, total %ds\n' \
  "$(status_text "$lint_status")" "$(status_text "$test_status")" "$SECONDS"
if [ "$test_status" -ne 0 ]; then exit "$test_status"; fi
exit "$lint_status"
