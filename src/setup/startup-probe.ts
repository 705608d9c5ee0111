// Once at start, in the background: the doctor's HTTP checks (gateway-checks.ts) against the configured gateway, and
// one log line with the outcome: a warning naming the first problem and its fix, or an info line when none was
// found. It never delays the listeners (they are open before it starts) and never fails the start: a gateway that
// comes up later is normal in compose. It makes no test handshake (that would leave a pairing request behind).
import type { Config } from "../options/config.ts";
import { checkGatewayHttp } from "./gateway-checks.ts";
import { ownAddress } from "./gateway-config.ts";
import type { Logger } from "../ops/log.ts";

export async function probeGatewayAtStartup(config: Config, logger: Logger, timeoutMs = 3000): Promise<void> {
  try {
    const report = await checkGatewayHttp(config, ownAddress() ?? "<sidecar address>", timeoutMs);
    const problem = report.findings.find((f) => f.mark === "FAIL") ?? report.findings.find((f) => f.mark === "warn");
    if (problem) {
      const starting = report.reachable
        ? ""
        : " (if the gateway is still starting, this clears when it answers: watch /readyz)";
      logger.warn(
        {
          upstream: config.upstream.origin,
          diagnosis: problem.text,
          fix: "run `openclaw-sidecar doctor` where the sidecar runs for the full diagnosis and the gateway config to paste",
        },
        `gateway check at startup: ${problem.text}${starting}`,
      );
    } else {
      logger.info(
        { upstream: config.upstream.origin, release: report.release },
        "gateway check at startup: no problem found",
      );
    }
  } catch (err) {
    logger.warn(
      { upstream: config.upstream.origin, err: (err as Error).message },
      "gateway check at startup could not run",
    );
  }
}
