// Every socket the sidecar reads over plain TCP reads into a buffer of its own that is reused read after read unless
// a consumer still refers to it (src/http/socket-reads.ts). If that rule were wrong anywhere, bytes would be
// overwritten by a later read before they were written on. So, for each direction the sidecar relays: many connections
// at once, large payloads of distinct pseudo-random bytes in every framing, peers that read at full speed and peers
// that stall and resume (so the sidecar's writes to them go asynchronous), pipelining, and every payload compared byte
// for byte.
// - gateway → client: response bodies (length, chunked, close-delimited), clients that stall;
// - client → gateway: request bodies (length, chunked), sent in uneven pieces, to a gateway that stalls;
// - WebSocket tunnels: messages of every size both ways, echoed by a gateway that stalls, read by clients that stall.
import { createHash } from "node:crypto";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { type TestSidecar, startTestSidecar } from "../helpers/sidecar.ts";

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
    if (req.method === "POST") return void receiveUpload(req, res, url.searchParams.get("stall") === "1");
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
  // The WebSocket echo: every message back as it came; on /stall its socket pauses now and then, so the sidecar's
  // writes toward it queue up.
  const wss = new WebSocketServer({ server: gateway, perMessageDeflate: false, maxPayload: 8 * 1024 * 1024 });
  wss.on("connection", (ws, req) => {
    const stall = req.url === "/stall";
    let n = 0;
    ws.on("message", (data: Buffer, isBinary) => {
      ws.send(data, { binary: isBinary });
      if (stall && ++n % 400 === 0) pauseFor(ws, 300);
    });
  });
  await new Promise<void>((r) => gateway.listen(0, "127.0.0.1", r));
  sidecar = await startTestSidecar({ "--upstream": `http://127.0.0.1:${(gateway.address() as AddressInfo).port}` });
  port = sidecar.sidecar.proxyAddress.port;
});

afterAll(async () => {
  await sidecar.close();
  await new Promise((r) => gateway.close(r));
});

/** Reads an upload and answers its length and SHA-256; a stalling gateway pauses between reads. */
function receiveUpload(req: http.IncomingMessage, res: http.ServerResponse, stall: boolean): void {
  const hash = createHash("sha256");
  let length = 0;
  let sinceStall = 0;
  req.on("data", (chunk: Buffer) => {
    hash.update(chunk);
    length += chunk.length;
    sinceStall += chunk.length;
    // Long enough for the kernel's buffers toward us to fill: the sidecar's writes then go part-way.
    if (stall && sinceStall > 2 * 1024 * 1024) {
      sinceStall = 0;
      req.pause();
      setTimeout(() => req.resume(), 200);
    }
  });
  req.on("end", () => res.end(JSON.stringify({ length, sha: hash.digest("hex") })));
}

/** Stops reading a WebSocket's socket for `ms` (ws has no pause of its own in this version's API). */
function pauseFor(ws: WebSocket, ms: number): void {
  ws.pause();
  setTimeout(() => ws.resume(), ms);
}

/** Sends `requests` pipelined on one connection and returns the bodies, reading slowly if asked. */
function exchange(requests: { seed: number; len: number; framing: string }[], slow: boolean): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const raw = requests
      .map(
        (r, i) =>
          `GET /?seed=${r.seed}&len=${r.len}&framing=${r.framing} HTTP/1.1\r\nHost: x\r\n${i === requests.length - 1 ? "Connection: close\r\n" : ""}\r\n`,
      )
      .join("");
    socket.write(raw);
    const parts: Buffer[] = [];
    // A stalling reader takes nothing for a while, then pauses after every read: the kernel's buffers toward it fill,
    // so the sidecar's writes to it stay queued, referring to the bytes it read from the gateway.
    const stall = (ms: number) => {
      socket.pause();
      setTimeout(() => socket.resume(), ms);
    };
    if (slow) stall(300);
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

describe("reused read buffers: gateway reads", () => {
  it("relays every body byte for byte: 24 connections at once, fast and stalling readers, three framings, pipelined", async () => {
    const jobs: Promise<void>[] = [];
    for (let c = 0; c < 24; c++) {
      const framings = ["length", "chunked", "length", "close"];
      // A close-delimited response ends its connection: it can only be the last on it.
      const requests = [0, 1, 2].map((i) => ({
        seed: c * 10 + i + 1,
        len: 1 + ((c * 104_729 + i * 7_919) % (c % 2 ? 700_000 : 6_000_000)),
        framing: i === 2 ? (framings[c % 4] as string) : (framings[(c + i) % 3] as string),
      }));
      jobs.push(
        exchange(requests, c % 2 === 0).then((bodies) => {
          expect(bodies.length).toBe(requests.length);
          requests.forEach((r, i) =>
            expect(sha(bodies[i] as Buffer), `connection ${c} response ${i} (${r.framing}, ${r.len} B)`).toBe(
              sha(body(r.seed, r.len)),
            ),
          );
        }),
      );
    }
    await Promise.all(jobs);
  }, 60_000);
});

/** Writes `data` in uneven pieces, pausing now and then, like a client on a real network. */
async function writeUnevenly(socket: net.Socket, data: Buffer, seed: number, small: boolean): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const n = Math.min(data.length - off, 1 + ((seed * 7919 + off) % (small ? 12_000 : 90_000)));
    const ok = socket.write(data.subarray(off, off + n));
    off += n;
    if (!ok) await new Promise((r) => socket.once("drain", r));
    // Small pieces each on their own turn of the event loop arrive in reads of their own.
    else if (small || off % 5 === 0) await new Promise((r) => setImmediate(r));
  }
}

const chunked = (data: Buffer, seed: number): Buffer => {
  const parts: Buffer[] = [];
  for (let off = 0; off < data.length;) {
    const n = Math.min(data.length - off, 1 + ((seed * 104_729 + off) % 40_000));
    parts.push(
      Buffer.from(`${n.toString(16)}\r\n`, "latin1"),
      data.subarray(off, off + n),
      Buffer.from("\r\n", "latin1"),
    );
    off += n;
  }
  parts.push(Buffer.from("0\r\n\r\n", "latin1"));
  return Buffer.concat(parts);
};

describe("reused read buffers: client reads", () => {
  it("relays every upload byte for byte: 24 connections at once, three pipelined POSTs each, length and chunked, to a gateway that stalls on half of them", async () => {
    const jobs: Promise<void>[] = [];
    for (let c = 0; c < 24; c++) {
      const uploads = [0, 1, 2].map((i) => ({
        seed: 1000 + c * 10 + i,
        len: 1 + ((c * 7_919 + i * 104_729) % (c % 4 === 0 ? 6_000_000 : 400_000)),
        chunked: (c + i) % 2 === 1,
        stall: c % 2 === 0,
      }));
      jobs.push(
        (async () => {
          const socket = net.connect(port, "127.0.0.1");
          const parts: Buffer[] = [];
          socket.on("data", (chunk: Buffer) => parts.push(chunk));
          const closed = new Promise<void>((resolve, reject) => {
            socket.on("close", () => resolve());
            socket.on("error", reject);
          });
          for (const [i, u] of uploads.entries()) {
            const data = body(u.seed, u.len);
            const framing = u.chunked ? "Transfer-Encoding: chunked" : `Content-Length: ${u.len}`;
            const last = i === uploads.length - 1 ? "Connection: close\r\n" : "";
            socket.write(`POST /upload?stall=${u.stall ? 1 : 0} HTTP/1.1\r\nHost: x\r\n${framing}\r\n${last}\r\n`);
            await writeUnevenly(socket, u.chunked ? chunked(data, u.seed) : data, u.seed, c % 4 === 0);
          }
          await closed;
          const answers = parseResponses(Buffer.concat(parts), uploads.length).map(
            (b) => JSON.parse(b.toString()) as { length: number; sha: string },
          );
          uploads.forEach((u, i) =>
            expect(answers[i], `connection ${c} upload ${i} (${u.chunked ? "chunked" : "length"}, ${u.len} B)`).toEqual(
              { length: u.len, sha: sha(body(u.seed, u.len)) },
            ),
          );
        })(),
      );
    }
    await Promise.all(jobs);
  }, 90_000);

  it("relays every WebSocket message byte for byte, both ways: 16 tunnels at once, 1 B to 1 MiB messages, a gateway and clients that stall", async () => {
    const jobs: Promise<void>[] = [];
    for (let c = 0; c < 8; c++) {
      jobs.push(
        new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/${c % 2 ? "stall" : "fast"}`, {
            perMessageDeflate: false,
            maxPayload: 8 * 1024 * 1024,
          });
          // Mostly small messages, each sent on its own turn of the event loop so that it arrives in a read of its own:
          // while one end stalls, the kernel's buffers toward it fill, the sidecar's write of such a read goes part-way
          // with less than a high-water mark left, and the sidecar reads on — the case a reused buffer must survive.
          const sizes = Array.from(
            { length: 2000 },
            (_, i) => 1 + ((c * 7_919 + i * 104_729 + i * i * 31) % (i % 500 === 7 ? 1_048_576 : 12_000)),
          );
          let received = 0;
          ws.on("error", reject);
          ws.on("open", async () => {
            for (const [i, size] of sizes.entries()) {
              ws.send(body(5000 + c * 1000 + i, size));
              await new Promise((r) => setImmediate(r));
            }
          });
          ws.on("message", (data: Buffer) => {
            const i = received++;
            try {
              expect(data.length, `tunnel ${c} message ${i}`).toBe(sizes[i]);
              expect(sha(data), `tunnel ${c} message ${i} (${sizes[i]} B)`).toBe(
                sha(body(5000 + c * 1000 + i, sizes[i] as number)),
              );
            } catch (err) {
              reject(err as Error);
              return;
            }
            if (c % 4 < 2 && i % 400 === 0) pauseFor(ws, 300);
            if (received === sizes.length) {
              ws.close();
              resolve();
            }
          });
        }),
      );
    }
    await Promise.all(jobs);
  }, 90_000);
});
