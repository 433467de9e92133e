export interface PassCounts {
  uploaded: number;
  downloaded: number;
  deletedLocal: number;
  deletedRemote: number;
  conflicts: number;
  recorded: number;
  failed: number;
  skipped: number;
  bytesUp: number;
  bytesDown: number;
}

export function emptyCounts(): PassCounts {
  return {
    uploaded: 0,
    downloaded: 0,
    deletedLocal: 0,
    deletedRemote: 0,
    conflicts: 0,
    recorded: 0,
    failed: 0,
    skipped: 0,
    bytesUp: 0,
    bytesDown: 0,
  };
}
