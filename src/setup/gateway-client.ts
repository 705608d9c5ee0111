// A minimal OpenClaw gateway protocol-v4 client with a real Ed25519 device identity: connect.challenge → connect →
// hello-ok, or the error frame and the close that follows. The doctor uses it for its test handshake; the real-gateway
// tests use it as their scripted client. Frame and signature formats: the gateway's docs/gateway/protocol/handshake.md,
// checked against openclaw 2026.9.6 (openclaw-gateway-trust.md §1).
import crypto from "node:crypto";
import WebSocket from "ws";

export interface DeviceIdentity {
  /** sha256 hex of the raw 32-byte public key. */
  deviceId: string;
  /** Raw 32-byte Ed25519 public key, base64url. */
  publicKey: string;
  privateKeyPem: string;
}

/** A fresh Ed25519 device identity (plain JSON, so it can cross a process boundary). */
export function createDeviceIdentity(): DeviceIdentity {
  const { publicKey, privateKey } = crypto.generateKeyPairSync("ed25519");
  const raw = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  return {
    deviceId: crypto.createHash("sha256").update(raw).digest("hex"),
    publicKey: raw.toString("base64url"),
    privateKeyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
  };
}

export const ADMIN_SCOPES = [
  "operator.admin",
  "operator.read",
  "operator.write",
  "operator.approvals",
  "operator.pairing",
];

export interface ConnectOptions {
  /** ws:// URL; any path is upgraded by the gateway. */
  url: string;
  token?: string;
  password?: string;
  deviceToken?: string;
  /** Device identity to sign with; `null` connects without a device. Default: a fresh identity. */
  identity?: DeviceIdentity | null;
  /** `cli` (default) or `openclaw-control-ui` (then mode defaults to `webchat` and `buildId` is required). */
  clientId?: string;
  clientMode?: string;
  /** Control UI clients must send the gateway's build id, else 1008 `protocol mismatch` after pairing. */
  buildId?: string;
  role?: string;
  scopes?: string[];
  platform?: string;
  /** `client.deviceFamily` (e.g. `iPhone`), signed in v3 lower-cased; default none. */
  deviceFamily?: string;
  /**
   * Gateway methods to call, in order, after hello-ok; their answers are reported in `responses`. The connection is
   * closed after the last answer (or when the gateway closes it first: the rest are then left out).
   */
  requests?: Array<{ method: string; params?: unknown }>;
  /** Sent on the upgrade request as they are (use for forwarding headers). */
  headers?: Record<string, string>;
  origin?: string;
  /** Host header override (e.g. `localhost:18789`). */
  host?: string;
  timeoutMs?: number;
  /** Protocol version offered as min and max: 4 (default; 2026.8.x and later) or 3 (2026.1.29). */
  protocol?: number;
  /** Device signature format: `v3` (default) or `v2` (without the platform fields; all 2026.1.29 knows). */
  signature?: "v2" | "v3";
}

/** The answer to one of `requests`: its payload, or the gateway's error frame. */
export interface MethodResponse {
  method: string;
  ok: boolean;
  payload?: unknown;
  error?: { code?: string; message?: string; details?: Record<string, unknown> };
}

export type ConnectResult =
  | {
      kind: "hello-ok";
      role?: string;
      scopes: string[];
      serverBuildId?: string;
      deviceToken?: string;
      /** One per answered entry of `requests`, in order. */
      responses?: MethodResponse[];
    }
  | {
      kind: "close";
      code: number;
      reason: string;
      error?: { code?: string; message?: string; details?: Record<string, unknown> };
    }
  | { kind: "http"; status: number; body: string }
  | { kind: "error"; message: string }
  | { kind: "timeout"; stage: string };

interface Frame {
  type?: string;
  event?: string;
  id?: string;
  ok?: boolean;
  payload?: Record<string, unknown> & {
    nonce?: string;
    ts?: number;
    auth?: Record<string, unknown>;
    server?: { buildId?: string };
  };
  error?: { code?: string; message?: string; details?: Record<string, unknown> };
}

/**
 * The device signature payload. v3: `v3|id|clientId|mode|role|scopesCSV|signedAt|token|nonce|platform|deviceFamily`;
 * v2 is the same without the last two fields.
 */
function signConnect(
  identity: DeviceIdentity,
  version: "v2" | "v3",
  fields: {
    clientId: string;
    mode: string;
    role: string;
    scopes: string[];
    ts: number;
    token: string;
    nonce: string;
    platform: string;
    deviceFamily: string;
  },
): string {
  const base = [
    version,
    identity.deviceId,
    fields.clientId,
    fields.mode,
    fields.role,
    fields.scopes.join(","),
    String(fields.ts),
    fields.token,
    fields.nonce,
  ];
  const payload = (
    version === "v3" ? [...base, fields.platform.toLowerCase(), fields.deviceFamily.toLowerCase()] : base
  ).join("|");
  return crypto
    .sign(null, Buffer.from(payload, "utf8"), crypto.createPrivateKey(identity.privateKeyPem))
    .toString("base64url");
}

/** Connects once and reports how the handshake ended. Never rejects. */
export function connectGateway(opts: ConnectOptions): Promise<ConnectResult> {
  const clientId = opts.clientId ?? "cli";
  const mode = opts.clientMode ?? (clientId === "openclaw-control-ui" ? "webchat" : "cli");
  const role = opts.role ?? "operator";
  const scopes = opts.scopes ?? ADMIN_SCOPES;
  const platform = opts.platform ?? "linux";
  const deviceFamily = opts.deviceFamily ?? "";
  const identity = opts.identity === undefined ? createDeviceIdentity() : opts.identity;
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.origin) headers.Origin = opts.origin;
  if (opts.host) headers.Host = opts.host;

  return new Promise((resolve) => {
    let stage = "upgrade";
    let errorFrame: Frame["error"];
    let done = false;
    let hello: Extract<ConnectResult, { kind: "hello-ok" }> | undefined;
    const sendNext = (): void => {
      const i = hello?.responses?.length ?? 0;
      const req = opts.requests?.[i];
      ws.send(JSON.stringify({ type: "req", id: `req-${i}`, method: req?.method, params: req?.params ?? {} }));
    };
    const ws = new WebSocket(opts.url, { headers, handshakeTimeout: 8_000 });
    const finish = (result: ConnectResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ws.removeAllListeners("close"); // a terminate() below must not report a second outcome
      ws.terminate();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ kind: "timeout", stage }), opts.timeoutMs ?? 15_000);
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => finish({ kind: "http", status: res.statusCode ?? 0, body }));
    });
    ws.on("error", (err) => finish({ kind: "error", message: err.message }));
    ws.on("close", (code, reason) =>
      // After hello-ok, a close ends the requests: what was answered is the result.
      finish(hello ?? { kind: "close", code, reason: reason.toString(), ...(errorFrame ? { error: errorFrame } : {}) }),
    );
    ws.on("open", () => (stage = "challenge"));
    ws.on("message", (data: WebSocket.RawData) => {
      const msg = JSON.parse(data.toString()) as Frame;
      if (msg.type === "event" && msg.event === "connect.challenge") {
        stage = "connect";
        const nonce = String(msg.payload?.nonce);
        const ts = Number(msg.payload?.ts);
        const auth: Record<string, string> = {};
        if (opts.token !== undefined) auth.token = opts.token;
        if (opts.password !== undefined) auth.password = opts.password;
        if (opts.deviceToken !== undefined) auth.deviceToken = opts.deviceToken;
        const client: Record<string, string> = { id: clientId, version: "2026.9.6", platform, mode };
        if (opts.buildId) client.buildId = opts.buildId;
        if (deviceFamily) client.deviceFamily = deviceFamily;
        const params: Record<string, unknown> = {
          minProtocol: opts.protocol ?? 4,
          maxProtocol: opts.protocol ?? 4,
          client,
          role,
          scopes,
          caps: [],
          auth,
        };
        if (identity) {
          const token = auth.token ?? auth.deviceToken ?? "";
          const signature = signConnect(identity, opts.signature ?? "v3", {
            clientId,
            mode,
            role,
            scopes,
            ts,
            token,
            nonce,
            platform,
            deviceFamily,
          });
          params.device = { id: identity.deviceId, publicKey: identity.publicKey, signature, signedAt: ts, nonce };
        }
        ws.send(JSON.stringify({ type: "req", id: "connect-1", method: "connect", params }));
        return;
      }
      if (msg.type === "res" && msg.id === "connect-1") {
        if (!msg.ok) {
          errorFrame = msg.error; // the close frame follows; report both together
          stage = "close-after-error";
          return;
        }
        const auth = msg.payload?.auth ?? {};
        hello = {
          kind: "hello-ok",
          role: typeof auth.role === "string" ? auth.role : undefined,
          scopes: Array.isArray(auth.scopes) ? (auth.scopes as string[]) : [],
          serverBuildId: msg.payload?.server?.buildId,
          deviceToken: typeof auth.deviceToken === "string" ? auth.deviceToken : undefined,
        };
        if (!opts.requests?.length) return finish(hello);
        hello.responses = [];
        stage = "requests";
        sendNext();
        return;
      }
      if (msg.type === "res" && hello?.responses && msg.id === `req-${hello.responses.length}`) {
        const method = opts.requests?.[hello.responses.length]?.method ?? "";
        hello.responses.push(
          msg.ok ? { method, ok: true, payload: msg.payload } : { method, ok: false, error: msg.error },
        );
        if (hello.responses.length === opts.requests?.length) return finish(hello);
        sendNext();
      }
    });
  });
}
