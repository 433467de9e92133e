/**
 * The Datastore over the `minio` client. The client signs and sends every request; fedsync builds the
 * requests itself where the client's high-level calls fall short:
 * - listings, multipart completion and batch deletes are parsed here, because the client's XML parser turns
 *   numeric-looking keys and metadata into numbers (`0123` -> 123);
 * - multipart uploads are driven here, because the client sends a put condition only when the upload starts
 *   (MinIO checks it atomically when it completes) and silently resumes an older unfinished upload of the
 *   same key together with that upload's stale metadata;
 * - retries happen here (p-retry, idempotent requests only); the client's own retry loop is off because it
 *   would resend an already consumed stream.
 */
import { createHash } from "node:crypto";
import type http from "node:http";
import { Readable } from "node:stream";
import { Client } from "minio";
import pRetry from "p-retry";
import type { DatastoreConfig } from "../config/types.js";
import { BodySizeError, readBody, readParts } from "./chunks.js";
import { DatastoreError, NotFoundError, PreconditionFailedError } from "./errors.js";
import { isTransient, s3ErrorCode, toDatastoreError } from "./failures.js";
import {
  buildCompleteMultipart,
  buildDeleteObjects,
  parseCompleteMultipart,
  parseDeleteResult,
  parseInitiateMultipart,
  parseListPage,
  unquoteETag,
  userMetadataFrom,
  type ListPage,
} from "./responses.js";
import { followEventStream, listenQueryParams } from "./listen.js";
import { createTransport, type ClockSample } from "./transport.js";
import type {
  BucketVersioning,
  Datastore,
  ListenHandlers,
  ListOptions,
  ObjectInfo,
  ObjectVersion,
  PutCondition,
  ServerClock,
} from "./types.js";
import { deleteIfCurrent } from "./delete-current.js";
import { parseVersioning, parseVersionsPage } from "./versions.js";
import { isXmlSafe } from "./xml.js";

export interface MinioDatastoreOptions {
  /** Bodies larger than this are uploaded in parts of this size (default 64 MiB, at least 5 MiB). */
  partSize?: number;
  /** Retries of a transient failure (default 5, backing off from 250 ms to 8 s). */
  retries?: number;
  /** A request whose connection stays silent this long fails and may be retried (default 60 s). */
  idleTimeoutMs?: number;
  /** Told the S3 operation of every request as it starts (for metrics). */
  onRequest?: (operation: string) => void;
}

const MiB = 1024 * 1024;
const defaultPartSize = 16 * MiB;
const maxParts = 10_000;
const deleteBatchSize = 1000;
const checkDeadlineMs = 10_000;
/** MinIO answers a listen request at once and sends a keep-alive every 500 ms. */
const listenDeadlineMs = 3_000;

interface Endpoint {
  host: string;
  port: number;
  secure: boolean;
  /** Scheme, host and port, for messages. */
  display: string;
}

function parseEndpoint(endpoint: string): Endpoint {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new DatastoreError("other", `datastore endpoint "${endpoint}" is not a URL`);
  }
  const display = `${url.protocol}//${url.host}`;
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new DatastoreError("other", `datastore endpoint ${display}: only http and https are supported`);
  }
  if (url.username || url.password || (url.pathname !== "/" && url.pathname !== "") || url.search) {
    throw new DatastoreError("other", `datastore endpoint ${display}: give only scheme, host and port`);
  }
  const secure = url.protocol === "https:";
  return {
    host: url.hostname.replace(/^\[|\]$/g, ""),
    port: url.port ? Number(url.port) : secure ? 443 : 80,
    secure,
    display,
  };
}

/** The same escaping the client applies to query values (RFC 3986, as SigV4 expects). */
function queryEscape(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

async function readText(response: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function md5(data: Buffer): Buffer {
  return createHash("md5").update(data).digest();
}

/** The ETag S3 gives a multipart object: MD5 of the parts' binary MD5s, a dash, the part count. */
function multipartETag(partETags: string[]): string {
  const digests = Buffer.concat(partETags.map((etag) => Buffer.from(etag, "hex")));
  return `${md5(digests).toString("hex")}-${partETags.length}`;
}

function conditionHeaders(condition: PutCondition | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  if (condition?.ifNoneMatch) headers["If-None-Match"] = "*";
  if (condition?.ifMatch !== undefined) headers["If-Match"] = `"${unquoteETag(condition.ifMatch)}"`;
  return headers;
}

function metadataHeaders(metadata: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata)) headers[`x-amz-meta-${key.toLowerCase()}`] = value;
  return headers;
}

/** An S3 error shaped like the client's, for error documents that arrive inside a 200 answer. */
function s3Error(code: string, message: string): Error {
  return Object.assign(new Error(message || code), { code });
}

interface RetryPolicy {
  retries: number;
  minTimeout: number;
  maxTimeout: number;
  maxRetryTime?: number;
}

class MinioDatastore implements Datastore {
  readonly bucket: string;
  private readonly accessKeyId: string;
  private readonly client: Client;
  private readonly endpoint: Endpoint;
  private readonly partSize: number;
  private readonly retryPolicy: RetryPolicy;
  private readonly counts: () => Record<string, number>;
  private readonly lastClock: () => ClockSample | undefined;

  constructor(config: DatastoreConfig, options: MinioDatastoreOptions) {
    this.bucket = config.bucket;
    this.accessKeyId = config.accessKeyId;
    this.endpoint = parseEndpoint(config.endpoint);
    this.partSize = Math.max(options.partSize ?? defaultPartSize, 5 * MiB);
    this.retryPolicy = { retries: options.retries ?? 5, minTimeout: 250, maxTimeout: 8000 };
    const { agent, transport, counts, lastClock } = createTransport({
      secure: this.endpoint.secure,
      bucket: config.bucket,
      ca: config.ca,
      idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
      maxSockets: 64,
      onRequest: options.onRequest,
    });
    this.counts = counts;
    this.lastClock = lastClock;
    try {
      this.client = new Client({
        endPoint: this.endpoint.host,
        port: this.endpoint.port,
        useSSL: this.endpoint.secure,
        accessKey: config.accessKeyId,
        secretKey: config.secretAccessKey,
        region: config.region,
        pathStyle: true,
        transport,
        transportAgent: agent,
        retryOptions: { disableRetry: true },
      });
    } catch (error) {
      throw this.fail(error, "configure the client");
    }
  }

  private fail(error: unknown, action: string): DatastoreError {
    return toDatastoreError(error, {
      endpoint: this.endpoint.display,
      bucket: this.bucket,
      accessKeyId: this.accessKeyId,
      action,
    });
  }

  /** Runs an idempotent request, retrying transient failures; every failure comes out as a DatastoreError. */
  private async retrying<T>(
    action: string,
    attempt: (attemptNumber: number) => Promise<T>,
    policy: RetryPolicy = this.retryPolicy,
  ): Promise<T> {
    try {
      return await pRetry(attempt, {
        ...policy,
        randomize: true,
        shouldRetry: ({ error }) => isTransient(error),
      });
    } catch (error) {
      throw this.fail(error, action);
    }
  }

  private request(
    options: { method: string; objectName?: string; query?: string; headers?: Record<string, string> },
    payload: Buffer | string = "",
    expected: number[] = [200],
  ): Promise<http.IncomingMessage> {
    return this.client.makeRequestAsync({ ...options, bucketName: this.bucket }, payload, expected);
  }

  /** Headers that let the server verify a body: its SHA-256 is signed on plain http, so MD5 only for https. */
  private integrityHeaders(body: Buffer): Record<string, string> {
    return this.client.enableSHA256 ? {} : { "Content-MD5": md5(body).toString("base64") };
  }

  async check(): Promise<void> {
    await this.withinDeadline(
      "check access",
      this.retrying(
        "check access",
        async () => {
          const response = await this.request({ method: "GET", query: "list-type=2&max-keys=1" });
          response.resume();
        },
        { retries: 2, minTimeout: 100, maxTimeout: 500, maxRetryTime: 3000 },
      ),
    );
  }

  /** Fails as unreachable when `attempt` has not settled within `deadlineMs`. */
  private async withinDeadline<T>(
    action: string,
    attempt: Promise<T>,
    deadlineMs = checkDeadlineMs,
  ): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new DatastoreError(
              "unreachable",
              `datastore ${this.endpoint.display} bucket ${this.bucket}: ${action}: no answer within ${deadlineMs / 1000} s`,
            ),
          ),
        deadlineMs,
      );
    });
    try {
      return await Promise.race([attempt, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  serverClock(): ServerClock | undefined {
    const sample = this.lastClock();
    if (!sample) return undefined;
    // The Date header counts whole seconds: the server's time was in [serverMs, serverMs + 1 s) when it
    // answered, at some moment between sending and receiving.
    const roundTrip = sample.receivedAtMs - sample.sentAtMs;
    return {
      offsetMs: sample.serverMs + 500 - (sample.sentAtMs + roundTrip / 2),
      uncertaintyMs: 500 + roundTrip / 2,
    };
  }

  async notificationsAvailable(): Promise<boolean> {
    return this.withinDeadline(
      "listen for bucket notifications",
      this.retrying(
        "listen for bucket notifications",
        async () => {
          const query = `events=${queryEscape("s3:ObjectCreated:*")}`;
          const response = await this.request({ method: "GET", query });
          response.destroy();
          // A server without the listen API takes the request for a plain listing and answers with XML.
          return !String(response.headers["content-type"] ?? "").includes("xml");
        },
        { retries: 0, minTimeout: 0, maxTimeout: 0 },
      ),
      listenDeadlineMs,
    );
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    let page = this.listPage(prefix, options, undefined);
    while (true) {
      const current = await page;
      const next =
        current.nextToken === undefined ? undefined : this.listPage(prefix, options, current.nextToken);
      // Fetched while the caller works through this page; a failure surfaces when it is awaited.
      next?.catch(() => undefined);
      yield* current.items;
      if (!next) return;
      page = next;
    }
  }

  async listOnce(
    prefix: string,
    options: ListOptions = {},
  ): Promise<{ items: ObjectInfo[]; truncated: boolean }> {
    const page = await this.listPage(prefix, options, undefined);
    return { items: page.items, truncated: page.nextToken !== undefined };
  }

  private listPage(prefix: string, options: ListOptions, token: string | undefined): Promise<ListPage> {
    const params = ["list-type=2", "encoding-type=url", "max-keys=1000", `prefix=${queryEscape(prefix)}`];
    if (options.delimiter) params.push("delimiter=%2F");
    if (options.withMetadata) params.push("metadata=true");
    if (token !== undefined) params.push(`continuation-token=${queryEscape(token)}`);
    else if (options.startAfter) params.push(`start-after=${queryEscape(options.startAfter)}`);
    const query = params.sort().join("&");
    return this.retrying(`list ${prefix}`, async () => {
      const response = await this.request({ method: "GET", query });
      return parseListPage(await readText(response), options.withMetadata === true);
    });
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    return this.retrying(`stat ${key}`, async () => {
      try {
        const response = await this.request({ method: "HEAD", objectName: key });
        response.resume();
        const headers = response.headers;
        const versionId = headers["x-amz-version-id"];
        return {
          key,
          size: Number(headers["content-length"] ?? 0),
          etag: unquoteETag(headers.etag ?? ""),
          lastModified: new Date(headers["last-modified"] ?? 0),
          metadata: userMetadataFrom(
            Object.entries(headers).flatMap(([name, value]): [string, string][] =>
              typeof value === "string" ? [[name, value]] : [],
            ),
          ),
          ...(typeof versionId === "string" && versionId !== "null" && { versionId }),
        };
      } catch (error) {
        const code = s3ErrorCode(error);
        if (code === "NotFound" || code === "NoSuchKey") return null;
        throw error;
      }
    });
  }

  async get(key: string): Promise<Readable> {
    return this.retrying(`get ${key}`, async () => {
      try {
        return await this.request({ method: "GET", objectName: key });
      } catch (error) {
        if (s3ErrorCode(error) === "NoSuchKey") throw new NotFoundError(key);
        throw error;
      }
    });
  }

  async put(
    key: string,
    body: Readable | Buffer,
    size: number,
    metadata: Record<string, string>,
    condition?: PutCondition,
  ): Promise<{ etag: string }> {
    if (Buffer.isBuffer(body) && body.length !== size) {
      throw new BodySizeError(size, `the buffer holds ${body.length}`);
    }
    try {
      if (size > this.partSize) {
        const stream = Buffer.isBuffer(body) ? Readable.from([body]) : body;
        return await this.putMultipart(key, stream, size, metadata, condition);
      }
      const buffer = Buffer.isBuffer(body) ? body : await readBody(body, size);
      return await this.putSingle(key, buffer, metadata, condition);
    } catch (error) {
      if (!Buffer.isBuffer(body)) body.destroy();
      throw error;
    }
  }

  private async putSingle(
    key: string,
    body: Buffer,
    metadata: Record<string, string>,
    condition: PutCondition | undefined,
  ): Promise<{ etag: string }> {
    const headers = {
      ...metadataHeaders(metadata),
      ...conditionHeaders(condition),
      ...this.integrityHeaders(body),
    };
    return this.retrying(`put ${key}`, async (attemptNumber) => {
      try {
        const response = await this.request({ method: "PUT", objectName: key, headers }, body);
        response.resume();
        return { etag: unquoteETag(response.headers.etag ?? "") };
      } catch (error) {
        if (!isConditionLost(error, condition)) throw error;
        // A retry can find the write of an earlier attempt whose answer was lost: that is not a lost race.
        const ownETag = md5(body).toString("hex");
        if (attemptNumber > 1 && (await this.currentETag(key)) === ownETag) return { etag: ownETag };
        throw new PreconditionFailedError(key);
      }
    });
  }

  private async currentETag(key: string): Promise<string | undefined> {
    return (await this.stat(key))?.etag;
  }

  private async putMultipart(
    key: string,
    body: Readable,
    size: number,
    metadata: Record<string, string>,
    condition: PutCondition | undefined,
  ): Promise<{ etag: string }> {
    const partSize = Math.max(this.partSize, Math.ceil(size / maxParts / MiB) * MiB);
    const uploadId = await this.retrying(`start upload of ${key}`, async () => {
      try {
        const headers = { ...metadataHeaders(metadata), ...conditionHeaders(condition) };
        const response = await this.request({ method: "POST", objectName: key, query: "uploads", headers });
        return parseInitiateMultipart(await readText(response));
      } catch (error) {
        if (isConditionLost(error, condition)) throw new PreconditionFailedError(key);
        throw error;
      }
    });
    try {
      const partETags = await this.uploadParts(key, uploadId, body, size, partSize);
      return await this.completeMultipart(key, uploadId, partETags, condition);
    } catch (error) {
      body.destroy();
      await this.abortMultipart(key, uploadId);
      throw error;
    }
  }

  /**
   * Uploads the parts one after another, reading the next part from the body while the current one is sent:
   * two part buffers in memory, reused. The next part is requested only after the previous upload finished,
   * so the buffer being refilled is never one still being sent.
   */
  private async uploadParts(
    key: string,
    uploadId: string,
    body: Readable,
    size: number,
    partSize: number,
  ): Promise<string[]> {
    const parts = readParts(body, size, partSize, 2);
    const etags: string[] = [];
    let pending = parts.next();
    while (true) {
      const { value: part, done } = await pending;
      if (done) return etags;
      pending = parts.next();
      pending.catch(() => undefined);
      const partNumber = etags.length + 1;
      const query = `partNumber=${partNumber}&uploadId=${queryEscape(uploadId)}`;
      const etag = await this.retrying(`upload part ${partNumber} of ${key}`, async () => {
        const headers = this.integrityHeaders(part);
        const response = await this.request({ method: "PUT", objectName: key, query, headers }, part);
        response.resume();
        return unquoteETag(response.headers.etag ?? "");
      });
      etags.push(etag);
    }
  }

  private async completeMultipart(
    key: string,
    uploadId: string,
    partETags: string[],
    condition: PutCondition | undefined,
  ): Promise<{ etag: string }> {
    const payload = Buffer.from(
      buildCompleteMultipart(partETags.map((etag, index) => ({ partNumber: index + 1, etag }))),
    );
    const headers = { ...conditionHeaders(condition), "Content-Type": "application/xml" };
    const query = `uploadId=${queryEscape(uploadId)}`;
    return this.retrying(`complete upload of ${key}`, async (attemptNumber) => {
      try {
        const response = await this.request({ method: "POST", objectName: key, query, headers }, payload);
        const result = parseCompleteMultipart(await readText(response));
        if ("error" in result) throw s3Error(result.error.code, result.error.message);
        return result;
      } catch (error) {
        const code = s3ErrorCode(error);
        // A retry may find the upload already completed by an earlier attempt whose answer was lost.
        if (attemptNumber > 1 && (code === "NoSuchUpload" || isConditionLost(error, condition))) {
          const expected = multipartETag(partETags);
          if ((await this.currentETag(key)) === expected) return { etag: expected };
        }
        if (isConditionLost(error, condition)) throw new PreconditionFailedError(key);
        throw error;
      }
    });
  }

  private async abortMultipart(key: string, uploadId: string): Promise<void> {
    try {
      const response = await this.request(
        { method: "DELETE", objectName: key, query: `uploadId=${queryEscape(uploadId)}` },
        "",
        [204],
      );
      response.resume();
    } catch {
      // Best effort: the server expires abandoned uploads on its own.
    }
  }

  async delete(keys: string[]): Promise<void> {
    const batchable = keys.filter(isXmlSafe);
    for (let start = 0; start < batchable.length; start += deleteBatchSize) {
      await this.deleteBatch(batchable.slice(start, start + deleteBatchSize));
    }
    // A key XML cannot carry is deleted on its own.
    for (const key of keys.filter((key) => !isXmlSafe(key))) {
      await this.retrying(`delete ${key}`, async () => {
        const response = await this.request({ method: "DELETE", objectName: key }, "", [204]);
        response.resume();
      });
    }
  }

  private async deleteBatch(keys: string[]): Promise<void> {
    const payload = Buffer.from(buildDeleteObjects(keys));
    const headers = { "Content-MD5": md5(payload).toString("base64"), "Content-Type": "application/xml" };
    const failures = await this.retrying(`delete ${keys.length} objects`, async () => {
      const response = await this.request({ method: "POST", query: "delete", headers }, payload);
      return parseDeleteResult(await readText(response)).filter((failure) => failure.code !== "NoSuchKey");
    });
    const first = failures[0];
    if (first) {
      throw this.fail(
        s3Error(first.code, first.message),
        `delete ${failures.length} of ${keys.length} objects (first: ${first.key})`,
      );
    }
  }

  async deleteIfCurrent(key: string, expected: ObjectInfo): Promise<void> {
    await deleteIfCurrent(
      {
        deleteObject: (objectKey, versionId) =>
          this.retrying(`delete ${objectKey}`, async () => {
            const query = versionId === undefined ? "" : `versionId=${queryEscape(versionId)}`;
            const response = await this.request(
              { method: "DELETE", objectName: objectKey, query },
              "",
              [204],
            );
            response.resume();
            const marker = response.headers["x-amz-version-id"];
            const made = response.headers["x-amz-delete-marker"] === "true" && versionId === undefined;
            return made && typeof marker === "string" && marker !== "null" ? marker : undefined;
          }),
        versionsPage: (objectKey) =>
          this.retrying(`list versions of ${objectKey}`, async () => {
            const query = `versions&encoding-type=url&max-keys=1000&prefix=${queryEscape(objectKey)}`;
            const response = await this.request({ method: "GET", query });
            return parseVersionsPage(await readText(response)).versions;
          }),
      },
      key,
      expected,
    );
  }

  async versioning(): Promise<BucketVersioning> {
    return this.retrying("read bucket versioning", async () => {
      const response = await this.request({ method: "GET", query: "versioning" });
      return parseVersioning(await readText(response));
    });
  }

  async listVersions(key: string): Promise<ObjectVersion[]> {
    const versions: ObjectVersion[] = [];
    let marker: { keyMarker: string; versionIdMarker: string } | undefined;
    // Versions are listed by key: those of `key` come first under the prefix, then longer keys.
    while (true) {
      const params = ["encoding-type=url", "max-keys=1000", "metadata=true", `prefix=${queryEscape(key)}`];
      if (marker) {
        params.push(`key-marker=${queryEscape(marker.keyMarker)}`);
        params.push(`version-id-marker=${queryEscape(marker.versionIdMarker)}`);
      }
      const query = ["versions", ...params].join("&");
      const page = await this.retrying(`list versions of ${key}`, async () => {
        const response = await this.request({ method: "GET", query });
        return parseVersionsPage(await readText(response));
      });
      versions.push(...page.versions.filter((version) => version.key === key));
      if (!page.next || page.versions.some((version) => version.key !== key)) break;
      marker = page.next;
    }
    for (const version of versions) {
      if (!version.metadata) version.metadata = (await this.statVersion(key, version.versionId)).metadata;
    }
    return versions;
  }

  /** A version's user metadata, for servers whose version listing does not carry it. */
  private async statVersion(key: string, versionId: string): Promise<{ metadata: Record<string, string> }> {
    return this.retrying(`stat ${key} version ${versionId}`, async () => {
      const query = `versionId=${queryEscape(versionId)}`;
      const response = await this.request({ method: "HEAD", objectName: key, query });
      response.resume();
      return {
        metadata: userMetadataFrom(
          Object.entries(response.headers).flatMap(([name, value]): [string, string][] =>
            typeof value === "string" ? [[name, value]] : [],
          ),
        ),
      };
    });
  }

  async getVersion(key: string, versionId: string): Promise<Readable> {
    return this.retrying(`get ${key} version ${versionId}`, async () => {
      try {
        const query = `versionId=${queryEscape(versionId)}`;
        return await this.request({ method: "GET", objectName: key, query });
      } catch (error) {
        const code = s3ErrorCode(error);
        if (code === "NoSuchKey" || code === "NoSuchVersion") throw new NotFoundError(key);
        throw error;
      }
    });
  }

  listen(prefix: string, handlers: ListenHandlers): { close(): void } {
    const query = listenQueryParams(prefix)
      .map(([name, value]) => `${name}=${queryEscape(value)}`)
      .sort()
      .join("&");
    return followEventStream(this.request({ method: "GET", query }), handlers, {
      bucket: this.bucket,
      fail: (error) => this.fail(error, "listen for bucket notifications"),
    });
  }

  requestCounts(): Record<string, number> {
    return this.counts();
  }
}

/** A put condition lost: 412, or (If-Match on a key that no longer exists) 404. */
function isConditionLost(error: unknown, condition: PutCondition | undefined): boolean {
  const code = s3ErrorCode(error);
  if (code === "PreconditionFailed") return true;
  return condition?.ifMatch !== undefined && (code === "NoSuchKey" || code === "NotFound");
}

export function createMinioDatastore(
  config: DatastoreConfig,
  options: MinioDatastoreOptions = {},
): Datastore {
  return new MinioDatastore(config, options);
}
