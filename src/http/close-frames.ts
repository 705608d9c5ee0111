// Watches one direction of a WebSocket byte stream, after the 101, to learn the first close frame (code and reason
// class) without buffering, re-framing or re-encoding anything. The relay writes every chunk on unchanged; this only
// walks the RFC 6455 §5.2 frame headers and counts payload lengths down across chunks. The one payload it reads is a
// close frame's (a control frame: ≤125 bytes, never fragmented, never compressed — RFC 7692 §6.1 sets RSV1 only on
// data frames — so it is readable even when permessage-deflate is on).
//
// Validation follows the ws library (lib/receiver.js), which is what the gateway runs: a stream ws would fail with
// 1002/1007 stops this reader too (error set, parsing stops, never a throw), so both agree on which close came first.
import { isUtf8 } from "node:buffer";
import type { CloseReasonClass } from "../ops/metrics.ts";

// The label set is the metrics' (ops/metrics.ts); it is named here too, beside the classifier that produces it.
export { CLOSE_REASON_CLASSES, type CloseReasonClass } from "../ops/metrics.ts";

export interface CloseFrame {
  /** The status code; 1005 when the close frame has no body (RFC 6455 §7.1.5). */
  code: number;
  reasonClass: CloseReasonClass;
  /** The decoded reason (at most 123 bytes on the wire). Free text: log it, never use it as a label. */
  reason: string;
}

/** Why a reader stopped parsing; stable strings, usable as a log field. Mirrors ws's WS_ERR_* codes. */
export type FrameError =
  | "rsv2_rsv3_set"
  | "unexpected_rsv1"
  | "invalid_opcode"
  | "unexpected_continuation"
  | "expected_continuation"
  | "fragmented_control_frame"
  | "invalid_control_payload_length"
  | "expected_mask"
  | "unexpected_mask"
  | "payload_length_too_large"
  | "invalid_close_code"
  | "invalid_utf8_close_reason";

// Gateway reason prefixes (openclaw-gateway-trust.md §1 "Close codes and reasons"), matched case-insensitively at the
// start of the reason; the rest of the text (hints, request ids) varies and is ignored.
const REASON_PREFIXES: ReadonlyArray<readonly [string, CloseReasonClass]> = [
  ["pairing required", "pairing_required"],
  ["unauthorized", "unauthorized"],
  ["origin not allowed", "origin_not_allowed"],
  ["control ui requires device identity", "device_identity_required"],
  ["device identity required", "device_identity_required"],
  ["protocol mismatch", "protocol_mismatch"],
  // The sidecar's own (forward-upgrade.ts Tunnel.revoke), when a reload removed the credential behind a WebSocket.
  ["credentials revoked", "credentials_revoked"],
];

/**
 * Maps a close to a bounded class: the gateway's reason texts first (they ride on 1008 and 1002), then the code.
 * 1005 (no status in the frame) and 1006 (no close frame at all) are "none"; anything else is "other".
 */
export function classifyCloseReason(code: number, reason: string): CloseReasonClass {
  if (reason.length > 0) {
    const text = reason.trimStart().toLowerCase();
    for (const [prefix, cls] of REASON_PREFIXES) if (text.startsWith(prefix)) return cls;
  }
  switch (code) {
    case 1000:
      return "normal";
    case 1001:
      return "going_away";
    case 1009:
      return "payload_too_large";
    case 1005:
    case 1006:
      return "none";
    default:
      return "other";
  }
}

/** The codes a close frame may carry on the wire (RFC 6455 §7.4; same rule as ws validation.js isValidStatusCode). */
function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999)
  );
}

// Parser states. Plain numbers (no enum: erasableSyntaxOnly).
const FIRST_BYTE = 0;
const SECOND_BYTE = 1;
const EXT_LENGTH = 2;
const MASK_KEY = 3;
const PAYLOAD = 4;
/** A close frame was read or an error was found: nothing more to learn from this direction. */
const STOPPED = 5;

const OP_CONTINUATION = 0x0;
const OP_CLOSE = 0x8;
/** Largest second byte of a 64-bit length that stays ≤ 2^53 - 1 (the first byte must be 0). */
const MAX_LENGTH_SECOND_BYTE = 0x1f;

/**
 * Incremental frame-header reader for one direction. feed() is called with every chunk, in order. Construction only
 * sets a few number fields; a buffer is allocated only for a close frame's payload (once per connection).
 */
export class FrameReader {
  private nBytes = 0;
  private nFrames = 0;
  private closeFrame: CloseFrame | undefined = undefined;
  private err: FrameError | undefined = undefined;

  /** Bytes fed so far, including any after the close frame or an error. */
  get bytes(): number {
    return this.nBytes;
  }
  /** Complete frames seen (header and whole payload), up to and including the first close frame. */
  get frames(): number {
    return this.nFrames;
  }
  /** The first close frame, once its whole payload has passed. */
  get close(): CloseFrame | undefined {
    return this.closeFrame;
  }
  /**
   * Set when the stream breaks the framing rules; parsing then stops (the bytes still pass: that is the relay's job).
   */
  get error(): FrameError | undefined {
    return this.err;
  }

  private readonly masked: boolean;
  private state = FIRST_BYTE;
  private firstByte = 0;
  private opcode = 0;
  private frameMasked = false;
  /** Opcode of the data message whose fragments are still arriving; 0 when none is open. */
  private fragmentedOpcode = 0;
  /** Bytes still expected in the current sub-state (extended length or mask key). */
  private need = 0;
  /** Index within the 8-byte extended length, for the 2^53 check. */
  private lengthIndex = 0;
  private remaining = 0;
  /** The mask key, big-endian in a 32-bit number (byte j is `mask >>> (24 - 8j) & 0xff`). */
  private mask = 0;
  private closePayload: Buffer | undefined = undefined;
  private closeFill = 0;

  constructor(opts: { masked: boolean }) {
    this.masked = opts.masked;
  }

  /** True between frames: a frame injected now (say, a close on shutdown) cannot land inside another frame. */
  get atFrameBoundary(): boolean {
    return this.state === FIRST_BYTE;
  }

  feed(chunk: Buffer): void {
    this.nBytes += chunk.length;
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      switch (this.state) {
        case FIRST_BYTE: {
          this.firstByte = chunk[i++] as number;
          this.state = SECOND_BYTE;
          break;
        }
        case SECOND_BYTE: {
          this.readSecondByte(chunk[i++] as number);
          break;
        }
        case EXT_LENGTH: {
          const b = chunk[i++] as number;
          // A 64-bit length above 2^53 - 1 (0x001fffffffffffff) cannot be counted exactly in a number; ws refuses
          // it too. Such a length has a non-zero first byte or a second byte above 0x1f.
          if (this.lengthIndex === 0 ? b !== 0 : this.lengthIndex === 1 && b > MAX_LENGTH_SECOND_BYTE) {
            return this.fail("payload_length_too_large");
          }
          this.lengthIndex++;
          this.remaining = this.remaining * 256 + b;
          if (--this.need === 0) this.afterLength();
          break;
        }
        case MASK_KEY: {
          this.mask = ((this.mask << 8) | (chunk[i++] as number)) >>> 0;
          if (--this.need === 0) this.startPayload();
          break;
        }
        case PAYLOAD: {
          const take = Math.min(this.remaining, n - i);
          // Data and ping/pong payloads are skipped, not copied: only the count moves.
          if (this.opcode === OP_CLOSE) this.copyClosePayload(chunk, i, take);
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.endFrame();
          break;
        }
        default:
          return; // STOPPED
      }
    }
  }

  private fail(error: FrameError): void {
    this.err = error;
    this.state = STOPPED;
  }

  /** Both header bytes are known: check them in ws's order (receiver.js getInfo). */
  private readSecondByte(b: number): void {
    const first = this.firstByte;
    const fin = (first & 0x80) !== 0;
    const rsv1 = (first & 0x40) !== 0;
    const opcode = first & 0x0f;
    const length7 = b & 0x7f;
    // RSV2/RSV3 belong to no extension a browser or the gateway negotiates.
    if ((first & 0x30) !== 0) return this.fail("rsv2_rsv3_set");
    if (opcode === OP_CONTINUATION) {
      // RFC 7692 §6.1: RSV1 marks only the first frame of a compressed message.
      if (rsv1) return this.fail("unexpected_rsv1");
      if (this.fragmentedOpcode === 0) return this.fail("unexpected_continuation");
    } else if (opcode === 0x1 || opcode === 0x2) {
      if (this.fragmentedOpcode !== 0) return this.fail("expected_continuation");
      // RSV1 here is permessage-deflate, negotiated between the two ends; this reader does not need to know.
    } else if (opcode >= 0x8 && opcode <= 0xa) {
      // RFC 6455 §5.5: control frames are never fragmented, carry ≤125 bytes; a close body is empty or ≥2 bytes.
      if (!fin) return this.fail("fragmented_control_frame");
      if (rsv1) return this.fail("unexpected_rsv1");
      if (length7 > 125 || (opcode === OP_CLOSE && length7 === 1)) return this.fail("invalid_control_payload_length");
    } else {
      return this.fail("invalid_opcode");
    }
    // A data frame that does not end its message opens a fragmented one (control frames always have FIN).
    if (!fin && this.fragmentedOpcode === 0) this.fragmentedOpcode = opcode;
    else if (fin && opcode === OP_CONTINUATION) this.fragmentedOpcode = 0;
    const frameMasked = (b & 0x80) !== 0;
    // RFC 6455 §5.1: clients always mask, servers never do.
    if (frameMasked !== this.masked) return this.fail(this.masked ? "expected_mask" : "unexpected_mask");
    this.opcode = opcode;
    this.frameMasked = frameMasked;
    this.remaining = 0;
    this.lengthIndex = 0;
    if (length7 === 126) {
      this.need = 2;
      this.lengthIndex = 6; // a 16-bit length is the low end of a 64-bit one: none of its bytes can be too large
      this.state = EXT_LENGTH;
    } else if (length7 === 127) {
      this.need = 8;
      this.state = EXT_LENGTH;
    } else {
      this.remaining = length7;
      this.afterLength();
    }
  }

  private afterLength(): void {
    if (this.frameMasked) {
      this.need = 4;
      this.mask = 0;
      this.state = MASK_KEY;
    } else {
      this.startPayload();
    }
  }

  private startPayload(): void {
    if (this.opcode === OP_CLOSE) {
      this.closePayload = Buffer.allocUnsafe(this.remaining);
      this.closeFill = 0;
    }
    // A zero-length frame is complete as soon as its header is: do not wait for the next byte to say so.
    if (this.remaining === 0) this.endFrame();
    else this.state = PAYLOAD;
  }

  private copyClosePayload(chunk: Buffer, start: number, count: number): void {
    const dst = this.closePayload as Buffer;
    for (let k = 0; k < count; k++) {
      const pos = this.closeFill++;
      const key = this.frameMasked ? (this.mask >>> (24 - 8 * (pos & 3))) & 0xff : 0;
      dst[pos] = (chunk[start + k] as number) ^ key;
    }
  }

  private endFrame(): void {
    this.nFrames++;
    if (this.opcode !== OP_CLOSE) {
      this.state = FIRST_BYTE;
      return;
    }
    const payload = this.closePayload as Buffer;
    this.closePayload = undefined;
    if (payload.length === 0) {
      this.closeFrame = { code: 1005, reasonClass: classifyCloseReason(1005, ""), reason: "" };
      this.state = STOPPED;
      return;
    }
    const code = payload.readUInt16BE(0);
    // The receiving end fails such a close with 1002/1007 (its own close then shows up in the other direction).
    if (!isValidCloseCode(code)) return this.fail("invalid_close_code");
    const text = payload.subarray(2);
    if (!isUtf8(text)) return this.fail("invalid_utf8_close_reason");
    const reason = text.toString("utf8");
    this.closeFrame = { code, reasonClass: classifyCloseReason(code, reason), reason };
    // Nothing may follow a close frame (RFC 6455 §5.5.1); stop here, as ws does.
    this.state = STOPPED;
  }
}
