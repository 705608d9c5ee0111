// FrameReader and classifyCloseReason: hex frames from RFC 6455 §5.7, every split point, large and fragmented
// streams, malformed input. The seeded comparison against ws's own Receiver is in close-frames-fuzz.test.ts.
import { deflateRawSync, constants as zlib } from "node:zlib";
import { describe, expect, it } from "vitest";
import {
  CLOSE_REASON_CLASSES,
  type CloseReasonClass,
  FrameReader,
  classifyCloseReason,
} from "../../src/http/close-frames.ts";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  fin?: boolean;
  rsv?: number;
  mask?: Buffer;
  lengthBits?: 7 | 16 | 64;
}

/** Encodes one frame; lengthBits forces a (legal, non-minimal) wider length encoding. */
function frame({ opcode, payload = Buffer.alloc(0), fin = true, rsv = 0, mask, lengthBits }: FrameSpec): Buffer {
  const body = Buffer.from(payload);
  const len = body.length;
  const bits = lengthBits ?? (len < 126 ? 7 : len < 65536 ? 16 : 64);
  const head = [(fin ? 0x80 : 0) | (rsv << 4) | opcode];
  const maskBit = mask ? 0x80 : 0;
  if (bits === 7) head.push(maskBit | len);
  else if (bits === 16) head.push(maskBit | 126, len >> 8, len & 0xff);
  else {
    const ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(BigInt(len));
    head.push(maskBit | 127, ...ext);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), body]);
  const masked = Buffer.from(body.map((b, i) => b ^ (mask[i & 3] as number)));
  return Buffer.concat([Buffer.from(head), mask, masked]);
}
const closePayload = (code: number, reason = "") =>
  Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason)]);
const MASK = hex("37fa213d");

function read(bytes: Buffer | Buffer[], masked = false): FrameReader {
  const reader = new FrameReader({ masked });
  for (const chunk of Array.isArray(bytes) ? bytes : [bytes]) reader.feed(chunk);
  return reader;
}
const summary = (r: FrameReader) => ({ frames: r.frames, close: r.close, error: r.error, bytes: r.bytes });

describe("classifyCloseReason", () => {
  it.each<[number, string, CloseReasonClass]>([
    [1008, "pairing required: device is not approved yet (requestId: 6c1f…)", "pairing_required"],
    [1008, "pairing required", "pairing_required"], // 2026.1.29 sent exactly this
    [1008, "unauthorized: gateway token mismatch (open the dashboard URL and paste …", "unauthorized"],
    [1008, "unauthorized: too many failed authentication attempts (retry later)", "unauthorized"],
    [1008, "unauthorized", "unauthorized"],
    [1008, "origin not allowed (open the Control UI from the gateway host or allow it in …)", "origin_not_allowed"],
    [1008, "control ui requires device identity (use HTTPS or localhost secure context)", "device_identity_required"],
    [1008, "device identity required", "device_identity_required"],
    [1008, "protocol mismatch: Control UI updated; reload this page to continue", "protocol_mismatch"],
    [1002, "protocol mismatch", "protocol_mismatch"],
    [1008, "credentials revoked: sign in again", "credentials_revoked"],
    [1008, "Pairing Required: upper case", "pairing_required"],
    [1008, "  unauthorized: leading blanks", "unauthorized"],
    [1009, "preauth payload too large", "payload_too_large"],
    [1009, "", "payload_too_large"],
    [1001, "", "going_away"],
    [1001, "sidecar shutting down", "going_away"],
    [1000, "", "normal"],
    [1000, "bye", "normal"],
    [1005, "", "none"],
    [1006, "", "none"],
    [1008, "invalid role", "other"],
    [1008, "", "other"],
    [4001, "gateway auth changed", "other"],
    [1011, "not unauthorized at the start", "other"],
    [1000, "pairing required", "pairing_required"], // the text decides before the code
  ])("%i %j → %s", (code, reason, cls) => expect(classifyCloseReason(code, reason)).toBe(cls));

  it("CLOSE_REASON_CLASSES lists every class once", () => {
    expect(new Set(CLOSE_REASON_CLASSES).size).toBe(CLOSE_REASON_CLASSES.length);
    expect([...CLOSE_REASON_CLASSES].sort()).toEqual([
      "credentials_revoked",
      "device_identity_required",
      "going_away",
      "none",
      "normal",
      "origin_not_allowed",
      "other",
      "pairing_required",
      "payload_too_large",
      "protocol_mismatch",
      "unauthorized",
    ]);
  });
});

describe("FrameReader: hex frames", () => {
  it("RFC 6455 §5.7 examples: unmasked text, fragmented text, ping", () => {
    const r = read(hex("810548656c6c6f 010348656c 80026c6f 890548656c6c6f"));
    expect(summary(r)).toEqual({ frames: 4, close: undefined, error: undefined, bytes: 23 });
    expect(r.atFrameBoundary).toBe(true);
  });

  it("RFC 6455 §5.7 masked text from a client", () => {
    const r = read(hex("818537fa213d7f9f4d5158"), true);
    expect(summary(r)).toEqual({ frames: 1, close: undefined, error: undefined, bytes: 11 });
  });

  it("server close 1008 with a gateway reason", () => {
    // 88 = FIN + close; 1d = 29 bytes; 03f0 = 1008; "unauthorized: token missing"
    const r = read(hex("881d 03f0 756e617574686f72697a65643a20746f6b656e206d697373696e67"));
    expect(r.close).toEqual({ code: 1008, reasonClass: "unauthorized", reason: "unauthorized: token missing" });
    expect(r.frames).toBe(1);
  });

  it("masked client close 1000, unmasked", () => {
    const r = read(frame({ opcode: 8, payload: closePayload(1000, "bye"), mask: MASK }), true);
    expect(r.close).toEqual({ code: 1000, reasonClass: "normal", reason: "bye" });
  });

  it("a close without a body is 1005", () => {
    expect(read(hex("8800")).close).toEqual({ code: 1005, reasonClass: "none", reason: "" });
    expect(read(hex("8880 37fa213d"), true).close).toEqual({ code: 1005, reasonClass: "none", reason: "" });
  });

  it("a 123-byte multibyte reason is decoded whole", () => {
    const reason = "é".repeat(61) + "x"; // 123 bytes
    const r = read(frame({ opcode: 8, payload: closePayload(4000, reason) }));
    expect(r.close).toEqual({ code: 4000, reasonClass: "other", reason });
  });

  it("bytes after the close frame are counted but not parsed", () => {
    const r = read(Buffer.concat([frame({ opcode: 8, payload: closePayload(1001) }), hex("ff ff ff")]));
    expect(summary(r)).toEqual({
      frames: 1,
      close: { code: 1001, reasonClass: "going_away", reason: "" },
      error: undefined,
      bytes: 7,
    });
  });
});

describe("FrameReader: chunking", () => {
  const serverStream = Buffer.concat([
    frame({ opcode: 1, payload: "hello" }),
    frame({ opcode: 2, payload: Buffer.alloc(300, 7) }),
    frame({ opcode: 2, payload: Buffer.alloc(70_000, 1) }),
    frame({ opcode: 9, payload: "" }),
    frame({ opcode: 2, payload: "small but 64-bit", lengthBits: 64 }),
    frame({ opcode: 1, payload: "", lengthBits: 16 }),
    frame({ opcode: 8, payload: closePayload(1008, "pairing required: device is not approved yet") }),
  ]);
  const clientStream = Buffer.concat([
    frame({ opcode: 1, payload: '{"type":"req"}', mask: MASK }),
    frame({ opcode: 2, payload: Buffer.alloc(200, 3), mask: hex("00000000") }),
    frame({ opcode: 10, payload: "pong", mask: hex("01020304") }),
    frame({ opcode: 8, payload: closePayload(1000, "done"), mask: hex("a1b2c3d4") }),
  ]);
  const expectedServer = {
    frames: 7,
    close: { code: 1008, reasonClass: "pairing_required", reason: "pairing required: device is not approved yet" },
    error: undefined,
    bytes: serverStream.length,
  };
  const expectedClient = {
    frames: 4,
    close: { code: 1000, reasonClass: "normal", reason: "done" },
    error: undefined,
    bytes: clientStream.length,
  };

  it("whole streams", () => {
    expect(summary(read(serverStream))).toEqual(expectedServer);
    expect(summary(read(clientStream, true))).toEqual(expectedClient);
  });

  it("split in two at every byte boundary", () => {
    for (const [stream, masked, expected] of [
      [serverStream, false, expectedServer],
      [clientStream, true, expectedClient],
    ] as const) {
      for (let cut = 0; cut <= stream.length; cut += cut < 400 || stream.length - cut < 400 ? 1 : 97) {
        expect(summary(read([stream.subarray(0, cut), stream.subarray(cut)], masked)), `cut at ${cut}`).toEqual(
          expected,
        );
      }
    }
  });

  it("one byte at a time, and the close frame's payload split across chunks", () => {
    const bytes = (s: Buffer) => Array.from(s, (b) => Buffer.from([b]));
    expect(summary(read(bytes(clientStream), true))).toEqual(expectedClient);
    expect(summary(read(bytes(serverStream)))).toEqual(expectedServer);
  });

  it("atFrameBoundary is true only between frames", () => {
    const f = frame({ opcode: 2, payload: Buffer.alloc(130) });
    const r = new FrameReader({ masked: false });
    const seen: boolean[] = [];
    for (const b of f) {
      r.feed(Buffer.from([b]));
      seen.push(r.atFrameBoundary);
    }
    expect(seen.indexOf(true)).toBe(f.length - 1);
  });
});

describe("FrameReader: large, fragmented and compressed streams", () => {
  it("skips a 1 GiB data frame in 64 KiB chunks without buffering it, then reads the close", () => {
    const r = new FrameReader({ masked: false });
    const size = 2 ** 30;
    const chunk = Buffer.alloc(64 * 1024); // the same buffer every time: nothing is kept
    r.feed(
      Buffer.concat([
        hex("827f"),
        (() => {
          const b = Buffer.alloc(8);
          b.writeBigUInt64BE(BigInt(size));
          return b;
        })(),
      ]),
    );
    for (let sent = 0; sent < size; sent += chunk.length) r.feed(chunk);
    expect(r.frames).toBe(1);
    r.feed(frame({ opcode: 8, payload: closePayload(1009, "preauth payload too large") }));
    expect(r.close).toEqual({ code: 1009, reasonClass: "payload_too_large", reason: "preauth payload too large" });
    expect(r.bytes).toBe(size + 10 + 29);
  });

  it("a fragmented message with pings between its fragments", () => {
    const stream = Buffer.concat([
      frame({ opcode: 1, payload: "frag-1 ", fin: false, mask: MASK }),
      frame({ opcode: 9, payload: "ping", mask: MASK }),
      frame({ opcode: 0, payload: Buffer.alloc(1000, 0x61), fin: false, mask: MASK }),
      frame({ opcode: 10, payload: "", mask: MASK }),
      frame({ opcode: 0, payload: "end", mask: MASK }),
      frame({ opcode: 2, payload: "next message", mask: MASK }),
      frame({ opcode: 8, payload: closePayload(1001), mask: MASK }),
    ]);
    expect(summary(read(stream, true))).toEqual({
      frames: 7,
      close: { code: 1001, reasonClass: "going_away", reason: "" },
      error: undefined,
      bytes: stream.length,
    });
  });

  it("permessage-deflate data frames (RSV1 on the first fragment only) pass; the close is still readable", () => {
    const deflated = deflateRawSync(Buffer.alloc(5000, "abc"), { finishFlush: zlib.Z_SYNC_FLUSH }).subarray(0, -4);
    const stream = Buffer.concat([
      frame({ opcode: 1, payload: deflated, rsv: 4 }),
      frame({ opcode: 2, payload: deflated.subarray(0, 5), rsv: 4, fin: false }),
      frame({ opcode: 0, payload: deflated.subarray(5) }),
      frame({ opcode: 8, payload: closePayload(1000, "ok") }),
    ]);
    expect(summary(read(stream))).toEqual({
      frames: 4,
      close: { code: 1000, reasonClass: "normal", reason: "ok" },
      error: undefined,
      bytes: stream.length,
    });
  });
});

describe("FrameReader: malformed input sets error, never throws", () => {
  const ping = frame({ opcode: 9, payload: "p" });
  it.each<[string, Buffer, boolean, string, number]>([
    ["reserved data opcode 3", frame({ opcode: 3 }), false, "invalid_opcode", 0],
    ["reserved control opcode 0xb", frame({ opcode: 0xb }), false, "invalid_opcode", 0],
    [
      "control frame > 125 bytes",
      frame({ opcode: 9, payload: Buffer.alloc(126) }),
      false,
      "invalid_control_payload_length",
      0,
    ],
    [
      "control frame with a 16-bit length",
      frame({ opcode: 10, payload: "x", lengthBits: 16 }),
      false,
      "invalid_control_payload_length",
      0,
    ],
    [
      "close with a 1-byte body",
      frame({ opcode: 8, payload: Buffer.from([3]) }),
      false,
      "invalid_control_payload_length",
      0,
    ],
    ["fragmented ping", frame({ opcode: 9, fin: false }), false, "fragmented_control_frame", 0],
    [
      "fragmented close",
      frame({ opcode: 8, payload: closePayload(1000), fin: false }),
      false,
      "fragmented_control_frame",
      0,
    ],
    ["RSV1 on a control frame", frame({ opcode: 8, payload: closePayload(1000), rsv: 4 }), false, "unexpected_rsv1", 0],
    [
      "RSV1 on a continuation",
      Buffer.concat([frame({ opcode: 1, fin: false, rsv: 4 }), frame({ opcode: 0, rsv: 4 })]),
      false,
      "unexpected_rsv1",
      1,
    ],
    ["RSV2", frame({ opcode: 2, rsv: 2 }), false, "rsv2_rsv3_set", 0],
    ["RSV3", frame({ opcode: 2, rsv: 1 }), false, "rsv2_rsv3_set", 0],
    [
      "continuation with no message open",
      Buffer.concat([ping, frame({ opcode: 0, payload: "x" })]),
      false,
      "unexpected_continuation",
      1,
    ],
    [
      "new message inside a fragmented one",
      Buffer.concat([frame({ opcode: 1, fin: false }), frame({ opcode: 2 })]),
      false,
      "expected_continuation",
      1,
    ],
    ["unmasked client frame", frame({ opcode: 1, payload: "hi" }), true, "expected_mask", 0],
    ["masked server frame", frame({ opcode: 1, payload: "hi", mask: MASK }), false, "unexpected_mask", 0],
    ["64-bit length ≥ 2^53", hex("827f 0020000000000000"), false, "payload_length_too_large", 0],
    ["64-bit length with the top bit set", hex("827f 8000000000000000"), false, "payload_length_too_large", 0],
    ["close code 1005 on the wire", frame({ opcode: 8, payload: closePayload(1005) }), false, "invalid_close_code", 1],
    ["close code 999", frame({ opcode: 8, payload: closePayload(999) }), false, "invalid_close_code", 1],
    ["close code 5000", frame({ opcode: 8, payload: closePayload(5000) }), false, "invalid_close_code", 1],
    [
      "close reason not UTF-8",
      frame({ opcode: 8, payload: Buffer.concat([closePayload(1000), hex("c328")]) }),
      false,
      "invalid_utf8_close_reason",
      1,
    ],
  ])("%s", (_name, bad, masked, error, frames) => {
    const stream = Buffer.concat([
      bad,
      frame({ opcode: 8, payload: closePayload(1000), ...(masked ? { mask: MASK } : {}) }),
      hex("00ff"),
    ]);
    for (const chunks of [[stream], Array.from(stream, (b) => Buffer.from([b]))]) {
      const r = read(chunks, masked);
      expect(summary(r)).toEqual({ frames, close: undefined, error, bytes: stream.length });
      expect(r.atFrameBoundary).toBe(false);
    }
  });

  it("the largest countable 64-bit length is accepted", () => {
    const r = read(hex("827f 001fffffffffffff 0102"));
    expect(r.error).toBeUndefined();
    expect(r.frames).toBe(0);
  });
});
