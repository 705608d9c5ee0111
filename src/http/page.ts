// The one page shell every page the sidecar renders itself shares (sign-in, refused sign-in, signed out, the sign-out
// confirmation, gateway not answering): one small design, inline CSS, no script, no external asset, readable on a phone
// and in dark mode. Text reaches it only through html`` (which escapes every value) or as plain strings it escapes
// itself, so a page can never echo a request's bytes as markup; a Content-Security-Policy in the page lets nothing run.
import { createHash } from "node:crypto";

/** Markup that is already safe: built by html`` from escaped values, or from literal template text. */
export class Html {
  readonly markup: string;
  constructor(markup: string) {
    this.markup = markup;
  }
  toString(): string {
    return this.markup;
  }
}

/** Text made safe inside HTML (element content and quoted attributes): every page the sidecar renders uses it. */
export const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);

type Value = string | number | Html | undefined | false | readonly Value[];
const render = (v: Value): string =>
  v === undefined || v === false
    ? ""
    : v instanceof Html
      ? v.markup
      : Array.isArray(v)
        ? v.map(render).join("")
        : escapeHtml(String(v as string | number));

/** A template whose literal parts are markup and whose values are escaped (an Html value is kept as it is). */
export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  return new Html(strings.reduce((out, s, i) => out + s + (i < values.length ? render(values[i] as Value) : ""), ""));
}

/**
 * The colours, light and dark (prefers-color-scheme). Every pair the CSS sets as text on a background has a contrast
 * of at least 4.5:1 (WCAG AA), and the field border and focus ring at least 3:1 against what they sit on: the test
 * computes it from these values and the rules below, so a colour cannot change without the check seeing it.
 */
export const PALETTES = {
  light: {
    bg: "#eef1f5",
    surface: "#ffffff",
    text: "#1f2328",
    muted: "#57606a",
    border: "#d0d7de",
    field: "#ffffff",
    "field-border": "#6e7781",
    accent: "#0b5cad",
    "on-accent": "#ffffff",
    link: "#0b5cad",
    danger: "#a4251b",
    "danger-bg": "#fdeceb",
    "code-bg": "#eef1f5",
    focus: "#0b5cad",
  },
  dark: {
    bg: "#0d1117",
    surface: "#161b22",
    text: "#e6edf3",
    muted: "#9ba6b2",
    border: "#30363d",
    field: "#0d1117",
    "field-border": "#7d8590",
    accent: "#58a6ff",
    "on-accent": "#0d1117",
    link: "#79b8ff",
    danger: "#ff9b92",
    "danger-bg": "#35191a",
    "code-bg": "#262c36",
    focus: "#79b8ff",
  },
} as const;

const vars = (palette: Record<string, string>) =>
  Object.entries(palette)
    .map(([k, v]) => `--${k}:${v}`)
    .join(";");

/**
 * The rules: colours only as var(--…), text at 16px or more, every control and link at least 44px tall. A rule that
 * sets a text colour without a background of its own sits on --surface (all text is inside <main>).
 */
export const PAGE_RULES = [
  "*{box-sizing:border-box}",
  "html{-webkit-text-size-adjust:100%;text-size-adjust:100%}",
  'body{margin:0;padding:1rem;background:var(--bg);color:var(--text);font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}',
  "main{max-width:30rem;margin:12vh auto 2rem;padding:2rem;background:var(--surface);color:var(--text);border:1px solid var(--border);border-radius:.75rem;overflow-wrap:break-word}",
  "@media (max-width:32rem){body{padding:0;background:var(--surface)}main{margin:0;padding:1.5rem 1.25rem;border:0;border-radius:0}}",
  ".brand{margin:0 0 1.5rem;color:var(--muted);font-weight:600}",
  "h1{margin:0 0 .75rem;font-size:1.625rem;line-height:1.25;color:var(--text)}",
  ".next{margin:0 0 1.5rem;font-size:1.125rem}",
  ".alert{margin:0 0 1.5rem;padding:.75rem 1rem;border-left:4px solid var(--danger);border-radius:.375rem;background:var(--danger-bg);color:var(--danger)}",
  "form{margin:0 0 1.5rem}",
  "label{display:block;margin:0 0 .375rem;font-weight:600;color:var(--text)}",
  "input{display:block;width:100%;min-height:2.75rem;margin:0 0 1rem;padding:.5rem .75rem;font:inherit;border:1px solid var(--field-border);border-radius:.375rem;background:var(--field);color:var(--text)}",
  ".actions{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:center;margin:0 0 1.5rem}",
  ".actions form{margin:0}",
  ".button{display:inline-flex;align-items:center;justify-content:center;min-height:2.75rem;padding:.5rem 1.25rem;font:inherit;font-weight:600;text-decoration:none;border:0;border-radius:.375rem;cursor:pointer;background:var(--accent);color:var(--on-accent)}",
  "form .button{width:100%}",
  ".actions form .button{width:auto}",
  "a{color:var(--link)}",
  ".actions a:not(.button){display:inline-flex;align-items:center;min-height:2.75rem}",
  ":focus-visible{outline:3px solid var(--focus);outline-offset:2px}",
  ".details{margin:1.5rem 0 0;padding:1rem 0 0;border-top:1px solid var(--border);color:var(--muted)}",
  ".details p{margin:0 0 .5rem}",
  "code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:1rem;white-space:nowrap;padding:0 .25rem;border-radius:.25rem;background:var(--code-bg);color:var(--text)}",
  "footer{margin:1.5rem 0 0;color:var(--muted)}",
];

export const PAGE_CSS =
  `:root{color-scheme:light dark;${vars(PALETTES.light)}}` +
  `@media (prefers-color-scheme:dark){:root{${vars(PALETTES.dark)}}}` +
  PAGE_RULES.join("");

/**
 * The pages' Content-Security-Policy, in the page itself (every page carries it, whoever answers with it): nothing may
 * load or run but the one style sheet above, by its hash — no script, image, font, frame or connection, and no <base>
 * to redirect relative links. A page that could ever echo markup would still run nothing. (form-action is left out:
 * browsers apply it to the redirects after a submit, and signing out may redirect to the provider.)
 */
export const PAGE_CSP = `default-src 'none'; style-src 'sha256-${createHash("sha256").update(PAGE_CSS).digest("base64")}'; base-uri 'none'`;

/** The style element, its text exactly PAGE_CSS (outside html``, whose markup a formatter may re-indent): the hash. */
const STYLE = new Html(`<style>${PAGE_CSS}</style>`);

export interface PageParts {
  /** The page's <h1>; the <title> too, after the product's name. */
  heading: string;
  /** The one sentence that tells the person what to do next. */
  next: string | Html;
  /** What went wrong, in the person's words (shown above the next step, as an alert). */
  alert?: string | undefined;
  /** Forms, buttons and links: markup built with html``. */
  body?: Html | undefined;
  /** The machine-readable cause and its diagnosis, for the administrator. */
  details?: { code: string; message: string } | undefined;
  /** Reload the page after this many seconds (a meta refresh: no script needed). */
  refreshSeconds?: number | undefined;
}

/** A complete HTML document in the shared shell. */
export function renderPage(parts: PageParts): string {
  const refresh =
    parts.refreshSeconds !== undefined ? html`<meta http-equiv="refresh" content="${parts.refreshSeconds}" />` : "";
  const details =
    parts.details &&
    html`<section class="details" aria-label="Details for the administrator">
      <p>Details for the administrator: ${parts.details.message}</p>
      <p>Code: <code>${parts.details.code}</code></p>
    </section>`;
  return `${html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width,initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        <meta name="referrer" content="no-referrer" />
        ${refresh}
        <title>${parts.heading} · OpenClaw dashboard</title>
        <meta http-equiv="Content-Security-Policy" content="${PAGE_CSP}" />
        ${STYLE}
      </head>
      <body>
        <main>
          <p class="brand">OpenClaw dashboard</p>
          <h1>${parts.heading}</h1>
          ${parts.alert !== undefined ? html`<p class="alert" role="alert">${parts.alert}</p> ` : ""}
          <p class="next">${parts.next}</p>
          ${parts.body ?? ""}${details}
          <footer>Protected by openclaw-sidecar.</footer>
        </main>
      </body>
    </html>`}\n`;
}
