import { isAccountName } from "../config/names.js";
import { lookupAccount, type Account, type AccountDatabase } from "../config/accounts.js";

/**
 * Maps user and group ids to names and back through the system's name service (getent), each name or id
 * looked up once per instance; a pass makes a new instance, so accounts added meanwhile are seen.
 */
export class OwnerNames {
  private readonly cache = new Map<string, Account | undefined>();

  private lookup(database: AccountDatabase, key: string): Account | undefined {
    const cacheKey = `${database}:${key}`;
    if (!this.cache.has(cacheKey)) this.cache.set(cacheKey, lookupAccount(database, key));
    return this.cache.get(cacheKey);
  }

  /** A name, or `#<id>` when the id has none here, the name service cannot tell, or peers would not accept it (names.ts). */
  userName(uid: number): string {
    return this.nameOf("passwd", uid);
  }

  groupName(gid: number): string {
    return this.nameOf("group", gid);
  }

  /** The id of a user name (or `#<id>`); undefined when there is no such user here. */
  uid(name: string): number | undefined {
    return numericName(name) ?? this.lookup("passwd", name)?.id;
  }

  gid(name: string): number | undefined {
    return numericName(name) ?? this.lookup("group", name)?.id;
  }

  private nameOf(database: AccountDatabase, id: number): string {
    try {
      const name = this.lookup(database, String(id))?.name;
      return name !== undefined && isAccountName(name) ? name : `#${id}`;
    } catch {
      this.cache.set(`${database}:${id}`, undefined);
      return `#${id}`;
    }
  }
}

function numericName(name: string): number | undefined {
  return /^#\d+$/.test(name) ? Number(name.slice(1)) : undefined;
}
