/** `fedsync doctor`'s checks of this machine: config, secret file, inotify, free space, journal, sd-notify. */
import { existsSync, opendirSync, readFileSync, statfsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { parse } from "yaml";
import { ConfigError, loadConfig, SECRET_ENV, type Config } from "../config/index.js";
import { describeFsError } from "../config/files.js";
import { loadSdNotify } from "../agent/notify.js";
import { installedUnitPath } from "../agent/unit.js";
import { inspectJournal } from "../journal/inspect.js";
import {
  fail,
  info,
  judgeInotify,
  judgeSecretFile,
  judgeSpace,
  ok,
  warn,
  type Finding,
} from "./doctor-verdicts.js";
import { plural } from "./format.js";

export function checkConfig(path: string): { finding: Finding; config?: Config } {
  try {
    const config = loadConfig(path);
    const sets = plural(config.sets.length, "set");
    return {
      config,
      finding: ok("config", `${config.source} is valid (machine ${config.machine}, ${sets})`),
    };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const problems = error.issues.map((issue) => `${issue.path}: ${issue.message}`).join("; ");
    return { finding: fail("config", `${path} is invalid: ${problems}`, "correct the keys named above") };
  }
}

/** The secret file named in the config file, read from the YAML itself so that it is checked even when the config is invalid. */
function configuredSecretFile(configPath: string): unknown {
  try {
    const document: unknown = parse(readFileSync(configPath, "utf8"));
    return (document as { datastore?: { secret_access_key_file?: unknown } } | null)?.datastore
      ?.secret_access_key_file;
  } catch {
    return undefined;
  }
}

export function checkSecretFile(configPath: string, env: NodeJS.ProcessEnv = process.env): Finding {
  const check = "secret file";
  const file = configuredSecretFile(configPath);
  if (typeof file !== "string") {
    return env[SECRET_ENV]
      ? info(check, `none: the secret comes from ${SECRET_ENV}`)
      : fail(check, `none configured and ${SECRET_ENV} is not set`, "set datastore.secret_access_key_file");
  }
  try {
    const stats = statSync(file);
    return judgeSecretFile(file, stats.mode, stats.uid);
  } catch (error) {
    return fail(
      check,
      `${file}: ${describeFsError(error)}`,
      `install -m 600 -o root -g root /dev/null ${file}, then write the secret into it`,
    );
  }
}

/** Directories under `root`, itself included, without following symlinks: @parcel/watcher watches each. */
function countDirectories(root: string): number {
  let count = 0;
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    count++;
    try {
      const handle = opendirSync(dir);
      try {
        for (let entry = handle.readSync(); entry !== null; entry = handle.readSync()) {
          if (entry.isDirectory()) stack.push(join(dir, entry.name));
        }
      } finally {
        handle.closeSync();
      }
    } catch {
      // unreadable: the watcher cannot watch below it either
    }
  }
  return count;
}

export function checkInotify(config: Config): Finding {
  const roots = config.sets.filter((set) => set.method === "lightweight" && existsSync(set.path));
  if (!config.sets.some((set) => set.method === "lightweight")) {
    return info("inotify", "no lightweight sets: nothing is watched");
  }
  let limit: number;
  try {
    limit = Number(readFileSync("/proc/sys/fs/inotify/max_user_watches", "utf8").trim());
  } catch (error) {
    return warn(
      "inotify",
      `cannot read fs.inotify.max_user_watches (${describeFsError(error)})`,
      "check that /proc is mounted",
    );
  }
  const directories = roots.reduce((sum, set) => sum + countDirectories(set.path), 0);
  return judgeInotify(directories, limit);
}

/** The path itself, or its nearest existing parent (a state dir not made yet is made on that file system). */
function existingAncestor(path: string): string {
  let current = path;
  while (!existsSync(current) && dirname(current) !== current) current = dirname(current);
  return current;
}

export function checkFreeSpace(config: Config): Finding[] {
  const paths = [...config.sets.map((set) => set.path), config.stateDir];
  return paths.map((path) => {
    const measured = existingAncestor(path);
    try {
      const stats = statfsSync(measured);
      return judgeSpace(path, {
        bytesFree: stats.bavail * stats.bsize,
        bytesTotal: stats.blocks * stats.bsize,
        inodesFree: stats.ffree,
        inodesTotal: stats.files,
      });
    } catch (error) {
      return warn(
        "free space",
        `${path}: cannot measure (${describeFsError(error)})`,
        `check that ${measured} is readable`,
      );
    }
  });
}

export function checkJournal(config: Config): Finding {
  const check = "journal";
  const health = inspectJournal(config.stateDir);
  const rebuild = "stop the agent, then run fedsync rebuild-journal";
  if (!health.exists) return info(check, `none yet at ${health.file}: this machine has never synced`);
  if (health.error !== undefined)
    return fail(check, `${health.file} cannot be read: ${health.error}`, rebuild);
  const { schema = 0, newestSchema, problems = [] } = health;
  if (problems.length > 0) {
    return fail(
      check,
      `${health.file} is damaged (quick_check: ${problems.slice(0, 3).join("; ")})`,
      rebuild,
    );
  }
  if (schema > newestSchema) {
    return fail(
      check,
      `${health.file} has schema ${schema}, newer than this fedsync knows (${newestSchema})`,
      "upgrade fedsync",
    );
  }
  if (schema < newestSchema) {
    return info(
      check,
      `${health.file}: quick_check ok, schema ${schema}; the agent upgrades it to ${newestSchema} when it starts`,
    );
  }
  return ok(check, `${health.file}: quick_check ok, schema ${schema}`);
}

export function checkSdNotify(env: NodeJS.ProcessEnv = process.env): Finding {
  const check = "sd-notify";
  const unit = installedUnitPath();
  const loaded = loadSdNotify();
  const underSystemd = env.NOTIFY_SOCKET ? "NOTIFY_SOCKET is set" : unit && `${unit} is installed`;
  if (!underSystemd) {
    const binding = "problem" in loaded ? `does not load (${loaded.problem})` : "loads";
    return info(
      check,
      `not under systemd (no fedsync.service installed, NOTIFY_SOCKET unset); the binding ${binding}`,
    );
  }
  if ("problem" in loaded) {
    return fail(
      check,
      `${underSystemd}, but the sd-notify binding cannot load (${loaded.problem}): the service would never become ready`,
      'apt-get install libsystemd-dev build-essential python3, then cd "$(npm root -g)/fedsync" && npm_config_nodedir=/usr npm rebuild sd-notify',
    );
  }
  return ok(check, `${underSystemd} and the sd-notify binding loads`);
}
