import { spawnSync } from "node:child_process";

/** The shell every hook runs with. */
export const HOOK_SHELL = "/bin/sh";

/**
 * Why a hook command cannot run, or undefined when it can: empty, a NUL byte, or a shell syntax error as
 * `sh -n` (read, never execute) reports it.
 */
export function hookCommandProblem(command: string): string | undefined {
  if (command.trim() === "") return "must not be empty";
  if (command.includes("\0")) return "must not contain NUL";
  const check = spawnSync(HOOK_SHELL, ["-n", "-c", command], { encoding: "utf8", timeout: 5000 });
  if (check.error) return `cannot run ${HOOK_SHELL} to check the command (${check.error.message})`;
  if (check.status === 0) return undefined;
  const message = check.stderr
    .trim()
    .split("\n")[0]!
    .replace(/^.*?sh: (-c: )?(line )?\d+: /, "")
    .replace(/^syntax error: /i, "");
  return `shell syntax error: ${message || `${HOOK_SHELL} -n exited ${check.status}`}`;
}
