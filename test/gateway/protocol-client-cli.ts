// Child-process entry for connectFromNamespace: `node protocol-client-cli.ts '<ConnectOptions JSON>'`.
// Prints exactly one JSON line (a ConnectResult) on stdout. Run it under `ip netns exec` so the connection
// originates from that namespace.
import { type ConnectOptions, connectGateway } from "./protocol-client.ts";

const raw = process.argv[2];
if (!raw) {
  process.stderr.write("usage: protocol-client-cli.ts '<ConnectOptions JSON>'\n");
  process.exit(2);
}
const result = await connectGateway(JSON.parse(raw) as ConnectOptions);
process.stdout.write(`${JSON.stringify(result)}\n`);
