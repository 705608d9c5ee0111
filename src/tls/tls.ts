// TLS termination: the certificate and key are read at startup (a mismatched pair is a startup error, not a runtime
// surprise) and re-read when either file changes, without dropping a single open connection: new handshakes get the
// new context through setSecureContext, established connections keep theirs.
import { readFileSync, unwatchFile, watchFile } from "node:fs";
import http from "node:http";
import { type Server as TlsServer, createSecureContext } from "node:tls";
import type { Logger } from "../ops/log.ts";

export interface KeyPair {
  key: Buffer;
  cert: Buffer;
}

/**
 * Reads and checks a key pair; throws one sentence naming the files and the problem. Used at startup (through config
 * validation, so a bad pair is reported with every other problem) and on each reload.
 */
export function readKeyPair(certPath: string, keyPath: string): KeyPair {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(
        `${what} ${JSON.stringify(path)}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      );
    }
  };
  const pair = { cert: read(certPath, "tlsCert"), key: read(keyPath, "tlsKey") };
  try {
    createSecureContext(pair);
  } catch (err) {
    const msg = (err as Error).message;
    const why = /key values mismatch/i.test(msg)
      ? "the key does not belong to the certificate"
      : `not a usable PEM certificate and key (${msg})`;
    throw new Error(`tlsCert ${JSON.stringify(certPath)} / tlsKey ${JSON.stringify(keyPath)}: ${why}`);
  }
  return pair;
}

/** Re-reads the pair when a file changes (polling: works on bind mounts and Kubernetes secret symlinks). */
export function watchKeyPair(
  server: TlsServer,
  certPath: string,
  keyPath: string,
  logger: Logger,
  intervalMs = 1000,
): () => void {
  let timer: NodeJS.Timeout | undefined;
  const reload = () => {
    // Debounce: cert and key are usually replaced one after the other.
    clearTimeout(timer);
    timer = setTimeout(() => {
      try {
        server.setSecureContext(readKeyPair(certPath, keyPath));
        logger.info({ tlsCert: certPath }, "TLS certificate reloaded");
      } catch (err) {
        logger.error(
          { err: (err as Error).message },
          "TLS certificate reload failed; keeping the previous certificate",
        );
      }
    }, 200);
  };
  watchFile(certPath, { interval: intervalMs }, reload);
  watchFile(keyPath, { interval: intervalMs }, reload);
  return () => {
    clearTimeout(timer);
    unwatchFile(certPath, reload);
    unwatchFile(keyPath, reload);
  };
}

/**
 * A plain-HTTP listener that redirects every request to the same URL on HTTPS (308 keeps the method and body).
 * `httpsPort` is read per request: the port users reach HTTPS on (publicOrigin's, else the one the proxy bound).
 * With automatic HTTPS it also answers ACME HTTP-01 challenges: `challengeResponse(token)` is the key authorization
 * while an order validates (acme.ts); any other /.well-known/acme-challenge/ path is a 404, never a redirect.
 */
export function createRedirectServer(
  httpsPort: () => number,
  challengeResponse?: (token: string) => string | undefined,
): http.Server {
  return http.createServer((req, res) => {
    const challenge = challengeResponse && /^\/\.well-known\/acme-challenge\/([\w-]+)$/.exec(req.url ?? "");
    if (challengeResponse && challenge) {
      const answer = challengeResponse(challenge[1] as string);
      if (answer === undefined) res.writeHead(404, { "content-type": "text/plain" }).end("no such ACME challenge\n");
      else res.writeHead(200, { "content-type": "text/plain" }).end(answer);
      return;
    }
    const host = (req.headers.host ?? "").replace(/:\d+$/, "");
    if (host === "" || !/^[\w.-]+$|^\[[0-9a-f:.]+\]$/i.test(host)) {
      res.writeHead(400, { "content-type": "text/plain" }).end("a valid Host header is required\n");
      return;
    }
    const port = httpsPort() === 443 ? "" : `:${httpsPort()}`;
    res.writeHead(308, { location: `https://${host}${port}${req.url ?? "/"}`, "content-length": "0" }).end();
  });
}
