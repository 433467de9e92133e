import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parse, stringify } from "yaml";
import {
  ConfigError,
  formatDuration,
  loadConfig,
  parseConfigText,
  parseDuration,
  resolveConfigPath,
  type Config,
  type SetConfig,
} from "../../src/config/index.js";
import { exactDuration } from "../../src/config/duration.js";
import { resolvedConfig } from "../../src/config/resolved.js";
import { closest, editDistance } from "../../src/config/suggest.js";
import { TEMP_NAME_PREFIX } from "../../src/config/names.js";

const SECRET = "s3cr3t-Value-42";
const ENV = { FEDSYNC_SECRET_ACCESS_KEY: SECRET };
const PEM = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";

const dir = mkdtempSync(join(tmpdir(), "fedsync-config-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function writeFile(name: string, text: string, mode = 0o600): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  chmodSync(file, mode);
  return file;
}

type Doc = Record<string, unknown> & { datastore: Record<string, unknown>; sets: Record<string, unknown>[] };

function minimal(): Doc {
  return {
    datastore: { endpoint: "http://127.0.0.1:9000", bucket: "fleet-sync", access_key_id: "fedsync" },
    sets: [
      { name: "webroot", path: "/srv/www" },
      { name: "conf", path: "/etc/myapp" },
    ],
  };
}

/** The lines of the ConfigError thrown for `doc`; checks they match `issues` too. */
function problems(doc: unknown, env: NodeJS.ProcessEnv = ENV): string[] {
  const text = typeof doc === "string" ? doc : stringify(doc);
  try {
    parseConfigText(text, "/etc/fedsync/test.yaml", env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    const lines = error.message.split("\n");
    assert.deepEqual(
      lines,
      error.issues.map((issue) => `${issue.path}: ${issue.message}`),
    );
    assert.equal(error.source, "/etc/fedsync/test.yaml");
    return lines;
  }
  return assert.fail("expected a ConfigError");
}

function withChange(change: (doc: Doc) => void): Doc {
  const doc = minimal();
  change(doc);
  return doc;
}

const SET_DEFAULTS: Omit<SetConfig, "name" | "path" | "prefix"> = {
  method: "heavyweight",
  intervalMs: 120_000,
  ignore: [],
  deletions: "propagate",
  conflicts: "keep-both",
  maxDelete: 0.5,
  debounceMs: 50,
  pollIntervalMs: 2_000,
  safetyIntervalMs: 600_000,
  fullListingIntervalMs: 3_600_000,
  burstThreshold: 1000,
  keepDeleted: false,
  allowExternalSymlinks: false,
  preserveOwner: false,
  modeMask: 0o1775,
  create: false,
  hookTimeoutMs: 60_000,
  hookDebounceMs: 2_000,
};

test("a minimal config gets every default", () => {
  const config = parseConfigText(stringify(minimal()), "/etc/fedsync/fedsync.yaml", ENV);
  const expected: Config = {
    machine: hostname(),
    stateDir: "/var/lib/fedsync",
    datastore: {
      endpoint: "http://127.0.0.1:9000",
      region: "us-east-1",
      bucket: "fleet-sync",
      accessKeyId: "fedsync",
      secretAccessKey: SECRET,
    },
    sets: [
      { name: "webroot", path: "/srv/www", prefix: "webroot/", ...SET_DEFAULTS },
      { name: "conf", path: "/etc/myapp", prefix: "conf/", ...SET_DEFAULTS },
    ],
    concurrency: 16,
    offlineAfterMs: 3_600_000,
    tombstoneRetentionMs: 30 * 86_400_000,
    logRetentionMs: 86_400_000,
    historyRetentionMs: 90 * 86_400_000,
    trashRetentionMs: 30 * 86_400_000,
    clockSkewMs: 300_000,
    unmarkedDeletionDelayMs: 60_000,
    settleAfterOutageMs: 30_000,
    log: { level: "info", format: "plain" },
    source: "/etc/fedsync/fedsync.yaml",
  };
  assert.deepEqual(config, expected);
});

/** A config that sets every key; the key-coverage test below reads its keys. */
function fullYaml(secretFile: string, caFile: string): string {
  return `
machine: web-1.example
state_dir: /var/lib/fedsync-test/
datastore:
  endpoint: https://minio.internal:9000/
  region: eu-west-1
  bucket: fleet.sync-1
  access_key_id: fedsync-key
  secret_access_key_file: ${secretFile}
  ca_file: ${caFile}
sets:
  - name: webroot
    path: /var/www//html/
    method: heavyweight
    prefix: sites/webroot
    interval: 90s
    ignore: ["cache/**", "*.swp", "/build", "tmp/", "!keep.swp"]
    ignore_file: .fedsyncignore
    owner: www-data
    group: www-data
    deletions: keep
    conflicts: newest-wins
    max_delete: 25%
    debounce: 0ms
    poll_interval: 1s
    safety_interval: 1h
    full_listing_interval: 30m
    burst_threshold: 500
    keep_deleted: true
    allow_external_symlinks: true
    preserve_owner: true
    mode_mask: "0750"
    create: true
    on_change: nginx -t && systemctl reload nginx
    on_conflict: 'logger -t fedsync "conflict copies in $FEDSYNC_SET"'
    hook_timeout: 30s
    hook_debounce: 500ms
  - name: app-config
    path: /etc/myapp
    method: lightweight
    max_delete: 0.1
concurrency: 4
offline_after: 2h
tombstone_retention: 7d
log_retention: 12h
history_retention: 30d
trash_retention: 3d
clock_skew: 30s
log:
  level: debug
  format: json
metrics:
  listen: 127.0.0.1:9464
`;
}

test("a config with every key set is read and normalized", () => {
  const secretFile = writeFile("secret-full", `  ${SECRET}\n`);
  const caFile = writeFile("ca.pem", PEM, 0o644);
  const config = parseConfigText(fullYaml(secretFile, caFile), "full.yaml", {});
  const expected: Config = {
    machine: "web-1.example",
    stateDir: "/var/lib/fedsync-test",
    datastore: {
      endpoint: "https://minio.internal:9000",
      region: "eu-west-1",
      bucket: "fleet.sync-1",
      accessKeyId: "fedsync-key",
      secretAccessKey: SECRET,
      ca: PEM,
      caFile,
    },
    sets: [
      {
        name: "webroot",
        path: "/var/www/html",
        method: "heavyweight",
        prefix: "sites/webroot/",
        intervalMs: 90_000,
        ignore: ["cache/**", "*.swp", "/build", "tmp/", "!keep.swp"],
        ignoreFile: ".fedsyncignore",
        owner: "www-data",
        group: "www-data",
        deletions: "keep",
        conflicts: "newest-wins",
        maxDelete: 0.25,
        debounceMs: 0,
        pollIntervalMs: 1_000,
        safetyIntervalMs: 3_600_000,
        fullListingIntervalMs: 1_800_000,
        burstThreshold: 500,
        keepDeleted: true,
        allowExternalSymlinks: true,
        preserveOwner: true,
        modeMask: 0o750,
        create: true,
        onChange: "nginx -t && systemctl reload nginx",
        onConflict: 'logger -t fedsync "conflict copies in $FEDSYNC_SET"',
        hookTimeoutMs: 30_000,
        hookDebounceMs: 500,
      },
      {
        ...SET_DEFAULTS,
        name: "app-config",
        path: "/etc/myapp",
        method: "lightweight",
        prefix: "app-config/",
        maxDelete: 0.1,
      },
    ],
    concurrency: 4,
    offlineAfterMs: 7_200_000,
    tombstoneRetentionMs: 7 * 86_400_000,
    logRetentionMs: 12 * 3_600_000,
    historyRetentionMs: 30 * 86_400_000,
    trashRetentionMs: 3 * 86_400_000,
    clockSkewMs: 30_000,
    unmarkedDeletionDelayMs: 60_000,
    settleAfterOutageMs: 30_000,
    log: { level: "debug", format: "json" },
    metrics: { listen: "127.0.0.1:9464" },
    source: "full.yaml",
  };
  assert.deepEqual(config, expected);
});

test("resolveConfigPath prefers --config, then FEDSYNC_CONFIG, then /etc/fedsync/fedsync.yaml", () => {
  const env = { FEDSYNC_CONFIG: "/opt/fedsync.yaml" };
  assert.equal(resolveConfigPath("/srv/cli.yaml", env), "/srv/cli.yaml");
  assert.equal(resolveConfigPath(undefined, env), "/opt/fedsync.yaml");
  assert.equal(resolveConfigPath(undefined, {}), "/etc/fedsync/fedsync.yaml");
  assert.equal(resolveConfigPath("relative.yaml", {}), resolve("relative.yaml"));
});

const singleErrors: [string, (doc: Doc) => void, string][] = [
  [
    "bare number as duration",
    (d) => (d.sets[1]!.interval = 30),
    "sets[1].interval: expected a duration like 30s, 2m",
  ],
  [
    "unknown unit",
    (d) => (d.sets[1]!.interval = "2 min"),
    "sets[1].interval: expected a duration like 30s, 2m",
  ],
  ["zero interval", (d) => (d.sets[0]!.interval = "0s"), "sets[0].interval: must be longer than 0"],
  [
    "timer too long",
    (d) => (d.sets[0]!.safety_interval = "30d"),
    "sets[0].safety_interval: must be at most 24d",
  ],
  [
    "retention as number",
    (d) => (d.log_retention = 86400),
    "log_retention: expected a duration like 30s, 2m",
  ],
  ["missing bucket", (d) => delete d.datastore.bucket, "datastore.bucket: required"],
  [
    "bad bucket",
    (d) => (d.datastore.bucket = "Fleet_Sync"),
    'datastore.bucket: expected an S3 bucket name: 3 to 63 lowercase letters, digits, "." or "-"',
  ],
  ["missing access key", (d) => delete d.datastore.access_key_id, "datastore.access_key_id: required"],
  ["missing endpoint", (d) => delete d.datastore.endpoint, "datastore.endpoint: required"],
  [
    "endpoint with a path",
    (d) => (d.datastore.endpoint = "https://minio.internal:9000/bucket"),
    "datastore.endpoint: expected an http:// or https:// URL without a path, like https://minio.internal:9000",
  ],
  [
    "endpoint not http",
    (d) => (d.datastore.endpoint = "ftp://minio.internal"),
    "datastore.endpoint: expected an http:// or https:// URL without a path, like https://minio.internal:9000",
  ],
  [
    "unknown set key",
    (d) => (d.sets[0]!.intervall = "2m"),
    "sets[0].intervall: unknown key (did you mean interval?)",
  ],
  ["unknown top-level key", (d) => (d.sets_ = []), "sets_: unknown key (did you mean sets?)"],
  [
    "unknown datastore key, nothing close",
    (d) => (d.datastore.secret = "x"),
    "datastore.secret: unknown key",
  ],
  [
    "unknown datastore key, dashes for underscores",
    (d) => (d.datastore["access-key-id"] = "x"),
    "datastore.access-key-id: unknown key (did you mean access_key_id?)",
  ],
  ["unknown log key", (d) => (d.log = { levle: "debug" }), "log.levle: unknown key (did you mean level?)"],
  ["no sets", (d) => (d.sets = []), "sets: must list at least one set"],
  ["missing set path", (d) => delete d.sets[1]!.path, "sets[1].path: required"],
  ["relative set path", (d) => (d.sets[1]!.path = "etc/myapp"), "sets[1].path: must be an absolute path"],
  ["root as set path", (d) => (d.sets[1]!.path = "/"), 'sets[1].path: must not be "/"'],
  [
    "bad set name",
    (d) => (d.sets[0]!.name = "Web Root"),
    'sets[0].name: must be 1 to 63 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit',
  ],
  [
    "numeric set name",
    (d) => (d.sets[0]!.name = 2024),
    "sets[0].name: expected a string (put the value in quotes)",
  ],
  [
    "bad machine",
    (d) => (d.machine = "-web1"),
    'machine: must be 1 to 63 letters, digits, ".", "_" or "-", starting with a letter or digit',
  ],
  ["relative state_dir", (d) => (d.state_dir = "var/lib/fedsync"), "state_dir: must be an absolute path"],
  [
    "bad method",
    (d) => (d.sets[0]!.method = "fast"),
    "sets[0].method: expected one of: heavyweight, lightweight",
  ],
  [
    "bad deletions",
    (d) => (d.sets[0]!.deletions = "never"),
    "sets[0].deletions: expected one of: propagate, keep",
  ],
  ["bad boolean", (d) => (d.sets[0]!.keep_deleted = "yes"), "sets[0].keep_deleted: expected true or false"],
  ["bad create", (d) => (d.sets[0]!.create = 1), "sets[0].create: expected true or false"],
  ["ignore not a list", (d) => (d.sets[0]!.ignore = "*.tmp"), "sets[0].ignore: expected a list"],
  [
    "ignore rule with an unclosed bracket",
    (d) => (d.sets[0]!.ignore = ["ok/**", "cache/[ab"]),
    'sets[0].ignore[1]: has a "[" without a closing "]" (write "\\[" for a literal "[")',
  ],
  ["empty ignore rule", (d) => (d.sets[0]!.ignore = ["*.swp", "  "]), "sets[0].ignore[1]: must not be empty"],
  ["ignore rule of a slash", (d) => (d.sets[0]!.ignore = ["/"]), "sets[0].ignore[0]: matches nothing"],
  [
    "ignore rule that is a comment",
    (d) => (d.sets[0]!.ignore = ["# caches"]),
    'sets[0].ignore[0]: starts with "#", which makes it a comment; write "\\#" to match a name starting with "#"',
  ],
  [
    "lone negation",
    (d) => (d.sets[0]!.ignore = ["*.log", "!"]),
    'sets[0].ignore[1]: is a lone "!", which matches nothing',
  ],
  [
    "ignore rule ending in a backslash",
    (d) => (d.sets[0]!.ignore = ["name\\"]),
    'sets[0].ignore[0]: ends in a lone "\\", which matches nothing',
  ],
  [
    "unknown character class",
    (d) => (d.sets[0]!.ignore = ["[[:letter:]]*"]),
    'sets[0].ignore[0]: names an unknown character class "[:letter:]"',
  ],
  ["ignore rule of two lines", (d) => (d.sets[0]!.ignore = ["a\nb"]), "sets[0].ignore[0]: must be one line"],
  [
    "ignore_file with a slash",
    (d) => (d.sets[0]!.ignore_file = "conf/rules"),
    'sets[0].ignore_file: expected a file name at the set root (no "/", not "." or "..")',
  ],
  [
    "ignore_file of ..",
    (d) => (d.sets[0]!.ignore_file = ".."),
    'sets[0].ignore_file: expected a file name at the set root (no "/", not "." or "..")',
  ],
  [
    "ignore_file with a temporary name",
    (d) => (d.sets[0]!.ignore_file = `${TEMP_NAME_PREFIX}rules`),
    `sets[0].ignore_file: names starting with ${TEMP_NAME_PREFIX} are fedsync's own`,
  ],
  [
    "ignore_file not a string",
    (d) => (d.sets[0]!.ignore_file = true),
    "sets[0].ignore_file: expected a string (put the value in quotes)",
  ],
  [
    "max_delete over 100%",
    (d) => (d.sets[0]!.max_delete = "150%"),
    "sets[0].max_delete: expected a percentage like 50% or a fraction like 0.5 (more than 0, at most 1)",
  ],
  [
    "max_delete zero",
    (d) => (d.sets[0]!.max_delete = 0),
    "sets[0].max_delete: expected a percentage like 50% or a fraction like 0.5 (more than 0, at most 1)",
  ],
  ["concurrency zero", (d) => (d.concurrency = 0), "concurrency: expected an integer from 1 to 256"],
  ["concurrency fractional", (d) => (d.concurrency = 2.5), "concurrency: expected an integer from 1 to 256"],
  [
    "bad log level",
    (d) => (d.log = { level: "loud" }),
    "log.level: expected one of: error, warn, info, debug",
  ],
  ["metrics without listen", (d) => (d.metrics = {}), "metrics.listen: required"],
  ["empty hook", (d) => (d.sets[1]!.on_change = "  "), "sets[1].on_change: must not be empty"],
  [
    "hook not a string",
    (d) => (d.sets[0]!.on_conflict = 42),
    "sets[0].on_conflict: expected a string (put the value in quotes)",
  ],
  [
    "zero hook timeout",
    (d) => (d.sets[0]!.hook_timeout = "0s"),
    "sets[0].hook_timeout: must be longer than 0",
  ],
  [
    "hook debounce as number",
    (d) => (d.sets[1]!.hook_debounce = 2),
    "sets[1].hook_debounce: expected a duration like 30s, 2m",
  ],
  [
    "bad metrics listen",
    (d) => (d.metrics = { listen: "localhost" }),
    "metrics.listen: expected host:port, like 127.0.0.1:9464",
  ],
  [
    "reserved prefix",
    (d) => (d.sets[0]!.prefix = ".fedsync/webroot"),
    'sets[0].prefix: ".fedsync/" is reserved for fedsync\'s own records',
  ],
  [
    "reserved prefix without slash",
    (d) => (d.sets[0]!.prefix = ".fedsync"),
    'sets[0].prefix: ".fedsync/" is reserved for fedsync\'s own records',
  ],
  [
    "prefix with ..",
    (d) => (d.sets[0]!.prefix = "a/../b/"),
    'sets[0].prefix: must not contain empty, "." or ".." segments',
  ],
  [
    "prefix with a leading slash",
    (d) => (d.sets[0]!.prefix = "/webroot/"),
    'sets[0].prefix: must not contain empty, "." or ".." segments',
  ],
  [
    "empty prefix",
    (d) => (d.sets[0]!.prefix = ""),
    'sets[0].prefix: must not contain empty, "." or ".." segments',
  ],
  [
    "duplicate set name",
    (d) => d.sets.push({ name: "webroot", path: "/srv/other", prefix: "other/" }),
    'sets[2].name: duplicate set name "webroot"',
  ],
  [
    "same set path",
    (d) => (d.sets[1]!.path = "/srv/www/"),
    'sets[1].path: "/srv/www" is the same as sets[0].path "/srv/www"',
  ],
  [
    "set path inside another",
    (d) => (d.sets[1]!.path = "/srv/www/conf"),
    'sets[1].path: "/srv/www/conf" is inside sets[0].path "/srv/www"',
  ],
  [
    "set path containing another",
    (d) => (d.sets[1]!.path = "/srv"),
    'sets[1].path: "/srv" contains sets[0].path "/srv/www"',
  ],
  [
    "prefix inside another",
    (d) => (d.sets[1]!.prefix = "webroot/conf"),
    'sets[1].prefix: "webroot/conf/" is inside sets[0].prefix "webroot/"',
  ],
  [
    "same prefix",
    (d) => (d.sets[1]!.prefix = "webroot/"),
    'sets[1].prefix: "webroot/" is the same as sets[0].prefix "webroot/"',
  ],
  [
    "state_dir inside a set",
    (d) => (d.state_dir = "/srv/www/.state"),
    'state_dir: "/srv/www/.state" is inside sets[0].path "/srv/www"',
  ],
  [
    "state_dir equal to a set path",
    (d) => (d.state_dir = "/etc/myapp"),
    'state_dir: "/etc/myapp" is the same as sets[1].path "/etc/myapp"',
  ],
];

for (const [name, change, expected] of singleErrors) {
  test(`config error: ${name}`, () => {
    assert.deepEqual(problems(withChange(change)), [expected]);
  });
}

test("a hook command with a shell syntax error is refused with the shell's reason, and never run", () => {
  const marker = join(dir, "hook-ran");
  const lines = problems(
    withChange((d) => {
      d.sets[0]!.on_change = `touch ${marker}; if true; then echo`;
      d.sets[1]!.on_conflict = `touch ${marker}; echo "unterminated`;
    }),
  );
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^sets\[0\]\.on_change: shell syntax error: \S/);
  assert.match(lines[1]!, /^sets\[1\]\.on_conflict: shell syntax error: \S/);
  assert.ok(!existsSync(marker), "checking the command ran it");
});

test("similar paths and prefixes that do not overlap are accepted", () => {
  const doc = withChange((d) => {
    d.state_dir = "/srv/www-state";
    d.sets[1]!.path = "/srv/www2";
    d.sets[1]!.prefix = "webroot2";
  });
  const config = parseConfigText(stringify(doc), "ok.yaml", ENV);
  assert.deepEqual(
    config.sets.map((set) => [set.path, set.prefix]),
    [
      ["/srv/www", "webroot/"],
      ["/srv/www2", "webroot2/"],
    ],
  );
});

test("every problem is reported at once, cross-checks included", () => {
  const doc = withChange((d) => {
    delete d.datastore.bucket;
    d.sets[0]!.interval = 30;
    d.sets[0]!.intervall = "2m";
    d.sets[1]!.path = "/srv/www/conf";
    d.sets.push({ name: "webroot", path: "/data", prefix: "data", method: "fast" });
    d.concurrency = 1000;
  });
  assert.deepEqual(problems(doc).sort(), [
    "concurrency: expected an integer from 1 to 256",
    "datastore.bucket: required",
    "sets[0].interval: expected a duration like 30s, 2m",
    "sets[0].intervall: unknown key (did you mean interval?)",
    'sets[1].path: "/srv/www/conf" is inside sets[0].path "/srv/www"',
    "sets[2].method: expected one of: heavyweight, lightweight",
    'sets[2].name: duplicate set name "webroot"',
  ]);
});

test("owner and group must be accounts the system's name service knows", () => {
  const doc = withChange((d) => {
    d.sets[0]!.owner = "nosuchuser";
    d.sets[0]!.group = "nosuchgroup";
    d.sets[1]!.owner = "www-data";
    d.sets[1]!.group = "www-data";
  });
  assert.deepEqual(problems(doc), [
    'sets[0].owner: no user named "nosuchuser" on this machine',
    'sets[0].group: no group named "nosuchgroup" on this machine',
  ]);
  const config = parseConfigText(stringify(withChange((d) => (d.sets[0]!.owner = "root"))), "t.yaml", ENV);
  assert.equal(config.sets[0]!.owner, "root");
});

test("an empty file names the required keys", () => {
  assert.deepEqual(problems(""), ["datastore: required", "sets: required"]);
});

test("a document that is not a mapping is refused", () => {
  assert.deepEqual(problems("- a\n- b\n"), ["/etc/fedsync/test.yaml: expected a mapping of keys"]);
});

test("a YAML syntax error names the line and column", () => {
  const lines = problems("datastore:\n  bucket: [fleet\nsets: []\n");
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^\/etc\/fedsync\/test\.yaml:3:\d+: YAML syntax error: /);
  assert.deepEqual(problems("sets: []\nsets: []\n"), [
    "/etc/fedsync/test.yaml:2:1: YAML syntax error: Map keys must be unique",
  ]);
});

test("a missing config file is a ConfigError naming the file", () => {
  const file = join(dir, "missing.yaml");
  assert.throws(
    () => loadConfig(file, ENV),
    (error: unknown) =>
      error instanceof ConfigError && error.message === `${file}: cannot read config file (no such file)`,
  );
});

test("loadConfig reads a file and records its path", () => {
  const file = writeFile("fedsync.yaml", stringify(minimal()), 0o644);
  assert.equal(loadConfig(file, ENV).source, file);
});

test("the secret file must be private to its owner", () => {
  const file = writeFile("secret-open", `${SECRET}\n`, 0o644);
  const doc = withChange((d) => (d.datastore.secret_access_key_file = file));
  const lines = problems(doc, {});
  assert.deepEqual(lines, [
    `datastore.secret_access_key_file: ${file} is readable by group or others (chmod 600 it)`,
  ]);
  chmodSync(file, 0o640);
  assert.deepEqual(problems(doc, {}), lines);
  chmodSync(file, 0o600);
  assert.equal(parseConfigText(stringify(doc), "t.yaml", {}).datastore.secretAccessKey, SECRET);
  chmodSync(file, 0o400);
  assert.equal(parseConfigText(stringify(doc), "t.yaml", {}).datastore.secretAccessKey, SECRET);
});

test("the secret file wins over the environment", () => {
  const file = writeFile("secret-file", "from-file\n");
  const doc = withChange((d) => (d.datastore.secret_access_key_file = file));
  assert.equal(parseConfigText(stringify(doc), "t.yaml", ENV).datastore.secretAccessKey, "from-file");
});

test("the secret comes from FEDSYNC_SECRET_ACCESS_KEY when no file is named", () => {
  const config = parseConfigText(stringify(minimal()), "t.yaml", {
    FEDSYNC_SECRET_ACCESS_KEY: " env-secret\n",
  });
  assert.equal(config.datastore.secretAccessKey, "env-secret");
});

test("a missing secret is reported", () => {
  assert.deepEqual(problems(minimal(), {}), [
    "datastore.secret_access_key_file: required (or set FEDSYNC_SECRET_ACCESS_KEY)",
  ]);
  assert.deepEqual(problems(minimal(), { FEDSYNC_SECRET_ACCESS_KEY: "" }), [
    "datastore.secret_access_key_file: required (or set FEDSYNC_SECRET_ACCESS_KEY)",
  ]);
  const missing = join(dir, "no-secret");
  assert.deepEqual(
    problems(
      withChange((d) => (d.datastore.secret_access_key_file = missing)),
      {},
    ),
    [`datastore.secret_access_key_file: cannot read ${missing} (no such file)`],
  );
  const empty = writeFile("secret-empty", "\n");
  assert.deepEqual(
    problems(
      withChange((d) => (d.datastore.secret_access_key_file = empty)),
      {},
    ),
    [`datastore.secret_access_key_file: ${empty} is empty`],
  );
});

test("the secret never appears in an error", () => {
  const file = writeFile("secret-leak", `${SECRET}\n`);
  const doc = withChange((d) => {
    d.datastore.secret_access_key_file = file;
    d.sets[0]!.interval = 5;
    d.sets[1]!.path = "/srv/www";
    d.state_dir = "/srv/www/state";
  });
  try {
    parseConfigText(stringify(doc), "t.yaml", ENV);
    assert.fail("expected a ConfigError");
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.issues.length, 4);
    for (const text of [
      error.message,
      JSON.stringify(error),
      JSON.stringify(error.issues),
      String(error.stack),
    ]) {
      assert.ok(!text.includes(SECRET), text);
    }
  }
});

test("ca_file must be a readable PEM file", () => {
  const notPem = writeFile("ca.txt", "hello\n", 0o644);
  assert.deepEqual(problems(withChange((d) => (d.datastore.ca_file = notPem))), [
    `datastore.ca_file: ${notPem} does not contain a PEM certificate`,
  ]);
  const missing = join(dir, "no-ca.pem");
  assert.deepEqual(problems(withChange((d) => (d.datastore.ca_file = missing))), [
    `datastore.ca_file: cannot read ${missing} (no such file)`,
  ]);
});

test("parseDuration reads integer durations with a unit and nothing else", () => {
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("30s"), 30_000);
  assert.equal(parseDuration("2m"), 120_000);
  assert.equal(parseDuration("1h"), 3_600_000);
  assert.equal(parseDuration("30d"), 2_592_000_000);
  assert.equal(parseDuration("0s"), 0);
  for (const bad of ["30", "", "1.5h", "-1s", "2 m", "2M", "1h30m", "99999999999999999d"]) {
    assert.equal(parseDuration(bad), undefined, bad);
  }
});

test("formatDuration shows the two largest units", () => {
  assert.equal(formatDuration(0), "0ms");
  assert.equal(formatDuration(250), "250ms");
  assert.equal(formatDuration(120_000), "2m");
  assert.equal(formatDuration(183_456), "3m3s");
  assert.equal(formatDuration(90_061_000), "1d1h");
  assert.equal(formatDuration(86_460_000), "1d");
  assert.equal(formatDuration(-1500), "-1s500ms");
  for (const text of ["250ms", "30s", "2m", "1h", "30d"])
    assert.equal(formatDuration(parseDuration(text)!), text);
});

const examplePath = new URL("../../fedsync.example.yaml", import.meta.url);

test("fedsync.example.yaml is a valid config", () => {
  const config = loadConfig(examplePath.pathname, ENV);
  assert.equal(config.machine, "web1");
  assert.deepEqual(
    config.sets.map((set) => [set.name, set.method]),
    [
      ["webroot", "heavyweight"],
      ["app-config", "lightweight"],
      ["nginx", "lightweight"],
    ],
  );
  assert.equal(config.sets[2]!.onChange, "nginx -t && systemctl reload nginx");
});

/** Every key path of a YAML document, as the docs spell them: `datastore.bucket`, `sets[].interval`. */
function keyNames(value: unknown, parent = ""): string[] {
  if (Array.isArray(value)) return value.flatMap((item) => keyNames(item, `${parent}[]`));
  if (typeof value !== "object" || value === null) return [];
  return Object.entries(value).flatMap(([key, child]) => {
    const path = parent ? `${parent}.${key}` : key;
    return [path, ...keyNames(child, path)];
  });
}

test("the example and docs/configuration.md cover every key", () => {
  const keys = [...new Set(keyNames(parse(fullYaml("/s", "/c"))))];
  assert.equal(keys.length, 48);
  const example = readFileSync(examplePath, "utf8");
  const docs = readFileSync(new URL("../../docs/configuration.md", import.meta.url), "utf8");
  for (const key of keys) {
    const leaf = key.split(".").at(-1)!;
    assert.match(example, new RegExp(`^[ #-]*${leaf}:`, "m"), `example lacks ${key}`);
    const isLeaf = !keys.some((other) => other.startsWith(`${key}.`) || other.startsWith(`${key}[]`));
    if (isLeaf) assert.ok(docs.includes(`\`${key}\``), `docs lack ${key}`);
  }
});

test("a suggestion is the nearest allowed key, and only when it is close", () => {
  const keys = ["interval", "ignore", "owner", "group", "poll_interval", "max_delete"];
  assert.equal(closest("intervall", keys), "interval");
  assert.equal(closest("Interval", keys), "interval");
  assert.equal(closest("max-delete", keys), "max_delete");
  assert.equal(closest("maxDelete", keys), "max_delete");
  assert.equal(closest("grop", keys), "group");
  assert.equal(closest("ownr", keys), "owner");
  assert.equal(closest("gruop", keys), "group", "a swap is one edit");
  assert.equal(closest("x", keys), undefined);
  assert.equal(closest("schedule", keys), undefined);
  assert.equal(editDistance("kitten", "sitting"), 3);
  assert.equal(editDistance("", "abc"), 3);
  assert.equal(editDistance("levle", "level"), 1);
});

test("a refused config reads on one line for a log: the problems joined by '; '", () => {
  try {
    parseConfigText(
      stringify(withChange((d) => ((d.sets[0]!.interval = "soon"), (d.sets[0]!.debounce = "later")))),
      "t.yaml",
      ENV,
    );
    assert.fail("expected a ConfigError");
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.equal(
      error.inline(),
      "sets[0].interval: expected a duration like 30s, 2m; sets[0].debounce: expected a duration like 30s, 2m",
    );
  }
});

test("the resolved config uses the file's names and formats, reads back the same, and holds no secret", () => {
  const config = loadConfig(examplePath.pathname, ENV);
  const resolved = resolvedConfig(config);
  const text = JSON.stringify(resolved);
  assert.ok(!text.includes(SECRET));
  assert.equal(resolved.state_dir, config.stateDir);
  assert.equal(resolved.offline_after, "1h");
  assert.equal((resolved.sets as Record<string, unknown>[])[1]!.debounce, "50ms");
  assert.equal(exactDuration(90_000), "90s");
  assert.equal(exactDuration(86_400_000), "1d");
  assert.deepEqual(parseConfigText(stringify(resolved), config.source, ENV), config);
});
