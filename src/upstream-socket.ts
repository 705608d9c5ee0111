// One TCP (or TLS) connection to the gateway, opened the same way for HTTP exchanges and for WebSocket upgrades.
import net from "node:net";
import tls from "node:tls";

export interface UpstreamTarget {
  host: string;
  port: number;
  tls: boolean;
  /** SNI name: the host unless it is an IP address. */
  servername: string | undefined;
}

export function upstreamTarget(url: URL): UpstreamTarget {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const secure = url.protocol === "https:";
  return { host, port: Number(url.port) || (secure ? 443 : 80), tls: secure, servername: net.isIP(host) === 0 ? host : undefined };
}

/**
 * Where HTTP exchanges' gateway reads land (`onRead` below): a buffer per gateway connection, reused read after read.
 * Without it, every read of a response allocates a fresh 64 KiB ArrayBuffer that only the garbage collector frees: a
 * 1 MiB response cost 16 of them, page faults, and the full GCs their external memory triggers (bench/README.md,
 * "Syscalls and profiles"). Node reads into the buffer the socket's last read callback handed back; a consumer that
 * still refers to a chunk after its callback (a write the kernel did not take in full, which Node finishes later from
 * these very bytes; a partial head) says so, and that connection's later reads go to a fresh buffer. The buffer cannot
 * be shared between connections: each socket keeps reading into the one it was handed last, so retiring a buffer only
 * reaches the socket that just read. Buffers of closed connections are kept for new ones, up to POOL_MAX.
 */
const READ_BUFFER_BYTES = 64 * 1024;
const POOL_MAX = 64;
const pool: Buffer[] = [];
const takeBuffer = (): Buffer => pool.pop() ?? Buffer.allocUnsafe(READ_BUFFER_BYTES);

/**
 * Starts connecting; writes made before the connection is up are queued by the socket. With `onRead`, the socket's
 * bytes go to it instead of "data" events ("end" still comes). `onRead` returns true when something still refers to
 * the chunk after it returns; otherwise the chunk's bytes are read over by the next read.
 */
export function connectUpstream(target: UpstreamTarget, onRead?: (chunk: Buffer) => boolean): net.Socket {
  if (target.tls) {
    const socket = tls.connect({ host: target.host, port: target.port, servername: target.servername, ALPNProtocols: ["http/1.1"] });
    socket.setNoDelay(true);
    if (onRead !== undefined) socket.on("data", (chunk: Buffer) => onRead(chunk)); // a fresh buffer per chunk: nothing to keep
    return socket;
  }
  if (onRead === undefined) return net.connect({ host: target.host, port: target.port, noDelay: true });
  let buffer: Buffer | undefined;
  const socket = net.connect({
    host: target.host,
    port: target.port,
    noDelay: true,
    onread: {
      // Called when the socket is set up and after every read: the buffer the next read goes to.
      buffer: () => (buffer ??= takeBuffer()),
      callback: (n: number, buf: Uint8Array): boolean => {
        if (onRead((buf as Buffer).subarray(0, n))) buffer = undefined; // that one belongs to its readers now
        return true; // reading is paused with socket.pause(), as for any socket
      },
    },
  });
  socket.once("close", () => {
    // Nothing refers to the current buffer: the last read's chunk either was let go or made us take a fresh one.
    if (buffer !== undefined && pool.length < POOL_MAX) pool.push(buffer);
    buffer = undefined;
  });
  return socket;
}
