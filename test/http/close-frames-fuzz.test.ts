// Seeded differential test: random frame streams (opcodes, lengths and their encodings, masks, fragmentation with
// interleaved control frames, permessage-deflate, a close with a random code and reason at the end, and in some
// streams one protocol violation), fed to FrameReader and to ws's own Receiver (what the gateway runs) in the same
// random chunks. Both must agree on the frame count, the close code and reason, and whether the stream is broken.
// Fixed seed and budget; FUZZ_SEED / FUZZ_STREAMS override them to explore, and a failure names seed and stream.
import { createRequire } from "node:module";
import path from "node:path";
import type { Writable } from "node:stream";
import { deflateRawSync, constants as zlib } from "node:zlib";
import { describe, expect, it } from "vitest";
import { FrameReader } from "../../src/http/close-frames.ts";
import { type Rng, rng } from "../helpers/rng.ts";

// ws's Receiver and PerMessageDeflate are internal (not in its "exports"): load them by path, pinned ws 8.23.1.
const require = createRequire(import.meta.url);
const wsLib = path.join(path.dirname(require.resolve("ws")), "lib");
interface WsReceiver extends Writable {
  _errored: boolean;
  dataMessage(cb: unknown): void;
  controlMessage(data: Buffer, cb: unknown): void;
}
const Receiver = require(path.join(wsLib, "receiver.js")) as new (opts: object) => WsReceiver;
const PerMessageDeflate = require(path.join(wsLib, "permessage-deflate.js")) as new (opts: object) => {
  accept(offers: object[]): void;
  cleanup(): void;
};

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed_f4a3);
const STREAMS = Number(process.env.FUZZ_STREAMS ?? 2000);

interface Spec {
  opcode: number;
  payload?: Buffer;
  fin?: boolean;
  rsv?: number;
  wide?: boolean;
  flipMask?: boolean;
}

function encoder(rnd: Rng, masked: boolean) {
  return ({ opcode, payload = Buffer.alloc(0), fin = true, rsv = 0, wide = false, flipMask = false }: Spec): Buffer => {
    const len = payload.length;
    // Non-minimal length encodings are legal and ws accepts them; `wide` picks one at random.
    const bits = len < 126 && !wide ? 7 : len < 65536 && !(wide && rnd.chance(0.5)) ? 16 : 64;
    const doMask = masked !== flipMask;
    const head = [(fin ? 0x80 : 0) | (rsv << 4) | opcode];
    const m = doMask ? 0x80 : 0;
    if (bits === 7) head.push(m | len);
    else if (bits === 16) head.push(m | 126, len >> 8, len & 0xff);
    else head.push(m | 127, 0, 0, 0, 0, (len >>> 24) & 0xff, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff);
    if (!doMask) return Buffer.concat([Buffer.from(head), payload]);
    const key = rnd.chance(0.05) ? Buffer.alloc(4) : rnd.bytes(4);
    return Buffer.concat([Buffer.from(head), key, Buffer.from(payload.map((b, i) => b ^ (key[i & 3] as number)))]);
  };
}

const GATEWAY_REASONS = [
  "pairing required: device is not approved yet (requestId: 3f0c8a0e-8a8c-4c6e-9d1b-3c1f0f0f0f0f)",
  "unauthorized: gateway token mismatch (open the dashboard URL and paste the token in Control UI settings)",
  "origin not allowed (open the Control UI from the gateway host or allow it in gateway.controlUi.allowedOrigins)",
  "control ui requires device identity (use HTTPS or localhost secure context)",
  "device identity required",
  "protocol mismatch",
  "preauth payload too large",
  "",
];
const CHARS = ["a", "b", "z", " ", ":", "é", "€", "😀", "\u0000"];
const VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014];
const INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 2999, 5000, 65535];

/** A string of at most maxBytes UTF-8 bytes, cut at a character boundary. */
function text(rnd: Rng, maxBytes: number, source?: string): string {
  const chars =
    source !== undefined ? [...source] : Array.from({ length: rnd.int(maxBytes + 1) }, () => rnd.pick(CHARS));
  let out = "";
  let used = 0;
  for (const c of chars) {
    used += Buffer.byteLength(c);
    if (used > maxBytes) break;
    out += c;
  }
  return out;
}

function size(rnd: Rng): number {
  const r = rnd.int(100);
  return r < 55 ? rnd.int(20) : r < 85 ? rnd.int(300) : r < 97 ? 126 + rnd.int(3000) : 65_536 + rnd.int(80_000);
}

interface Generated {
  bytes: Buffer;
  frames: number;
  close: { code: number; reason: string };
  corrupt: string | undefined;
}

function generate(rnd: Rng, masked: boolean): Generated {
  const enc = encoder(rnd, masked);
  const parts: Buffer[] = [];
  let frames = 0;
  const push = (spec: Spec) => {
    parts.push(enc(spec));
    frames++;
  };
  const control = () => push({ opcode: rnd.pick([9, 10]), payload: rnd.bytes(rnd.int(126)) });
  const items = rnd.int(8);
  const corruptAt = rnd.chance(0.2) ? rnd.int(items + 1) : -1;
  let corrupt: string | undefined;
  for (let item = 0; item <= items; item++) {
    if (item === corruptAt) corrupt = corruption(rnd, parts, enc, masked);
    if (item === items) break;
    if (rnd.chance(0.25)) {
      control();
      continue;
    }
    const opcode = rnd.pick([1, 2]);
    let payload = opcode === 1 ? Buffer.from(text(rnd, size(rnd))) : rnd.bytes(size(rnd));
    const compressed = rnd.chance(0.25);
    if (compressed) payload = deflateRawSync(payload, { finishFlush: zlib.Z_SYNC_FLUSH }).subarray(0, -4);
    const cuts = rnd.chance(0.3)
      ? Array.from({ length: 1 + rnd.int(4) }, () => rnd.int(payload.length + 1)).sort((a, b) => a - b)
      : [];
    const bounds = [0, ...cuts, payload.length];
    for (let f = 0; f + 1 < bounds.length; f++) {
      if (f > 0 && rnd.chance(0.3)) control(); // control frames may sit between fragments (RFC 6455 §5.4)
      const last = f + 2 === bounds.length;
      push({
        opcode: f === 0 ? opcode : 0,
        fin: last,
        rsv: compressed && f === 0 ? 4 : 0,
        payload: payload.subarray(bounds[f], bounds[f + 1]),
        wide: rnd.chance(0.1),
      });
    }
  }
  let close: Generated["close"];
  if (rnd.chance(0.1)) {
    close = { code: 1005, reason: "" };
    push({ opcode: 8 });
  } else {
    const code = rnd.chance(0.7) ? rnd.pick(VALID_CODES) : 3000 + rnd.int(2000);
    close = { code, reason: rnd.chance(0.4) ? text(rnd, 123, rnd.pick(GATEWAY_REASONS)) : text(rnd, 123) };
    push({ opcode: 8, payload: Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(close.reason)]) });
  }
  return { bytes: Buffer.concat(parts), frames, close, corrupt };
}

/** Appends one protocol violation (sometimes two frames long) and names it. */
function corruption(rnd: Rng, parts: Buffer[], enc: (s: Spec) => Buffer, masked: boolean): string {
  const closeWith = (body: Buffer) => enc({ opcode: 8, payload: body });
  const kinds: Record<string, () => Buffer[]> = {
    reservedOpcode: () => [
      enc({ opcode: rnd.pick([3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]), payload: rnd.bytes(rnd.int(4)) }),
    ],
    longControl: () => [enc({ opcode: rnd.pick([8, 9, 10]), payload: rnd.bytes(126 + rnd.int(100)) })],
    fragmentedControl: () => [enc({ opcode: rnd.pick([8, 9, 10]), fin: false, payload: rnd.bytes(2) })],
    loneContinuation: () => [enc({ opcode: 0, fin: rnd.chance(0.5), payload: rnd.bytes(3) })],
    rsv23: () => [enc({ opcode: rnd.pick([1, 2, 9]), rsv: rnd.pick([1, 2, 3, 5, 7]) })],
    rsv1Control: () => [enc({ opcode: rnd.pick([8, 9, 10]), rsv: 4 })],
    rsv1Continuation: () => [enc({ opcode: 2, fin: false, payload: rnd.bytes(2) }), enc({ opcode: 0, rsv: 4 })],
    messageInMessage: () => [
      enc({ opcode: 1, fin: false, payload: Buffer.from("a") }),
      enc({ opcode: rnd.pick([1, 2]) }),
    ],
    wrongMask: () => [enc({ opcode: rnd.pick([1, 2, 8, 9]), flipMask: true })],
    closeLengthOne: () => [closeWith(rnd.bytes(1))],
    badCloseCode: () => {
      const c = rnd.pick(INVALID_CODES);
      return [closeWith(Buffer.from([c >> 8, c & 0xff]))];
    },
    // Random reason bytes: valid UTF-8 or not, both readers must decide the same way.
    randomReasonBytes: () => [closeWith(Buffer.concat([Buffer.from([0x03, 0xe8]), rnd.bytes(rnd.int(40))]))],
    hugeLength: () => [
      Buffer.concat([
        Buffer.from([0x82, masked ? 0xff : 0x7f]),
        rnd.chance(0.5) ? Buffer.from([1 + rnd.int(255), 0]) : Buffer.from([0, 0x20 + rnd.int(0xe0)]),
        rnd.bytes(6),
      ]),
    ],
  };
  const kind = rnd.pick(Object.keys(kinds));
  parts.push(...(kinds[kind] as () => Buffer[])());
  return kind;
}

function split(rnd: Rng, bytes: Buffer): Buffer[] {
  if (bytes.length < 400 && rnd.chance(0.1)) return Array.from(bytes, (b) => Buffer.from([b]));
  const cuts = Array.from({ length: rnd.int(Math.min(bytes.length, 40)) }, () => rnd.int(bytes.length + 1)).sort(
    (a, b) => a - b,
  );
  return [0, ...cuts].map((start, i) => bytes.subarray(start, cuts[i] ?? bytes.length));
}

interface Outcome {
  frames: number;
  close: { code: number; reason: string } | undefined;
  broken: boolean;
}

function viaFrameReader(chunks: Buffer[], masked: boolean): Outcome {
  const reader = new FrameReader({ masked });
  for (const chunk of chunks) reader.feed(chunk);
  const close = reader.close && { code: reader.close.code, reason: reader.close.reason };
  return { frames: reader.frames, close, broken: reader.error !== undefined };
}

async function viaWsReceiver(chunks: Buffer[], masked: boolean): Promise<Outcome & { wsError?: string }> {
  const deflate = new PerMessageDeflate({ isServer: masked });
  deflate.accept([{}]);
  const rx = new Receiver({ isServer: masked, extensions: { "permessage-deflate": deflate } });
  let frames = 0;
  let close: Outcome["close"];
  let wsError: string | undefined;
  // Count frames where ws finishes them: every data frame passes dataMessage, every control frame controlMessage.
  const { dataMessage, controlMessage } = rx;
  rx.dataMessage = (cb) => (frames++, dataMessage.call(rx, cb));
  rx.controlMessage = (data, cb) => (frames++, controlMessage.call(rx, data, cb));
  rx.on("conclude", (code: number, reason: Buffer) => (close = { code, reason: reason.toString() }));
  rx.on("error", (err: NodeJS.ErrnoException) => (wsError ??= err.code));
  const closed = new Promise((resolve) => rx.on("close", resolve));
  // One chunk at a time, each after ws finished the last, and none after an error: ws's _write does not check for
  // an earlier error, and chunks Node still holds would be parsed past it (and can crash the Receiver).
  // Copies, because ws unmasks in place and the same chunks went to FrameReader.
  for (const chunk of chunks) {
    if (rx.writableEnded || rx.destroyed || rx._errored) break;
    await new Promise((resolve) => rx.write(Buffer.from(chunk), resolve));
  }
  if (!rx.writableEnded && !rx.destroyed) rx.end();
  await closed;
  deflate.cleanup();
  return { frames, close, broken: wsError !== undefined, ...(wsError ? { wsError } : {}) };
}

describe("FrameReader agrees with ws's Receiver on random streams", () => {
  it(`${STREAMS} seeded streams (seed ${SEED.toString(16)}), split at random boundaries`, async () => {
    const rnd = rng(SEED);
    const corruptKinds = new Map<string, number>();
    let clean = 0;
    for (let n = 0; n < STREAMS; n++) {
      const masked = n % 2 === 1;
      const gen = generate(rnd, masked);
      const chunks = split(rnd, gen.bytes);
      const ours = viaFrameReader(chunks, masked);
      const theirs = await viaWsReceiver(chunks, masked);
      const where = `seed ${SEED.toString(16)} stream ${n} (${masked ? "client" : "server"} direction, corrupt: ${gen.corrupt ?? "no"}, ws: ${theirs.wsError ?? "ok"})`;
      const { wsError: _, ...theirOutcome } = theirs;
      expect(ours, where).toEqual(theirOutcome);
      if (gen.corrupt === undefined) {
        clean++;
        expect(ours, where).toEqual({ frames: gen.frames, close: gen.close, broken: false });
      } else {
        corruptKinds.set(gen.corrupt, (corruptKinds.get(gen.corrupt) ?? 0) + 1);
      }
    }
    // The budget really exercised both the clean path and every kind of violation.
    expect(clean).toBeGreaterThan(STREAMS * 0.7);
    expect(corruptKinds.size).toBe(13);
  });
});
