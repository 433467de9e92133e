/** The HTTP endpoint Prometheus scrapes: GET /metrics on `metrics.listen`, 404 for every other path. */
import http from "node:http";
import type { Registry } from "prom-client";

const LISTEN_PROBLEMS: Record<string, string> = {
  EADDRINUSE: "address already in use",
  EADDRNOTAVAIL: "no such address on this machine",
  EACCES: "permission denied",
  ENOTFOUND: "unknown host",
  EAI_AGAIN: "host name lookup failed",
};

export class MetricsListenError extends Error {}

/** `host:port` as the config has it (`[::1]:9464` for IPv6) into what `listen` takes. */
export function parseListen(listen: string): { host: string; port: number } {
  const colon = listen.lastIndexOf(":");
  const host = listen.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  return { host, port: Number(listen.slice(colon + 1)) };
}

export interface MetricsServer {
  /** The address bound, as `host:port`. */
  readonly address: string;
  close(): Promise<void>;
}

/** Serves `registry` on exactly `listen`; fails with one MetricsListenError when it cannot bind. */
export async function serveMetrics(listen: string, registry: Registry): Promise<MetricsServer> {
  const server = http.createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    if (path !== "/metrics") {
      response
        .writeHead(404, { "content-type": "text/plain; charset=utf-8" })
        .end("not found; try /metrics\n");
      return;
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { "content-type": registry.contentType }).end(text),
      (error: unknown) =>
        response
          .writeHead(500, { "content-type": "text/plain; charset=utf-8" })
          .end(`cannot collect metrics: ${error instanceof Error ? error.message : String(error)}\n`),
    );
  });
  const { host, port } = parseListen(listen);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      const reason = LISTEN_PROBLEMS[error.code ?? ""] ?? error.message;
      reject(new MetricsListenError(`cannot serve metrics on ${listen}: ${reason}`));
    });
    server.listen({ host, port }, resolve);
  });
  const bound = server.address();
  const address =
    bound && typeof bound === "object"
      ? `${bound.family === "IPv6" ? `[${bound.address}]` : bound.address}:${bound.port}`
      : listen;
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
