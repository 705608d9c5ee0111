// The sockets the sidecar listens on and the client connections they accept: listen() with errors a person can act
// on, and the connection registry — the maxConnections cap, the active-connections gauge, and one sweep that checks
// every connection's deadlines (as Node's http server does: no timer per request).
import type http from "node:http";
import type net from "node:net";
import type { AddressInfo, Socket } from "node:net";
import { ClientConnection, type ConnectionOptions } from "../http/client-connection.ts";
import { destroySelf } from "../http/forward-upgrade.ts";
import { refuseSocket } from "../http/responses.ts";
import type { Logger } from "../ops/log.ts";
import type { Metrics } from "../ops/metrics.ts";
import type { HostPort } from "../options/config.ts";

export class ListenError extends Error {
  constructor(what: string, at: HostPort, err: NodeJS.ErrnoException) {
    const why =
      err.code === "EADDRINUSE"
        ? "the address is already in use"
        : err.code === "EACCES"
          ? "permission denied (ports below 1024 need privileges)"
          : err.code === "EADDRNOTAVAIL"
            ? "no interface has this address"
            : err.message;
    super(`cannot listen for ${what} on ${formatHostPort(at)}: ${why}`);
    this.name = "ListenError";
  }
}

export const formatHostPort = (hp: HostPort): string =>
  hp.host.includes(":") ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;

export function listen(server: net.Server | http.Server, at: HostPort, what: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(new ListenError(what, at, err));
    server.once("error", onError);
    server.listen({ host: at.host, port: at.port }, () => {
      server.removeListener("error", onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** The deadlines the sweep serves (the engine's own options). */
export interface DeadlineOptions {
  headersTimeoutMs: number;
  upstreamTimeoutMs: number;
  bodyTimeoutMs: number;
  sendTimeoutMs: number;
}

export interface ConnectionRegistry {
  readonly all: ReadonlySet<ClientConnection>;
  /** Takes an accepted socket: a client connection, or a 503 when maxConnections are open. */
  accept(socket: Socket, options: ConnectionOptions): void;
  /** A connection that closed (ConnectionOptions.onClosed). */
  remove(connection: ClientConnection): void;
  /** Stops the deadline sweep. */
  stop(): void;
}

export function createConnectionRegistry(opts: {
  maxConnections: number;
  deadlines: DeadlineOptions;
  metrics: Metrics;
  logger: Logger;
}): ConnectionRegistry {
  const { maxConnections, deadlines, metrics, logger } = opts;
  const connections = new Set<ClientConnection>();
  const openConnections = metrics.activeConnections.labels("http");
  // Every client socket counts, HTTP or WebSocket (a tunnel keeps the socket it was upgraded on), until it closes.
  let open = 0;
  // One sweep for every connection's deadlines: a quarter of the shortest, between 10 ms and 1 s.
  const sweepMs = Math.max(
    10,
    Math.min(
      1000,
      deadlines.headersTimeoutMs / 4,
      deadlines.upstreamTimeoutMs / 4,
      deadlines.bodyTimeoutMs / 4,
      deadlines.sendTimeoutMs / 4,
    ),
  );
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const c of connections) c.checkDeadline(now);
  }, sweepMs).unref();
  return {
    all: connections,
    accept(socket, options) {
      if (open >= maxConnections) {
        metrics.connectionsRefused.inc();
        logger.warn(
          { kind: "http", client: socket.remoteAddress, maxConnections },
          "connection refused: maxConnections reached",
        );
        socket.on("error", destroySelf);
        refuseSocket(socket, {
          status: 503,
          type: "too_many_connections",
          message: "the sidecar is at its connection limit (maxConnections); try again later",
          headers: { "Retry-After": "1" },
        });
        return;
      }
      open++;
      openConnections.inc();
      socket.once("close", () => {
        open--;
        openConnections.dec();
      });
      connections.add(new ClientConnection(socket, options));
    },
    remove: (connection) => void connections.delete(connection),
    stop: () => clearInterval(sweep),
  };
}
