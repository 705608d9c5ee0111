// Graceful shutdown, in the order a proxy should: stop accepting, let in-flight requests finish, give WebSockets the
// same grace period to close by themselves, then say 1001 to those still open, and close what is left. `Traffic` is
// the count drain waits on: requests and upgrades in flight (the router begins and ends them) and the draining flag
// every new exchange checks.
import type net from "node:net";
import type http from "node:http";
import type { ClientConnection } from "../http/client-connection.ts";
import type { UpgradeForwarder } from "../http/forward-upgrade.ts";
import type { Logger } from "../ops/log.ts";

/** Requests and upgrades in flight, and whether the sidecar is draining. */
export class Traffic {
  draining = false;
  inFlight = 0;
  private idleWaiter: (() => void) | undefined;

  begin(): void {
    this.inFlight++;
  }

  end(): void {
    if (--this.inFlight === 0 && this.idleWaiter) this.idleWaiter();
  }

  /** `wake` is called the next time nothing is in flight (drain's wait ends early). */
  onIdle(wake: () => void): void {
    this.idleWaiter = wake;
  }
}

export interface DrainParts {
  traffic: Traffic;
  /** Grace period for in-flight requests and open WebSockets (drainTimeoutMs). */
  graceMs: number;
  /** Listeners that stop accepting at once (the proxy, the redirect, the apps origin). */
  listeners: Array<net.Server | http.Server | undefined>;
  connections: ReadonlySet<ClientConnection>;
  forwarders: Array<UpgradeForwarder | undefined>;
  admin: http.Server;
  /** Stopped with the listeners: what would start new work (ACME's order loop). */
  stopAccepting(): void;
  /** Stopped once the traffic is gone: the deadline sweep, the certificate watcher. */
  stop(): void;
  logger: Logger;
}

/** The sidecar's drain(): resolves when everything is closed; safe to call twice. */
export function createDrain(parts: DrainParts): () => Promise<void> {
  const { traffic, logger } = parts;
  let drained: Promise<void> | undefined;
  const tunnels = () => parts.forwarders.flatMap((f) => (f === undefined ? [] : [...f.tunnels]));
  return () => {
    drained ??= (async () => {
      traffic.draining = true;
      logger.info({ inFlight: traffic.inFlight, websockets: tunnels().length, graceMs: parts.graceMs }, "draining");
      for (const listener of parts.listeners) listener?.close();
      parts.stopAccepting();
      for (const c of parts.connections) c.closeIfIdle();
      const deadline = Date.now() + parts.graceMs;
      // In-flight requests finish; WebSockets get the same grace period to close by themselves.
      await waitUntil(
        () => traffic.inFlight === 0 && tunnels().length === 0,
        deadline,
        (wake) => traffic.onIdle(wake),
      );
      for (const tunnel of tunnels()) tunnel.goAway();
      await waitUntil(() => tunnels().length === 0, Date.now() + 1000);
      for (const tunnel of tunnels()) {
        tunnel.client.destroy();
        tunnel.upstream.destroy();
      }
      for (const c of parts.connections) c.destroy();
      parts.stop();
      await new Promise<void>((resolve) => parts.admin.close(() => resolve()));
      parts.admin.closeAllConnections();
      logger.info("drained");
    })();
    return drained;
  };
}

/** Resolves when `done()` holds or at the deadline; polls every 50 ms, or sooner when woken. */
export async function waitUntil(
  done: () => boolean,
  deadline: number,
  register?: (wake: () => void) => void,
): Promise<void> {
  while (!done() && Date.now() < deadline) {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, Math.min(50, Math.max(0, deadline - Date.now())));
      register?.(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
