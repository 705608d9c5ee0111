// The gateway side of HTTP exchanges reads into one process-wide buffer (src/upstream-socket.ts) that is reused read
// after read unless a consumer still refers to it. If that rule were wrong anywhere, bytes of one response would be
// overwritten by a later read — of the same response or of another connection's. So: many connections at once, large
// bodies of distinct pseudo-random bytes in length-delimited, chunked and close-delimited framing, clients that read
// at full speed and clients that stall and resume (so writes to them go asynchronous), pipelined requests, and every
// body compared byte for byte with what the gateway sent.
import { createHash } from "node:crypto";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestSidecar, startTestSidecar } from "./helpers/sidecar.ts";

/** Deterministic bytes for (seed, length): the gateway and the check agree without keeping the bodies around. */
function body(seed: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

let gateway: http.Server;
let sidecar: TestSidecar;
let port = 0;

beforeAll(async () => {
  gateway = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const seed = Number(url.searchParams.get("seed"));
    const length = Number(url.searchParams.get("len"));
    const framing = url.searchParams.get("framing");
    const data = body(seed, length);
    if (framing === "length") res.setHeader("Content-Length", length);
    if (framing === "close") res.setHeader("Connection", "close");
    if (framing === "close") res.useChunkedEncodingByDefault = false;
    res.writeHead(200, { "Content-Type": "application/octet-stream" });
    // Uneven pieces, some with a pause between them, so reads land at every offset.
    let off = 0;
    const step = () => {
      while (off < data.length) {
        const n = Math.min(data.length - off, 1 + ((seed * 7919 + off) % 150_000));
        const ok = res.write(data.subarray(off, off + n));
        off += n;
        if (off % 3 === 0) return void setImmediate(step);
        if (!ok) return void res.once("drain", step);
      }
      res.end();
    };
    step();
  });
  await new Promise<void>((r) => gateway.listen(0, "127.0.0.1", r));
  sidecar = await startTestSidecar({ "--upstream": `http://127.0.0.1:${(gateway.address() as AddressInfo).port}` });
  port = sidecar.sidecar.proxyAddress.port;
});

afterAll(async () => {
  await sidecar.close();
  await new Promise((r) => gateway.close(r));
});

/** Sends `requests` pipelined on one connection and returns the bodies, reading slowly if asked. */
function exchange(requests: { seed: number; len: number; framing: string }[], slow: boolean): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const raw = requests.map((r, i) => `GET /?seed=${r.seed}&len=${r.len}&framing=${r.framing} HTTP/1.1\r\nHost: x\r\n${i === requests.length - 1 ? "Connection: close\r\n" : ""}\r\n`).join("");
    socket.write(raw);
    const parts: Buffer[] = [];
    // A stalling reader takes nothing for a while, then pauses after every read: the kernel's buffers toward it fill,
    // so the sidecar's writes to it stay queued, referring to the bytes it read from the gateway.
    const stall = (ms: number) => {
      socket.pause();
      setTimeout(() => socket.resume(), ms);
    };
    if (slow) stall(100);
    socket.on("data", (chunk: Buffer) => {
      parts.push(chunk);
      if (slow) stall(3);
    });
    socket.on("error", reject);
    socket.on("close", () => {
      try {
        resolve(parseResponses(Buffer.concat(parts), requests.length));
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}

function parseResponses(all: Buffer, count: number): Buffer[] {
  const bodies: Buffer[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const end = all.indexOf("\r\n\r\n", at);
    if (end < 0) throw new Error(`response ${i}: no head`);
    const head = all.toString("latin1", at, end);
    at = end + 4;
    const length = /\r\ncontent-length: (\d+)/i.exec(head);
    if (length) {
      bodies.push(all.subarray(at, at + Number(length[1])));
      at += Number(length[1]);
    } else if (/\r\ntransfer-encoding: chunked/i.test(head)) {
      const pieces: Buffer[] = [];
      for (;;) {
        const lineEnd = all.indexOf("\r\n", at);
        const size = parseInt(all.toString("latin1", at, lineEnd), 16);
        at = lineEnd + 2;
        if (size === 0) {
          at = all.indexOf("\r\n", at) + 2;
          break;
        }
        pieces.push(all.subarray(at, at + size));
        at += size + 2;
      }
      bodies.push(Buffer.concat(pieces));
    } else {
      bodies.push(all.subarray(at));
      at = all.length;
    }
  }
  return bodies;
}

describe("shared read buffer for gateway reads", () => {
  it("relays every body byte for byte: 24 connections at once, fast and stalling readers, three framings, pipelined", async () => {
    const jobs: Promise<void>[] = [];
    for (let c = 0; c < 24; c++) {
      const framings = ["length", "chunked", "length", "close"];
      // A close-delimited response ends its connection: it can only be the last on it.
      const requests = [0, 1, 2].map((i) => ({ seed: c * 10 + i + 1, len: 1 + ((c * 104_729 + i * 7_919) % (c % 2 ? 700_000 : 6_000_000)), framing: i === 2 ? (framings[c % 4] as string) : (framings[(c + i) % 3] as string) }));
      jobs.push(
        exchange(requests, c % 2 === 0).then((bodies) => {
          expect(bodies.length).toBe(requests.length);
          requests.forEach((r, i) => expect(sha(bodies[i] as Buffer), `connection ${c} response ${i} (${r.framing}, ${r.len} B)`).toBe(sha(body(r.seed, r.len))));
        }),
      );
    }
    await Promise.all(jobs);
  }, 60_000);
});
