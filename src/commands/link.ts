// `openclaw-sidecar link`: prints the link people open to reach the Control UI through the sidecar
// (setup/public-link.ts builds it), on stdout alone so that `$(openclaw-sidecar link)` is the link; the notes go to
// stderr. The link may hold a token: it is printed because it was asked for, and never logged.
import type { Config } from "../options/config.ts";
import { publicLink } from "../setup/public-link.ts";

/** Why not the gateway's own `openclaw dashboard` link, said with every link printed. */
export const DASHBOARD_LINK_NOTE =
  "Not `openclaw dashboard`'s link: since 2026.9.3 it names the gateway's own loopback address " +
  "(gatewayUrl=ws://127.0.0.1:<port>), and the Control UI opened through the sidecar then asks to switch to it.";

/** Exit 0 with the link on `out`; 2 with the reason on `err` when there is no link to print. */
export function runLink(
  config: Config,
  user: string | undefined,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): number {
  const result = publicLink(config, { user });
  if ("error" in result) {
    err.write(`openclaw-sidecar link: ${result.error}\n`);
    return 2;
  }
  out.write(`${result.link}\n`);
  for (const note of [...result.notes, DASHBOARD_LINK_NOTE]) err.write(`note: ${note}\n`);
  return 0;
}
