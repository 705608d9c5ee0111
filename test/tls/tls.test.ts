// TLS termination: HTTPS and WSS round trips with a test CA, certificate swap picked up without a restart and
// without closing an open WebSocket, HSTS, the HTTP→HTTPS redirect, and clear startup errors for bad key pairs.
import { copyFileSync, readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { ConfigError, loadConfig } from "../../src/options/config.ts";
import { type TestCa, createTestCa } from "../helpers/certs.ts";
import { eventually } from "../helpers/net.ts";
import { startTestSidecar, type TestSidecar } from "../helpers/sidecar.ts";
import { type FakeGateway, startFakeGateway } from "../helpers/upstream.ts";

let ca: TestCa;
let gw: FakeGateway;
let sc: TestSidecar;
let live: { cert: string; key: string };
let second: { cert: string; key: string };

beforeAll(async () => {
  ca = createTestCa();
  const first = ca.issue("first");
  second = ca.issue("second");
  live = { cert: `${ca.dir}/live.pem`, key: `${ca.dir}/live.key` };
  copyFileSync(first.cert, live.cert);
  copyFileSync(first.key, live.key);
  gw = await startFakeGateway();
  sc = await startTestSidecar({
    "--upstream": gw.url,
    "--tls-cert": live.cert,
    "--tls-key": live.key,
    "--hsts": "true",
    "--https-redirect-listen": "127.0.0.1:0",
  });
});
afterAll(async () => {
  await sc?.close();
  await gw?.close();
});

const port = () => sc.sidecar.proxyAddress.port;
const peerCn = () =>
  new Promise<string>((resolve, reject) => {
    const s = tls.connect(
      { host: "127.0.0.1", port: port(), ca: readFileSync(ca.caCert), servername: "localhost" },
      () => {
        resolve(String(s.getPeerCertificate().subject.CN));
        s.end();
      },
    );
    s.on("error", reject);
  });

function httpsGet(path: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: "127.0.0.1", port: port(), path, ca: readFileSync(ca.caCert), servername: "localhost" }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
      .on("error", reject);
  });
}

describe("TLS termination", () => {
  it("serves HTTPS with the configured certificate, tells the gateway the scheme, and sends HSTS", async () => {
    const res = await httpsGet("/x");
    expect(res.status).toBe(200);
    expect(res.headers["strict-transport-security"]).toBe("max-age=31536000; includeSubDomains");
    expect(JSON.parse(res.body).headers["x-forwarded-proto"]).toBe("https");
    expect(await peerCn()).toBe("first");
  });

  it("relays WSS, and a certificate swap is picked up without a restart and without closing the open WebSocket", async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${port()}/echo`, {
      ca: readFileSync(ca.caCert),
      servername: "localhost",
    } as WebSocket.ClientOptions);
    await new Promise((r) => ws.once("message", r)); // connect.challenge
    let closed = false;
    ws.once("close", () => (closed = true));

    copyFileSync(second.cert, live.cert);
    copyFileSync(second.key, live.key);
    await eventually(async () => (await peerCn()) === "second", 10_000, "the new certificate to be served");

    ws.send("still here");
    const echo = await new Promise<string>((r) => ws.once("message", (d) => r(d.toString())));
    expect(echo).toBe("still here");
    expect(closed).toBe(false);
    ws.close();
    expect(sc.logs.some((l) => l.msg === "TLS certificate reloaded")).toBe(true);
  });

  it("keeps the previous certificate when the new files are broken", async () => {
    const before = await peerCn();
    copyFileSync(ca.caCert, live.key); // not the key of live.pem
    await eventually(
      () => sc.logs.some((l) => String(l.msg).startsWith("TLS certificate reload failed")),
      10_000,
      "the reload failure to be logged",
    );
    expect(await peerCn()).toBe(before);
  });

  it("redirects plain HTTP to HTTPS with 308", async () => {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http
        .get(
          {
            host: "127.0.0.1",
            port: sc.sidecar.redirectAddress!.port,
            path: "/chat?x=1",
            headers: { host: "claw.example.com:8080" },
          },
          resolve,
        )
        .on("error", reject);
    });
    res.resume();
    expect(res.statusCode).toBe(308);
    expect(res.headers.location).toBe(`https://claw.example.com:${port()}/chat?x=1`);
  });
});

describe("TLS configuration errors", () => {
  it("names a key that does not belong to the certificate", () => {
    const a = ca.issue("a");
    const b = ca.issue("b");
    try {
      loadConfig({ flags: { "--tls-cert": a.cert, "--tls-key": b.key } });
      throw new Error("expected a ConfigError");
    } catch (err) {
      expect((err as ConfigError).problems).toEqual([
        `tlsCert "${a.cert}" / tlsKey "${b.key}": the key does not belong to the certificate`,
      ]);
    }
  });

  it("names a file that is not PEM", () => {
    const a = ca.issue("c");
    expect(() => loadConfig({ flags: { "--tls-cert": `${ca.dir}/c.cnf`, "--tls-key": a.key } })).toThrow(
      /not a usable PEM certificate and key/,
    );
  });
});
