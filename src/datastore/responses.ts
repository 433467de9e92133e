/** Builders and parsers for the S3 XML bodies fedsync sends and reads. Every value stays a string. */
import { compareKeys } from "../scan/entry.js";
import type { ObjectInfo } from "./types.js";
import { childElement, childElements, childText, escapeXml, parseXml, type XmlElement } from "./xml.js";

const userMetaPrefix = "x-amz-meta-";

export function unquoteETag(etag: string): string {
  return etag.replace(/^"+|"+$/g, "");
}

/** Keys of a listing requested with `encoding-type=url` come back URL-encoded, with `+` for a space. */
function decodeListedKey(encoded: string): string {
  return decodeURIComponent(encoded.replace(/\+/g, " "));
}

/**
 * User metadata from header-like names (`X-Amz-Meta-Fedsync-Sha256`) to the interface's form
 * (`fedsync-sha256`). Other headers a server may add (content type, encryption) are left out.
 */
export function userMetadataFrom(entries: Iterable<[string, string]>): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [name, value] of entries) {
    const lower = name.toLowerCase();
    if (lower.startsWith(userMetaPrefix)) metadata[lower.slice(userMetaPrefix.length)] = value;
  }
  return metadata;
}

export interface ListPage {
  /** Objects and (with a delimiter) common prefixes of this page, in key order. */
  items: ObjectInfo[];
  /** Continuation token of the next page; undefined on the last page. */
  nextToken?: string;
}

function expectRoot(xml: string, name: string): XmlElement {
  const root = parseXml(xml);
  if (root.name !== name) throw new Error(`expected <${name}> in the response, got <${root.name}>`);
  return root;
}

/**
 * Parses one ListObjectsV2 page. With MinIO's `metadata=true` each entry carries `UserMetadata` (and
 * `Internal`); an entry with neither came from a server that ignored the extension and gets no metadata.
 */
export function parseListPage(xml: string, withMetadata: boolean): ListPage {
  const root = expectRoot(xml, "ListBucketResult");
  const items: ObjectInfo[] = [];
  for (const content of childElements(root, "Contents")) {
    const key = decodeListedKey(childText(content, "Key") ?? "");
    const info: ObjectInfo = {
      key,
      size: Number(childText(content, "Size") ?? "0"),
      etag: unquoteETag(childText(content, "ETag") ?? ""),
      lastModified: new Date(childText(content, "LastModified") ?? 0),
    };
    if (withMetadata) {
      const userMetadata = childElement(content, "UserMetadata");
      if (userMetadata || childElement(content, "Internal")) {
        info.metadata = userMetadataFrom(
          (userMetadata?.children ?? []).map((element): [string, string] => [element.name, element.text]),
        );
      }
    }
    items.push(info);
  }
  const prefixes = childElements(root, "CommonPrefixes").map((element): ObjectInfo => ({
    key: decodeListedKey(childText(element, "Prefix") ?? ""),
    size: 0,
    etag: "",
    lastModified: new Date(0),
  }));
  if (prefixes.length > 0) {
    items.push(...prefixes);
    items.sort((a, b) => compareKeys(a.key, b.key));
  }
  const truncated = childText(root, "IsTruncated") === "true";
  const token = childText(root, "NextContinuationToken");
  if (truncated && !token) throw new Error("truncated listing without a continuation token");
  return truncated ? { items, nextToken: token } : { items };
}

export function parseInitiateMultipart(xml: string): string {
  const uploadId = childText(expectRoot(xml, "InitiateMultipartUploadResult"), "UploadId");
  if (!uploadId) throw new Error("CreateMultipartUpload answered without an UploadId");
  return uploadId;
}

/** S3 may answer CompleteMultipartUpload with 200 and an error document; that is returned as `error`. */
export function parseCompleteMultipart(
  xml: string,
): { etag: string } | { error: { code: string; message: string } } {
  const root = parseXml(xml);
  if (root.name === "Error") {
    return { error: { code: childText(root, "Code") ?? "", message: childText(root, "Message") ?? "" } };
  }
  if (root.name !== "CompleteMultipartUploadResult") {
    throw new Error(`expected <CompleteMultipartUploadResult> in the response, got <${root.name}>`);
  }
  return { etag: unquoteETag(childText(root, "ETag") ?? "") };
}

export function buildCompleteMultipart(parts: { partNumber: number; etag: string }[]): string {
  const body = parts
    .map(
      (part) =>
        `<Part><PartNumber>${part.partNumber}</PartNumber><ETag>"${escapeXml(part.etag)}"</ETag></Part>`,
    )
    .join("");
  return `<CompleteMultipartUpload>${body}</CompleteMultipartUpload>`;
}

export function buildDeleteObjects(keys: string[]): string {
  const objects = keys.map((key) => `<Object><Key>${escapeXml(key)}</Key></Object>`).join("");
  return `<Delete><Quiet>true</Quiet>${objects}</Delete>`;
}

export interface DeleteFailure {
  key: string;
  code: string;
  message: string;
}

export function parseDeleteResult(xml: string): DeleteFailure[] {
  return childElements(expectRoot(xml, "DeleteResult"), "Error").map((element) => ({
    key: childText(element, "Key") ?? "",
    code: childText(element, "Code") ?? "",
    message: childText(element, "Message") ?? "",
  }));
}
