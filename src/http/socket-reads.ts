// Where the bytes the sidecar reads land. Without this, Node gives every read of every socket a fresh 64 KiB
// ArrayBuffer that only the garbage collector frees: a 1 MiB response cost 16 of them, a 64 KiB upload 2, with page
// faults and the full GCs their external memory triggers (bench/README.md, "Syscalls and profiles"). Plain TCP
// sockets here read with `onread` into a buffer of their own instead, reused read after read, with no copy.
//
// A socket has one reader at a time — the HTTP connection, then an upgrade's handshake, then its tunnel — set with
// `setReader`. A reader returns true when something still refers to the chunk after it returns (a write the kernel
// did not take in full, which Node finishes later from those very bytes; bytes kept for later); that socket's next
// read then goes to a fresh buffer and the old one is left to its holders. The buffer cannot be shared between
// sockets: Node reads into the buffer a socket's own last read callback handed back, so retiring a buffer reaches
// only the socket that just read.
//
// Sizes: a socket reads into a small buffer (2 KiB) until a read fills it, then into a large one (64 KiB, pooled)
// until a read fits in a small one again. So an idle WebSocket or keep-alive connection whose last read was small
// holds 2 KiB (its own allocation, not a slice of Node's shared 8 KiB pool, which one live slice keeps whole), and a
// stream moves 64 KiB per read.
//
// socket.pause() stops such a socket's reading at once (a "data" socket reads on until its buffer is full): a paused
// socket does not see its peer's end until it is resumed, so pause only a socket that will be resumed.
//
// TLS sockets cannot read this way (the cleartext comes out of OpenSSL); their readers get "data" events' chunks,
// fresh each time, and what they return does not matter.
import net, { type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { getSystemErrorName } from "node:util";

/** Returns true when something still refers to `chunk` after the call. */
export type Reader = (chunk: Buffer) => boolean;

const SMALL_BYTES = 2 * 1024;
const LARGE_BYTES = 64 * 1024;
/** Large buffers let go of (not referred to) are kept for the next socket that needs one, up to this many. */
const POOL_MAX = 64;
const pool: Buffer[] = [];

/** The read state of one socket that reads into its own buffers. */
class OwnBuffers {
  reader: Reader | undefined = undefined;
  private buffer: Buffer | undefined = undefined;
  private large: boolean;

  constructor(large: boolean) {
    this.large = large;
  }

  /** Called when the socket is set up and after every read: the buffer the next read goes to. */
  readonly next = (): Buffer =>
    (this.buffer ??= this.large
      ? (pool.pop() ?? Buffer.allocUnsafeSlow(LARGE_BYTES))
      : Buffer.allocUnsafeSlow(SMALL_BYTES));

  readonly onRead = (n: number, buf: Uint8Array): boolean => {
    const reader = this.reader;
    const kept = reader !== undefined && reader((buf as Buffer).subarray(0, n));
    // A read that filled its buffer: the next one may need more room. One a small buffer would have held: back to
    // small. In between (a large buffer, part-filled): stay, or every medium-sized message would take two reads.
    const large = n === buf.length || (n > SMALL_BYTES && this.large);
    if (kept)
      this.buffer = undefined; // it belongs to its holders now
    else if (large !== this.large) this.letGo();
    this.large = large;
    return true; // reading is paused with socket.pause(), as for any socket
  };

  /** The current buffer is referred to by nothing: pool it if it is a large one. */
  letGo(): void {
    const buffer = this.buffer;
    this.buffer = undefined;
    if (buffer !== undefined && buffer.length === LARGE_BYTES && pool.length < POOL_MAX) pool.push(buffer);
  }
}

const own = new WeakMap<Duplex, OwnBuffers>();
/** Sockets read through "data" events: the listener standing for their reader. */
const listeners = new WeakMap<Duplex, (chunk: Buffer) => void>();

/** Options for `net.connect` / `new net.Socket` that make the socket read into its own buffers; then `adopt` it. */
function ownBuffers(large = false): { state: OwnBuffers; onread: net.OnReadOpts } {
  const state = new OwnBuffers(large);
  return { state, onread: { buffer: state.next, callback: state.onRead } };
}

function adopt(socket: Socket, state: OwnBuffers): Socket {
  own.set(socket, state);
  // Nothing refers to the current buffer once the socket is gone: the last read's chunk was either let go or retired.
  socket.once("close", () => state.letGo());
  return socket;
}

/** Makes `reader` the one that gets the socket's bytes from now on (undefined: nobody; bytes read are dropped). */
export function setReader(socket: Duplex, reader: Reader | undefined): void {
  const state = own.get(socket);
  if (state !== undefined) {
    state.reader = reader;
    return;
  }
  const old = listeners.get(socket);
  if (old !== undefined) socket.removeListener("data", old);
  if (reader === undefined) {
    listeners.delete(socket);
    return;
  }
  const listener = (chunk: Buffer): void => void reader(chunk);
  listeners.set(socket, listener);
  socket.on("data", listener);
}

/**
 * `net.connect` with the socket reading into its own buffers; `large`: starting with a large one (a connection that
 * is expected to carry large reads, and not to sit idle in numbers).
 */
export function connectReusingBuffers(options: net.TcpNetConnectOpts, large: boolean): Socket {
  const { state, onread } = ownBuffers(large);
  return adopt(net.connect({ ...options, onread }), state);
}

/**
 * Makes a listening `server` hand each accepted connection to `onSocket` as a socket that reads into its own buffers.
 * net.Server has no `onread` option, so this takes over its listening handle's accept callback and does what
 * net.Server's own does for a plain listener — one net.Socket around the accepted handle — with `onread` added. The
 * server's `connection` event, `maxConnections` and connection count are not used (the sidecar counts its own). Returns
 * false, leaving the server as it was, where the handle is not what this expects (then "data" events are used).
 */
export function acceptReusingBuffers(
  server: net.Server,
  onSocket: (socket: Socket) => void,
  onAcceptError: (err: Error) => void,
): boolean {
  const handle = (server as unknown as { _handle?: { onconnection?: unknown } })._handle;
  if (handle === undefined || handle === null || typeof handle.onconnection !== "function") return false;
  handle.onconnection = (status: number, clientHandle: unknown): void => {
    if (status < 0 || clientHandle === undefined) {
      onAcceptError(
        Object.assign(new Error(`accept failed: ${status < 0 ? getSystemErrorName(status) : "no handle"}`), {
          errno: status,
        }),
      );
      return;
    }
    const { state, onread } = ownBuffers();
    const socket = new net.Socket({
      handle: clientHandle,
      readable: true,
      writable: true,
      onread,
    } as net.SocketConstructorOpts);
    socket.setNoDelay(true);
    onSocket(adopt(socket, state));
  };
  return true;
}
