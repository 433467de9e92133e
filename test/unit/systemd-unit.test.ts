import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Config, SetConfig } from "../../src/config/types.js";
import { renderPathsDropIn, UnitPathError } from "../../src/agent/unit.js";

const repoRoot = resolve(import.meta.dirname, "../..");
const unitText = readFileSync(join(repoRoot, "systemd/fedsync.service"), "utf8");
const analyzeMissing = spawnSync("systemd-analyze", ["--version"]).error
  ? "systemd-analyze is not installed on this machine"
  : false;
if (analyzeMissing) console.log(`# skipping systemd-analyze checks: ${analyzeMissing}`);

function analyze(...args: string[]): { status: number | null; output: string } {
  const result = spawnSync("systemd-analyze", args, { encoding: "utf8" });
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}

/**
 * A scratch copy of the unit, named fedsync.service so that systemd-analyze also reads drop-ins from the
 * fedsync.service.d/ directory beside it. ExecStart's `fedsync` is not installed where the tests run, so
 * the copy starts node instead; everything else is the shipped text.
 */
function scratchUnit(dropIn?: string): { unit: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "fedsync-unit-"));
  const unit = join(dir, "fedsync.service");
  writeFileSync(unit, unitText.replace(/^ExecStart=fedsync /m, `ExecStart=${process.execPath} `));
  if (dropIn !== undefined) {
    mkdirSync(join(dir, "fedsync.service.d"));
    writeFileSync(join(dir, "fedsync.service.d/10-paths.conf"), dropIn);
  }
  return { unit, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function setConfig(name: string, path: string): SetConfig {
  return {
    name,
    path,
    method: "heavyweight",
    prefix: `${name}/`,
    intervalMs: 120_000,
    ignore: [],
    deletions: "propagate",
    conflicts: "keep-both",
    maxDelete: 0.5,
    debounceMs: 250,
    pollIntervalMs: 2_000,
    safetyIntervalMs: 600_000,
    fullListingIntervalMs: 3_600_000,
    burstThreshold: 1_000,
    keepDeleted: false,
    allowExternalSymlinks: false,
    preserveOwner: false,
    modeMask: 0o1775,
    create: false,
    hookTimeoutMs: 60_000,
    hookDebounceMs: 2_000,
  };
}

function config(sets: SetConfig[], stateDir = "/var/lib/fedsync"): Config {
  return {
    machine: "web1",
    stateDir,
    datastore: {
      endpoint: "http://127.0.0.1:9000",
      region: "us-east-1",
      bucket: "fleet-sync",
      accessKeyId: "fedsync",
      secretAccessKey: "not-used-here",
    },
    sets,
    concurrency: 16,
    offlineAfterMs: 3_600_000,
    tombstoneRetentionMs: 30 * 86_400_000,
    logRetentionMs: 86_400_000,
    historyRetentionMs: 30 * 86_400_000,
    trashRetentionMs: 30 * 86_400_000,
    clockSkewMs: 300_000,
    unmarkedDeletionDelayMs: 60_000,
    settleAfterOutageMs: 30_000,
    log: { level: "info", format: "plain" },
    source: "/etc/fedsync/fedsync.yaml",
  };
}

test("systemd-analyze verify finds nothing wrong with the unit", { skip: analyzeMissing }, () => {
  const { unit, cleanup } = scratchUnit();
  try {
    assert.deepEqual(analyze("verify", unit), { status: 0, output: "" });
  } finally {
    cleanup();
  }
  // The shipped file itself: its only possible complaint is that `fedsync` is not installed here.
  const shipped = analyze("verify", join(repoRoot, "systemd/fedsync.service"));
  const complaints = shipped.output
    .split("\n")
    .filter((line) => line !== "" && !/fedsync\.service: Command fedsync is not executable/.test(line));
  assert.deepEqual(complaints, []);
});

test("systemd-analyze security rates the unit's exposure at 3.0 or lower", { skip: analyzeMissing }, () => {
  const { output } = analyze("security", "--offline=true", join(repoRoot, "systemd/fedsync.service"));
  const match = /Overall exposure level for fedsync\.service: (\d+(?:\.\d+)?)/.exec(output);
  assert.ok(match, output);
  const exposure = Number(match[1]);
  console.log(`# systemd-analyze security exposure: ${exposure}`);
  assert.ok(exposure <= 3.0, `exposure ${exposure} is above 3.0`);
});

test("the unit keeps the contract systemd and fedsync rely on", () => {
  const settings = new Set(unitText.split("\n").filter((line) => /^[A-Za-z]+=/.test(line)));
  for (const line of [
    "Type=notify",
    "NotifyAccess=main",
    "ExecReload=/bin/kill -HUP $MAINPID",
    "WatchdogSec=30",
    "Restart=on-failure",
    "TimeoutStopSec=30",
    "StateDirectory=fedsync",
    "StateDirectoryMode=0700",
    "ConfigurationDirectory=fedsync",
    "ProtectSystem=strict",
    "UMask=0022",
    "CapabilityBoundingSet=CAP_CHOWN CAP_FOWNER CAP_DAC_OVERRIDE",
  ]) {
    assert.ok(settings.has(line), `missing ${line}`);
  }
  assert.ok(![...settings].some((line) => line.startsWith("MemoryDenyWriteExecute=")), "V8 needs W+X memory");
});

test("the paths drop-in opens each set, quoting a path with a space", () => {
  const text = renderPathsDropIn(
    config([setConfig("webroot", "/var/www/html"), setConfig("media", "/srv/my media")]),
  );
  assert.equal(
    text,
    [
      "# Generated by `fedsync install-unit` from /etc/fedsync/fedsync.yaml.",
      "# Regenerate it after changing the sets: fedsync install-unit > /etc/systemd/system/fedsync.service.d/10-paths.conf",
      "# then: systemctl daemon-reload && systemctl restart fedsync",
      "# A leading '-' lets the service start while a directory is missing; fedsync then reports that set.",
      "[Service]",
      "# set webroot",
      'ReadWritePaths=-"/var/www/html"',
      "# set media",
      'ReadWritePaths=-"/srv/my media"',
      "",
    ].join("\n"),
  );
});

test("systemd reads the paths drop-in without a complaint", { skip: analyzeMissing }, () => {
  const awkward = config([
    setConfig("media", "/srv/my media"),
    setConfig("odd", '/srv/say "hi" at 100%Z \\ done'),
    setConfig("home", "/home/site/public"),
  ]);
  const good = scratchUnit(renderPathsDropIn(awkward));
  try {
    assert.deepEqual(analyze("verify", good.unit), { status: 0, output: "" });
  } finally {
    good.cleanup();
  }
  // systemd echoes a path it rejects, so a relative one shows how its parser read back what was written.
  const probe = 'relative "quoted" \\ back 100%Z x';
  const echo = scratchUnit(renderPathsDropIn(config([setConfig("probe", probe)])));
  try {
    assert.match(
      analyze("verify", echo.unit).output,
      new RegExp(`path is not absolute, ignoring: ${escapeRegExp(probe)}$`),
    );
  } finally {
    echo.cleanup();
  }
  // The same check does catch a path written without quoting, so the clean result above means something.
  const bad = scratchUnit("[Service]\nReadWritePaths=-/srv/my media\n");
  try {
    assert.match(analyze("verify", bad.unit).output, /ReadWritePaths= path is not absolute/);
  } finally {
    bad.cleanup();
  }
});

test("the paths drop-in covers a custom state_dir, home directories and /tmp", () => {
  const text = renderPathsDropIn(
    config(
      [setConfig("site", "/home/site/public"), setConfig("scratch", "/var/tmp/shared")],
      "/srv/fedsync-state",
    ),
  );
  const settings = text.split("\n").filter((line) => !line.startsWith("#"));
  assert.deepEqual(settings, [
    "[Service]",
    'ReadWritePaths=-"/home/site/public"',
    'ReadWritePaths=-"/var/tmp/shared"',
    'ReadWritePaths=-"/srv/fedsync-state"',
    "ProtectHome=read-only",
    "PrivateTmp=false",
    "",
  ]);
  assert.throws(() => renderPathsDropIn(config([setConfig("bad", "/srv/a\nb")])), UnitPathError);
});

test("the sysctl drop-in raises the inotify limits", () => {
  const text = readFileSync(join(repoRoot, "systemd/99-fedsync-inotify.conf"), "utf8");
  const settings = Object.fromEntries(
    text
      .split("\n")
      .filter((line) => line.trim() !== "" && !line.startsWith("#"))
      .map((line) => line.split("=").map((part) => part.trim())),
  );
  assert.deepEqual(settings, {
    "fs.inotify.max_queued_events": "1048576",
    "fs.inotify.max_user_watches": "1048576",
    "fs.inotify.max_user_instances": "1024",
  });
});
