/**
 * The Datastore over the `minio` client. The client signs and sends every request (minio-connection.ts);
 * fedsync builds the requests itself where the client's high-level calls fall short:
 * - listings, multipart completion and batch deletes are parsed here, because the client's XML parser turns
 *   numeric-looking keys and metadata into numbers (`0123` -> 123);
 * - multipart uploads are driven here (minio-upload.ts), because the client sends a put condition only when
 *   the upload starts (MinIO checks it atomically when it completes) and silently resumes an older
 *   unfinished upload of the same key together with that upload's stale metadata;
 * - retries happen here (minio-connection.ts: p-retry, idempotent requests only); the client's own retry loop
 *   is off because it would resend an already consumed stream.
 */
import type { Readable } from "node:stream";
import type { DatastoreConfig } from "../config/types.js";
import { NotFoundError, PreconditionFailedError } from "./errors.js";
import { s3ErrorCode } from "./failures.js";
import { followEventStream, listenQueryParams } from "./listen.js";
import {
  md5,
  MinioConnection,
  queryEscape,
  readText,
  s3Error,
  type MinioDatastoreOptions,
} from "./minio-connection.js";
import { MinioUploads } from "./minio-upload.js";
import { deleteVersionIfCurrent, getVersion, listVersions, readVersioning } from "./minio-versions.js";
import {
  buildDeleteObjects,
  parseDeleteResult,
  parseListPage,
  unquoteETag,
  userMetadataFrom,
  type ListPage,
} from "./responses.js";
import type {
  BucketVersioning,
  Datastore,
  ListenHandlers,
  ListOptions,
  ObjectInfo,
  ObjectVersion,
  ServerClock,
} from "./types.js";
import { isXmlSafe } from "./xml.js";

const deleteBatchSize = 1000;
/** MinIO answers a listen request at once and sends a keep-alive every 500 ms. */
const listenDeadlineMs = 3_000;

class MinioDatastore implements Datastore {
  readonly bucket: string;
  private readonly connection: MinioConnection;
  private readonly uploads: MinioUploads;

  constructor(config: DatastoreConfig, options: MinioDatastoreOptions) {
    this.bucket = config.bucket;
    this.connection = new MinioConnection(config, options);
    this.uploads = new MinioUploads(
      this.connection,
      options.partSize,
      async (key) => (await this.stat(key))?.etag,
    );
  }

  async check(): Promise<void> {
    const { connection } = this;
    await connection.withinDeadline(
      "check access",
      connection.retrying(
        "check access",
        async () => {
          const response = await connection.request({ method: "GET", query: "list-type=2&max-keys=1" });
          response.resume();
        },
        { retries: 2, minTimeout: 100, maxTimeout: 500, maxRetryTime: 3000 },
      ),
    );
  }

  serverClock(): ServerClock | undefined {
    return this.connection.serverClock();
  }

  async notificationsAvailable(): Promise<boolean> {
    const { connection } = this;
    return connection.withinDeadline(
      "listen for bucket notifications",
      connection.retrying(
        "listen for bucket notifications",
        async () => {
          const query = `events=${queryEscape("s3:ObjectCreated:*")}`;
          const response = await connection.request({ method: "GET", query });
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
    return this.connection.retrying(`list ${prefix}`, async () => {
      const response = await this.connection.request({ method: "GET", query });
      return parseListPage(await readText(response), options.withMetadata === true);
    });
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    return this.connection.retrying(`stat ${key}`, async () => {
      try {
        const response = await this.connection.request({ method: "HEAD", objectName: key });
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

  async get(key: string, expectedETag?: string): Promise<Readable> {
    const response = await this.connection.retrying(`get ${key}`, async () => {
      try {
        return await this.connection.request({ method: "GET", objectName: key });
      } catch (error) {
        if (s3ErrorCode(error) === "NoSuchKey") throw new NotFoundError(key);
        throw error;
      }
    });
    if (expectedETag !== undefined && unquoteETag(response.headers.etag ?? "") !== expectedETag) {
      response.destroy();
      throw new PreconditionFailedError(key);
    }
    return response;
  }

  put(...args: Parameters<Datastore["put"]>): ReturnType<Datastore["put"]> {
    return this.uploads.put(...args);
  }

  async delete(keys: string[]): Promise<void> {
    const batchable = keys.filter(isXmlSafe);
    for (let start = 0; start < batchable.length; start += deleteBatchSize) {
      await this.deleteBatch(batchable.slice(start, start + deleteBatchSize));
    }
    // A key XML cannot carry is deleted on its own.
    for (const key of keys.filter((key) => !isXmlSafe(key))) {
      await this.connection.retrying(`delete ${key}`, async () => {
        const response = await this.connection.request({ method: "DELETE", objectName: key }, "", [204]);
        response.resume();
      });
    }
  }

  private async deleteBatch(keys: string[]): Promise<void> {
    const payload = Buffer.from(buildDeleteObjects(keys));
    const headers = { "Content-MD5": md5(payload).toString("base64"), "Content-Type": "application/xml" };
    const failures = await this.connection.retrying(`delete ${keys.length} objects`, async () => {
      const response = await this.connection.request({ method: "POST", query: "delete", headers }, payload);
      return parseDeleteResult(await readText(response)).filter((failure) => failure.code !== "NoSuchKey");
    });
    const first = failures[0];
    if (first) {
      throw this.connection.fail(
        s3Error(first.code, first.message),
        `delete ${failures.length} of ${keys.length} objects (first: ${first.key})`,
      );
    }
  }

  deleteIfCurrent(key: string, expected: ObjectInfo): Promise<void> {
    return deleteVersionIfCurrent(this.connection, key, expected);
  }

  versioning(): Promise<BucketVersioning> {
    return readVersioning(this.connection);
  }

  listVersions(key: string): Promise<ObjectVersion[]> {
    return listVersions(this.connection, key);
  }

  getVersion(key: string, versionId: string): Promise<Readable> {
    return getVersion(this.connection, key, versionId);
  }

  listen(prefix: string, handlers: ListenHandlers): { close(): void } {
    const query = listenQueryParams(prefix)
      .map(([name, value]) => `${name}=${queryEscape(value)}`)
      .sort()
      .join("&");
    return followEventStream(this.connection.request({ method: "GET", query }), handlers, {
      bucket: this.bucket,
      fail: (error) => this.connection.fail(error, "listen for bucket notifications"),
    });
  }

  requestCounts(): Record<string, number> {
    return this.connection.requestCounts();
  }
}

export function createMinioDatastore(
  config: DatastoreConfig,
  options: MinioDatastoreOptions = {},
): Datastore {
  return new MinioDatastore(config, options);
}
