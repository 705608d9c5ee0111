// TLS-ALPN-01 (RFC 8737) on the proxy's own TLS port. The CA connects offering only the ALPN protocol "acme-tls/1"
// and expects a self-signed certificate carrying the key authorization. Node chooses a certificate by SNI before it
// looks at ALPN, so this front reads the ClientHello itself: a hello offering acme-tls/1 is handed to a TLS server
// that holds only challenge certificates; every other connection goes to the proxy's TLS server with its bytes
// unchanged (pushed back onto the socket). Browsers never see a challenge certificate.
import net, { type Socket } from "node:net";
import tls from "node:tls";
import type { Logger } from "../ops/log.ts";
import type { KeyPair } from "./tls.ts";

export const ACME_TLS_ALPN = "acme-tls/1";
/** A TLS record is at most 2^14 bytes plus its 5-byte header (and a little slack some stacks use). */
const MAX_RECORD = 5 + 16_384 + 2048;

/**
 * The ALPN protocols a ClientHello offers, read from its first TLS record; [] when the bytes are no ClientHello or
 * carry no ALPN extension. `undefined` while the record is still incomplete.
 */
export function clientHelloAlpn(buf: Buffer): string[] | undefined {
  if (buf.length < 1 || buf[0] !== 0x16) return [];
  if (buf.length < 5) return undefined;
  const recordEnd = 5 + buf.readUInt16BE(3);
  if (buf.length < recordEnd) return recordEnd > MAX_RECORD ? [] : undefined;
  const hello = buf.subarray(5, recordEnd);
  try {
    if (hello[0] !== 0x01) return [];
    let at = 4 + 2 + 32; // handshake header, client version, random
    at += 1 + (hello[at] as number); // session id
    at += 2 + hello.readUInt16BE(at); // cipher suites
    at += 1 + (hello[at] as number); // compression methods
    const extensionsEnd = at + 2 + hello.readUInt16BE(at);
    at += 2;
    while (at + 4 <= extensionsEnd && at + 4 <= hello.length) {
      const type = hello.readUInt16BE(at);
      const length = hello.readUInt16BE(at + 2);
      at += 4;
      if (type === 16) {
        const protocols: string[] = [];
        const listEnd = at + 2 + hello.readUInt16BE(at);
        for (let p = at + 2; p < listEnd && p < hello.length;) {
          const n = hello[p] as number;
          protocols.push(hello.subarray(p + 1, p + 1 + n).toString("latin1"));
          p += 1 + n;
        }
        return protocols;
      }
      at += length;
    }
  } catch {
    // A truncated hello (RangeError from a read past the end): not a challenge; the TLS server will refuse it.
  }
  return [];
}

/**
 * A listener for the proxy port that answers TLS-ALPN-01 challenges. `challengeFor(servername)` gives the challenge
 * certificate while an order is validating that name.
 */
export function createTlsAlpnFront(
  proxy: tls.Server,
  challengeFor: (servername: string) => KeyPair | undefined,
  timeoutMs: number,
  logger: Logger,
): net.Server {
  const challenges = tls.createServer({
    ALPNProtocols: [ACME_TLS_ALPN],
    SNICallback: (servername, cb) => {
      const pair = challengeFor(servername.toLowerCase());
      if (pair === undefined) cb(new Error(`no TLS-ALPN-01 challenge pending for ${servername}`));
      else cb(null, tls.createSecureContext(pair));
    },
  });
  // The handshake itself is the answer: the CA checks the certificate and closes.
  challenges.on("secureConnection", (socket: tls.TLSSocket) => {
    logger.info({ kind: "acme", servername: socket.servername }, "TLS-ALPN-01 challenge answered");
    socket.end();
  });
  challenges.on("tlsClientError", (err: Error, socket: Socket) => {
    logger.warn({ kind: "acme", client: socket.remoteAddress, error: err.message }, "TLS-ALPN-01 handshake failed");
    socket.destroy();
  });

  return net.createServer({ noDelay: true }, (socket) => {
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    const onError = () => socket.destroy();
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const protocols = clientHelloAlpn(buffered);
      if (protocols === undefined) return;
      clearTimeout(timer);
      socket.removeListener("data", onData);
      socket.removeListener("error", onError);
      socket.pause();
      socket.unshift(buffered);
      // A TLS socket made from a socket with buffered bytes reads those first (Node's TLSSocket._init).
      (protocols.length === 1 && protocols[0] === ACME_TLS_ALPN ? challenges : proxy).emit("connection", socket);
    };
    socket.on("data", onData);
    socket.on("error", onError);
    socket.once("close", () => clearTimeout(timer));
  });
}
