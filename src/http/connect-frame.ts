// The first WebSocket message of a held upgrade (identity mode, issue 16): the Control UI's own token field and
// `#token=` links put the token into the first frame, `connect.params.auth.token`, where no HTTP header can carry it.
// The sidecar forwards such an upgrade, relays the gateway's connect.challenge, and holds every client byte until the
// first message is complete: it is relayed — the original bytes, unchanged, since the device signature covers them —
// only if it is a `connect` carrying a valid sidecar token. Otherwise the client gets the gateway's own answer shape
// (a `res` error, then close 1008) and the gateway never sees a connect.
//
// Frames are read as RFC 6455 §5 defines them (masked, possibly fragmented, ping/pong interleaved; permessage-deflate
// per RFC 7692 when the gateway negotiated it), with the gateway's own pre-auth bound on what may be held.
import { constants, inflateRawSync } from "node:zlib";

/** The gateway's MAX_PREAUTH_PAYLOAD_BYTES: a larger first message is refused there too (1009). */
export const MAX_FIRST_MESSAGE_BYTES = 64 * 1024;
/** Frame headers and interleaved control frames on top of the payload. */
const MAX_HELD_BYTES = MAX_FIRST_MESSAGE_BYTES + 4096;

/** What the first message said, as far as the sidecar cares. */
export interface ConnectRequest {
  /** The request id, for the answer's `id`; undefined when the message is not a connect at all. */
  id: string | undefined;
  /** True for `{type:"req", method:"connect"}`. */
  isConnect: boolean;
  /** `params.auth.token`, else `params.auth.password` (the gateway reads either). */
  token: string | undefined;
}

export type HoldResult =
  | { state: "holding" }
  /** The first message is complete: `bytes` is everything held, to relay unchanged once it is approved. */
  | { state: "complete"; request: ConnectRequest; bytes: Buffer }
  /** The client broke the protocol or the bound: close with `code`. */
  | { state: "invalid"; code: number; reason: string };

/** Accumulates client bytes until the first data message is complete. */
export class FirstMessageHold {
  private held: Buffer[] = [];
  private size = 0;
  private readonly deflate: boolean;

  constructor(opts: { deflate: boolean }) {
    this.deflate = opts.deflate;
  }

  feed(chunk: Buffer): HoldResult {
    this.held.push(chunk);
    this.size += chunk.length;
    const buf = this.held.length === 1 ? chunk : Buffer.concat(this.held);
    this.held = [buf];
    const read = readFirstMessage(buf, this.deflate);
    if (read === undefined) {
      if (this.size > MAX_HELD_BYTES) return { state: "invalid", code: 1009, reason: "preauth payload too large" };
      return { state: "holding" };
    }
    if ("error" in read) return { state: "invalid", code: read.code, reason: read.error };
    return { state: "complete", request: read.request, bytes: buf };
  }
}

type Read = { request: ConnectRequest } | { error: string; code: number } | undefined;

/** Reads the first data message out of `buf` (client frames, masked); undefined while it is incomplete. */
export function readFirstMessage(buf: Buffer, deflate: boolean): Read {
  const parts: Buffer[] = [];
  let total = 0;
  let compressed = false;
  let started = false;
  let at = 0;
  for (;;) {
    if (buf.length - at < 2) return undefined;
    const b0 = buf[at] as number;
    const b1 = buf[at + 1] as number;
    const fin = (b0 & 0x80) !== 0;
    const rsv1 = (b0 & 0x40) !== 0;
    const opcode = b0 & 0x0f;
    if ((b0 & 0x30) !== 0) return { error: "reserved bits set", code: 1002 };
    if ((b1 & 0x80) === 0) return { error: "client frames must be masked", code: 1002 };
    let length = b1 & 0x7f;
    let head = 2;
    if (length === 126) {
      if (buf.length - at < 4) return undefined;
      length = buf.readUInt16BE(at + 2);
      head = 4;
    } else if (length === 127) {
      if (buf.length - at < 10) return undefined;
      const high = buf.readUInt32BE(at + 2);
      if (high !== 0) return { error: "preauth payload too large", code: 1009 };
      length = buf.readUInt32BE(at + 6);
      head = 10;
    }
    if (opcode >= 0x8) {
      if (!fin || length > 125) return { error: "invalid control frame", code: 1002 };
      if (opcode === 0x8) return { error: "closed before connect", code: 1000 };
      if (opcode !== 0x9 && opcode !== 0xa) return { error: "invalid opcode", code: 1002 };
    } else if (!started ? opcode !== 0x1 && opcode !== 0x2 : opcode !== 0x0) {
      return { error: started ? "expected a continuation frame" : "unexpected continuation frame", code: 1002 };
    }
    if (rsv1 && ((opcode !== 0x1 && opcode !== 0x2) || !deflate))
      return { error: "unexpected compressed frame", code: 1002 };
    if (total + length > MAX_FIRST_MESSAGE_BYTES) return { error: "preauth payload too large", code: 1009 };
    const end = at + head + 4 + length;
    if (buf.length < end) return undefined;
    if (opcode < 0x8) {
      const mask = buf.subarray(at + head, at + head + 4);
      const payload = Buffer.from(buf.subarray(at + head + 4, end));
      for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (mask[i & 3] as number);
      parts.push(payload);
      total += length;
      if (!started) compressed = rsv1;
      started = true;
      if (fin) return { request: parseConnect(Buffer.concat(parts), compressed) };
    }
    at = end;
  }
}

function parseConnect(payload: Buffer, compressed: boolean): ConnectRequest {
  const none: ConnectRequest = { id: undefined, isConnect: false, token: undefined };
  let text: string;
  try {
    // RFC 7692 §7.2.2: the sender dropped the sync-flush tail; the stream goes on, so it is not finished here either.
    const raw = compressed
      ? inflateRawSync(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]), {
          finishFlush: constants.Z_SYNC_FLUSH,
          maxOutputLength: 4 * MAX_FIRST_MESSAGE_BYTES,
        })
      : payload;
    text = raw.toString("utf8");
  } catch {
    return none;
  }
  let frame: unknown;
  try {
    frame = JSON.parse(text);
  } catch {
    return none;
  }
  if (frame === null || typeof frame !== "object") return none;
  const { type, method, id, params } = frame as Record<string, unknown>;
  const auth = (
    params !== null && typeof params === "object" ? (params as Record<string, unknown>).auth : undefined
  ) as Record<string, unknown> | undefined;
  const secret =
    auth !== null && typeof auth === "object"
      ? typeof auth.token === "string" && auth.token !== ""
        ? auth.token
        : auth.password
      : undefined;
  return {
    id: typeof id === "string" ? id : undefined,
    isConnect: type === "req" && method === "connect",
    token: typeof secret === "string" && secret !== "" ? secret : undefined,
  };
}

/** An unmasked text frame (server → client; never compressed, which RFC 7692 allows). */
export function textFrame(text: string): Buffer {
  const payload = Buffer.from(text, "utf8");
  const n = payload.length;
  const head =
    n < 126
      ? Buffer.from([0x81, n])
      : n < 65536
        ? Buffer.from([0x81, 126, n >> 8, n & 0xff])
        : Buffer.concat([Buffer.from([0x81, 127, 0, 0, 0, 0]), uint32(n)]);
  return Buffer.concat([head, payload]);
}

const uint32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

/** The gateway's answer to a refused connect (message-handler: sendHandshakeErrorResponse), as a text frame. */
export function connectRefusal(
  id: string | undefined,
  message: string,
  detailCode: string,
  authReason: string,
): Buffer {
  return textFrame(
    JSON.stringify({
      type: "res",
      id: id ?? "",
      ok: false,
      error: {
        code: "INVALID_REQUEST",
        message,
        details: {
          code: detailCode,
          authReason,
          canRetryWithDeviceToken: false,
          recommendedNextStep: "update_auth_credentials",
        },
      },
    }),
  );
}
