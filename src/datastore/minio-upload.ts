import { Readable } from "node:stream";
import { BodySizeError, readBody, readParts } from "./chunks.js";
import { PreconditionFailedError } from "./errors.js";
import { s3ErrorCode } from "./failures.js";
import { md5, queryEscape, readText, s3Error, type MinioConnection } from "./minio-connection.js";
import {
  buildCompleteMultipart,
  parseCompleteMultipart,
  parseInitiateMultipart,
  unquoteETag,
} from "./responses.js";
import type { PutCondition, PutResult } from "./types.js";

const MiB = 1024 * 1024;
const defaultPartSize = 16 * MiB;
const maxParts = 10_000;

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

/** A put condition lost: 412, or (If-Match on a key that no longer exists) 404. */
function isConditionLost(error: unknown, condition: PutCondition | undefined): boolean {
  const code = s3ErrorCode(error);
  if (code === "PreconditionFailed") return true;
  return condition?.ifMatch !== undefined && (code === "NoSuchKey" || code === "NotFound");
}

/**
 * Conditional uploads: one request up to the part size, else a multipart upload driven here (minio.ts says
 * why). A retry that finds the write of an earlier attempt landed takes it for done.
 */
export class MinioUploads {
  private readonly partSize: number;

  constructor(
    private readonly connection: MinioConnection,
    partSize: number | undefined,
    private readonly currentETag: (key: string) => Promise<string | undefined>,
  ) {
    this.partSize = Math.max(partSize ?? defaultPartSize, 5 * MiB);
  }

  async put(
    key: string,
    body: Readable | Buffer,
    size: number,
    metadata: Record<string, string>,
    condition?: PutCondition,
  ): Promise<PutResult> {
    if (Buffer.isBuffer(body) && body.length !== size) {
      throw new BodySizeError(size, `the buffer holds ${body.length}`);
    }
    try {
      if (size > this.partSize) {
        const stream = Buffer.isBuffer(body) ? Readable.from([body]) : body;
        return await this.putMultipart(key, stream, size, metadata, condition);
      }
      const buffer = Buffer.isBuffer(body) ? body : await readBody(body, size);
      try {
        return await this.putSingle(key, buffer, metadata, condition);
      } catch (error) {
        if (!(await this.refusedWrongly(error, key, condition))) throw error;
        return { ...(await this.putSingle(key, buffer, metadata, undefined)), conditionOverruled: true };
      }
    } catch (error) {
      if (!Buffer.isBuffer(body)) body.destroy();
      throw error;
    }
  }

  /**
   * Whether the server refused `condition` although its own HEAD, asked right after, shows that it holds.
   * A distributed MinIO does that for an object whose drives disagree (one written while a node was down,
   * until a heal reaches it, which can take hours): HEAD and GET serve the object, listings leave it out, and
   * every conditional write of it is refused, so no machine could ever replace it. Such a refusal says
   * nothing about another writer; the write is then made without the condition, right after the HEAD.
   */
  private async refusedWrongly(error: unknown, key: string, condition?: PutCondition): Promise<boolean> {
    if (!(error instanceof PreconditionFailedError) || !condition) return false;
    const current = await this.currentETag(key);
    return condition.ifMatch !== undefined ? current === condition.ifMatch : current === undefined;
  }

  private async putSingle(
    key: string,
    body: Buffer,
    metadata: Record<string, string>,
    condition: PutCondition | undefined,
  ): Promise<PutResult> {
    const { connection } = this;
    const headers = {
      ...metadataHeaders(metadata),
      ...conditionHeaders(condition),
      ...connection.integrityHeaders(body),
    };
    return connection.retrying(`put ${key}`, async (attemptNumber) => {
      try {
        const response = await connection.request({ method: "PUT", objectName: key, headers }, body);
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

  private async putMultipart(
    key: string,
    body: Readable,
    size: number,
    metadata: Record<string, string>,
    condition: PutCondition | undefined,
  ): Promise<PutResult> {
    const partSize = Math.max(this.partSize, Math.ceil(size / maxParts / MiB) * MiB);
    let overruled = false;
    const uploadId = await this.startMultipart(key, metadata, condition).catch(async (error: unknown) => {
      if (!(await this.refusedWrongly(error, key, condition))) throw error;
      overruled = true;
      return this.startMultipart(key, metadata, undefined);
    });
    try {
      const partETags = await this.uploadParts(key, uploadId, body, size, partSize);
      try {
        const result = await this.completeMultipart(
          key,
          uploadId,
          partETags,
          overruled ? undefined : condition,
        );
        return overruled ? { ...result, conditionOverruled: true } : result;
      } catch (error) {
        if (overruled || !(await this.refusedWrongly(error, key, condition))) throw error;
        return {
          ...(await this.completeMultipart(key, uploadId, partETags, undefined)),
          conditionOverruled: true,
        };
      }
    } catch (error) {
      body.destroy();
      await this.abortMultipart(key, uploadId);
      throw error;
    }
  }

  private startMultipart(key: string, metadata: Record<string, string>, condition?: PutCondition) {
    const { connection } = this;
    return connection.retrying(`start upload of ${key}`, async () => {
      try {
        const headers = { ...metadataHeaders(metadata), ...conditionHeaders(condition) };
        const response = await connection.request({
          method: "POST",
          objectName: key,
          query: "uploads",
          headers,
        });
        return parseInitiateMultipart(await readText(response));
      } catch (error) {
        if (isConditionLost(error, condition)) throw new PreconditionFailedError(key);
        throw error;
      }
    });
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
    const { connection } = this;
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
      const etag = await connection.retrying(`upload part ${partNumber} of ${key}`, async () => {
        const headers = connection.integrityHeaders(part);
        const response = await connection.request({ method: "PUT", objectName: key, query, headers }, part);
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
  ): Promise<PutResult> {
    const { connection } = this;
    const payload = Buffer.from(
      buildCompleteMultipart(partETags.map((etag, index) => ({ partNumber: index + 1, etag }))),
    );
    const headers = { ...conditionHeaders(condition), "Content-Type": "application/xml" };
    const query = `uploadId=${queryEscape(uploadId)}`;
    return connection.retrying(`complete upload of ${key}`, async (attemptNumber) => {
      try {
        const response = await connection.request(
          { method: "POST", objectName: key, query, headers },
          payload,
        );
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
      const response = await this.connection.request(
        { method: "DELETE", objectName: key, query: `uploadId=${queryEscape(uploadId)}` },
        "",
        [204],
      );
      response.resume();
    } catch {
      // Best effort: the server expires abandoned uploads on its own.
    }
  }
}
