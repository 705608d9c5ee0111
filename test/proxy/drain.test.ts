// SIGTERM on the real CLI process: stop accepting, finish in-flight requests, close WebSockets with 1001 after the
// grace period, exit 0.
import { spawn } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { type FakeGateway, startFakeGateway } from "../helpers/upstream.ts";

let gw: FakeGateway;
let slowUpstream: http.Server;
beforeAll(async () => {
  gw = await startFakeGateway();
});
afterAll(async () => {
  await gw?.close();
  slowUpstream?.close();
});

function startCli(env: Record<string, string>) {
  const child = spawn(process.execPath, ["src/cli.ts"], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const listening = new Promise<{ port: number }>((resolve, reject) => {
    const onData = () => {
      for (const line of out.split("\n")) {
        if (line.includes('"openclaw-sidecar listening"')) return resolve({ port: JSON.parse(line).port as number });
      }
    };
    child.stdout.on("data", onData);
    child.once("exit", (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
  listening.catch(() => {}); // a test that expects an early exit never awaits it
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return { child, listening, exited, output: () => out };
}

describe("graceful drain", () => {
  it("finishes an in-flight request, closes WebSockets with 1001, and exits 0", async () => {
    // An upstream that answers after 700 ms: the request is in flight when SIGTERM arrives.
    slowUpstream = http.createServer((req, res) => {
      if (req.url === "/slow-ok") setTimeout(() => res.end("finished"), 700);
      else res.end("ok");
    });
    slowUpstream.on("upgrade", (req, socket, head) => {
      // hand WebSockets to the fake gateway's server
      const proxy = http.request({ host: "127.0.0.1", port: gw.port, path: req.url, headers: req.headers });
      proxy.on("upgrade", (res, up, upHead) => {
        socket.write(
          `HTTP/1.1 101 Switching Protocols\r\n${Object.entries(res.headers)
            .map(([k, v]) => `${k}: ${v}`)
            .join("\r\n")}\r\n\r\n`,
        );
        if (upHead.length) socket.write(upHead);
        if (head.length) up.write(head);
        up.pipe(socket).pipe(up);
        socket.on("error", () => up.destroy());
        up.on("error", () => socket.destroy());
      });
      proxy.end();
    });
    await new Promise<void>((r) => slowUpstream.listen(0, "127.0.0.1", r));
    const cli = startCli({
      OPENCLAW_SIDECAR_LISTEN: "127.0.0.1:0",
      OPENCLAW_SIDECAR_ADMIN_LISTEN: "127.0.0.1:0",
      OPENCLAW_SIDECAR_UPSTREAM: `http://127.0.0.1:${(slowUpstream.address() as AddressInfo).port}`,
      OPENCLAW_SIDECAR_DRAIN_TIMEOUT_MS: "1500",
    });
    const { port } = await cli.listening;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`);
    await new Promise((r) => ws.once("message", r));
    const wsClosed = new Promise<{ code: number; at: number }>((r) =>
      ws.once("close", (code) => r({ code, at: Date.now() })),
    );
    const inFlight = fetch(`http://127.0.0.1:${port}/slow-ok`).then((r) => r.text());
    await new Promise((r) => setTimeout(r, 100));
    const signalled = Date.now();
    cli.child.kill("SIGTERM");
    expect(await inFlight).toBe("finished");
    // New connections are refused once draining started.
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
    const closed = await wsClosed;
    expect(closed.code).toBe(1001);
    expect(closed.at - signalled).toBeGreaterThanOrEqual(1400);
    expect(await cli.exited).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(4000);
    expect(cli.output()).toContain('"msg":"drained"');
  }, 15_000);

  it("exits at once when nothing is open", async () => {
    const cli = startCli({
      OPENCLAW_SIDECAR_LISTEN: "127.0.0.1:0",
      OPENCLAW_SIDECAR_ADMIN_LISTEN: "127.0.0.1:0",
      OPENCLAW_SIDECAR_UPSTREAM: gw.url,
    });
    await cli.listening;
    const t = Date.now();
    cli.child.kill("SIGTERM");
    expect(await cli.exited).toBe(0);
    expect(Date.now() - t).toBeLessThan(1000);
  });

  it("exits 78 with every problem listed on a bad configuration, and 69 when the port is taken", async () => {
    const bad = startCli({ OPENCLAW_SIDECAR_UPSTREAM: "nope", OPENCLAW_SIDECAR_TRUSTED_HOPS: "10.0.0.0/99" });
    expect(await bad.exited).toBe(78);
    expect(bad.output()).toContain('upstream: "nope" is not a URL');
    expect(bad.output()).toContain('trustedHops: "10.0.0.0/99" is not an IP address or CIDR');
    const taken = startCli({
      OPENCLAW_SIDECAR_LISTEN: `127.0.0.1:${gw.port}`,
      OPENCLAW_SIDECAR_ADMIN_LISTEN: "127.0.0.1:0",
      OPENCLAW_SIDECAR_UPSTREAM: gw.url,
    });
    expect(await taken.exited).toBe(69);
    expect(taken.output()).toContain(
      `cannot listen for the proxy on 127.0.0.1:${gw.port}: the address is already in use`,
    );
  });
});
