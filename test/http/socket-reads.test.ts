// socket-reads.ts on its own: the accept hook (its fallback and its error path), readers handed over between owners,
// and the size steps of a socket's buffer. The byte-for-byte proof under load is test/http/reused-read-buffers.test.ts.
import net, { type AddressInfo, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { acceptReusingBuffers, connectReusingBuffers, setReader } from "../../src/http/socket-reads.ts";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function listening(onSocket?: (s: Socket) => void): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer((s) => onSocket?.(s));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(() => server.close());
  return { server, port: (server.address() as AddressInfo).port };
}

const until = async (done: () => boolean, ms = 2000): Promise<void> => {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** A client connection and the sidecar-side socket acceptReusingBuffers made of it. */
async function acceptedPair(): Promise<{ server: Socket; client: Socket }> {
  let server: Socket | undefined;
  const { server: listener, port } = await listening();
  acceptReusingBuffers(
    listener,
    (s) => (server = s),
    () => {},
  );
  const client = net.connect(port, "127.0.0.1");
  cleanups.push(() => client.destroy());
  await until(() => server !== undefined);
  return { server: server as Socket, client };
}

describe("acceptReusingBuffers", () => {
  it("hands accepted sockets over with their bytes, instead of the connection event", async () => {
    let viaEvent = 0;
    const { server, port } = await listening(() => viaEvent++);
    const got: Buffer[] = [];
    expect(
      acceptReusingBuffers(
        server,
        (socket) => setReader(socket, (chunk) => (got.push(Buffer.from(chunk)), false)),
        () => {},
      ),
    ).toBe(true);
    const client = net.connect(port, "127.0.0.1");
    cleanups.push(() => client.destroy());
    client.write("hello");
    await until(() => Buffer.concat(got).toString() === "hello");
    expect(viaEvent).toBe(0);
  });

  it("leaves a server without a listening handle as it is (false): its connection event still runs", async () => {
    const server = net.createServer();
    expect(
      acceptReusingBuffers(
        server,
        () => {},
        () => {},
      ),
    ).toBe(false);
  });

  it("reports a failed accept to onAcceptError with the error's name, and goes on accepting", async () => {
    const { server, port } = await listening();
    const errors: Error[] = [];
    let accepted = 0;
    acceptReusingBuffers(
      server,
      (s) => (accepted++, s.destroy()),
      (err) => errors.push(err),
    );
    (server as unknown as { _handle: { onconnection(status: number, handle: unknown): void } })._handle.onconnection(
      -24,
      undefined,
    );
    expect(errors.map((e) => e.message)).toEqual(["accept failed: EMFILE"]);
    const client = net.connect(port, "127.0.0.1");
    cleanups.push(() => client.destroy());
    await until(() => accepted === 1);
  });
});

describe("setReader", () => {
  it("moves a socket's bytes from one reader to the next, drops them with none, and keeps a kept chunk intact", async () => {
    const { server, client } = await acceptedPair();
    const first: Buffer[] = [];
    setReader(server, (chunk) => {
      first.push(chunk); // kept as is, not copied: the next read must not land in it
      return true;
    });
    client.write("a".repeat(1500));
    await until(() => first.reduce((n, b) => n + b.length, 0) === 1500);
    setReader(server, undefined);
    client.write("dropped");
    await new Promise((r) => setTimeout(r, 50));
    const second: string[] = [];
    setReader(server, (chunk) => (second.push(chunk.toString()), false));
    client.write("b".repeat(1500));
    await until(() => second.join("").length === 1500);
    expect(Buffer.concat(first).toString()).toBe("a".repeat(1500));
    expect(second.join("")).toBe("b".repeat(1500));
  });

  it("reads a stream in 64 KiB steps once reads fill the small buffer, and a small message in one read after it", async () => {
    const { server, client } = await acceptedPair();
    const sizes: number[] = [];
    let total = 0;
    setReader(server, (chunk) => {
      sizes.push(chunk.length);
      total += chunk.length;
      return false;
    });
    server.pause();
    client.write(Buffer.alloc(1024 * 1024));
    await new Promise((r) => setTimeout(r, 100)); // the kernel holds more than one large read's worth
    server.resume();
    await until(() => total === 1024 * 1024);
    expect(sizes[0]).toBe(2048);
    expect(Math.max(...sizes)).toBe(64 * 1024);
    sizes.length = 0;
    client.write(Buffer.alloc(100));
    await until(() => total === 1024 * 1024 + 100);
    expect(sizes).toEqual([100]);
  });

  it("reads a TLS-like socket (no own buffers) through data events, with the same hand-over", async () => {
    const { port } = await listening((s) => s.end("over data events"));
    const socket = net.connect(port, "127.0.0.1"); // plain net.connect: no onread, like a TLS socket
    cleanups.push(() => socket.destroy());
    const got: string[] = [];
    setReader(socket, (chunk) => (got.push(chunk.toString()), true));
    await until(() => got.join("") === "over data events");
    expect(socket.listenerCount("data")).toBe(1);
    setReader(socket, undefined);
    expect(socket.listenerCount("data")).toBe(0);
  });

  it("connectReusingBuffers: a gateway connection reads into its own buffers from its first byte", async () => {
    const { port } = await listening((s) => s.end(Buffer.alloc(200_000, 7)));
    const sizes: number[] = [];
    const up = connectReusingBuffers({ host: "127.0.0.1", port }, true);
    cleanups.push(() => up.destroy());
    setReader(up, (chunk) => (sizes.push(chunk.length), false));
    await new Promise((r) => up.once("end", r));
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(200_000);
    expect(sizes.every((n) => n <= 64 * 1024)).toBe(true);
    expect(up.listenerCount("data")).toBe(0);
  });
});
