#!/usr/bin/env bash
# A two-machine federation on this computer: a private MinIO server and the machines "alpha" and "beta".
# First both run the agent (`fedsync run`, in the background) on the lightweight set "live": an edit on alpha
# is timed until it shows on beta, a burst of 3,000 files unpacked on alpha is counted arriving on beta, beta's
# on_change hook fires, and beta's metrics are scraped. Then the agents stop, and one-shot `fedsync sync`
# passes converge the set "site" both ways, again after an edit on beta and a delete on alpha.
# Exits 0 only if everything arrived and the trees converged. Everything lives in a temporary directory that
# is removed on exit, with the agents and MinIO stopped; KEEP=1 keeps the directory for a look around (and
# MinIO running, with how to stop it).
# Usage: scripts/demo.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

bash scripts/bootstrap.sh
minio_bin="$(bash scripts/go-tool.sh minio)"

demo_dir="$(mktemp -d "${TMPDIR:-/tmp}/fedsync-demo.XXXXXX")"
minio_pid=""
declare -A agent_pid=()
# SIGTERM, as systemd stops the agent: in-flight passes and due hooks finish, then it exits 0.
stop_agent() {
  local machine="$1" code=0
  [ -n "${agent_pid[$machine]:-}" ] || return 0
  kill -TERM "${agent_pid[$machine]}" 2>/dev/null || true
  wait "${agent_pid[$machine]}" 2>/dev/null || code=$?
  unset "agent_pid[$machine]"
  return "$code"
}
cleanup() {
  local code=$?
  for machine in "${!agent_pid[@]}"; do stop_agent "$machine" || true; done
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
# Free ports, all at once so they cannot come out the same: MinIO's API and console, the agents' metrics.
read -r port console_port alpha_metrics_port beta_metrics_port < <(node -e '
  const net = require("node:net");
  const servers = [1, 2, 3, 4].map(() => net.createServer());
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
hook_log="$demo_dir/beta/hook.log"
for machine in alpha beta; do
  mkdir -p "$demo_dir/$machine/site" "$demo_dir/$machine/live"
  metrics_port="$alpha_metrics_port"
  [ "$machine" = beta ] && metrics_port="$beta_metrics_port"
  cat >"$demo_dir/$machine/fedsync.yaml" <<EOF
machine: $machine
state_dir: $(yaml_quote "$demo_dir/$machine/state")
datastore:
  endpoint: $endpoint
  bucket: $bucket
  access_key_id: $access_key
  secret_access_key_file: $(yaml_quote "$secret_file")
metrics:
  listen: 127.0.0.1:$metrics_port
sets:
  - name: site
    path: $(yaml_quote "$demo_dir/$machine/site")
    interval: 1h
  - name: live
    path: $(yaml_quote "$demo_dir/$machine/live")
    method: lightweight
EOF
done
# beta reacts to what arrives, as a reload of nginx would: the hook gets the changed paths on stdin.
cat >>"$demo_dir/beta/fedsync.yaml" <<EOF
    on_change: |
      { echo "\$(date +%T) on_change on \$FEDSYNC_MACHINE: \$FEDSYNC_CHANGED path(s) changed in \$FEDSYNC_SET, first \$(head -n 1)"
      } | tee -a $(printf '%q' "$hook_log")
EOF
sed 's/^/    /' "$demo_dir/beta/fedsync.yaml"
node dist/cli.js --config "$demo_dir/beta/fedsync.yaml" check-config

site() { echo "$demo_dir/$1/site"; }
fedsync() {
  local machine="$1"
  shift
  node "$repo/dist/cli.js" --config "$demo_dir/$machine/fedsync.yaml" "$@"
}
sync_on() {
  local machine="$1"
  echo "\$ fedsync sync --set site        # on $machine"
  if ! fedsync "$machine" sync --set site 2>&1 | sed "s/^/  $(printf '%-5s' "$machine") | /"; then
    fail "fedsync sync on $machine failed"
  fi
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
seconds_since() { awk -v ms=$(($(now_ms) - $1)) 'BEGIN { printf "%.2f", ms / 1000 }'; }
# wait_for SECONDS WHAT COMMAND...: run COMMAND every 50 ms until it succeeds; fail after SECONDS.
wait_for() {
  local limit="$1" what="$2" started
  shift 2
  started="$(now_ms)"
  until "$@"; do
    [ $(($(now_ms) - started)) -lt $((limit * 1000)) ] || fail "no $what after ${limit}s"
    sleep 0.05
  done
}
agent_log() { echo "$demo_dir/$1/agent.log"; }
start_agent() {
  local machine="$1"
  node "$repo/dist/cli.js" --config "$demo_dir/$machine/fedsync.yaml" run >"$(agent_log "$machine")" 2>&1 &
  agent_pid[$machine]=$!
}
agent_ready() { grep -q ' ready: ' "$(agent_log "$1")"; }
files_in() { find "$1" -type f ! -name '.fedsync-tmp-*' 2>/dev/null | wc -l; }
# The sum of changed=N over beta's on_change log lines: every path its hook runs were told of.
hook_paths() { grep -o 'on_change hook ran: exit 0 .*changed=[0-9]*' "$(agent_log beta)" | sed 's/.*changed=//' | awk '{ n += $1 } END { print n + 0 }'; }
scrape() {
  node -e 'fetch(process.argv[1]).then(async (r) => { if (!r.ok) process.exit(1); process.stdout.write(await r.text()); }, () => process.exit(1))' "http://127.0.0.1:$1/metrics"
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

say "both machines run the agent: fedsync run, in the background"
for machine in alpha beta; do
  echo "\$ fedsync run        # on $machine, log in $(agent_log "$machine")"
  start_agent "$machine"
done
for machine in alpha beta; do
  wait_for 30 "ready agent on $machine" agent_ready "$machine"
  echo "$machine: $(grep -o 'fedsync .* ready: .*' "$(agent_log "$machine")")"
done

say "an edit on alpha, timed until it shows on beta"
live_alpha="$demo_dir/alpha/live"
live_beta="$demo_dir/beta/live"
printf 'Welcome. Maintenance tonight.\n' >"$live_alpha/motd.txt"
wait_for 30 "motd.txt on beta" cmp -s "$live_alpha/motd.txt" "$live_beta/motd.txt"
started="$(now_ms)"
printf 'Welcome. Maintenance moved to Friday.\n' >"$live_alpha/motd.txt"
wait_for 30 "the edit of motd.txt on beta" cmp -s "$live_alpha/motd.txt" "$live_beta/motd.txt"
echo "the edit of motd.txt on alpha reached beta in $(seconds_since "$started") s: $(cat "$live_beta/motd.txt")"

say "a burst: 3,000 files unpacked on alpha at once"
staging="$demo_dir/staging/release"
mkdir -p "$staging"
for dir in $(seq -w 1 30); do
  mkdir "$staging/module-$dir"
  for file in $(seq -w 1 100); do
    printf 'module %s, file %s\n' "$dir" "$file" >"$staging/module-$dir/page-$file.html"
  done
done
tar -C "$demo_dir/staging" -cf "$demo_dir/release.tar" release
echo "\$ tar -xf release.tar        # on alpha: $(files_in "$staging") files in 30 directories"
hook_paths_before="$(hook_paths)"
started="$(now_ms)"
tar -C "$live_alpha" -xf "$demo_dir/release.tar"
arrived() { [ "$(files_in "$live_beta/release")" -eq 3000 ]; }
wait_for 300 "3,000 files on beta" arrived
echo "$(files_in "$live_beta/release") of 3000 files arrived on beta in $(seconds_since "$started") s"
diff -r "$live_alpha/release" "$live_beta/release" >/dev/null || fail "the release differs between alpha and beta"
echo "their contents match alpha's (diff -r)"

say "beta's on_change hook fired"
# The burst is 3,031 paths: 3,000 files, release/ and its 30 directories.
hook_done() { [ "$(hook_paths)" -ge $((hook_paths_before + 3031)) ]; }
wait_for 60 "on_change run for the burst" hook_done
echo "what the hook printed, run by run (its tee to $hook_log):"
sed 's/^/  /' "$hook_log"
echo "beta's log has one line per run ($(grep -c 'on_change hook' "$(agent_log beta)") lines), the last:"
grep 'on_change hook' "$(agent_log beta)" | tail -n 1 | sed 's/^/  /'

say "beta's metrics (http://127.0.0.1:$beta_metrics_port/metrics), a few of them"
scrape "$beta_metrics_port" >"$demo_dir/beta/metrics.txt" || fail "cannot scrape beta's metrics"
grep -E '^fedsync_(transferred_files_total|passes_total|hook_runs_total|notification_stream_up|pending_changes)\{set="live"' \
  "$demo_dir/beta/metrics.txt" | grep -v ' 0$' | sed 's/^/  /' || true
grep -E '^fedsync_datastore_requests_total\{operation="(GetObject|ListObjectsV2)"' "$demo_dir/beta/metrics.txt" |
  sed 's/^/  /' || true

say "stopping both agents (SIGTERM, as systemctl stop does)"
for machine in alpha beta; do
  code=0
  stop_agent "$machine" || code=$?
  [ "$code" -eq 0 ] || fail "the agent on $machine exited $code; its log: $(agent_log "$machine")"
  echo "$machine: stopped, exit 0"
done

say "one-shot passes: fedsync sync, as a cron job would run it"
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
echo "demo finished in ${SECONDS}s"
