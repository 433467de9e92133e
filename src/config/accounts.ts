import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

export type AccountDatabase = "passwd" | "group";

/** A user or group as the system's name service knows it. */
export interface Account {
  name: string;
  id: number;
}

/** getent's exit status for "no such entry". */
const NOT_FOUND = 2;

/** The account lookup itself failed (getent missing, or the name service answering with an error). */
export class AccountLookupError extends Error {
  constructor(database: AccountDatabase, key: string, cause: unknown) {
    const detail = cause instanceof Error ? cause.message.split("\n")[0] : String(cause);
    super(`cannot look up ${database === "passwd" ? "user" : "group"} ${key} with getent: ${detail}`, {
      cause,
    });
    this.name = "AccountLookupError";
  }
}

/**
 * Looks a name or numeric id up in the passwd or group database as the system's name service would: in
 * /etc/passwd or /etc/group first when nsswitch.conf names `files` first for that database (the common
 * case, and no process to start), else through `getent`, so every source that nsswitch.conf names answers
 * (files, LDAP, sssd, systemd). Undefined when there is no such entry; throws AccountLookupError when the
 * lookup itself fails.
 */
export function lookupAccount(database: AccountDatabase, key: string): Account | undefined {
  return (filesFirst(database) ? lookupInFile(database, key) : undefined) ?? lookupWithGetent(database, key);
}

function filesFirst(database: AccountDatabase): boolean {
  const line = readOrEmpty("/etc/nsswitch.conf")
    .split("\n")
    .find((l) => l.trimStart().startsWith(`${database}:`));
  return (
    line
      ?.slice(line.indexOf(":") + 1)
      .trim()
      .split(/\s+/)[0] === "files"
  );
}

function lookupInFile(database: AccountDatabase, key: string): Account | undefined {
  const byId = /^\d+$/.test(key);
  for (const line of readOrEmpty(`/etc/${database}`).split("\n")) {
    const [name, , id] = line.split(":");
    if (!name || id === undefined || !/^\d+$/.test(id)) continue;
    if (byId ? id === key : name === key) return { name, id: Number(id) };
  }
  return undefined;
}

function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

function lookupWithGetent(database: AccountDatabase, key: string): Account | undefined {
  let output: string;
  try {
    output = execFileSync("getent", [database, key], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 10_000,
    });
  } catch (error) {
    if ((error as { status?: unknown }).status === NOT_FOUND) return undefined;
    throw new AccountLookupError(database, key, error);
  }
  const [name, , id] = output.split("\n")[0]!.split(":");
  return name && id !== undefined && /^\d+$/.test(id) ? { name, id: Number(id) } : undefined;
}

/** Why a configured owner or group cannot be used on this machine, or undefined when it can. */
export function accountProblem(database: AccountDatabase, name: string): string | undefined {
  const what = database === "passwd" ? "user" : "group";
  try {
    return lookupAccount(database, name) ? undefined : `no ${what} named "${name}" on this machine`;
  } catch (error) {
    return (error as Error).message;
  }
}
