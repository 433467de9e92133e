import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpServer, request as httpRequest } from "node:http";
import { connect, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { createServer as createTlsServer } from "node:tls";
import pLimit from "p-limit";
import type { DatastoreConfig } from "../../src/config/types.js";
import {
  BodySizeError,
  createMinioDatastore,
  DatastoreError,
  decodeEntryMeta,
  encodeEntryMeta,
  NotFoundError,
  PreconditionFailedError,
  type Datastore,
  type ObjectInfo,
} from "../../src/datastore/index.js";
import { compareKeys } from "../../src/scan/entry.js";
import { freePort, startMinio, type MinioServer } from "../helpers/minio.js";
import { startS3Proxy } from "../helpers/s3-proxy.js";

const MiB = 1024 * 1024;
let server: MinioServer;
let bucket: string;
let config: DatastoreConfig;
let store: Datastore;

before(async () => {
  server = await startMinio();
  bucket = await server.createBucket();
  config = {
    endpoint: server.endpoint,
    region: "us-east-1",
    bucket,
    accessKeyId: server.accessKey,
    secretAccessKey: server.secretKey,
  };
  store = createMinioDatastore(config);
});

after(async () => {
  await server?.stop();
});

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

async function download(key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.get(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Requests made by `action`, by operation, as the difference of two requestCounts() snapshots. */
async function countRequests(
  datastore: Datastore,
  action: () => Promise<unknown>,
): Promise<Record<string, number>> {
  const before = datastore.requestCounts();
  await action();
  const delta: Record<string, number> = {};
  for (const [name, count] of Object.entries(datastore.requestCounts())) {
    const made = count - (before[name] ?? 0);
    if (made > 0) delta[name] = made;
  }
  return delta;
}

async function rejectsWithKind(promise: Promise<unknown>, kind: string): Promise<DatastoreError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof DatastoreError, `expected a DatastoreError, got ${String(error)}`);
    assert.equal(error.kind, kind, error.message);
    return error;
  }
  assert.fail(`expected a DatastoreError of kind ${kind}`);
}

test("an object round-trips with its metadata through put, stat, list and get", async () => {
  const body = Buffer.from("hello, federation\n");
  const metadata = encodeEntryMeta({
    type: "file",
    sha256: sha256(body),
    mtimeMs: 1_700_000_000_123,
    mode: 0o640,
    owner: "www-data",
    group: "www-data",
    origin: "web1",
  });
  const { etag } = await store.put("roundtrip/hello.txt", body, body.length, metadata);
  assert.match(etag, /^[0-9a-f]{32}$/);

  const info = await store.stat("roundtrip/hello.txt");
  assert.ok(info);
  assert.equal(info.size, body.length);
  assert.equal(info.etag, etag);
  assert.deepEqual(info.metadata, metadata);
  assert.deepEqual(await download("roundtrip/hello.txt"), body);

  const [listed] = await collect(store.list("roundtrip/", { withMetadata: true }));
  assert.equal(listed?.key, "roundtrip/hello.txt");
  assert.equal(listed?.etag, etag);
  assert.deepEqual(listed?.metadata, metadata);
  assert.deepEqual(decodeEntryMeta(listed?.metadata)?.meta?.mode, 0o640);
});

test("a unicode symlink target survives the metadata round trip", async () => {
  const target = "../données/ñandú 🦆/日本語";
  const metadata = encodeEntryMeta({ type: "symlink", target, owner: "juergen" });
  await store.put("roundtrip/link", Buffer.alloc(0), 0, metadata);
  assert.equal(decodeEntryMeta((await store.stat("roundtrip/link"))?.metadata)?.meta?.target, target);
  const listed = await collect(store.list("roundtrip/link", { withMetadata: true }));
  assert.deepEqual(decodeEntryMeta(listed[0]?.metadata)?.meta, { type: "symlink", target, owner: "juergen" });
});

test("zero-byte objects: an empty file from a stream and an empty-directory marker", async () => {
  await store.put("empty/file", Readable.from([]), 0, encodeEntryMeta({ type: "file" }));
  await store.put("empty/dir/", Buffer.alloc(0), 0, encodeEntryMeta({ type: "dir", mode: 0o755 }));
  const keys = (await collect(store.list("empty/"))).map((info) => [info.key, info.size]);
  assert.deepEqual(keys, [
    ["empty/dir/", 0],
    ["empty/file", 0],
  ]);
  assert.equal((await download("empty/file")).length, 0);
});

test("a 16 MiB + 1 byte stream is uploaded in two parts and downloads with the same SHA-256", async () => {
  // One byte over the part size (16 MiB): the second part holds it.
  const size = 16 * MiB + 1;
  const hash = createHash("sha256");
  async function* generate() {
    let left = size;
    while (left > 0) {
      const chunk = randomBytes(Math.min(MiB, left));
      hash.update(chunk);
      left -= chunk.length;
      yield chunk;
    }
  }
  const requests = await countRequests(store, () =>
    store.put("big/blob.bin", Readable.from(generate()), size, encodeEntryMeta({ type: "file" })),
  );
  assert.deepEqual(requests, { CreateMultipartUpload: 1, UploadPart: 2, CompleteMultipartUpload: 1 });
  const expected = hash.digest("hex");

  const info = await store.stat("big/blob.bin");
  assert.equal(info?.size, size);
  assert.match(info?.etag ?? "", /-2$/);
  assert.deepEqual(info?.metadata, { "fedsync-type": "file" });
  const downloaded = createHash("sha256");
  let received = 0;
  for await (const chunk of await store.get("big/blob.bin")) {
    downloaded.update(chunk as Buffer);
    received += (chunk as Buffer).length;
  }
  assert.equal(received, size);
  assert.equal(downloaded.digest("hex"), expected);
});

test("awkward names round-trip exactly, including all-digit ones", async () => {
  const names = [
    "names/with space.txt",
    "names/double  space",
    "names/ünïcødé/日本語.txt",
    "names/emoji 🦆",
    "names/#?%+&'\"<>.txt",
    "names/a+b",
    "names/%41",
    "names/0123",
    "names/1e3",
    "names/tab\there",
    "names/line\r\nbreak",
    "names/control\u0001char",
    "0123",
  ];
  for (const name of names) {
    await store.put(name, Buffer.from(name), Buffer.byteLength(name), {
      "fedsync-mode": "0644",
      note: "007",
    });
  }
  for (const name of names) {
    const info = await store.stat(name);
    assert.equal(info?.key, name);
    assert.deepEqual(info?.metadata, { "fedsync-mode": "0644", note: "007" });
    assert.equal((await download(name)).toString(), name);
  }
  const listed = [
    ...(await collect(store.list("names/", { withMetadata: true }))),
    ...(await collect(store.list("0123", { withMetadata: true }))),
  ];
  assert.deepEqual(
    listed.map((info) => info.key),
    [...names.filter((name) => name.startsWith("names/")).sort(compareKeys), "0123"],
  );
  for (const info of listed) {
    assert.equal(typeof info.key, "string");
    assert.deepEqual(info.metadata, { "fedsync-mode": "0644", note: "007" });
  }

  await store.delete(names);
  assert.deepEqual(await collect(store.list("names/")), []);
  assert.equal(await store.stat("0123"), null);
});

test("create-only put: the second one loses with PreconditionFailedError", async () => {
  await store.put("cond/create", Buffer.from("first"), 5, {}, { ifNoneMatch: true });
  await assert.rejects(
    store.put("cond/create", Buffer.from("second"), 6, {}, { ifNoneMatch: true }),
    PreconditionFailedError,
  );
  assert.equal((await download("cond/create")).toString(), "first");
});

test("concurrent create-only puts of one key: exactly one wins", async () => {
  const bodies = Array.from({ length: 8 }, (_, i) => Buffer.from(`writer ${i}`));
  const results = await Promise.allSettled(
    bodies.map((body) => store.put("cond/race", body, body.length, {}, { ifNoneMatch: true })),
  );
  const winners = results.flatMap((result, i) => (result.status === "fulfilled" ? [i] : []));
  assert.equal(winners.length, 1);
  for (const result of results) {
    if (result.status === "rejected") assert.ok(result.reason instanceof PreconditionFailedError);
  }
  assert.deepEqual(await download("cond/race"), bodies[winners[0] as number]);
});

test("If-Match: a stale ETag loses, the current one wins, a deleted key loses", async () => {
  const first = await store.put("cond/match", Buffer.from("v1"), 2, {});
  const second = await store.put("cond/match", Buffer.from("v2"), 2, {});
  await assert.rejects(
    store.put("cond/match", Buffer.from("v3"), 2, {}, { ifMatch: first.etag }),
    PreconditionFailedError,
  );
  const third = await store.put("cond/match", Buffer.from("v3"), 2, {}, { ifMatch: second.etag });
  assert.equal((await store.stat("cond/match"))?.etag, third.etag);
  await assert.rejects(
    store.put("cond/never-written", Buffer.from("v1"), 2, {}, { ifMatch: third.etag }),
    PreconditionFailedError,
  );
});

test("multipart puts carry their condition to completion, where the race is decided", async () => {
  const small = createMinioDatastore(config, { partSize: 5 * MiB });
  const size = 6 * MiB;
  const [a, b] = [randomBytes(size), randomBytes(size)];
  const results = await Promise.allSettled([
    small.put("cond/multipart", Readable.from([a]), size, {}, { ifNoneMatch: true }),
    small.put("cond/multipart", Readable.from([b]), size, {}, { ifNoneMatch: true }),
  ]);
  assert.deepEqual(results.map((result) => result.status).sort(), ["fulfilled", "rejected"]);
  const lost = results.find((result) => result.status === "rejected");
  assert.ok(lost?.reason instanceof PreconditionFailedError);
  const winner = results[0]?.status === "fulfilled" ? a : b;
  assert.equal(sha256(await download("cond/multipart")), sha256(winner));

  const current = await small.stat("cond/multipart");
  await assert.rejects(
    small.put(
      "cond/multipart",
      Readable.from([b]),
      size,
      {},
      { ifMatch: "0123456789abcdef0123456789abcdef-2" },
    ),
    PreconditionFailedError,
  );
  const replaced = await small.put(
    "cond/multipart",
    Readable.from([b]),
    size,
    {},
    { ifMatch: current?.etag },
  );
  assert.equal((await small.stat("cond/multipart"))?.etag, replaced.etag);
  const unfinished = await collect(server.client.listIncompleteUploads(bucket, "cond/", true));
  assert.deepEqual(unfinished, []);
});

test("a body shorter than announced fails the put and writes nothing", async () => {
  await assert.rejects(store.put("short/body", Readable.from([Buffer.from("abc")]), 10, {}), BodySizeError);
  assert.equal(await store.stat("short/body"), null);
});

test("missing objects: stat is null, get throws NotFoundError, delete does not mind", async () => {
  assert.equal(await store.stat("missing/object"), null);
  await assert.rejects(store.get("missing/object"), NotFoundError);
  await store.delete(["missing/object"]);
});

test("10,000 keys list in sorted pages with their metadata; 1,500 of them delete in two batches", async () => {
  const keys = Array.from({ length: 10_000 }, (_, i) => `many/${i % 10}/${String(i).padStart(5, "0")}`);
  const metaOf = (key: string) =>
    encodeEntryMeta({ type: "file", mtimeMs: key.length, mode: 0o644, origin: key });
  const limit = pLimit(32);
  await Promise.all(
    keys.map((key) => limit(() => store.put(key, Buffer.from(key), key.length, metaOf(key)))),
  );
  const sorted = [...keys].sort(compareKeys);

  let listed: ObjectInfo[] = [];
  const requests = await countRequests(store, async () => {
    listed = await collect(store.list("many/", { withMetadata: true }));
  });
  // Ten pages of 1,000; MinIO may add an empty last page when the count is a multiple of the page size.
  assert.deepEqual(Object.keys(requests), ["ListObjectsV2"]);
  assert.ok(requests.ListObjectsV2 === 10 || requests.ListObjectsV2 === 11, JSON.stringify(requests));
  assert.deepEqual(
    listed.map((info) => info.key),
    sorted,
  );
  for (const info of listed) assert.deepEqual(info.metadata, metaOf(info.key));

  const plain = await collect(store.list("many/", { startAfter: sorted[4999] }));
  assert.deepEqual(
    plain.map((info) => info.key),
    sorted.slice(5000),
  );
  assert.equal(plain[0]?.metadata, undefined);

  const levels = await collect(store.list("many/", { delimiter: true }));
  assert.deepEqual(
    levels.map((info) => info.key),
    Array.from({ length: 10 }, (_, i) => `many/${i}/`),
  );

  const doomed = sorted.slice(0, 1500);
  const deletes = await countRequests(store, () => store.delete([...doomed, "many/not-there"]));
  assert.deepEqual(deletes, { DeleteObjects: 2 });
  const left = await collect(store.list("many/"));
  assert.equal(left.length, 8500);
  assert.equal(left[0]?.key, sorted[1500]);
});

test("check() passes with a good configuration", async () => {
  await store.check();
});

test("check() reports a wrong secret as credentials, naming endpoint, bucket and key but not the secret", async () => {
  const wrongSecret = "wrong-secret-value-123";
  const wrong = createMinioDatastore({ ...config, secretAccessKey: wrongSecret });
  const error = await rejectsWithKind(wrong.check(), "credentials");
  assert.ok(error.message.includes(server.endpoint), error.message);
  assert.ok(error.message.includes(bucket), error.message);
  assert.ok(error.message.includes(`access key ${config.accessKeyId} (SignatureDoesNotMatch`), error.message);
  assert.ok(!error.message.includes(wrongSecret));
  assert.ok(!error.message.includes(server.secretKey));
});

test("check() reports a missing bucket as no-bucket", async () => {
  await rejectsWithKind(createMinioDatastore({ ...config, bucket: "no-such-bucket" }).check(), "no-bucket");
});

test("check() reports a closed port as unreachable, quickly", async () => {
  const port = await freePort();
  const started = Date.now();
  await rejectsWithKind(
    createMinioDatastore({ ...config, endpoint: `http://127.0.0.1:${port}` }).check(),
    "unreachable",
  );
  assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
});

/** A TLS front for the plain-HTTP test server, with a fresh self-signed certificate for 127.0.0.1. */
async function startTlsProxy(): Promise<{ endpoint: string; ca: string; close(): void }> {
  const dir = mkdtempSync(join(tmpdir(), "fedsync-tls-"));
  try {
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"]
        .concat(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        .concat(["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")]),
      { stdio: "ignore" },
    );
    const key = readFileSync(join(dir, "key.pem"), "utf8");
    const cert = readFileSync(join(dir, "cert.pem"), "utf8");
    const proxy: Server = createTlsServer({ key, cert }, (socket) => {
      const upstream = connect(server.port, "127.0.0.1");
      socket.pipe(upstream).pipe(socket);
      socket.on("error", () => upstream.destroy());
      upstream.on("error", () => socket.destroy());
    });
    const port = await freePort();
    await new Promise<void>((resolve) => proxy.listen(port, "127.0.0.1", resolve));
    return { endpoint: `https://127.0.0.1:${port}`, ca: cert, close: () => proxy.close() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("TLS: an untrusted certificate is kind tls; with its CA the store works over https", async () => {
  const proxy = await startTlsProxy();
  try {
    const untrusted = await rejectsWithKind(
      createMinioDatastore({ ...config, endpoint: proxy.endpoint }).check(),
      "tls",
    );
    assert.match(
      untrusted.message,
      /: TLS failed: the server's certificate is not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT; set datastore\.ca_file to the CA that signed it\?\)$/,
    );
    const secure = createMinioDatastore({ ...config, endpoint: proxy.endpoint, ca: proxy.ca });
    await secure.check();
    await secure.put("tls/file", Buffer.from("over tls"), 8, { "fedsync-type": "file" });
    assert.equal((await download("tls/file")).toString(), "over tls");
  } finally {
    proxy.close();
  }
});

test("TLS: an https endpoint on a plain-HTTP server says so, on one line", async () => {
  const error = await rejectsWithKind(
    createMinioDatastore({ ...config, endpoint: config.endpoint.replace("http:", "https:") }).check(),
    "tls",
  );
  assert.match(
    error.message,
    /^datastore https:\/\/\S+ bucket \S+: .+: TLS failed: the server does not speak TLS \(use http:\/\/ in datastore\.endpoint\?\)$/,
  );
});

test("a stat during a server restart is retried until the server is back", async () => {
  await store.put("restart/file", Buffer.from("x"), 1, {});
  await server.pause();
  const pending = store.stat("restart/file");
  await new Promise((resolve) => setTimeout(resolve, 300));
  await server.resume();
  assert.equal((await pending)?.size, 1);
});

/** An HTTP front for the test server that answers the first `failures` requests with 503 SlowDown. */
async function startFlakyProxy(failures: number): Promise<{ endpoint: string; close(): void }> {
  let left = failures;
  const proxy = createHttpServer((request, response) => {
    if (left > 0) {
      left--;
      request.resume();
      response.writeHead(503, { "content-type": "application/xml" });
      response.end("<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>");
      return;
    }
    const upstream = httpRequest(
      {
        host: "127.0.0.1",
        port: server.port,
        method: request.method,
        path: request.url,
        headers: request.headers,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    request.pipe(upstream);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => proxy.listen(port, "127.0.0.1", resolve));
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => {
      proxy.closeAllConnections();
      proxy.close();
    },
  };
}

test("503 SlowDown answers are retried for stat and for a buffered put; too many become unreachable", async () => {
  const proxy = await startFlakyProxy(2);
  try {
    const flaky = createMinioDatastore({ ...config, endpoint: proxy.endpoint });
    const requests = await countRequests(flaky, () => flaky.put("flaky/file", Buffer.from("abc"), 3, {}));
    assert.deepEqual(requests, { PutObject: 3 });
    assert.equal((await store.stat("flaky/file"))?.size, 3);
  } finally {
    proxy.close();
  }
  const hopeless = await startFlakyProxy(10);
  try {
    const flaky = createMinioDatastore({ ...config, endpoint: hopeless.endpoint }, { retries: 1 });
    await rejectsWithKind(flaky.stat("flaky/file"), "unreachable");
    assert.deepEqual(flaky.requestCounts(), { HeadObject: 2 });
  } finally {
    hopeless.close();
  }
});

test("a conditional write refused although the server's HEAD shows the condition holds is made after that check", async () => {
  const proxy = await startS3Proxy(server);
  proxy.refuseConditionalWrites = true;
  try {
    const unhealed = createMinioDatastore({ ...config, endpoint: proxy.endpoint }, { partSize: 5 * MiB });
    const { etag } = await store.put("unhealed/file", Buffer.from("first"), 5, {});
    const replaced = await unhealed.put("unhealed/file", Buffer.from("second"), 6, {}, { ifMatch: etag });
    assert.equal(replaced.conditionOverruled, true);
    assert.equal((await download("unhealed/file")).toString(), "second");
    await assert.rejects(
      unhealed.put("unhealed/file", Buffer.from("third"), 5, {}, { ifMatch: etag }),
      PreconditionFailedError,
      "a condition that does not hold by the HEAD either stays refused",
    );
    assert.equal((await download("unhealed/file")).toString(), "second");
    const created = await unhealed.put("unhealed/new", Buffer.from("new"), 3, {}, { ifNoneMatch: true });
    assert.equal(created.conditionOverruled, true);
    await assert.rejects(
      unhealed.put("unhealed/new", Buffer.from("again"), 5, {}, { ifNoneMatch: true }),
      PreconditionFailedError,
    );
    const big = randomBytes(6 * MiB);
    const multipart = await unhealed.put(
      "unhealed/new",
      Readable.from([big]),
      big.length,
      {},
      {
        ifMatch: created.etag,
      },
    );
    assert.equal(multipart.conditionOverruled, true);
    assert.ok((await download("unhealed/new")).equals(big));
    proxy.refuseConditionalWrites = false;
    const normal = await unhealed.put(
      "unhealed/file",
      Buffer.from("fourth"),
      6,
      {},
      { ifMatch: replaced.etag },
    );
    assert.equal(normal.conditionOverruled, undefined);
  } finally {
    proxy.close();
  }
});
