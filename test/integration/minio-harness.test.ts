import { test } from "node:test";
import assert from "node:assert/strict";
import { startMinio } from "../helpers/minio.js";

test("the harness starts a private MinIO, creates a bucket and survives a pause", async () => {
  const server = await startMinio();
  try {
    const bucket = await server.createBucket();
    await server.client.putObject(bucket, "hello.txt", Buffer.from("hi"), 2);
    await server.pause();
    await assert.rejects(fetch(`${server.endpoint}/minio/health/live`));
    await server.resume();
    const stat = await server.client.statObject(bucket, "hello.txt");
    assert.equal(stat.size, 2);
  } finally {
    await server.stop();
  }
});
