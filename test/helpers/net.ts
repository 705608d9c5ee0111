// Small socket helpers for tests: raw HTTP exchanges, fd counting, polling.
import { readdirSync } from "node:fs";
import net from "node:net";

/** Sends raw bytes and collects everything until the server closes (or `ms` passes). */
export function rawExchange(port: number, bytes: string | Buffer, ms = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let out = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(out);
    }, ms);
    socket.on("data", (d) => (out += d.toString("latin1")));
    socket.on("error", (err) => {
      clearTimeout(timer);
      if (out) resolve(out);
      else reject(err);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(out);
    });
    socket.write(bytes);
  });
}

export const openFds = (): number => readdirSync("/proc/self/fd").length;

export async function eventually(
  check: () => boolean | Promise<boolean>,
  ms = 5000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

export const upgradeRequest = (path: string, extra = ""): string =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;

/**
 * A port that was free a moment ago, for a process that must be told its port up front (nginx, a restarted server):
 * whoever uses it must cope with losing the race (retry), which is why servers of our own bind port 0 instead.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
