/** Classifies client and network failures: which are worth retrying, and which DatastoreError they become. */
import { DatastoreError, type DatastoreErrorKind } from "./errors.js";

/** The server did not accept who is asking, with what it means for the operator. */
const credentialCodes = new Map([
  ["InvalidAccessKeyId", "no such access key on the server"],
  ["SignatureDoesNotMatch", "wrong secret key"],
  ["InvalidToken", "invalid session token"],
  ["ExpiredToken", "expired session token"],
]);

/** The credentials were accepted, the request was not. */
const permissionCodes = new Set(["AccessDenied", "AllAccessDisabled", "AuthorizationHeaderMalformed"]);

const transientCodes = new Set([
  "SlowDown",
  "ServiceUnavailable",
  "InternalError",
  "RequestTimeout",
  "OperationAborted",
  "XMinioServerNotInitialized",
  "XMinioReadQuorum",
  "XMinioWriteQuorum",
  "XMinioStorageFull",
]);

const networkCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
]);

/** Statuses the client reports as "Retryable HTTP status: N" without reading the body (its retry loop is off). */
const retryableStatusPattern = /Retryable HTTP status: (\d{3})/;

function errorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && code !== "" ? code : undefined;
}

function isTlsCode(code: string): boolean {
  return (
    code.startsWith("ERR_TLS_") ||
    code.startsWith("ERR_SSL_") ||
    code.includes("CERT") ||
    code === "EPROTO" ||
    code === "UNABLE_TO_VERIFY_LEAF_SIGNATURE" ||
    code === "SELF_SIGNED_CERT_IN_CHAIN"
  );
}

const UNTRUSTED_CERT_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
]);

/**
 * A TLS failure in words, on one line. OpenSSL's own text (`write EPROTO 80...:error:0A00010B:SSL
 * routines:ssl3_get_record:wrong version number:../deps/...:354:` and a line break) is cut to its reason.
 */
function tlsProblem(code: string, detail: string): string {
  const reason = /:error:[0-9A-F]+:[^:]*:[^:]*:([^:]+)/.exec(detail)?.[1] ?? detail.split("\n")[0]!.trim();
  // A plain-HTTP server answers the TLS hello with HTTP text, which OpenSSL reads as a bad record version.
  if (/wrong version number|packet length too long|http request/i.test(reason)) {
    return "TLS failed: the server does not speak TLS (use http:// in datastore.endpoint?)";
  }
  if (UNTRUSTED_CERT_CODES.has(code)) {
    return `TLS failed: the server's certificate is not trusted (${code}; set datastore.ca_file to the CA that signed it?)`;
  }
  return `TLS failed (${code}: ${reason})`;
}

/** The HTTP status of a retryable answer (5xx, 429, 408) the client turned into a plain Error. */
function retryableStatus(error: unknown): number | undefined {
  if (!(error instanceof Error)) return undefined;
  const match = retryableStatusPattern.exec(error.message);
  return match ? Number(match[1]) : undefined;
}

/** True for failures that may pass on a second try: network trouble, timeouts, 5xx, SlowDown. */
export function isTransient(error: unknown): boolean {
  if (error instanceof DatastoreError) return error.kind === "unreachable";
  const code = errorCode(error);
  if (code && (networkCodes.has(code) || transientCodes.has(code))) return true;
  return retryableStatus(error) !== undefined;
}

export function s3ErrorCode(error: unknown): string | undefined {
  return errorCode(error);
}

export interface FailureContext {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  /** What was being done, e.g. `put docs/a.txt`. */
  action: string;
}

/** Wraps any failure into a DatastoreError whose message names endpoint, bucket and action, never a secret. */
export function toDatastoreError(error: unknown, context: FailureContext): DatastoreError {
  if (error instanceof DatastoreError) return error;
  const where = `datastore ${context.endpoint} bucket ${context.bucket}: ${context.action}`;
  const code = errorCode(error);
  const detail = error instanceof Error && error.message ? error.message : String(error);
  const make = (kind: DatastoreErrorKind, message: string) =>
    new DatastoreError(kind, `${where}: ${message}`, { cause: error });

  const credentialProblem = code && credentialCodes.get(code);
  if (credentialProblem) {
    return make(
      "credentials",
      `credentials rejected for access key ${context.accessKeyId} (${code}: ${credentialProblem})`,
    );
  }
  if (code === "RequestTimeTooSkewed") {
    return make(
      "clock",
      "request time rejected: the clocks of this machine and the server differ (RequestTimeTooSkewed)",
    );
  }
  if (code && permissionCodes.has(code)) {
    return make("auth", `access key ${context.accessKeyId} is not allowed to do this (${code})`);
  }
  if (code === "NoSuchBucket") return make("no-bucket", "the bucket does not exist");
  if (code && isTlsCode(code)) return make("tls", tlsProblem(code, detail));
  if (code && networkCodes.has(code)) return make("unreachable", `cannot reach the server (${code})`);
  if (code && transientCodes.has(code))
    return make("unreachable", `the server is not answering normally (${code})`);
  const status = retryableStatus(error);
  if (status !== undefined) return make("unreachable", `the server answered HTTP ${status}`);
  return make("other", code ? `${code}: ${detail}` : detail);
}
