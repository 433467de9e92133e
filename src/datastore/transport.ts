/**
 * The HTTP layer under the minio client: pooled keep-alive connections, an idle timeout, and a count of every
 * request by S3 operation.
 */
import http from "node:http";
import https from "node:https";

/** Statuses the minio client treats as retryable: it throws without reading their body. */
const clientRetryableStatuses = new Set([408, 429, 499, 500, 502, 503, 504, 520]);

export interface TransportOptions {
  secure: boolean;
  bucket: string;
  /** PEM text of extra trusted CA certificates. */
  ca?: string;
  /** A request whose socket is silent this long fails with ETIMEDOUT. */
  idleTimeoutMs: number;
  /** Connections per endpoint; sized for the engine's concurrent transfers plus listings. */
  maxSockets: number;
  /** Told the S3 operation of every request as it starts. */
  onRequest?: (operation: string) => void;
}

/** The server's clock as one answer showed it (its Date header), and when that request went out and came back. */
export interface ClockSample {
  serverMs: number;
  sentAtMs: number;
  receivedAtMs: number;
}

export interface CountingTransport {
  agent: http.Agent;
  transport: { request: typeof http.request };
  counts(): Record<string, number>;
  /** The latest answer that carried a Date header, if any. */
  lastClock(): ClockSample | undefined;
}

function hasParam(query: URLSearchParams, name: string): boolean {
  return query.has(name);
}

/** The S3 operation of a request, from its method and path (path-style `/bucket/key?query` or virtual-host). */
export function operationName(method: string, path: string, bucket: string, virtualHost: boolean): string {
  const questionMark = path.indexOf("?");
  const resource = questionMark === -1 ? path : path.slice(0, questionMark);
  const query = new URLSearchParams(questionMark === -1 ? "" : path.slice(questionMark + 1));
  const objectPart = virtualHost ? resource.slice(1) : resource.slice(bucket.length + 2);
  const hasKey = objectPart.length > 0;
  const verb = method.toUpperCase();
  if (hasParam(query, "uploadId")) {
    if (verb === "PUT") return "UploadPart";
    if (verb === "POST") return "CompleteMultipartUpload";
    if (verb === "DELETE") return "AbortMultipartUpload";
    return "ListParts";
  }
  if (hasParam(query, "uploads")) return verb === "POST" ? "CreateMultipartUpload" : "ListMultipartUploads";
  if (hasParam(query, "delete") && verb === "POST") return "DeleteObjects";
  if (hasParam(query, "location")) return "GetBucketLocation";
  if (query.get("list-type") === "2") return "ListObjectsV2";
  if (hasParam(query, "events") && verb === "GET") return "ListenBucketNotification";
  switch (verb) {
    case "GET":
      return hasKey ? "GetObject" : "ListObjects";
    case "HEAD":
      return hasKey ? "HeadObject" : "HeadBucket";
    case "PUT":
      return hasKey ? "PutObject" : "CreateBucket";
    case "DELETE":
      return hasKey ? "DeleteObject" : "DeleteBucket";
    default:
      return `${verb} ${hasKey ? "object" : "bucket"}`;
  }
}

export function createTransport(options: TransportOptions): CountingTransport {
  const agentOptions = {
    keepAlive: true,
    maxSockets: options.maxSockets,
    maxFreeSockets: options.maxSockets,
    scheduling: "lifo" as const,
    timeout: options.idleTimeoutMs,
  };
  const agent = options.secure
    ? new https.Agent({ ...agentOptions, ...(options.ca ? { ca: options.ca } : {}) })
    : new http.Agent(agentOptions);
  const base = options.secure ? https.request : http.request;
  const counts: Record<string, number> = {};
  let clock: ClockSample | undefined;

  const request = ((
    requestOptions: http.RequestOptions,
    callback?: (response: http.IncomingMessage) => void,
  ) => {
    const host = String(requestOptions.host ?? requestOptions.hostname ?? "");
    const name = operationName(
      requestOptions.method ?? "GET",
      requestOptions.path ?? "/",
      options.bucket,
      host.startsWith(`${options.bucket}.`),
    );
    counts[name] = (counts[name] ?? 0) + 1;
    options.onRequest?.(name);
    const sentAtMs = Date.now();
    const outgoing = base(requestOptions, (response) => {
      const serverMs = Date.parse(response.headers.date ?? "");
      if (Number.isFinite(serverMs)) clock = { serverMs, sentAtMs, receivedAtMs: Date.now() };
      // The client rejects these without reading the body; drain it so the pooled socket is freed.
      if (response.statusCode !== undefined && clientRetryableStatuses.has(response.statusCode))
        response.resume();
      callback?.(response);
    });
    outgoing.on("timeout", () => {
      const error = Object.assign(new Error(`no answer within ${options.idleTimeoutMs} ms`), {
        code: "ETIMEDOUT",
      });
      outgoing.destroy(error);
    });
    return outgoing;
  }) as typeof http.request;

  return { agent, transport: { request }, counts: () => ({ ...counts }), lastClock: () => clock };
}
