/** Parsers for the bucket-versioning answers: GetBucketVersioning and ListObjectVersions. */
import { unquoteETag, userMetadataFrom } from "./responses.js";
import type { BucketVersioning, ObjectVersion } from "./types.js";
import { childElement, childText, parseXml } from "./xml.js";

export function parseVersioning(xml: string): BucketVersioning {
  const root = parseXml(xml);
  if (root.name !== "VersioningConfiguration") {
    throw new Error(`expected <VersioningConfiguration> in the response, got <${root.name}>`);
  }
  const status = childText(root, "Status");
  if (status === "Enabled") return "enabled";
  if (status === "Suspended") return "suspended";
  return "off";
}

export interface VersionsPage {
  /** Versions and delete markers of this page, in listing order (by key, then newest first). */
  versions: ObjectVersion[];
  /** Markers of the next page; undefined on the last page. */
  next?: { keyMarker: string; versionIdMarker: string };
}

/** Keys of a listing requested with `encoding-type=url` come back URL-encoded, with `+` for a space. */
function decodeListedKey(encoded: string): string {
  return decodeURIComponent(encoded.replace(/\+/g, " "));
}

/**
 * Parses one ListObjectVersions page (requested with `encoding-type=url`). With MinIO's `metadata=true` each
 * version carries `UserMetadata`; a version without it gets no metadata (the caller reads it separately).
 */
export function parseVersionsPage(xml: string): VersionsPage {
  const root = parseXml(xml);
  if (root.name !== "ListVersionsResult") {
    throw new Error(`expected <ListVersionsResult> in the response, got <${root.name}>`);
  }
  const versions: ObjectVersion[] = [];
  for (const element of root.children) {
    if (element.name !== "Version" && element.name !== "DeleteMarker") continue;
    const deleteMarker = element.name === "DeleteMarker";
    const version: ObjectVersion = {
      key: decodeListedKey(childText(element, "Key") ?? ""),
      versionId: childText(element, "VersionId") ?? "null",
      isLatest: childText(element, "IsLatest") === "true",
      deleteMarker,
      size: Number(childText(element, "Size") ?? "0"),
      etag: unquoteETag(childText(element, "ETag") ?? ""),
      lastModified: new Date(childText(element, "LastModified") ?? 0),
    };
    const userMetadata = childElement(element, "UserMetadata");
    if (deleteMarker) version.metadata = {};
    else if (userMetadata || childElement(element, "Internal")) {
      version.metadata = userMetadataFrom(
        (userMetadata?.children ?? []).map((child): [string, string] => [child.name, child.text]),
      );
    }
    versions.push(version);
  }
  if (childText(root, "IsTruncated") !== "true") return { versions };
  const keyMarker = childText(root, "NextKeyMarker");
  const versionIdMarker = childText(root, "NextVersionIdMarker");
  if (!keyMarker) throw new Error("truncated version listing without a NextKeyMarker");
  return {
    versions,
    next: { keyMarker: decodeListedKey(keyMarker), versionIdMarker: versionIdMarker ?? "" },
  };
}
