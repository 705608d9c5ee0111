// The two log formats: JSON for machines (the default without a terminal), `time LEVEL message key=value` for people
// (the default on a terminal, or logFormat pretty), with the same fields and the same redactions.
import { spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLineWriter, createLogger, redactUrl } from "../../src/ops/log.ts";
import { prettyLine } from "../../src/ops/log-pretty.ts";

const ISO = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z";

function capture(format: "json" | "pretty") {
  let text = "";
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  const logger = createLogger("info", sink, format);
  return { logger, text: () => text };
}

describe("pretty lines", () => {
  it("time, level, message, then key=value; values JSON-quoted when they hold spaces, quotes or =", () => {
    expect(
      prettyLine(
        '{"level":"info","time":"2026-01-02T03:04:05.678Z","name":"openclaw-sidecar","status":200,"url":"/a?b=c","who":"Alice B","ok":true,"empty":"","obj":{"a":1},"msg":"request"}\n',
      ),
    ).toBe(
      '2026-01-02T03:04:05.678Z INFO  request name=openclaw-sidecar status=200 url="/a?b=c" who="Alice B" ok=true empty="" obj={"a":1}\n',
    );
  });

  it("carries the same fields as the JSON line, secrets redacted in both (pino's paths and the URL redaction)", () => {
    for (const format of ["json", "pretty"] as const) {
      const { logger, text } = capture(format);
      logger.info({ token: "s3cret-token-value", headers: { authorization: "Bearer s3cret" }, user: "alice" }, "login");
      createLineWriter(logger)({ method: "GET", url: redactUrl("/chat?token=s3cret-query&x=1"), status: 200 }, "http");
      const out = text();
      expect(out, format).not.toContain("s3cret");
      const lines = out.trimEnd().split("\n");
      expect(lines, format).toHaveLength(2);
      if (format === "json") {
        expect(JSON.parse(lines[0] as string)).toMatchObject({ token: "[REDACTED]", user: "alice", msg: "login" });
        expect(JSON.parse(lines[1] as string)).toMatchObject({ url: "/chat?token=[REDACTED]&x=1", msg: "http" });
      } else {
        expect(lines[0]).toMatch(
          new RegExp(
            `^${ISO} INFO  login name=openclaw-sidecar token=\\[REDACTED\\] headers=\\{"authorization":"\\[REDACTED\\]"\\} user=alice$`,
          ),
        );
        expect(lines[1]).toMatch(
          new RegExp(
            `^${ISO} INFO  http name=openclaw-sidecar method=GET url="/chat\\?token=\\[REDACTED\\]&x=1" status=200$`,
          ),
        );
      }
    }
  });
});

describe("the format the CLI picks", () => {
  // A port already taken: the sidecar logs one fatal line and exits 69, with no timing to wait for.
  let busy: ReturnType<typeof createServer>;
  let port = 0;
  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    port = (busy.address() as { port: number }).port;
  });
  afterAll(() => busy.close());
  const args = () => ["src/cli.ts", "--listen", `127.0.0.1:${port}`, "--admin-listen", "127.0.0.1:0"];
  const env = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH ?? "", ...extra });
  const fatalOf = () => `cannot listen for the proxy on 127.0.0.1:${port}: the address is already in use`;
  const prettyFatal = () => new RegExp(`^${ISO} FATAL ${fatalOf().replace(/[.]/g, "\\.")} name=openclaw-sidecar$`);
  /** Under script(1): stdout is a terminal. */
  const onTerminal = (extra: Record<string, string> = {}) =>
    spawnSync("script", ["-qec", [process.execPath, ...args()].join(" "), "/dev/null"], {
      encoding: "utf8",
      env: env(extra),
      stdin: "ignore",
      timeout: 20_000,
    } as Parameters<typeof spawnSync>[2] & { encoding: "utf8" });

  it("JSON without a terminal", () => {
    const r = spawnSync(process.execPath, args(), { encoding: "utf8", env: env(), timeout: 20_000 });
    expect(r.status).toBe(69);
    expect(JSON.parse(r.stdout)).toMatchObject({ level: "fatal", name: "openclaw-sidecar", msg: fatalOf() });
  });

  it("pretty on a terminal", () => {
    const r = onTerminal();
    expect(r.status).toBe(69);
    expect(r.stdout.replaceAll("\r", "").trimEnd()).toMatch(prettyFatal());
  });

  it("--log-format pretty without a terminal, OPENCLAW_SIDECAR_LOG_FORMAT=json on one", () => {
    const r = spawnSync(process.execPath, [...args(), "--log-format", "pretty"], {
      encoding: "utf8",
      env: env(),
      timeout: 20_000,
    });
    expect(r.stdout.trimEnd()).toMatch(prettyFatal());
    const t = onTerminal({ OPENCLAW_SIDECAR_LOG_FORMAT: "json" });
    expect(JSON.parse(t.stdout)).toMatchObject({ level: "fatal", msg: fatalOf() });
  });

  it("a bad logFormat names the option and the values", () => {
    const r = spawnSync(process.execPath, ["src/cli.ts", "check-config", "--log-format", "text"], {
      encoding: "utf8",
      env: env(),
      timeout: 20_000,
    });
    expect(r.status).toBe(78);
    expect(r.stderr).toContain('logFormat: "text" must be one of json, pretty');
  });
});
