// The scripted protocol-v4 client for the real-gateway tests: the client itself is src/setup/gateway-client.ts (the
// doctor uses it too); this file adds running it inside a network namespace, so a connection originates from that
// namespace's address.
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ConnectOptions, ConnectResult } from "../../src/setup/gateway-client.ts";
import { NODE24 } from "./gateway.ts";
import { nsExec } from "./netns.ts";

export {
  ADMIN_SCOPES,
  type ConnectOptions,
  type ConnectResult,
  type DeviceIdentity,
  connectGateway,
  createDeviceIdentity,
} from "../../src/setup/gateway-client.ts";

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), "protocol-client-cli.ts");

/**
 * Runs connectGateway in a child process inside namespace `ns`, so the connection originates from that namespace's
 * address (e.g. the client namespace's 10.77.0.2).
 */
export async function connectFromNamespace(ns: string, opts: ConnectOptions): Promise<ConnectResult> {
  const r = await nsExec(ns, NODE24, [CLI, JSON.stringify(opts)], { timeoutMs: (opts.timeoutMs ?? 15_000) + 10_000 });
  const line = r.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as ConnectResult;
  } catch {
    return { kind: "error", message: `protocol client in ${ns} exited ${r.code}: ${r.stdout}${r.stderr}` };
  }
}
