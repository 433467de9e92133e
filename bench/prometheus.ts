import type { MinioServer } from "../test/helpers/minio.js";

/** Requests by S3 operation (or MinIO API name). */
export type Counts = Record<string, number>;

export function sumCounts(counts: Counts): number {
  return Object.values(counts).reduce((sum, count) => sum + count, 0);
}

/** `after - before`, operation by operation. */
export function countsSince(after: Counts, before: Counts): Counts {
  const delta: Counts = {};
  for (const [name, count] of Object.entries(after)) {
    const grown = count - (before[name] ?? 0);
    if (grown !== 0) delta[name] = grown;
  }
  return delta;
}

export function addCounts(into: Counts, more: Counts): Counts {
  for (const [name, count] of Object.entries(more)) into[name] = (into[name] ?? 0) + count;
  return into;
}

/** One Prometheus sample line: `name{label="value",...} number`. */
const SAMPLE = /^([a-zA-Z_:][\w:]*)\{([^}]*)\}\s+(\S+)/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/** The samples of metric `name` in a Prometheus text exposition, with their labels. */
export function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const found: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split("\n")) {
    const match = SAMPLE.exec(line);
    if (!match || match[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of match[2]!.matchAll(LABEL)) labels[key!] = value!;
    found.push({ labels, value: Number(match[3]) });
  }
  return found;
}

/**
 * The requests MinIO has counted for `bucket`, by API, from its Prometheus metrics (the bench's server serves
 * them without a token). MinIO refreshes these figures about every 10 s, and counts a request when it ends.
 */
export async function serverBucketRequests(minio: MinioServer, bucket: string): Promise<Counts> {
  const response = await fetch(`${minio.endpoint}/minio/v2/metrics/bucket`);
  if (!response.ok) throw new Error(`MinIO's bucket metrics answered ${response.status}`);
  const counts: Counts = {};
  for (const { labels, value } of samples(await response.text(), "minio_bucket_requests_total")) {
    if (labels.bucket === bucket && labels.api) counts[labels.api] = (counts[labels.api] ?? 0) + value;
  }
  return counts;
}
