// One TCP (or TLS) connection to the gateway, opened the same way for HTTP exchanges and for WebSocket upgrades.
import net from "node:net";
import tls from "node:tls";
import { connectReusingBuffers } from "./socket-reads.ts";

export interface UpstreamTarget {
  host: string;
  port: number;
  tls: boolean;
  /** SNI name: the host unless it is an IP address. */
  servername: string | undefined;
}

export function upstreamTarget(url: URL): UpstreamTarget {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const secure = url.protocol === "https:";
  return {
    host,
    port: Number(url.port) || (secure ? 443 : 80),
    tls: secure,
    servername: net.isIP(host) === 0 ? host : undefined,
  };
}

/**
 * Starts connecting; writes made before the connection is up are queued by the socket. Its bytes go to the reader set
 * with `setReader` (socket-reads.ts): into reused buffers over plain TCP, as fresh chunks over TLS.
 */
export function connectUpstream(target: UpstreamTarget, use: "http" | "upgrade"): net.Socket {
  if (target.tls) {
    const socket = tls.connect({
      host: target.host,
      port: target.port,
      servername: target.servername,
      ALPNProtocols: ["http/1.1"],
    });
    socket.setNoDelay(true);
    return socket;
  }
  // HTTP exchanges read responses (large reads from the first); an upgrade's connection reads a 101, then sits idle.
  return connectReusingBuffers({ host: target.host, port: target.port, noDelay: true }, use === "http");
}
