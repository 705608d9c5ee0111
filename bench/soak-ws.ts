// The soak's held WebSocket: a protocol-v4 operator client that completes the gateway's handshake (connect.challenge →
// signed connect → hello-ok, as test/gateway/protocol-client.ts does) and then stays, sending a `health` request every
// few seconds and counting the answers, until the server side closes it (the close code is what the soak reports) or
// the soak ends. Frame and signature formats: the gateway's docs/gateway/protocol/handshake.md (openclaw 2026.9.6).
import crypto from "node:crypto";
import WebSocket from "ws";
import { type DeviceIdentity, createDeviceIdentity } from "../test/gateway/protocol-client.ts";

export interface HeldResult {
  /** How the handshake went: hello-ok, or what ended it first. */
  handshake: "hello-ok" | "refused" | "error" | "closed";
  requests: number;
  answers: number;
  closeCode?: number;
  closeReason?: string;
  /** Milliseconds since the epoch. */
  openedAt: number;
  closedAt: number;
}

/** A held WebSocket as the soak records it: whose credential opened it (`generation` 0: the main user's token). */
export type HeldRecord = HeldResult & { user: string; generation: number };

/** The Control UI's client id and mode: the ones the gateway's deviceAutoApprove pairs without asking. */
const CLIENT_ID = "openclaw-control-ui";
const MODE = "webchat";

interface Frame {
  type?: string;
  event?: string;
  id?: string;
  ok?: boolean;
  payload?: { nonce?: string; ts?: number };
}

function signature(identity: DeviceIdentity, f: { role: string; scopes: string[]; ts: number; nonce: string }): string {
  const payload = [
    "v3",
    identity.deviceId,
    CLIENT_ID,
    MODE,
    f.role,
    f.scopes.join(","),
    String(f.ts),
    "",
    f.nonce,
    "linux",
    "",
  ].join("|");
  return crypto.sign(null, Buffer.from(payload), crypto.createPrivateKey(identity.privateKeyPem)).toString("base64url");
}

/**
 * Opens one held connection. `stop()` closes it with 1000; the promise resolves when it is closed, whoever closed it.
 * `headers` carry the sidecar's credential (a Bearer) and the Origin; `buildId` is the Control UI's (its index.html
 * says it).
 */
export function holdWebSocket(
  url: string,
  headers: Record<string, string>,
  everyMs: number,
  buildId: string,
): { done: Promise<HeldResult>; stop(): void } {
  const identity = createDeviceIdentity();
  const scopes = ["operator.read"];
  const result: HeldResult = { handshake: "error", requests: 0, answers: 0, openedAt: Date.now(), closedAt: 0 };
  const ws = new WebSocket(url, { headers, handshakeTimeout: 10_000 });
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const done = new Promise<HeldResult>((resolve) => {
    ws.on("unexpected-response", (_req, res) => {
      result.handshake = "refused";
      result.closeReason = `HTTP ${res.statusCode}`;
      res.resume();
      ws.terminate();
    });
    ws.on("error", (err) => (result.closeReason ??= err.message));
    ws.on("close", (code, reason) => {
      clearInterval(timer);
      if (result.handshake === "error" && result.closeReason === undefined) result.handshake = "closed";
      result.closeCode = code;
      result.closeReason = reason.toString() || result.closeReason;
      result.closedAt = Date.now();
      resolve(result);
    });
    ws.on("message", (data: WebSocket.RawData) => {
      let msg: Frame;
      try {
        msg = JSON.parse(data.toString()) as Frame;
      } catch {
        return;
      }
      if (msg.type === "event" && msg.event === "connect.challenge") {
        const nonce = String(msg.payload?.nonce);
        const ts = Number(msg.payload?.ts);
        const device = {
          id: identity.deviceId,
          publicKey: identity.publicKey,
          signature: signature(identity, { role: "operator", scopes, ts, nonce }),
          signedAt: ts,
          nonce,
        };
        const client = { id: CLIENT_ID, version: "2026.9.6", platform: "linux", mode: MODE, buildId };
        ws.send(
          JSON.stringify({
            type: "req",
            id: "connect-1",
            method: "connect",
            params: { minProtocol: 4, maxProtocol: 4, client, role: "operator", scopes, caps: [], auth: {}, device },
          }),
        );
        return;
      }
      if (msg.type !== "res") return;
      if (msg.id === "connect-1") {
        if (!msg.ok) return; // the gateway's close follows
        result.handshake = "hello-ok";
        timer = setInterval(() => {
          result.requests++;
          ws.send(JSON.stringify({ type: "req", id: `health-${result.requests}`, method: "health", params: {} }));
        }, everyMs);
        return;
      }
      if (msg.id?.startsWith("health-")) result.answers++;
    });
  });
  return {
    done,
    stop() {
      if (stopped) return;
      stopped = true;
      if (ws.readyState === WebSocket.OPEN) ws.close(1000, "soak over");
      else ws.terminate();
    },
  };
}
