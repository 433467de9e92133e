import type { MinioServer } from "../test/helpers/minio.js";

/** How many file objects (not directory markers) the bucket holds under `prefix`. */
export async function countObjects(minio: MinioServer, bucket: string, prefix: string): Promise<number> {
  let count = 0;
  const stream = minio.client.listObjectsV2(bucket, prefix, true);
  for await (const item of stream) {
    const name = (item as { name?: string }).name;
    if (name && !name.endsWith("/")) count++;
  }
  return count;
}

export async function expectObjects(
  minio: MinioServer,
  bucket: string,
  prefix: string,
  expected: number,
  what: string,
): Promise<void> {
  const count = await countObjects(minio, bucket, prefix);
  if (count !== expected) throw new Error(`${what}: the bucket holds ${count} objects, expected ${expected}`);
}
