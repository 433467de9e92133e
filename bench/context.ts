import type { MinioServer } from "../test/helpers/minio.js";
import type { Rclone } from "./rclone.js";

export type Mode = "full" | "quick";

/** Sizes and repetitions of each scenario; the quick mode shrinks them to fit in a few minutes. */
export interface Sizes {
  uploadFiles: number;
  uploadReps: number;
  bigFileMiB: number;
  bigReps: number;
  unchangedFiles: number;
  unchangedReps: number;
  changedReps: number;
  propagationChanges: number;
  burstFiles: number;
  /**
   * Files of the scale scenario; 0 (the default) skips it: its first pass uploads every file, which at the
   * few hundred PUTs per second MinIO manages on a small machine takes most of an hour for a million.
   */
  scaleFiles: number;
  hashMiB: number;
  hashReps: number;
  /** The fleet sizes of the fleet-cost scenario, and the changes made through each fleet. */
  fleetMachines: number[];
  fleetChanges: number;
}

export const SIZES: Record<Mode, Sizes> = {
  full: {
    uploadFiles: 10_000,
    uploadReps: 5,
    bigFileMiB: 1024,
    bigReps: 3,
    unchangedFiles: 100_000,
    unchangedReps: 5,
    changedReps: 3,
    propagationChanges: 200,
    burstFiles: 100_000,
    scaleFiles: 0,
    hashMiB: 1024,
    hashReps: 3,
    fleetMachines: [3, 6, 12],
    fleetChanges: 20,
  },
  quick: {
    uploadFiles: 2_000,
    uploadReps: 3,
    bigFileMiB: 512,
    bigReps: 2,
    unchangedFiles: 10_000,
    unchangedReps: 3,
    changedReps: 2,
    propagationChanges: 30,
    burstFiles: 5_000,
    scaleFiles: 0,
    hashMiB: 256,
    hashReps: 2,
    fleetMachines: [2, 4],
    fleetChanges: 10,
  },
};

export interface BenchContext {
  mode: Mode;
  sizes: Sizes;
  minio: MinioServer;
  rclone: Rclone;
  /** The fedsync CLI under test (dist/cli.js of a build). */
  cli: string;
  /** Scratch directory for this run, removed at the end. */
  work: string;
  newBucket(): Promise<string>;
  /** Progress on stderr. */
  log(message: string): void;
}

/** One line of the results table. */
export interface Row {
  scenario: string;
  metric: string;
  fedsync: string;
  /** What fedsync is compared with (rclone, sha256sum), or empty. */
  reference: string;
  /** fedsync relative to the reference, higher is better for fedsync; empty when there is none. */
  ratio: string;
  target: string;
  verdict: "met" | "not met" | "";
}

export interface ScenarioResult {
  rows: Row[];
  /** Details worth keeping beside the table (request breakdowns, how a figure was taken). */
  notes: string[];
}

export function verdict(met: boolean): Row["verdict"] {
  return met ? "met" : "not met";
}
