import { hostname } from "node:os";
import { posix } from "node:path";
import * as z from "zod";
import { accountProblem, type AccountDatabase } from "./accounts.js";
import { parseDuration } from "./duration.js";
import { readPemFile, readSecretFile, resolvedPath } from "./files.js";
import { configIgnoreRuleProblem } from "./ignore-rule.js";
import {
  ACCOUNT_NAME,
  MACHINE_NAME,
  MACHINE_NAME_RULE,
  RESERVED_PREFIX,
  SET_NAME,
  TEMP_NAME_PREFIX,
} from "./names.js";
import { hookCommandProblem } from "./shell.js";
import type { Config, DatastoreConfig, SetConfig } from "./types.js";

export const SECRET_ENV = "FEDSYNC_SECRET_ACCESS_KEY";

/** Timers above 2^31-1 ms fire at once in Node, so timer durations stop at a round 24 days. */
const MAX_TIMER_MS = 24 * 86_400_000;
const DURATION_ERROR = "expected a duration like 30s, 2m";
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const LISTEN = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;
const PERCENT = /^(\d+(?:\.\d+)?)%$/;
/** The longest file name Linux allows. */
const MAX_NAME_BYTES = 255;

/** Messages for the issues zod raises by itself; messages given in the schema take precedence. */
export const baseMessages: z.core.$ZodErrorMap = (issue) => {
  if (issue.code === "invalid_value") return `expected one of: ${issue.values.map(String).join(", ")}`;
  if (issue.code !== "invalid_type") return undefined;
  if (issue.input === undefined) return "required";
  switch (issue.expected) {
    case "string":
      return typeof issue.input === "number" || typeof issue.input === "boolean"
        ? "expected a string (put the value in quotes)"
        : "expected a string";
    case "object":
      return "expected a mapping of keys";
    case "array":
      return "expected a list";
    case "boolean":
      return "expected true or false";
    default:
      return `expected ${issue.expected}`;
  }
};

function invalid(ctx: z.core.$RefinementCtx, message: string): never {
  ctx.addIssue({ code: "custom", message });
  return z.NEVER;
}

function normalizeAbsolute(text: string, ctx: z.core.$RefinementCtx): string {
  if (!posix.isAbsolute(text) || text.includes("\0")) return invalid(ctx, "must be an absolute path");
  const normal = posix.normalize(text);
  return normal.length > 1 && normal.endsWith("/") ? normal.slice(0, -1) : normal;
}

const absolutePath = z.string().transform(normalizeAbsolute);

function duration(fallback: string, { allowZero = false, timer = false } = {}) {
  return z
    .string({ error: DURATION_ERROR })
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined) return invalid(ctx, DURATION_ERROR);
      if (ms === 0 && !allowZero) return invalid(ctx, "must be longer than 0");
      if (timer && ms > MAX_TIMER_MS) return invalid(ctx, "must be at most 24d");
      return ms;
    })
    .prefault(fallback);
}

function integer(min: number, max: number, fallback: number) {
  const error = `expected an integer from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error }).prefault(fallback);
}

const prefix = z.string().transform((text, ctx) => {
  const withSlash = text.endsWith("/") ? text : `${text}/`;
  if (withSlash.startsWith(RESERVED_PREFIX)) {
    return invalid(ctx, `"${RESERVED_PREFIX}" is reserved for fedsync's own records`);
  }
  const segments = withSlash.slice(0, -1).split("/");
  if (segments.some((segment) => segment === "" || segment === "." || segment === "..")) {
    return invalid(ctx, 'must not contain empty, "." or ".." segments');
  }
  if (withSlash.includes("\0")) return invalid(ctx, "must not contain NUL");
  return withSlash;
});

/** One ignore rule, in gitignore syntax; a rule git would read as a comment or as matching nothing is refused. */
const ignoreRule = z.string().transform((rule, ctx) => {
  const problem = configIgnoreRuleProblem(rule);
  return problem === undefined ? rule : invalid(ctx, problem);
});

/** The ignore file: a plain name at the set root. */
const ignoreFile = z.string().transform((name, ctx) => {
  if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0")) {
    return invalid(ctx, 'expected a file name at the set root (no "/", not "." or "..")');
  }
  if (Buffer.byteLength(name, "utf8") > MAX_NAME_BYTES)
    return invalid(ctx, `longer than ${MAX_NAME_BYTES} bytes`);
  if (name.startsWith(TEMP_NAME_PREFIX))
    return invalid(ctx, `names starting with ${TEMP_NAME_PREFIX} are fedsync's own`);
  return name;
});

const MODE_MASK_ERROR = 'expected permission bits in octal, in quotes, like "0775"';

/** The permission bits a mode from the bucket may keep; setuid and setgid never travel. */
const modeMask = z
  .string({ error: MODE_MASK_ERROR })
  .transform((text, ctx) =>
    /^0?[0-7]{3,4}$/.test(text) ? parseInt(text, 8) & 0o1777 : invalid(ctx, MODE_MASK_ERROR),
  )
  .prefault("1775");

const maxDelete = z
  .unknown()
  .transform((value, ctx) => {
    const percent = typeof value === "string" ? PERCENT.exec(value) : null;
    const fraction = percent ? Number(percent[1]) / 100 : typeof value === "number" ? value : NaN;
    return fraction > 0 && fraction <= 1
      ? fraction
      : invalid(ctx, "expected a percentage like 50% or a fraction like 0.5 (more than 0, at most 1)");
  })
  .prefault(0.5);

const endpoint = z.string().transform((text, ctx) => {
  const url = URL.canParse(text) ? new URL(text) : undefined;
  const plain = url && url.pathname === "/" && !url.search && !url.hash && !url.username && !url.password;
  if (!url || !plain || (url.protocol !== "http:" && url.protocol !== "https:")) {
    return invalid(
      ctx,
      "expected an http:// or https:// URL without a path, like https://minio.internal:9000",
    );
  }
  return url.origin;
});

const bucket = z.string().transform((name, ctx) => {
  const ipLike = /^\d+\.\d+\.\d+\.\d+$/.test(name);
  return BUCKET.test(name) && !name.includes("..") && !ipLike
    ? name
    : invalid(ctx, 'expected an S3 bucket name: 3 to 63 lowercase letters, digits, "." or "-"');
});

const listen = z.string().transform((text, ctx) => {
  const port = Number(LISTEN.exec(text)?.[2]);
  return port >= 1 && port <= 65535 ? text : invalid(ctx, "expected host:port, like 127.0.0.1:9464");
});

const hookCommand = z.string().transform((command, ctx) => {
  const problem = hookCommandProblem(command);
  return problem === undefined ? command : invalid(ctx, problem);
});
/** A user or group name the system's name service knows (files, LDAP, sssd...), as getent finds it. */
function knownAccount(database: AccountDatabase) {
  return (name: string, ctx: z.core.$RefinementCtx) => {
    const problem = accountProblem(database, name);
    return problem === undefined ? name : invalid(ctx, problem);
  };
}

const setSchema = z
  .strictObject({
    name: z.string().regex(SET_NAME, {
      error: 'must be 1 to 63 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit',
    }),
    path: absolutePath.transform((path, ctx) => (path === "/" ? invalid(ctx, 'must not be "/"') : path)),
    method: z.enum(["heavyweight", "lightweight"]).prefault("heavyweight"),
    prefix: prefix.optional(),
    interval: duration("2m", { timer: true }),
    ignore: z.array(ignoreRule).prefault([]),
    ignore_file: ignoreFile.optional(),
    owner: z
      .string()
      .regex(ACCOUNT_NAME, { error: "expected a user name" })
      .transform(knownAccount("passwd"))
      .optional(),
    group: z
      .string()
      .regex(ACCOUNT_NAME, { error: "expected a group name" })
      .transform(knownAccount("group"))
      .optional(),
    preserve_owner: z.boolean().prefault(false),
    mode_mask: modeMask,
    deletions: z.enum(["propagate", "keep"]).prefault("propagate"),
    conflicts: z.enum(["keep-both", "newest-wins"]).prefault("keep-both"),
    max_delete: maxDelete,
    debounce: duration("50ms", { allowZero: true, timer: true }),
    poll_interval: duration("2s", { timer: true }),
    safety_interval: duration("10m", { timer: true }),
    full_listing_interval: duration("1h"),
    burst_threshold: integer(1, 1_000_000, 1000),
    keep_deleted: z.boolean().prefault(false),
    allow_external_symlinks: z.boolean().prefault(false),
    create: z.boolean().prefault(false),
    on_change: hookCommand.optional(),
    on_conflict: hookCommand.optional(),
    hook_timeout: duration("60s", { timer: true }),
    hook_debounce: duration("2s", { allowZero: true, timer: true }),
  })
  .transform((set): SetConfig => ({
    name: set.name,
    path: set.path,
    method: set.method,
    prefix: set.prefix ?? `${set.name}/`,
    intervalMs: set.interval,
    ignore: set.ignore,
    ...(set.ignore_file !== undefined && { ignoreFile: set.ignore_file }),
    ...(set.owner !== undefined && { owner: set.owner }),
    ...(set.group !== undefined && { group: set.group }),
    preserveOwner: set.preserve_owner,
    modeMask: set.mode_mask,
    deletions: set.deletions,
    conflicts: set.conflicts,
    maxDelete: set.max_delete,
    debounceMs: set.debounce,
    pollIntervalMs: set.poll_interval,
    safetyIntervalMs: set.safety_interval,
    fullListingIntervalMs: set.full_listing_interval,
    burstThreshold: set.burst_threshold,
    keepDeleted: set.keep_deleted,
    allowExternalSymlinks: set.allow_external_symlinks,
    create: set.create,
    ...(set.on_change !== undefined && { onChange: set.on_change }),
    ...(set.on_conflict !== undefined && { onConflict: set.on_conflict }),
    hookTimeoutMs: set.hook_timeout,
    hookDebounceMs: set.hook_debounce,
  }));

function datastoreSchema(env: NodeJS.ProcessEnv) {
  return z
    .strictObject({
      endpoint,
      region: z.string().min(1, { error: "must not be empty" }).prefault("us-east-1"),
      bucket,
      access_key_id: z.string().min(1, { error: "must not be empty" }),
      // Resolves to the secret itself: from this file, else from the environment.
      secret_access_key_file: z
        .string()
        .optional()
        .transform((file, ctx) => {
          if (file === undefined) {
            return env[SECRET_ENV]?.trim() || invalid(ctx, `required (or set ${SECRET_ENV})`);
          }
          if (!posix.isAbsolute(file)) return invalid(ctx, "must be an absolute path");
          const read = readSecretFile(file);
          return "text" in read ? read.text : invalid(ctx, read.problem);
        }),
      ca_file: absolutePath.optional().transform((file, ctx) => {
        if (file === undefined) return undefined;
        const read = readPemFile(file);
        return "text" in read ? { caFile: file, ca: read.text } : invalid(ctx, read.problem);
      }),
    })
    .transform((store): DatastoreConfig => ({
      endpoint: store.endpoint,
      region: store.region,
      bucket: store.bucket,
      accessKeyId: store.access_key_id,
      secretAccessKey: store.secret_access_key_file,
      ...store.ca_file,
    }));
}

/** The path as a directory key ending in "/", so containment is a prefix test. */
function dirKey(path: string | undefined): string | undefined {
  return path === undefined || path.endsWith("/") ? path : `${path}/`;
}

/** How `a` relates to `b`, both "/"-terminated: the same, inside, containing, or unrelated (or unknown). */
function overlap(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined || b === undefined) return undefined;
  if (a === b) return "is the same as";
  if (a.startsWith(b)) return "is inside";
  if (b.startsWith(a)) return "contains";
  return undefined;
}

/** The keys the cross-checks read; their YAML and `SetConfig` names are the same. */
interface SetKeys {
  name?: unknown;
  path?: unknown;
  prefix?: unknown;
}

/**
 * Checks between sets and against state_dir. Runs even when other keys have issues, so every problem is reported
 * at once; a value with an issue of its own (and so not normalized) is left out.
 */
function checkOverlaps(
  config: { state_dir?: unknown; sets?: unknown },
  ctx: z.core.$RefinementCtx<{ state_dir?: unknown; sets?: unknown }>,
): void {
  const usable = (value: unknown, ...path: PropertyKey[]) => {
    const hasIssue = ctx.issues.some((issue) => path.every((key, index) => issue.path?.[index] === key));
    return typeof value === "string" && !hasIssue ? value : undefined;
  };
  const raw: SetKeys[] = Array.isArray(config.sets) ? config.sets : [];
  const sets = raw.map((set, index) => {
    const name = usable(set?.name, "sets", index, "name");
    const prefix = set?.prefix ?? (name === undefined ? undefined : `${name}/`);
    return {
      index,
      name,
      path: usable(set?.path, "sets", index, "path"),
      prefix: usable(prefix, "sets", index, "prefix"),
    };
  });
  const stateDir = usable(config.state_dir, "state_dir");
  for (const set of sets) {
    const add = (key: string, message: string) =>
      ctx.addIssue({ code: "custom", path: ["sets", set.index, key], message });
    for (const earlier of sets.slice(0, set.index)) {
      const sameName = set.name !== undefined && set.name === earlier.name;
      if (sameName) add("name", `duplicate set name "${set.name}"`);
      const prefixes = overlap(set.prefix, earlier.prefix);
      if (prefixes && !sameName) {
        add("prefix", `"${set.prefix}" ${prefixes} sets[${earlier.index}].prefix "${earlier.prefix}"`);
      }
      const paths = overlap(dirKey(set.path), dirKey(earlier.path));
      const real = overlap(dirKey(resolvedPath(set.path)), dirKey(resolvedPath(earlier.path)));
      if (paths) add("path", `"${set.path}" ${paths} sets[${earlier.index}].path "${earlier.path}"`);
      else if (real) {
        add(
          "path",
          `"${set.path}" ${real} sets[${earlier.index}].path "${earlier.path}" once symlinks are followed`,
        );
      }
    }
    const state = overlap(dirKey(stateDir), dirKey(set.path));
    if (state === "is the same as" || state === "is inside") {
      ctx.addIssue({
        code: "custom",
        path: ["state_dir"],
        message: `"${stateDir}" ${state} sets[${set.index}].path "${set.path}"`,
      });
    }
  }
}

/** The whole config file, YAML names in, `Config` (without `source`) out. `env` supplies the secret fallback. */
export function configSchema(env: NodeJS.ProcessEnv) {
  return z
    .strictObject({
      machine: z
        .string()
        .regex(MACHINE_NAME, { error: MACHINE_NAME_RULE })
        .prefault(() => hostname()),
      state_dir: absolutePath.prefault("/var/lib/fedsync"),
      datastore: datastoreSchema(env),
      sets: z.array(setSchema).min(1, { error: "must list at least one set" }),
      concurrency: integer(1, 256, 16),
      offline_after: duration("1h"),
      tombstone_retention: duration("30d"),
      log_retention: duration("24h"),
      history_retention: duration("90d"),
      trash_retention: duration("30d"),
      clock_skew: duration("5m", { allowZero: true }),
      unmarked_deletion_delay: duration("60s", { allowZero: true }),
      settle_after_outage: duration("30s", { allowZero: true }),
      log: z
        .strictObject({
          level: z.enum(["error", "warn", "info", "debug"]).prefault("info"),
          format: z.enum(["plain", "json"]).prefault("plain"),
        })
        .prefault({}),
      metrics: z.strictObject({ listen }).optional(),
    })
    .superRefine(checkOverlaps, {
      when: (payload) => typeof payload.value === "object" && payload.value !== null,
    })
    .transform((config): Omit<Config, "source"> => ({
      machine: config.machine,
      stateDir: config.state_dir,
      datastore: config.datastore,
      sets: config.sets,
      concurrency: config.concurrency,
      offlineAfterMs: config.offline_after,
      tombstoneRetentionMs: config.tombstone_retention,
      logRetentionMs: config.log_retention,
      historyRetentionMs: config.history_retention,
      trashRetentionMs: config.trash_retention,
      clockSkewMs: config.clock_skew,
      unmarkedDeletionDelayMs: config.unmarked_deletion_delay,
      settleAfterOutageMs: config.settle_after_outage,
      log: config.log,
      ...(config.metrics && { metrics: config.metrics }),
    }));
}
