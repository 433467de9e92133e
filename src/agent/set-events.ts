import type { Config, SetConfig } from "../config/types.js";
import type { AuditEntry } from "../history/audit.js";
import { SetHooks } from "../hooks/set-hooks.js";
import type { Logger } from "../log/index.js";
import type { AgentMetrics } from "../metrics/agent-metrics.js";
import type { PassResult, PassScope } from "../reconcile/pass.js";

/**
 * What a set runner tells the rest of the agent about its work: the metrics and the hooks listen here.
 * Each call is cheap and never throws.
 */
export interface SetEvents {
  /** A pass is about to start. */
  passStarted(scope: PassScope): void;
  /** A change a pass applied or published (an audit-trail entry). */
  applied(entry: AuditEntry): void;
  /** A pass ran to its end or stopped at a guard. */
  passFinished(scope: PassScope, result: PassResult): void;
  /** A pass ended with an error (the datastore unreachable, say). */
  passFailed(scope: PassScope, durationMs: number): void;
  /**
   * Lightweight sets: whether the bucket-notification stream is open (true once opened or reopened) or
   * broken (false until it is reopened).
   */
  notificationStream(up: boolean): void;
}

/** The events of one set, wired to its metrics and hooks; `stop` waits for the set's hooks. */
export function setEvents(
  config: Config,
  set: SetConfig,
  metrics: AgentMetrics,
  logger: Logger,
): { events: SetEvents; stop(): Promise<void> } {
  const setMetrics = metrics.forSet(set.name);
  const hooks = new SetHooks({
    set,
    machine: config.machine,
    logger,
    onRun: (hook, result) => setMetrics.hookRan(hook, result),
  });
  return {
    events: {
      passStarted: () => hooks.passStarted(),
      applied: (entry) => hooks.applied(entry),
      passFinished: (scope, result) => {
        setMetrics.passFinished(scope, result);
        hooks.passEnded();
      },
      passFailed: (scope, durationMs) => {
        setMetrics.passFailed(scope, durationMs);
        hooks.passEnded();
      },
      notificationStream: (up) => setMetrics.notificationStream(up),
    },
    stop: () => hooks.stop(),
  };
}
