// Automatic HTTPS: obtains a certificate for acmeDomains from an ACME CA (acme-client), installs it on the proxy's
// TLS server without dropping a connection (setSecureContext, as tls.ts's reload does), and renews it at two thirds
// of its lifetime. At start a stored certificate that is still valid is served at once; otherwise a self-signed
// placeholder is served while the first order runs. A failed order never stops the sidecar: it is logged (one line,
// with the CA's problem document), counted, written to status.json for `doctor`, and retried with a jittered,
// doubling backoff.
import { readFileSync } from "node:fs";
import https from "node:https";
import type net from "node:net";
import tls from "node:tls";
import * as acme from "acme-client";
import type { Logger } from "../ops/log.ts";
import type { AcmeOrderResult, Metrics } from "../ops/metrics.ts";
import { type CertificateInfo, describeCertificate, openStore, storeDir } from "./acme-store.ts";
import { createTlsAlpnFront } from "./acme-tls-alpn.ts";
import { createPlaceholderCertificate } from "./placeholder-certificate.ts";
import type { AcmeSettings } from "./acme-settings.ts";
import type { KeyPair } from "./tls.ts";

/** The longest backoff between two failed orders. */
const MAX_RETRY_MS = 3_600_000;
/** Timers re-check at least this often (setTimeout cannot wait the ~60 days to a 90-day certificate's renewal). */
const MAX_TIMER_MS = 6 * 3_600_000;
/** Each request to the CA; axios waits forever by default. */
const REQUEST_TIMEOUT_MS = 30_000;

/** When a certificate is renewed: two thirds into its lifetime (acme-client does not read the CA's renewal info). */
export const renewalTime = (info: CertificateInfo): number =>
  info.notBefore.getTime() + ((info.notAfter.getTime() - info.notBefore.getTime()) * 2) / 3;

/** The delay after the n-th consecutive failure: base · 2^(n-1), at most one hour, then jittered into [½, 1]×. */
export function retryDelay(failures: number, baseMs: number, random = Math.random): number {
  const ceiling = Math.min(baseMs * 2 ** Math.max(0, failures - 1), MAX_RETRY_MS);
  return Math.round(ceiling * (0.5 + random() / 2));
}

export interface Acme {
  /** The pair to create the TLS server with: the stored certificate when valid, else the placeholder. */
  readonly initialKeyPair: KeyPair;
  /** What the proxy listens on: the TLS server itself, or (tls-alpn-01) the front that answers challenges. */
  listenerFor(server: tls.Server): net.Server;
  /** HTTP-01 answers for the redirect listener. */
  http01(token: string): string | undefined;
  /** Starts the order/renewal loop; call once the listeners are open (the CA validates against them). */
  start(server: tls.Server): void;
  stop(): void;
}

/** An order failure with its metric label and the CA's problem document when there was one. */
export class OrderFailure extends Error {
  readonly result: AcmeOrderResult;
  readonly problem: Record<string, unknown>;
  constructor(result: AcmeOrderResult, problem: Record<string, unknown>) {
    super(String(problem.detail ?? problem.type ?? result));
    this.result = result;
    this.problem = problem;
  }
}

// acme-client throws plain Errors carrying only a problem's detail; the whole document is taken from the response
// it came in (RFC 8555 §6.7: application/problem+json, or the `error` of an invalid challenge). One sidecar per
// process, and its orders run one at a time, so "the last response" is this order's.
let lastProblem: Record<string, unknown> | undefined;
let axiosConfigured = false;
/** An agent trusting the system's roots plus acmeDirectoryCaFile; undefined (Node's default) without it. */
export const directoryAgent = (caFile: string | undefined): https.Agent | undefined =>
  caFile === undefined ? undefined : new https.Agent({ ca: [...tls.rootCertificates, readFileSync(caFile, "utf8")] });

function configureAxios(caFile: string | undefined): void {
  acme.axios.defaults.httpsAgent = directoryAgent(caFile);
  if (axiosConfigured) return;
  axiosConfigured = true;
  acme.axios.defaults.timeout = REQUEST_TIMEOUT_MS;
  // The order loop has its own backoff; one quick retry here covers a blip, Retry-After is still honoured once.
  const settings = (acme.axios.defaults as unknown as { acmeSettings: Record<string, number> }).acmeSettings;
  settings.retryMaxAttempts = 1;
  settings.retryDefaultDelay = 1;
  acme.axios.interceptors.response.use((resp) => {
    const data = resp.data as Record<string, unknown> | undefined;
    const isProblem = String(resp.headers["content-type"] ?? "").includes("problem+json");
    lastProblem = isProblem
      ? data
      : data?.status === "invalid" && typeof data.error === "object"
        ? (data.error as Record<string, unknown>)
        : undefined;
    return resp;
  });
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ECONNABORTED",
  "EPROTO",
  "CERT_HAS_EXPIRED",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
]);

/** GET the directory first: a CA that is down (or not trusted) is reported as such, not as a confusing later error. */
export function probeDirectory(url: string, agent: https.Agent | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (code: string, detail: string) =>
      reject(new OrderFailure("ca_unreachable", { type: "sidecar:caUnreachable", detail: `${url}: ${detail}`, code }));
    const req = https.get(url, { agent, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      res.resume();
      if (res.statusCode === 200) resolve();
      else fail(`HTTP_${res.statusCode}`, `the directory answered HTTP ${res.statusCode}`);
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" })));
    req.on("error", (err: NodeJS.ErrnoException) => fail(err.code ?? "error", err.message));
  });
}

function classify(err: unknown): OrderFailure {
  if (err instanceof OrderFailure) return err;
  const e = err as NodeJS.ErrnoException;
  if (lastProblem !== undefined) return new OrderFailure("ca_error", lastProblem);
  if (e.code !== undefined && NETWORK_CODES.has(e.code))
    return new OrderFailure("ca_unreachable", { type: "sidecar:caUnreachable", detail: e.message, code: e.code });
  return new OrderFailure("error", { type: "sidecar:error", detail: e.message ?? String(err) });
}

export { ACME_CHALLENGES, type AcmeChallenge, type AcmeSettings, type SecretValue } from "./acme-settings.ts";

export async function prepareAcme(config: AcmeSettings, logger: Logger, metrics: Metrics): Promise<Acme> {
  const domains = config.acmeDomains;
  const store = openStore(storeDir(config.acmeStorage as string, config.acmeDirectory));
  configureAxios(config.acmeDirectoryCaFile);
  for (const domain of domains) metrics.certificateExpiry.set({ domain }, 0);

  const http01Answers = new Map<string, string>();
  const alpnCertificates = new Map<string, KeyPair>();
  let server: tls.Server | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let ordering = false;
  let failures = 0;
  let dueAt: number;
  let serving: "stored" | "issued" | "placeholder";

  const installed = (info: CertificateInfo) => {
    for (const domain of domains) metrics.certificateExpiry.set({ domain }, Math.floor(info.notAfter.getTime() / 1000));
  };

  let initialKeyPair: KeyPair;
  const { stored, reason } = store.readCertificate(domains);
  if (stored) {
    initialKeyPair = { key: Buffer.from(stored.key), cert: Buffer.from(stored.cert) };
    serving = "stored";
    installed(stored.info);
    dueAt = renewalTime(stored.info);
    logger.info(
      {
        kind: "acme",
        domains,
        serial: stored.info.serial,
        notAfter: stored.info.notAfter.toISOString(),
        renewAt: new Date(dueAt).toISOString(),
        storage: store.dir,
      },
      "ACME: serving the stored certificate",
    );
  } else {
    initialKeyPair = await createPlaceholderCertificate(domains);
    serving = "placeholder";
    dueAt = Date.now();
    logger.warn(
      { kind: "acme", domains, storage: store.dir, reason },
      `ACME: ${reason}; serving a self-signed placeholder until the first certificate is issued`,
    );
  }

  async function obtain(): Promise<{ cert: string; key: string }> {
    await probeDirectory(config.acmeDirectory, acme.axios.defaults.httpsAgent as https.Agent | undefined);
    let accountKey = store.readAccountKey();
    if (accountKey === undefined) {
      accountKey = (await acme.crypto.createPrivateEcdsaKey()).toString();
      store.writeAccountKey(accountKey);
    }
    const eab =
      config.acmeEabKid !== undefined && config.acmeEabHmacKey !== undefined
        ? { kid: config.acmeEabKid, hmacKey: config.acmeEabHmacKey.value }
        : undefined;
    // Registered once; then the stored account URL is used (registering again would be an account update, which
    // CAs refuse when it changes nothing). A CA that no longer knows the account drops the URL (see runOrder).
    const accountUrl = store.readAccountUrl();
    const client = new acme.Client({
      directoryUrl: config.acmeDirectory,
      accountKey,
      backoffAttempts: 12,
      backoffMin: 500,
      backoffMax: 10_000,
      ...(accountUrl ? { accountUrl } : {}),
      ...(eab ? { externalAccountBinding: eab } : {}),
    });
    if (accountUrl === undefined) {
      await client.createAccount({
        termsOfServiceAgreed: true,
        ...(config.acmeEmail ? { contact: [`mailto:${config.acmeEmail}`] } : {}),
      });
      store.writeAccountUrl(client.getAccountUrl());
    }
    const order = await client.createOrder({ identifiers: domains.map((value) => ({ type: "dns", value })) });
    for (const authz of await client.getAuthorizations(order)) {
      if (authz.status === "valid") continue; // the CA reused an earlier validation
      const name = authz.identifier.value;
      const challenge = authz.challenges.find((c) => c.type === config.acmeChallenge);
      if (challenge === undefined) {
        throw new OrderFailure("ca_error", {
          type: "sidecar:challengeNotOffered",
          detail: `the CA offers no ${config.acmeChallenge} challenge for ${name} (it offers ${authz.challenges.map((c) => c.type).join(", ")}); set acmeChallenge to one of those`,
        });
      }
      const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
      if (challenge.type === "http-01") http01Answers.set(challenge.token, keyAuthorization);
      else {
        const [key, cert] = await acme.crypto.createAlpnCertificate(
          authz,
          keyAuthorization,
          await acme.crypto.createPrivateEcdsaKey(),
        );
        alpnCertificates.set(name, { key, cert });
      }
      try {
        await client.completeChallenge(challenge);
        await client.waitForValidStatus(challenge);
      } catch (err) {
        const problem = lastProblem ?? { type: "sidecar:challengeFailed", detail: (err as Error).message };
        throw new OrderFailure("challenge_failed", { ...problem, identifier: name, challenge: challenge.type });
      } finally {
        if (challenge.type === "http-01") http01Answers.delete(challenge.token);
        else alpnCertificates.delete(name);
      }
    }
    const [key, csr] = await acme.crypto.createCsr(
      { commonName: domains[0], altNames: domains },
      await acme.crypto.createPrivateEcdsaKey(),
    );
    const finalized = await client.finalizeOrder(order, csr);
    const cert = await client.getCertificate(finalized);
    return { cert, key: key.toString() };
  }

  async function runOrder(): Promise<void> {
    ordering = true;
    lastProblem = undefined;
    const started = performance.now();
    const base = { kind: "acme", directory: config.acmeDirectory, challenge: config.acmeChallenge, domains };
    try {
      const { cert, key } = await obtain();
      const info = describeCertificate(cert);
      store.writeCertificate(cert, key);
      if (stopped) return;
      (server as tls.Server).setSecureContext({ cert, key });
      serving = "issued";
      installed(info);
      failures = 0;
      dueAt = renewalTime(info);
      metrics.acmeOrders.inc({ result: "issued" });
      logger.info(
        {
          ...base,
          result: "issued",
          serial: info.serial,
          issuer: info.issuer,
          notAfter: info.notAfter.toISOString(),
          renewAt: new Date(dueAt).toISOString(),
          durationMs: Math.round(performance.now() - started),
        },
        "ACME order: certificate issued and installed",
      );
      writeStatus({
        result: "issued",
        notAfter: info.notAfter.toISOString(),
        nextAttemptAt: new Date(dueAt).toISOString(),
      });
    } catch (err) {
      if (stopped) return;
      const failure = classify(err);
      if (failure.problem.type === "urn:ietf:params:acme:error:accountDoesNotExist") store.writeAccountUrl(undefined);
      failures++;
      const delay = retryDelay(failures, config.acmeRetryMs);
      dueAt = Date.now() + delay;
      metrics.acmeOrders.inc({ result: failure.result });
      logger.error(
        {
          ...base,
          result: failure.result,
          problem: failure.problem,
          failures,
          retryInMs: delay,
          serving,
          durationMs: Math.round(performance.now() - started),
        },
        `ACME order failed (${failure.result}): ${failure.message}; serving the ${serving} certificate, retrying in ${Math.round(delay / 1000)} s`,
      );
      writeStatus({ result: failure.result, problem: failure.problem, nextAttemptAt: new Date(dueAt).toISOString() });
    } finally {
      ordering = false;
      schedule();
    }
  }

  function writeStatus(status: {
    result: AcmeOrderResult;
    notAfter?: string;
    problem?: Record<string, unknown>;
    nextAttemptAt?: string;
  }): void {
    try {
      store.writeStatus({ at: new Date().toISOString(), domains, ...status });
    } catch (err) {
      logger.error({ kind: "acme", err: (err as Error).message }, "ACME: cannot write status.json");
    }
  }

  function schedule(): void {
    clearTimeout(timer);
    if (stopped || ordering) return;
    const wait = Math.max(0, dueAt - Date.now());
    timer = setTimeout(() => (Date.now() >= dueAt ? void runOrder() : schedule()), Math.min(wait, MAX_TIMER_MS));
    timer.unref();
  }

  return {
    initialKeyPair,
    listenerFor: (tlsServer) =>
      config.acmeChallenge === "tls-alpn-01"
        ? createTlsAlpnFront(tlsServer, (name) => alpnCertificates.get(name), config.headersTimeoutMs, logger)
        : tlsServer,
    http01: (token) => http01Answers.get(token),
    start(tlsServer) {
      server = tlsServer;
      schedule();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
