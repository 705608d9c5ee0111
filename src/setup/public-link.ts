// `openclaw-sidecar link`: the link people open to reach the Control UI through the sidecar, for the configured mode.
// The gateway's own `openclaw dashboard` link (2026.9.3+) names the gateway's loopback address in its fragment
// (`gatewayUrl=ws://127.0.0.1:<port>`): opened through the sidecar, the Control UI asks to switch to that address
// (openclaw#152524). This link never carries a gatewayUrl: the UI connects to the origin it was loaded from.
// Pure: it reads the configuration and returns text; the command prints it.
import type { Config } from "../options/config.ts";

/** What the link is built from: the options that decide the origin and how people log in. */
export type LinkConfig = Pick<
  Config,
  | "mode"
  | "credentials"
  | "controlUiTokenLogin"
  | "oidc"
  | "assertion"
  | "publicOrigin"
  | "listen"
  | "tlsCert"
  | "acmeDomains"
  | "publicBasePath"
>;

export interface LinkOptions {
  /** The user whose link to print (several users in a tokensFile). */
  user?: string | undefined;
}

/** `link`: the URL (it may hold a token) and notes for a person; `error`: nothing to print, and why. */
export type LinkResult = { link: string; notes: string[] } | { error: string };

/** The origin people open: publicOrigin, else a guess from listen (and TLS), with a note when it is a guess. */
export function publicBase(config: LinkConfig): { origin: string; note?: string } {
  if (config.publicOrigin !== undefined) return { origin: config.publicOrigin.origin };
  const tls = config.tlsCert !== undefined || config.acmeDomains.length > 0;
  const scheme = tls ? "https" : "http";
  const { host, port } = config.listen;
  const wildcard = host === "0.0.0.0" || host === "::";
  const name = config.acmeDomains[0] ?? (wildcard ? "localhost" : host.includes(":") ? `[${host}]` : host);
  const portPart = port === (tls ? 443 : 80) ? "" : `:${port}`;
  const origin = `${scheme}://${name}${portPart}`;
  const why = wildcard
    ? `listen is ${host}:${port}, which is no address a browser can open`
    : `it is taken from listen (${host}:${port})`;
  return {
    origin,
    note: `${origin} is a guess: ${why}, and a published port or a proxy in front may differ. Set publicOrigin to the origin people open.`,
  };
}

/**
 * The public link for the configured mode: identity with the token-field login `<public>/#token=<token>`; identity
 * (several users, or the token-field login off) and local `<public>/?token=<token>` (the sidecar logs in and, in local
 * mode, hands the token on in the fragment); single sign-on `<public>/`; attribution `<public>/`.
 */
export function publicLink(config: LinkConfig, opts: LinkOptions = {}): LinkResult {
  const base = publicBase(config);
  // Under publicBasePath the dashboard is at <origin>/claw/ (validated and normalised in options/: "" or "/claw").
  const root = `${base.origin}${config.publicBasePath}/`;
  const notes = base.note === undefined ? [] : [base.note];
  if (config.mode === "attribution") {
    if (opts.user !== undefined)
      return { error: "--user: attribution mode has no users of its own (the gateway authenticates)" };
    return {
      link: root,
      notes: [
        ...notes,
        "Attribution mode: the gateway does its own login and pairing. The Control UI asks for the gateway's token " +
          "(or password) and each new browser is approved once on the gateway (`openclaw devices approve <requestId>`).",
      ],
    };
  }
  const sso = config.oidc !== undefined || config.assertion !== undefined;
  if (sso && opts.user === undefined) {
    const how =
      config.oidc !== undefined
        ? "the sidecar sends people to the OpenID provider to sign in"
        : "the proxy in front signs people in and the sidecar verifies its assertion";
    return { link: root, notes: [...notes, `Single sign-on: ${how}; the link carries no token.`] };
  }
  const users = config.credentials.filter((c) => c.clientId === undefined);
  const names = [...new Set(users.map((c) => c.user))];
  let chosen = users;
  if (opts.user !== undefined) {
    chosen = users.filter((c) => c.user === opts.user);
    if (chosen.length === 0)
      return {
        error: `--user: no token user "${opts.user}"; the users are: ${names.length > 0 ? names.join(", ") : "(none)"}`,
      };
  } else if (names.length > 1) {
    return { error: `several users have tokens; pick one with --user <name>: ${names.join(", ")}` };
  }
  const printable = chosen.find((c) => c.token !== undefined);
  if (printable?.token === undefined) {
    const who = chosen[0]?.user;
    return {
      error:
        who === undefined
          ? "no token to put in a link (set token, tokenFile or tokensFile)"
          : `the token of "${who}" is stored hashed (tokenSha256): it cannot be printed. Give the user their token ` +
            "yourself, as <link>?token=<token>, or store it in the clear (token, tokenFile, or tokensFile's token)",
    };
  }
  const token = encodeURIComponent(printable.token);
  if (config.mode === "identity" && config.controlUiTokenLogin) {
    return {
      link: `${root}#token=${token}`,
      notes: [
        ...notes,
        `Identity mode, the Control UI's token field: the token stays in the fragment and the UI sends it in its connect; user "${printable.user}".`,
      ],
    };
  }
  return {
    link: `${root}?token=${token}`,
    notes: [
      ...notes,
      config.mode === "local"
        ? "Local mode: the sidecar logs the browser in (a session cookie) and hands the gateway's token to the Control UI in the fragment."
        : `Identity mode: the sidecar logs the browser in as "${printable.user}" (a session cookie) and drops the token from the address.`,
    ],
  };
}
