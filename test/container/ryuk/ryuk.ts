// A stand-in for testcontainers' reaper image (testcontainers/ryuk), which cannot be pulled here (no registry).
// Same wire protocol: listen on :8080, print "Started", answer each filter line ("label=key=value") with "ACK". Once
// every client has disconnected and none reconnects within RYUK_RECONNECTION_TIMEOUT seconds (default 10), delete
// every container, network, volume and image matching a filter, through the Docker socket mounted at
// /var/run/docker.sock, then exit. This is what cleans up after a test process that crashed before its teardown ran.
import http from "node:http";
import net from "node:net";
import { hostname } from "node:os";

const SOCKET = "/var/run/docker.sock";
const timeoutMs = (Number.parseInt(process.env.RYUK_RECONNECTION_TIMEOUT ?? "", 10) || 10) * 1000;
const labels = new Set<string>(); // "key=value", as the Docker API's label filter takes them
let clients = 0;
let timer: NodeJS.Timeout | undefined;

function docker(method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: SOCKET, method, path }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function list(path: string, label: string): Promise<Array<Record<string, unknown>>> {
  const filters = encodeURIComponent(JSON.stringify({ label: [label] }));
  const res = await docker("GET", `${path}${path.includes("?") ? "&" : "?"}filters=${filters}`);
  const parsed: unknown = JSON.parse(res.body);
  if (Array.isArray(parsed)) return parsed as Array<Record<string, unknown>>;
  return (parsed as { Volumes?: Array<Record<string, unknown>> }).Volumes ?? [];
}

async function prune(): Promise<void> {
  const self = hostname(); // Docker sets the hostname to the short container id
  for (const label of labels) {
    // Containers first: a network or volume in use cannot be removed.
    const containers = (await list("/containers/json?all=1", label)).filter((c) => !String(c.Id).startsWith(self));
    for (const c of containers) await docker("DELETE", `/containers/${String(c.Id)}?force=1&v=1`);
    const networks = await list("/networks", label);
    for (const n of networks) await docker("DELETE", `/networks/${String(n.Id)}`);
    const volumes = await list("/volumes", label);
    for (const v of volumes) await docker("DELETE", `/volumes/${String(v.Name)}`);
    const images = await list("/images/json", label);
    for (const i of images) await docker("DELETE", `/images/${String(i.Id)}?force=1`);
    console.log(
      `pruned ${label}: ${containers.length} containers, ${networks.length} networks, ${volumes.length} volumes, ${images.length} images`,
    );
  }
  process.exit(0);
}

net
  .createServer((socket) => {
    clients++;
    clearTimeout(timer);
    let buffered = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      buffered += chunk;
      for (let i = buffered.indexOf("\n"); i !== -1; i = buffered.indexOf("\n")) {
        const line = buffered.slice(0, i).trim();
        buffered = buffered.slice(i + 1);
        if (!line.startsWith("label=")) continue; // the protocol has no other filter kind in use
        labels.add(line.slice("label=".length));
        socket.write("ACK\n");
      }
    });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      if (--clients === 0)
        timer = setTimeout(
          () =>
            void prune().catch((err: unknown) => {
              console.error(`prune failed: ${String(err)}`);
              process.exit(1);
            }),
          timeoutMs,
        );
    });
  })
  .listen(8080, () => console.log("Started"));
