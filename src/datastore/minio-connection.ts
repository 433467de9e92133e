import { createHash } from "node:crypto";
import type http from "node:http";
import { Client } from "minio";
import pRetry from "p-retry";
import type { DatastoreConfig } from "../config/types.js";
import { DatastoreError } from "./errors.js";
import { isTransient, toDatastoreError } from "./failures.js";
import { createTransport, type ClockSample } from "./transport.js";
import type { ServerClock } from "./types.js";

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

const checkDeadlineMs = 10_000;

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
export function queryEscape(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

export async function readText(response: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export function md5(data: Buffer): Buffer {
  return createHash("md5").update(data).digest();
}

/** An S3 error shaped like the client's, for error documents that arrive inside a 200 answer. */
export function s3Error(code: string, message: string): Error {
  return Object.assign(new Error(message || code), { code });
}

export interface RetryPolicy {
  retries: number;
  minTimeout: number;
  maxTimeout: number;
  maxRetryTime?: number;
}

/**
 * One bucket on one server through the `minio` client, which signs and sends every request: requests,
 * retries, deadlines, and every failure as a DatastoreError.
 */
export class MinioConnection {
  readonly bucket: string;
  private readonly accessKeyId: string;
  private readonly client: Client;
  private readonly endpoint: Endpoint;
  private readonly retryPolicy: RetryPolicy;
  private readonly counts: () => Record<string, number>;
  private readonly lastClock: () => ClockSample | undefined;

  constructor(config: DatastoreConfig, options: MinioDatastoreOptions) {
    this.bucket = config.bucket;
    this.accessKeyId = config.accessKeyId;
    this.endpoint = parseEndpoint(config.endpoint);
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

  fail(error: unknown, action: string): DatastoreError {
    return toDatastoreError(error, {
      endpoint: this.endpoint.display,
      bucket: this.bucket,
      accessKeyId: this.accessKeyId,
      action,
    });
  }

  /** Runs an idempotent request, retrying transient failures; every failure comes out as a DatastoreError. */
  async retrying<T>(
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

  request(
    options: { method: string; objectName?: string; query?: string; headers?: Record<string, string> },
    payload: Buffer | string = "",
    expected: number[] = [200],
  ): Promise<http.IncomingMessage> {
    return this.client.makeRequestAsync({ ...options, bucketName: this.bucket }, payload, expected);
  }

  /** Headers that let the server verify a body: its SHA-256 is signed on plain http, so MD5 only for https. */
  integrityHeaders(body: Buffer): Record<string, string> {
    return this.client.enableSHA256 ? {} : { "Content-MD5": md5(body).toString("base64") };
  }

  /** Fails as unreachable when `attempt` has not settled within `deadlineMs`. */
  async withinDeadline<T>(action: string, attempt: Promise<T>, deadlineMs = checkDeadlineMs): Promise<T> {
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

  requestCounts(): Record<string, number> {
    return this.counts();
  }
}
