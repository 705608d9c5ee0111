// Runs the fake gateway as its own process, so a test can kill -9 it and start it again on the same port:
// `node fake-gateway-process.ts [port]` prints {"port":N} once listening.
import { startFakeGateway } from "./upstream.ts";

const gw = await startFakeGateway(Number(process.argv[2] ?? "0"));
process.stdout.write(`${JSON.stringify({ port: gw.port })}\n`);
