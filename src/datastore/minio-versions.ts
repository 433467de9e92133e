/** The requests that deal in object versions: the bucket's versioning, a key's versions, a deletion taken back. */
import type { Readable } from "node:stream";
import { deleteIfCurrent } from "./delete-current.js";
import { NotFoundError } from "./errors.js";
import { s3ErrorCode } from "./failures.js";
import { queryEscape, readText, type MinioConnection } from "./minio-connection.js";
import { userMetadataFrom } from "./responses.js";
import type { BucketVersioning, ObjectInfo, ObjectVersion } from "./types.js";
import { parseVersioning, parseVersionsPage } from "./versions.js";

export async function readVersioning(connection: MinioConnection): Promise<BucketVersioning> {
  return connection.retrying("read bucket versioning", async () => {
    const response = await connection.request({ method: "GET", query: "versioning" });
    return parseVersioning(await readText(response));
  });
}

export async function listVersions(connection: MinioConnection, key: string): Promise<ObjectVersion[]> {
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
    const page = await connection.retrying(`list versions of ${key}`, async () => {
      const response = await connection.request({ method: "GET", query });
      return parseVersionsPage(await readText(response));
    });
    versions.push(...page.versions.filter((version) => version.key === key));
    if (!page.next || page.versions.some((version) => version.key !== key)) break;
    marker = page.next;
  }
  for (const version of versions) {
    if (!version.metadata)
      version.metadata = (await statVersion(connection, key, version.versionId)).metadata;
  }
  return versions;
}

/** A version's user metadata, for servers whose version listing does not carry it. */
async function statVersion(
  connection: MinioConnection,
  key: string,
  versionId: string,
): Promise<{ metadata: Record<string, string> }> {
  return connection.retrying(`stat ${key} version ${versionId}`, async () => {
    const query = `versionId=${queryEscape(versionId)}`;
    const response = await connection.request({ method: "HEAD", objectName: key, query });
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

export async function getVersion(
  connection: MinioConnection,
  key: string,
  versionId: string,
): Promise<Readable> {
  return connection.retrying(`get ${key} version ${versionId}`, async () => {
    try {
      const query = `versionId=${queryEscape(versionId)}`;
      return await connection.request({ method: "GET", objectName: key, query });
    } catch (error) {
      const code = s3ErrorCode(error);
      if (code === "NoSuchKey" || code === "NoSuchVersion") throw new NotFoundError(key);
      throw error;
    }
  });
}

/** Deletes `key` while it is still the version `expected` (see delete-current.ts). */
export async function deleteVersionIfCurrent(
  connection: MinioConnection,
  key: string,
  expected: ObjectInfo,
): Promise<void> {
  await deleteIfCurrent(
    {
      deleteObject: (objectKey, versionId) =>
        connection.retrying(`delete ${objectKey}`, async () => {
          const query = versionId === undefined ? "" : `versionId=${queryEscape(versionId)}`;
          const response = await connection.request(
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
        connection.retrying(`list versions of ${objectKey}`, async () => {
          const query = `versions&encoding-type=url&max-keys=1000&prefix=${queryEscape(objectKey)}`;
          const response = await connection.request({ method: "GET", query });
          return parseVersionsPage(await readText(response)).versions;
        }),
    },
    key,
    expected,
  );
}
