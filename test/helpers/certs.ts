// A throwaway test CA and server certificates made with the openssl CLI (Debian package openssl).
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export interface TestCa {
  dir: string;
  caCert: string;
  issue(name: string, san?: string): { cert: string; key: string };
}

export function createTestCa(): TestCa {
  const dir = mkdtempSync(path.join(tmpdir(), "sidecar-tls-"));
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  run(
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=openclaw-sidecar test CA",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
  );

  return {
    dir,
    caCert: path.join(dir, "ca.pem"),
    /** A server certificate for `san` (default: localhost and 127.0.0.1). */
    issue(name, san = "DNS:localhost,IP:127.0.0.1") {
      writeFileSync(path.join(dir, `${name}.cnf`), `subjectAltName=${san}\n`);
      run(
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        `/CN=${name}`,
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.csr`,
      );
      run(
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        `${name}.cnf`,
        "-out",
        `${name}.pem`,
      );
      return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
    },
  };
}

/** A self-signed server certificate (no CA at all), as `openssl req -x509` makes for a quick TLS setup. */
export function createSelfSigned(
  name = "self-signed",
  san = "DNS:localhost,IP:127.0.0.1",
): { cert: string; key: string } {
  const dir = mkdtempSync(path.join(tmpdir(), "sidecar-tls-"));
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
      "-addext",
      `subjectAltName=${san}`,
      "-keyout",
      "key.pem",
      "-out",
      "cert.pem",
    ],
    { cwd: dir, stdio: "pipe" },
  );
  return { cert: path.join(dir, "cert.pem"), key: path.join(dir, "key.pem") };
}
