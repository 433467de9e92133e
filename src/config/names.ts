/**
 * The grammars of names that reach file names or ownership: machine names (in conflict copy names, log keys,
 * heartbeats) and user or group names. The config is checked against them, and so is every such value read
 * from the bucket, which anyone holding the bucket's key may have written.
 */

/** Names of the temporary files fedsync writes in a set root while downloading; never synced. */
export const TEMP_NAME_PREFIX = ".fedsync-tmp-";
/** What marks a file as a conflict copy: `<stem>.fedsync-conflict-<time>-<machine>[-<n>]<.ext>`. */
export const CONFLICT_MARK = ".fedsync-conflict-";
/** The bucket's reserved area, where fedsync keeps its own records; no entry key may map into it. */
export const RESERVED_PREFIX = ".fedsync/";

export const MACHINE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
export const MACHINE_NAME_RULE =
  'must be 1 to 63 letters, digits, ".", "_" or "-", starting with a letter or digit';

/** A user or group name as useradd accepts it. */
export const ACCOUNT_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\$?$/;
/** A numeric id written as `#1234`, for a file whose owner has no name on the machine that published it. */
const NUMERIC_ACCOUNT = /^#\d{1,10}$/;

export function isMachineName(text: string): boolean {
  return MACHINE_NAME.test(text);
}

export function isAccountName(text: string): boolean {
  return ACCOUNT_NAME.test(text) || NUMERIC_ACCOUNT.test(text);
}

/** Set names: they appear in object keys, file names and shell completions. */
export const SET_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
