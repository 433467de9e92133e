import type { ObjectInfo } from "../datastore/types.js";
import type { FileRow } from "../journal/types.js";
import type { LocalEntry } from "../scan/entry.js";
import type { BaseState, LocalState, RemoteState, TombstoneState } from "./state.js";

/** Everything known about one key during a pass. */
export interface PassItem {
  key: string;
  entry?: LocalEntry;
  local?: LocalState;
  row?: FileRow;
  base?: BaseState;
  object?: ObjectInfo;
  remote?: RemoteState;
  tombstoneObject?: ObjectInfo;
  tombstone?: TombstoneState;
  /** The bytes of a small local file the pass read whole to hash: an upload sends these, not a second read. */
  content?: Buffer;
}
