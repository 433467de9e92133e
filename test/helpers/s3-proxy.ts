import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { freePort, type MinioServer } from "./minio.js";

/**
 * What the proxy does with bucket notification requests (GET with `events=`); everything else is passed to
 * the MinIO server untouched.
 * - `pass`: streamed through as it arrives;
 * - `refuse`: 503 SlowDown, as a server in trouble answers;
 * - `unsupported`: 501 NotImplemented, as S3 servers without the listen API answer;
 * - `listing`: 200 with a ListBucketResult, as a server that ignores the unknown parameters answers;
 * - `hold`: never answered, like a server that holds its stream back;
 * - `freeze`: streamed through until the headers, then nothing more (a connection that died silently).
 */
export type ListenMode = "pass" | "refuse" | "unsupported" | "listing" | "hold" | "freeze";

export interface S3Proxy {
  endpoint: string;
  listenMode: ListenMode;
  /** Notification requests received so far. */
  readonly listenRequests: number;
  /**
   * Object keys left out of every listing answer (ListObjectsV2), as a distributed MinIO can leave out an
   * object while a write or a heal is under way; a HEAD or GET still finds them.
   */
  readonly hiddenFromListings: Set<string>;
  /**
   * Object keys unknown to this node altogether: HEAD and GET answer 404 and listings leave them out, as a
   * distributed MinIO node back from a failure can answer for objects written while it was down.
   */
  readonly unknownHere: Set<string>;
  /**
   * Conditional writes (If-Match, If-None-Match) answered 412 whatever the object, as a distributed MinIO
   * answers them for an object whose drives disagree until it is healed.
   */
  refuseConditionalWrites: boolean;
  /** Every request's connection reset, and the notification streams cut, as while a node is down. */
  down: boolean;
  /** Ends every notification stream in progress, as a dropped connection would. */
  cutListeners(): void;
  close(): void;
}

function xmlError(response: ServerResponse, status: number, code: string, message: string) {
  response.writeHead(status, { "content-type": "application/xml" });
  response.end(
    `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`,
  );
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Passes a listing answer on without the `<Contents>` of the hidden keys. */
function hideListed(answer: IncomingMessage, response: ServerResponse, hidden: ReadonlySet<string>) {
  const chunks: Buffer[] = [];
  answer.on("data", (chunk: Buffer) => chunks.push(chunk));
  answer.on("end", () => {
    let body = Buffer.concat(chunks).toString("utf8");
    for (const key of hidden) {
      const pattern = escapeXml(key).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      body = body.replace(new RegExp(`<Contents><Key>${pattern}</Key>.*?</Contents>`, "gs"), "");
    }
    const headers = { ...answer.headers, "content-length": String(Buffer.byteLength(body)) };
    response.writeHead(answer.statusCode ?? 502, headers);
    response.end(body);
  });
}

/** The object key of a path-style request (`/bucket/key?query`), "" for a bucket-level one. */
function objectKey(request: IncomingMessage): string {
  const path = new URL(request.url ?? "/", "http://proxy").pathname;
  const slash = path.indexOf("/", 1);
  return slash === -1 ? "" : decodeURIComponent(path.slice(slash + 1));
}

/** An HTTP front for a test MinIO server that can break, refuse or freeze its notification streams. */
export async function startS3Proxy(minio: MinioServer): Promise<S3Proxy> {
  const listeners = new Set<ServerResponse>();
  let listenRequests = 0;
  let down = false;
  const proxy: S3Proxy = {
    endpoint: "",
    listenMode: "pass",
    hiddenFromListings: new Set(),
    unknownHere: new Set(),
    refuseConditionalWrites: false,
    get down() {
      return down;
    },
    set down(value: boolean) {
      down = value;
      if (down) proxy.cutListeners();
    },
    get listenRequests() {
      return listenRequests;
    },
    cutListeners() {
      for (const response of listeners) response.destroy();
      listeners.clear();
    },
    close() {
      proxy.cutListeners();
      server.closeAllConnections();
      server.close();
    },
  };
  const server = createServer((request, response) => {
    if (down) return request.socket.destroy();
    const isListen = request.method === "GET" && /[?&]events=/.test(request.url ?? "");
    if (isListen) {
      listenRequests++;
      const mode = proxy.listenMode;
      if (mode === "refuse") return xmlError(response, 503, "SlowDown", "Please reduce your request rate.");
      if (mode === "unsupported") return xmlError(response, 501, "NotImplemented", "Not implemented.");
      if (mode === "listing") {
        response.writeHead(200, { "content-type": "application/xml" });
        response.end(
          '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name></ListBucketResult>',
        );
        return;
      }
      listeners.add(response);
      response.on("close", () => listeners.delete(response));
      if (mode === "hold") return;
    }
    const conditional = request.headers["if-match"] ?? request.headers["if-none-match"];
    if (
      proxy.refuseConditionalWrites &&
      conditional &&
      (request.method === "PUT" || request.method === "POST")
    ) {
      request.resume();
      return xmlError(
        response,
        412,
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold",
      );
    }
    if (
      (request.method === "HEAD" || request.method === "GET") &&
      proxy.unknownHere.has(objectKey(request))
    ) {
      request.resume();
      return xmlError(response, 404, "NoSuchKey", "The specified key does not exist.");
    }
    const frozen = isListen && proxy.listenMode === "freeze";
    const upstream = httpRequest(
      {
        host: "127.0.0.1",
        port: minio.port,
        method: request.method,
        path: request.url,
        headers: request.headers,
      },
      (answer) => {
        const isListing = request.method === "GET" && /[?&]list-type=2/.test(request.url ?? "");
        const hidden = new Set([...proxy.hiddenFromListings, ...proxy.unknownHere]);
        if (isListing && hidden.size > 0) return hideListed(answer, response, hidden);
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        response.flushHeaders();
        if (frozen) return;
        answer.pipe(response);
      },
    );
    upstream.on("error", () => response.destroy());
    response.on("close", () => upstream.destroy());
    request.pipe(upstream);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  proxy.endpoint = `http://127.0.0.1:${port}`;
  return proxy;
}
