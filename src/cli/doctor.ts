import { resolveConfigPath } from "../config/index.js";
import { registerSecret } from "../log/index.js";
import { checkDatastore } from "./doctor-datastore.js";
import {
  checkConfig,
  checkFreeSpace,
  checkInotify,
  checkJournal,
  checkSdNotify,
  checkSecretFile,
} from "./doctor-local.js";
import { skip, type Finding, type Verdict } from "./doctor-verdicts.js";
import { EXIT_FAILURE, EXIT_OK } from "./exit.js";
import { plural } from "./format.js";
import type { GlobalOptions } from "./load-config.js";

/** Checks that need a valid config, reported as skipped without one. */
const CONFIG_CHECKS = [
  "datastore",
  "credentials",
  "bucket",
  "versioning",
  "notifications",
  "clock",
  "inotify",
  "free space",
  "journal",
];

async function runChecks(configPath: string): Promise<Finding[]> {
  const { finding, config } = checkConfig(configPath);
  const findings = [finding, checkSecretFile(configPath)];
  if (config) {
    registerSecret(config.datastore.secretAccessKey);
    findings.push(...(await checkDatastore(config)));
    findings.push(checkInotify(config), ...checkFreeSpace(config), checkJournal(config));
  } else {
    findings.push(...CONFIG_CHECKS.map((check) => skip(check, "not checked: the config is invalid")));
  }
  findings.push(checkSdNotify());
  return findings;
}

function summary(findings: Finding[]): string {
  const count = (verdict: Verdict) => findings.filter((finding) => finding.verdict === verdict).length;
  const failed = count("fail");
  const warned = count("warn");
  if (failed === 0) {
    return `healthy${warned > 0 ? `, with ${plural(warned, "warning")}` : ""}`;
  }
  return `not healthy: ${plural(failed, "check")} failed${warned > 0 ? `, ${plural(warned, "warning")}` : ""}`;
}

/**
 * `fedsync doctor`: every check with one line of verdict (and the fix, when it is not ok). Exits 0 when no
 * check failed (warnings included), 1 otherwise. Takes no lock and writes nothing, so it runs beside the agent.
 */
export async function doctorCommand(options: GlobalOptions & { json?: boolean }): Promise<number> {
  const findings = await runChecks(resolveConfigPath(options.config));
  const healthy = !findings.some((finding) => finding.verdict === "fail");
  if (options.json) {
    process.stdout.write(JSON.stringify({ healthy, checks: findings }, null, 2) + "\n");
  } else {
    for (const { check, verdict, message, fix } of findings) {
      process.stdout.write(`${verdict.padEnd(5)} ${check}: ${message}\n`);
      if (fix !== undefined) process.stdout.write(`      fix: ${fix}\n`);
    }
    process.stdout.write(`${summary(findings)}\n`);
  }
  return healthy ? EXIT_OK : EXIT_FAILURE;
}
