// Starts a real sidecar in-process on 127.0.0.1:0 with its log lines captured as parsed JSON.
import { Writable } from "node:stream";
import { type Config, loadConfig } from "../../src/options/config.ts";
import { createLogger } from "../../src/ops/log.ts";
import { type Sidecar, startSidecar } from "../../src/proxy/sidecar.ts";

export interface TestSidecar {
  sidecar: Sidecar;
  config: Config;
  url: string;
  adminUrl: string;
  /** Every log line, parsed. */
  logs: Array<Record<string, unknown>>;
  /** The raw log text, for grepping secrets. */
  rawLogs(): string;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  /** Loads the configuration again from the same flags (and file) and applies it, as SIGHUP does; false: refused. */
  reload(): boolean;
  close(): Promise<void>;
}

export interface TestSidecarOptions {
  /** A JSON config file, as --config gives it. */
  file?: string;
  /** How often the configuration's files are polled (ms); 0 (the default here): not watched. */
  watchIntervalMs?: number;
}

export async function startTestSidecar(
  flags: Record<string, string>,
  options: TestSidecarOptions = {},
): Promise<TestSidecar> {
  const sources = {
    env: {},
    flags: {
      "--listen": "127.0.0.1:0",
      "--admin-listen": "127.0.0.1:0",
      "--log-level": "info",
      "--drain-timeout-ms": "200",
      ...flags,
    },
    ...(options.file !== undefined ? { file: options.file } : {}),
  };
  const config = loadConfig(sources);
  const logs: Array<Record<string, unknown>> = [];
  let raw = "";
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      raw += chunk.toString();
      for (const line of chunk.toString().split("\n"))
        if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const logger = createLogger(config.logLevel, sink);
  const sidecar = await startSidecar(config, {
    logger,
    load: () => loadConfig(sources),
    watchIntervalMs: options.watchIntervalMs ?? 0,
  });
  const url = `http://127.0.0.1:${sidecar.proxyAddress.port}`;
  const adminUrl = `http://127.0.0.1:${sidecar.adminAddress.port}`;
  return {
    sidecar,
    config,
    url,
    adminUrl,
    logs,
    rawLogs: () => raw,
    async metric(name, labels = {}) {
      const metric = await sidecar.metrics.registry.getSingleMetric(name)?.get();
      if (!metric) throw new Error(`no metric ${name}`);
      let sum = 0;
      for (const v of metric.values) {
        if (Object.entries(labels).every(([k, val]) => String((v.labels as Record<string, unknown>)[k]) === val))
          sum += v.value;
      }
      return sum;
    },
    reload: () => sidecar.reload("test"),
    close: () => sidecar.drain(),
  };
}
