// What `doctor` says about TLS: the expiry of the certificate the sidecar serves (tlsCert, or the one automatic HTTPS
// stored), and for automatic HTTPS the last order's outcome (status.json, written by acme.ts) and whether the CA's
// directory answers from here. Reads only; never orders anything.
import { readFileSync } from "node:fs";
import { OrderFailure, directoryAgent, probeDirectory } from "../tls/acme.ts";
import {
  type CertificateInfo,
  describeCertificate,
  readStatus,
  readStoredCertificateInfo,
  storeDir,
} from "../tls/acme-store.ts";
import type { Config } from "../options/config.ts";
import type { Finding } from "./gateway-checks.ts";

const DAY_MS = 86_400_000;

function expiry(info: CertificateInfo, now: number): Finding {
  const days = Math.floor((info.notAfter.getTime() - now) / DAY_MS);
  const cn = /CN=([^,]+)/.exec(info.issuer)?.[1] ?? info.issuer;
  const text = `issued by ${cn}, expires ${info.notAfter.toISOString()}`;
  if (info.notAfter.getTime() <= now) return { mark: "FAIL", text: `${text}: EXPIRED` };
  return { mark: days < 14 ? "warn" : "ok", text: `${text} (in ${days} days)` };
}

export async function certificateFindings(config: Config, now = Date.now()): Promise<Finding[]> {
  if (config.tlsCert !== undefined) {
    const e = expiry(describeCertificate(readFileSync(config.tlsCert, "utf8")), now);
    return [
      {
        mark: e.mark,
        text: `certificate ${config.tlsCert}: ${e.text}${e.mark === "ok" ? "" : "; replace the file (it is re-read on change)"}`,
      },
    ];
  }
  if (config.acmeDomains.length === 0 || config.acmeStorage === undefined) return [];
  const findings: Finding[] = [];
  const names = config.acmeDomains.join(", ");
  const dir = storeDir(config.acmeStorage, config.acmeDirectory);
  let info: CertificateInfo | undefined;
  try {
    info = readStoredCertificateInfo(dir);
  } catch (err) {
    findings.push({
      mark: "FAIL",
      text: `certificate for ${names}: the stored one in ${dir} is unreadable (${(err as Error).message})`,
    });
  }
  let usable = false;
  if (info === undefined) {
    if (findings.length === 0)
      findings.push({
        mark: "FAIL",
        text: `certificate for ${names}: none issued yet (the self-signed placeholder is served)`,
      });
  } else if (info.names.join(",") !== [...config.acmeDomains].sort().join(",")) {
    findings.push({
      mark: "FAIL",
      text: `certificate for ${names}: the stored one is for ${info.names.join(", ")}; the sidecar orders a new one`,
    });
  } else {
    const e = expiry(info, now);
    usable = e.mark !== "FAIL";
    findings.push({ mark: e.mark, text: `certificate for ${names}: ${e.text}` });
  }

  const status = readStatus(dir);
  if (status === undefined) {
    findings.push({ mark: usable ? "ok" : "warn", text: `ACME: no order recorded in ${dir} yet` });
  } else if (status.result === "issued") {
    findings.push({
      mark: "ok",
      text: `ACME: last order issued at ${status.at}; renewal due ${status.nextAttemptAt ?? "?"}`,
    });
  } else {
    const p = status.problem ?? {};
    const why =
      [p.type, p.detail]
        .filter((x) => x !== undefined)
        .map(String)
        .join(": ") + (p.code !== undefined ? ` (${String(p.code)})` : "");
    findings.push({
      mark: usable ? "warn" : "FAIL",
      text: `ACME: last order ${status.result} at ${status.at}: ${why}; next attempt ${status.nextAttemptAt ?? "?"}`,
    });
  }

  try {
    await probeDirectory(config.acmeDirectory, directoryAgent(config.acmeDirectoryCaFile));
    findings.push({ mark: "ok", text: `ACME directory ${config.acmeDirectory} answers` });
  } catch (err) {
    const detail = err instanceof OrderFailure ? String(err.problem.detail) : (err as Error).message;
    findings.push({ mark: usable ? "warn" : "FAIL", text: `ACME directory unreachable from here: ${detail}` });
  }
  return findings;
}
