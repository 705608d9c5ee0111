// The sidecar as a user would run it after `import-nginx`: the imported JSON written to a file and loaded with
// --config, with flags overriding only what the test must (addresses on loopback port 0, the fake gateway, the test
// certificate pair in place of nginx's paths). Runs in-process; its log lines are kept for failure messages.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { Writable } from "node:stream";
import { loadConfig } from "../../src/options/config.ts";
import { createLogger } from "../../src/ops/log.ts";
import { type Sidecar, startSidecar } from "../../src/proxy/sidecar.ts";

export interface ImportedSidecar {
  sidecar: Sidecar;
  port: number;
  redirectPort: number;
  adminUrl: string;
  logs(): string;
  close(): Promise<void>;
}

export async function startImportedSidecar(
  imported: Record<string, unknown>,
  dir: string,
  overrides: Record<string, string>,
): Promise<ImportedSidecar> {
  const file = path.join(dir, "sidecar.json");
  writeFileSync(file, JSON.stringify(imported, null, 2));
  const config = loadConfig({
    file,
    env: {},
    flags: { "--listen": "127.0.0.1:0", "--admin-listen": "127.0.0.1:0", "--drain-timeout-ms": "200", ...overrides },
  });
  let raw = "";
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      raw += chunk.toString();
      cb();
    },
  });
  const sidecar = await startSidecar(config, { logger: createLogger(config.logLevel, sink) });
  if (sidecar.redirectAddress === undefined)
    throw new Error("the imported config has no httpsRedirectListen (the reference has a redirect server)");
  return {
    sidecar,
    port: sidecar.proxyAddress.port,
    redirectPort: sidecar.redirectAddress.port,
    adminUrl: `http://127.0.0.1:${sidecar.adminAddress.port}`,
    logs: () => raw,
    close: () => sidecar.drain(),
  };
}
