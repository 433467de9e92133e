import type { DatastoreError } from "../datastore/errors.js";
import { StreamNotAnsweredError } from "../datastore/listen.js";
import type { BucketEvent, Datastore } from "../datastore/types.js";

/**
 * - `healthy`: the stream is open; changes elsewhere arrive within milliseconds;
 * - `reconnecting`: it is not open yet, or broke, and is being opened again with backoff;
 * - `unsupported`: the server has no notification API (plain S3) or refuses it to these credentials.
 */
export type NotificationHealth = "healthy" | "reconnecting" | "unsupported";

export interface FollowerHandlers {
  onEvents(events: BucketEvent[]): void;
  /** The health changed; `error` says why the stream is not healthy. */
  onHealth(health: NotificationHealth, error?: DatastoreError): void;
}

/** The first reconnect waits about this long; each failure doubles it, up to RECONNECT_MAX_MS. */
const RECONNECT_FIRST_MS = 500;
const RECONNECT_MAX_MS = 30_000;
/** A stream that stayed open this long was a success: the next break starts the backoff over. */
const STABLE_MS = 30_000;
/** A server without notifications is asked again this rarely (it may have been upgraded, or the policy fixed). */
const UNSUPPORTED_RETRY_MS = 60 * 60_000;
/**
 * Requests in a row left without any answer that make a server count as one that holds its stream back (a
 * single one may be a slow start or a dropped connection).
 */
const UNANSWERED_LIMIT = 3;

/** The wait before reconnect attempt `attempt` (0 first): doubling, capped, and jittered over its upper half. */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Keeps one notification stream open for a prefix: reconnects with jittered, capped backoff when it breaks
 * and says how healthy it is, so the caller can poll the change log rarely while it is healthy and often
 * while it is not.
 */
export class NotificationFollower {
  private state: NotificationHealth = "reconnecting";
  private stream?: { close(): void };
  private timer?: NodeJS.Timeout;
  private attempt = 0;
  private unanswered = 0;
  private openedAt?: number;
  private stopped = false;

  constructor(
    private readonly datastore: Datastore,
    private readonly prefix: string,
    private readonly handlers: FollowerHandlers,
    private readonly random: () => number = Math.random,
  ) {}

  get health(): NotificationHealth {
    return this.state;
  }

  start(): void {
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.stream?.close();
  }

  private connect() {
    this.timer = undefined;
    if (this.stopped) return;
    this.stream = this.datastore.listen(this.prefix, {
      onOpen: () => {
        this.openedAt = Date.now();
        this.unanswered = 0;
        this.setHealth("healthy");
      },
      onEvents: (events) => this.handlers.onEvents(events),
      onClose: (error) => this.closed(error),
    });
  }

  private closed(error: DatastoreError) {
    this.stream = undefined;
    if (this.stopped) return;
    if (this.openedAt !== undefined && Date.now() - this.openedAt >= STABLE_MS) this.attempt = 0;
    this.openedAt = undefined;
    this.unanswered = error.cause instanceof StreamNotAnsweredError ? this.unanswered + 1 : 0;
    const unsupported =
      error.kind === "unsupported" || error.kind === "auth" || this.unanswered >= UNANSWERED_LIMIT;
    this.setHealth(unsupported ? "unsupported" : "reconnecting", error);
    if (unsupported) this.unanswered = 0;
    const delay = unsupported ? UNSUPPORTED_RETRY_MS : reconnectDelay(this.attempt++, this.random);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  private setHealth(health: NotificationHealth, error?: DatastoreError) {
    if (health === this.state) return;
    this.state = health;
    this.handlers.onHealth(health, error);
  }
}
