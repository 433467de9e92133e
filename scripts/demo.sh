#!/usr/bin/env bash
# A two-machine federation on this computer: a private MinIO server and the machines "alpha" and "beta", each
# syncing the set "site" in its own directory with `fedsync sync`. Shows that both trees converge, then again
# after an edit on beta and a delete on alpha. Exits 0 only if they converged.
# Everything lives in a temporary directory that is removed on exit, with MinIO stopped; KEEP=1 keeps both
# for a look around and prints how to stop MinIO afterwards.
# Usage: scripts/demo.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

bash scripts/bootstrap.sh
minio_bin="$(bash scripts/go-tool.sh minio)"

demo_dir="$(mktemp -d "${TMPDIR:-/tmp}/fedsync-demo.XXXXXX")"
minio_pid=""
cleanup() {
  local code=$?
  if [ "${KEEP:-0}" = 1 ]; then
    echo
    echo "KEEP=1: kept $demo_dir (configs: $demo_dir/alpha/fedsync.yaml, $demo_dir/beta/fedsync.yaml)"
    if [ -n "$minio_pid" ]; then
      echo "MinIO still runs as pid $minio_pid; stop it with: kill $minio_pid; rm -rf $demo_dir"
    fi
    exit "$code"
  fi
  if [ -n "$minio_pid" ]; then
    kill "$minio_pid" 2>/dev/null || true
    wait "$minio_pid" 2>/dev/null || true
  fi
  rm -rf "$demo_dir"
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { printf '\n== %s\n' "$*"; }
fail() {
  echo "demo: $*" >&2
  exit 1
}
random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
yaml_quote() { printf "'%s'" "${1//\'/\'\'}"; }

say "starting a private MinIO server"
# Two free ports at once (API and console), so they cannot come out the same.
read -r port console_port < <(node -e '
  const net = require("node:net");
  const servers = [net.createServer(), net.createServer()];
  Promise.all(servers.map((s) => new Promise((ok) => s.listen(0, "127.0.0.1", ok)))).then(() => {
    console.log(servers.map((s) => s.address().port).join(" "));
    servers.forEach((s) => s.close());
  });')
access_key="demo$(random_hex 4)"
secret_key="$(random_hex 20)"
endpoint="http://127.0.0.1:$port"
bucket="fedsync-demo"
mkdir -p "$demo_dir/minio/data"
env -i PATH="$PATH" HOME="$demo_dir/minio" \
  MINIO_ROOT_USER="$access_key" MINIO_ROOT_PASSWORD="$secret_key" \
  MINIO_BROWSER=off MINIO_UPDATE=off MINIO_CI_CD=1 \
  "$minio_bin" server "$demo_dir/minio/data" --address "127.0.0.1:$port" \
  --console-address "127.0.0.1:$console_port" --quiet >"$demo_dir/minio/server.log" 2>&1 &
minio_pid=$!

# Ready when /minio/health/live answers and does not report the server offline (it still starts up then).
# shellcheck disable=SC2016 # the template literals are JavaScript's
if ! node --input-type=module -e '
  const [endpoint, pid] = process.argv.slice(1);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      process.kill(Number(pid), 0);
    } catch {
      process.exit(1);
    }
    try {
      const response = await fetch(`${endpoint}/minio/health/live`);
      if (response.ok && response.headers.get("x-minio-server-status") !== "offline") process.exit(0);
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  process.exit(1);' "$endpoint" "$minio_pid"; then
  if [ -s "$demo_dir/minio/server.log" ]; then
    echo "MinIO's log:" >&2
    cat "$demo_dir/minio/server.log" >&2
  fi
  fail "MinIO did not start on $endpoint"
fi

DEMO_ACCESS_KEY="$access_key" DEMO_SECRET_KEY="$secret_key" node --input-type=module -e '
  import { Client } from "minio";
  const [port, bucket] = process.argv.slice(1);
  const client = new Client({
    endPoint: "127.0.0.1",
    port: Number(port),
    useSSL: false,
    accessKey: process.env.DEMO_ACCESS_KEY,
    secretKey: process.env.DEMO_SECRET_KEY,
    region: "us-east-1",
  });
  await client.makeBucket(bucket, "us-east-1");' "$port" "$bucket"
echo "MinIO on $endpoint (pid $minio_pid), bucket $bucket"

say "configuring machines alpha and beta"
secret_file="$demo_dir/secret"
(umask 077 && printf '%s\n' "$secret_key" >"$secret_file")
for machine in alpha beta; do
  mkdir -p "$demo_dir/$machine/site"
  cat >"$demo_dir/$machine/fedsync.yaml" <<EOF
machine: $machine
state_dir: $(yaml_quote "$demo_dir/$machine/state")
datastore:
  endpoint: $endpoint
  bucket: $bucket
  access_key_id: $access_key
  secret_access_key_file: $(yaml_quote "$secret_file")
sets:
  - name: site
    path: $(yaml_quote "$demo_dir/$machine/site")
EOF
done
sed 's/^/    /' "$demo_dir/alpha/fedsync.yaml"
node dist/cli.js --config "$demo_dir/alpha/fedsync.yaml" check-config

site() { echo "$demo_dir/$1/site"; }
fedsync() {
  local machine="$1"
  shift
  node "$repo/dist/cli.js" --config "$demo_dir/$machine/fedsync.yaml" "$@"
}
sync_on() {
  local machine="$1"
  echo "\$ fedsync sync        # on $machine"
  if ! fedsync "$machine" sync 2>&1 | sed "s/^/  $(printf '%-5s' "$machine") | /"; then
    fail "fedsync sync on $machine failed"
  fi
}
# One line per entry: permissions, size, path (and a symlink's target), in path order. Directory sizes depend
# on the file system's history, so they are left out.
listing() {
  (cd "$(site "$1")" && find . -mindepth 1 \( -type d -printf '%M      -  %P/\n' \) \
    -o \( -type l -printf '%M %6s  %P -> %l\n' \) -o -printf '%M %6s  %P\n') | LC_ALL=C sort -k3
}
show_trees() {
  for machine in alpha beta; do
    echo "$machine:"
    listing "$machine" | sed 's/^/    /'
  done
}
# Same entries, permissions, sizes, symlink targets and file contents on both machines.
converged() {
  diff <(listing alpha) <(listing beta) &&
    diff -r --no-dereference "$(site alpha)" "$(site beta)"
}
summary() {
  echo "$(find "$(site "$1")" -mindepth 1 ! -type d | wc -l) files, $(find "$(site "$1")" -mindepth 1 -type d | wc -l) directories"
}

say "some files on alpha, one on beta"
alpha_site="$(site alpha)"
mkdir -p "$alpha_site/css" "$alpha_site/img" "$alpha_site/docs/guide"
printf '<!doctype html>\n<title>demo</title>\n<link rel="stylesheet" href="css/site.css">\n<h1>Hello</h1>\n' \
  >"$alpha_site/index.html"
printf 'body { font-family: sans-serif; }\n' >"$alpha_site/css/site.css"
printf 'h1 { color: teal; }\n' >"$alpha_site/css/old.css"
head -c 300000 /dev/urandom >"$alpha_site/img/photo.bin"
printf '# Guide\n\nStep one.\n' >"$alpha_site/docs/guide/intro.md"
printf '#!/bin/sh\necho deployed\n' >"$alpha_site/deploy.sh"
chmod 755 "$alpha_site/deploy.sh"
ln -s index.html "$alpha_site/home.html"
mkdir -p "$(site beta)/notes"
printf 'written on beta\n' >"$(site beta)/notes/beta.txt"
show_trees

say "syncing: alpha, beta, alpha"
sync_on alpha
sync_on beta
sync_on alpha

say "both trees"
show_trees
echo
echo "\$ fedsync status      # on alpha"
fedsync alpha status

say "comparing the trees (diff -r)"
converged || fail "the trees differ after syncing"
echo "demo federation converged: $(summary alpha) on both machines"

say "edit index.html on beta, delete css/old.css on alpha"
printf '<!doctype html>\n<title>demo</title>\n<link rel="stylesheet" href="css/site.css">\n<h1>Hello from beta</h1>\n' \
  >"$(site beta)/index.html"
rm "$alpha_site/css/old.css"
sync_on beta
sync_on alpha
sync_on beta

say "both trees"
show_trees

say "comparing the trees (diff -r)"
converged || fail "the trees differ after the edit and the delete"
grep -q 'Hello from beta' "$alpha_site/index.html" || fail "beta's edit of index.html did not reach alpha"
[ ! -e "$(site beta)/css/old.css" ] || fail "alpha's delete of css/old.css did not reach beta"
echo "beta's edit reached alpha, alpha's delete reached beta"
echo "demo federation converged: $(summary alpha) on both machines"
