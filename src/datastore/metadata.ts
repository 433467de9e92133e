/**
 * fedsync's user metadata on objects and tombstones (DESIGN §2), to and from the string records the datastore
 * stores as `X-Amz-Meta-*` headers. Free text (names, symlink targets) is percent-encoded where HTTP headers
 * could not carry it verbatim: anything outside printable ASCII, spaces, and `%` itself.
 */
import { isAccountName, isMachineName } from "../config/names.js";
import type { EntryType } from "../scan/entry.js";

export const entryMetaKeys = {
  sha256: "fedsync-sha256",
  mtimeMs: "fedsync-mtime",
  mode: "fedsync-mode",
  owner: "fedsync-owner",
  group: "fedsync-group",
  origin: "fedsync-origin",
  type: "fedsync-type",
  target: "fedsync-target",
} as const;

export const tombstoneMetaKeys = {
  deletedBy: "fedsync-deleted-by",
  deletedAt: "fedsync-deleted-at",
  sha256: "fedsync-sha256",
  type: "fedsync-type",
} as const;

export interface EntryMeta {
  type: EntryType;
  sha256?: string;
  /** Whole milliseconds since the epoch. */
  mtimeMs?: number;
  /** Permission bits (mode & 0o7777). */
  mode?: number;
  owner?: string;
  group?: string;
  /** Machine that wrote the object. */
  origin?: string;
  /** Symlink target. */
  target?: string;
}

/** The result of decoding: the metadata (if usable) and the keys whose values were invalid and dropped. */
export interface DecodedEntryMeta {
  /** Undefined when there is no valid `fedsync-type`: foreign or damaged, hash the content on download. */
  meta?: EntryMeta;
  /** Metadata keys present with invalid values, for one log line. */
  invalid: string[];
}

export interface TombstoneMeta {
  /** Type of the deleted entry. */
  type?: EntryType;
  /** Machine that deleted the file. */
  deletedBy: string;
  /** Whole milliseconds since the epoch. */
  deletedAt: number;
  /** SHA-256 of the content that was deleted (absent for directories and symlinks). */
  sha256?: string;
}

export interface DecodedTombstoneMeta extends TombstoneMeta {
  invalid: string[];
}

export type MetaRecord = Record<string, string | number | undefined>;

const entryTypes: readonly EntryType[] = ["file", "symlink", "dir"];

export function encodeMetaText(text: string): string {
  return text.replace(/[^\x21-\x24\x26-\x7e]/gu, (c) => encodeURIComponent(c));
}

export function decodeMetaText(encoded: string): string | undefined {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
}

function parseSha256(value: string): string | undefined {
  return /^[0-9a-f]{64}$/.test(value) ? value : undefined;
}

function parseInteger(value: string): number | undefined {
  if (!/^-?[0-9]{1,16}$/.test(value)) return undefined;
  const number = Number(value);
  return Number.isSafeInteger(number) ? number : undefined;
}

function parseMode(value: string): number | undefined {
  if (!/^[0-7]{1,6}$/.test(value)) return undefined;
  const mode = parseInt(value, 8);
  return mode <= 0o7777 ? mode : undefined;
}

function parseType(value: string): EntryType | undefined {
  return entryTypes.find((type) => type === value);
}

function parseText(value: string): string | undefined {
  const text = decodeMetaText(value);
  return text === undefined || text === "" || text.includes("\0") ? undefined : text;
}

function parseMachine(value: string): string | undefined {
  const text = decodeMetaText(value);
  return text !== undefined && isMachineName(text) ? text : undefined;
}

function parseAccount(value: string): string | undefined {
  const text = decodeMetaText(value);
  return text !== undefined && isAccountName(text) ? text : undefined;
}

/** Reads fields from a record, remembering which present values failed to parse. */
class FieldReader {
  readonly invalid: string[] = [];
  constructor(private readonly record: MetaRecord) {}

  read<T>(key: string, parse: (value: string) => T | undefined): T | undefined {
    const raw = this.record[key];
    if (raw === undefined) return undefined;
    const value = parse(String(raw));
    if (value === undefined) this.invalid.push(key);
    return value;
  }
}

function setIfDefined<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

export function encodeEntryMeta(meta: EntryMeta): Record<string, string> {
  const record: Record<string, string> = { [entryMetaKeys.type]: meta.type };
  if (meta.sha256 !== undefined) record[entryMetaKeys.sha256] = meta.sha256;
  if (meta.mtimeMs !== undefined) record[entryMetaKeys.mtimeMs] = String(Math.trunc(meta.mtimeMs));
  if (meta.mode !== undefined) record[entryMetaKeys.mode] = (meta.mode & 0o7777).toString(8);
  for (const field of ["owner", "group", "origin", "target"] as const) {
    const value = meta[field];
    if (value !== undefined && value !== "") record[entryMetaKeys[field]] = encodeMetaText(value);
  }
  return record;
}

/**
 * Decodes an object's metadata. Undefined without a record (the listing could not include it). Each field is
 * checked against its own grammar (origin: a machine name; owner, group: account names); when any present
 * field is invalid, or `fedsync-type` is missing, there is no `meta` at all: the object is foreign (its content
 * is hashed on download, its metadata ignored) and `invalid` names the bad fields for one log line.
 */
export function decodeEntryMeta(record: MetaRecord | undefined): DecodedEntryMeta | undefined {
  if (!record) return undefined;
  const reader = new FieldReader(record);
  const type = reader.read(entryMetaKeys.type, parseType);
  if (type === undefined) return { invalid: reader.invalid };
  const meta: EntryMeta = { type };
  setIfDefined(meta, "sha256", reader.read(entryMetaKeys.sha256, parseSha256));
  setIfDefined(meta, "mtimeMs", reader.read(entryMetaKeys.mtimeMs, parseInteger));
  setIfDefined(meta, "mode", reader.read(entryMetaKeys.mode, parseMode));
  setIfDefined(meta, "owner", reader.read(entryMetaKeys.owner, parseAccount));
  setIfDefined(meta, "group", reader.read(entryMetaKeys.group, parseAccount));
  setIfDefined(meta, "origin", reader.read(entryMetaKeys.origin, parseMachine));
  setIfDefined(meta, "target", reader.read(entryMetaKeys.target, parseText));
  return reader.invalid.length > 0 ? { invalid: reader.invalid } : { meta, invalid: [] };
}

export function encodeTombstoneMeta(meta: TombstoneMeta): Record<string, string> {
  const record: Record<string, string> = {
    [tombstoneMetaKeys.deletedBy]: encodeMetaText(meta.deletedBy),
    [tombstoneMetaKeys.deletedAt]: String(Math.trunc(meta.deletedAt)),
  };
  if (meta.sha256 !== undefined) record[tombstoneMetaKeys.sha256] = meta.sha256;
  if (meta.type !== undefined) record[tombstoneMetaKeys.type] = meta.type;
  return record;
}

/** Undefined unless both deleted-by (a machine name) and deleted-at are present and valid. */
export function decodeTombstoneMeta(record: MetaRecord | undefined): DecodedTombstoneMeta | undefined {
  if (!record) return undefined;
  const reader = new FieldReader(record);
  const deletedBy = reader.read(tombstoneMetaKeys.deletedBy, parseMachine);
  const deletedAt = reader.read(tombstoneMetaKeys.deletedAt, parseInteger);
  if (deletedBy === undefined || deletedAt === undefined) return undefined;
  const meta: DecodedTombstoneMeta = { deletedBy, deletedAt, invalid: reader.invalid };
  setIfDefined(meta, "sha256", reader.read(tombstoneMetaKeys.sha256, parseSha256));
  setIfDefined(meta, "type", reader.read(tombstoneMetaKeys.type, parseType));
  return meta;
}
