// The true Node floor, a reference and not a product: a raw TCP relay with no HTTP at all. Each client connection
// gets its own upstream connection and bytes are piped both ways untouched (no parsing, no header rewriting, no
// pooling, no logs): what Node's net.Socket streams and the kernel cost to move the bytes, and nothing else. Its
// HTTP keep-alive is the client's own, end to end.
// Usage (run.ts does this with --floor): node bench/tcp-relay.ts <listenPort> <upstreamPort>
import net from "node:net";

const [listenPort, upstreamPort] = process.argv.slice(2).map(Number);

const server = net.createServer({ noDelay: true }, (client) => {
  const upstream = net.connect({ host: "127.0.0.1", port: upstreamPort as number, noDelay: true });
  client.pipe(upstream).pipe(client);
  upstream.on("error", () => client.destroy());
  client.on("error", () => upstream.destroy());
  upstream.on("close", () => client.destroy());
  client.on("close", () => upstream.destroy());
});

// A clean exit on SIGTERM, so that --cpu-prof (bench/syscalls.ts) gets written.
process.once("SIGTERM", () => process.exit(0));
server.listen({ host: "127.0.0.1", port: listenPort, backlog: 4096 });
