import { isAccountName } from "../config/names.js";
import { readFileSync } from "node:fs";

/** Maps user and group ids to names and back, from /etc/passwd and /etc/group (read once). */
export class OwnerNames {
  private readonly users = new Map<number, string>();
  private readonly groups = new Map<number, string>();
  private readonly userIds = new Map<string, number>();
  private readonly groupIds = new Map<string, number>();

  constructor(passwd = readOptional("/etc/passwd"), group = readOptional("/etc/group")) {
    for (const [name, id] of parseDatabase(passwd, 2)) {
      this.users.set(id, name);
      this.userIds.set(name, id);
    }
    for (const [name, id] of parseDatabase(group, 2)) {
      this.groups.set(id, name);
      this.groupIds.set(name, id);
    }
  }

  /** A name, or `#<id>` when the id has none here (or one that peers would not accept: see names.ts). */
  userName(uid: number): string {
    const name = this.users.get(uid);
    return name !== undefined && isAccountName(name) ? name : `#${uid}`;
  }

  groupName(gid: number): string {
    const name = this.groups.get(gid);
    return name !== undefined && isAccountName(name) ? name : `#${gid}`;
  }

  uid(name: string): number | undefined {
    return this.userIds.get(name) ?? numericName(name);
  }

  gid(name: string): number | undefined {
    return this.groupIds.get(name) ?? numericName(name);
  }
}

function numericName(name: string): number | undefined {
  return /^#\d+$/.test(name) ? Number(name.slice(1)) : undefined;
}

function readOptional(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

function* parseDatabase(text: string, idField: number): Generator<[string, number]> {
  for (const line of text.split("\n")) {
    const fields = line.split(":");
    const name = fields[0];
    const id = Number(fields[idField]);
    if (name && Number.isInteger(id)) yield [name, id];
  }
}
