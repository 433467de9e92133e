/** `fedsync doctor`'s checks of the datastore: reachable, credentials, bucket, versioning, notifications, clock. */
import type { Config } from "../config/index.js";
import { createMinioDatastore, DatastoreError, type Datastore } from "../datastore/index.js";
import { fail, info, judgeClock, ok, skip, warn, type Finding } from "./doctor-verdicts.js";

/** Doctor's requests give up quickly: one try, 10 s of silence at most. */
const DOCTOR_OPTIONS = { retries: 0, idleTimeoutMs: 10_000 };

async function failureOf(attempt: Promise<unknown>): Promise<DatastoreError | undefined> {
  try {
    await attempt;
    return undefined;
  } catch (error) {
    if (error instanceof DatastoreError) return error;
    throw error;
  }
}

const REACH_FIXES: Partial<Record<string, string>> = {
  unreachable: "check datastore.endpoint, the network path to it, and that the server runs",
  tls: "set datastore.ca_file to the certificate of the CA that signed the server's certificate",
};

export async function checkDatastore(config: Config): Promise<Finding[]> {
  const { endpoint, bucket, accessKeyId } = config.datastore;
  const datastore = createMinioDatastore(config.datastore, DOCTOR_OPTIONS);
  const failure = await failureOf(datastore.check());
  const kind = failure?.kind;
  const findings: Finding[] = [];
  const reached = kind === undefined || !["unreachable", "tls", "other"].includes(kind);
  findings.push(
    reached
      ? ok("datastore", `${endpoint} answers`)
      : fail("datastore", failure!.message, REACH_FIXES[kind!] ?? "check datastore.endpoint"),
  );
  const clock = datastore.serverClock();
  if (!reached) {
    for (const check of ["credentials", "bucket", "versioning", "notifications", "clock"]) {
      findings.push(skip(check, "not checked: the datastore did not answer"));
    }
    return findings;
  }
  if (kind === "clock") {
    findings.push(skip("credentials", "not checked: the server refused the request time"));
  } else if (kind === "credentials") {
    findings.push(
      fail(
        "credentials",
        failure!.message,
        `put the secret key of access key ${accessKeyId} in datastore.secret_access_key_file (or fix datastore.access_key_id)`,
      ),
    );
  } else {
    findings.push(ok("credentials", `access key ${accessKeyId} accepted`));
  }
  const bucketUsable = kind === undefined;
  if (kind === "no-bucket") {
    findings.push(
      fail(
        "bucket",
        `${bucket} does not exist`,
        `create it once for the federation, e.g. mc mb ALIAS/${bucket}`,
      ),
    );
  } else if (kind === "auth") {
    findings.push(
      fail(
        "bucket",
        `access key ${accessKeyId} may not list ${bucket} (${failure!.message})`,
        `check the bucket name, and attach the policy of docs/install.md (s3:ListBucket on arn:aws:s3:::${bucket}) to the key's user`,
      ),
    );
  } else if (bucketUsable) {
    findings.push(ok("bucket", `${bucket} exists and can be listed`));
  } else {
    findings.push(skip("bucket", "not checked: the credentials were not accepted"));
  }
  if (bucketUsable) {
    findings.push(await checkVersioning(datastore, bucket));
    findings.push(await checkNotifications(datastore, config));
  } else {
    findings.push(skip("versioning", "not checked: the bucket cannot be used"));
    findings.push(skip("notifications", "not checked: the bucket cannot be used"));
  }
  if (kind === "clock") {
    findings.push(
      fail("clock", failure!.message, "synchronise this machine's clock (timedatectl set-ntp true)"),
    );
  } else {
    findings.push(
      clock ? judgeClock(clock, config.clockSkewMs) : skip("clock", "not checked: no answer carried a Date"),
    );
  }
  return findings;
}

async function checkVersioning(datastore: Datastore, bucket: string): Promise<Finding> {
  try {
    const state = await datastore.versioning();
    if (state === "enabled")
      return ok("versioning", "on: fedsync history and restore reach every version kept");
    const hint = `mc version enable ALIAS/${bucket} keeps every version`;
    return state === "suspended"
      ? info("versioning", `suspended: only the versions made while it was on are kept (${hint})`)
      : info(
          "versioning",
          `off: fedsync history shows current versions and this machine's trash only (${hint})`,
        );
  } catch (error) {
    if (!(error instanceof DatastoreError)) throw error;
    return warn(
      "versioning",
      `cannot read it: ${error.message}`,
      `allow s3:GetBucketVersioning on arn:aws:s3:::${bucket} in the key's policy, for fedsync history`,
    );
  }
}

async function checkNotifications(datastore: Datastore, config: Config): Promise<Finding> {
  const lightweight = config.sets.filter((set) => set.method === "lightweight").length;
  const fallback = "lightweight sets poll the change log every poll_interval instead";
  try {
    if (await datastore.notificationsAvailable()) {
      return ok("notifications", "the server's listen API answers: lightweight sets hear of changes at once");
    }
    const message = `the server has no listen API (not MinIO?): ${fallback}`;
    return lightweight > 0
      ? warn("notifications", message, "use MinIO for changes within a second")
      : info("notifications", message);
  } catch (error) {
    if (!(error instanceof DatastoreError)) throw error;
    const refused = error.kind === "auth" || error.kind === "credentials";
    const message = `the listen API ${refused ? "refused" : "did not answer"}: ${error.message}; ${fallback}`;
    const fix = refused
      ? `allow s3:ListenBucketNotification on arn:aws:s3:::${config.datastore.bucket} in the key's policy`
      : "check that the server is MinIO and that no proxy in between holds back streamed answers";
    return lightweight > 0 ? warn("notifications", message, fix) : info("notifications", message);
  }
}
