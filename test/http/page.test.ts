// The page shell (src/http/page.ts) and the pages built on it: one structure (lang, viewport, title, one <h1>, one
// next-step sentence), nothing a request carries ever echoed as markup, no script or external asset, and every text
// colour on its background at WCAG AA contrast — computed here from the palette and the CSS rules themselves.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { loginPage } from "../../src/gate/login-page.ts";
import { PAGE_CSP, PAGE_CSS, PAGE_RULES, PALETTES, escapeHtml, html, renderPage } from "../../src/http/page.ts";
import { renderRefusal } from "../../src/http/responses.ts";
import { describeUpstreamFailure } from "../../src/http/upstream-errors.ts";

const HOSTILE = `<script>alert(1)</script><img src=x onerror=alert(2)>"'&`;

/** The text of the one p.next, tags dropped and entities left as they are. */
const nextStep = (page: string) =>
  /<p class="next">([\s\S]*?)<\/p>/
    .exec(page)?.[1]
    ?.replace(/<[^>]+>/g, "")
    .replace(/\s+/g, " ")
    .trim();

/** What every page in the shell has, whatever it says. */
function expectShell(page: string): void {
  expect(page.startsWith("<!doctype html>")).toBe(true);
  expect(page).toContain('<html lang="en">');
  expect(page).toContain('<meta name="viewport" content="width=device-width,initial-scale=1" />');
  expect(page).toContain('<meta charset="utf-8" />');
  expect(page).toMatch(/<title>[^<]+ · OpenClaw dashboard<\/title>/);
  expect(page.match(/<h1>/g)).toHaveLength(1);
  expect(page.match(/<p class="next">/g)).toHaveLength(1);
  // One sentence: it ends with a full stop and has no other sentence end before it.
  expect(nextStep(page)).toMatch(/^[A-Z][^.!?]*(?:\.[^\s][^.!?]*)*\.$/);
  // Nothing runs and nothing is fetched: no script, no src, no link to another origin, no CSS url().
  const tags = page.match(/<[a-z][^>]*>/gi) ?? [];
  expect(tags.filter((t) => /^<(script|link|img|iframe)|\bsrc=|\bon\w+=|href="(?!\/)/i.test(t))).toEqual([]);
  expect(page).not.toMatch(/url\(/);
}

describe("the page shell", () => {
  it("has the structure every page shares", () => {
    const page = renderPage({ heading: "Signed out", next: "Sign in again." });
    expectShell(page);
    expect(page).toContain("<title>Signed out · OpenClaw dashboard</title>");
    expect(page).toContain("<h1>Signed out</h1>");
    expect(page).toContain('<meta name="color-scheme" content="light dark" />');
    expect(page).not.toContain('http-equiv="refresh"');
    expect(page).not.toContain('class="alert"');
  });

  it("escapes every text it is given: heading, next step, alert, details; html`` escapes its values too", () => {
    const page = renderPage({
      heading: HOSTILE,
      next: HOSTILE,
      alert: HOSTILE,
      details: { code: HOSTILE, message: HOSTILE },
      body: html`<p>${HOSTILE}</p>`,
    });
    expect(page).not.toContain("<script>");
    expect(page).not.toContain("<img");
    expect(page).not.toContain(`"'&`);
    expect(page.split(escapeHtml(HOSTILE)).length - 1).toBe(7); // title, h1, next, alert, details (2), body
    expect(html`<b>${html`<i>kept</i>`}</b>${["<", 1]}${undefined}${false}`.markup).toBe("<b><i>kept</i></b>&lt;1");
  });

  it("carries a Content-Security-Policy that allows its one style sheet, by hash, and nothing else", () => {
    const page = renderPage({ heading: "x", next: "y" });
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]*)" \/>/.exec(page)?.[1];
    expect(csp).toBe(escapeHtml(PAGE_CSP)); // an attribute value: the browser reads &#39; as '

    const style = /<style>([^<]*)<\/style>/.exec(page)?.[1] as string;
    expect(style).toBe(PAGE_CSS);
    const hash = createHash("sha256").update(style).digest("base64");
    expect(PAGE_CSP).toBe(`default-src 'none'; style-src 'sha256-${hash}'; base-uri 'none'`);
  });

  it("reloads itself only when asked, with a meta refresh (no script)", () => {
    const page = renderPage({ heading: "x", next: "Wait.", refreshSeconds: 5 });
    expect(page).toContain('<meta http-equiv="refresh" content="5" />');
  });

  it("keeps text at 16px or more and every control at least 44px tall", () => {
    const css = PAGE_RULES.join("");
    for (const size of css.matchAll(/font-size:([\d.]+)(r?em|px)/g)) {
      const px = size[2] === "px" ? Number(size[1]) : Number(size[1]) * 16;
      expect(px, size[0]).toBeGreaterThanOrEqual(16);
    }
    for (const rule of PAGE_RULES.filter((r) => /^(input|\.button|\.actions a)/.test(r)))
      expect(rule).toContain("min-height:2.75rem");
    expect(css).toMatch(/main\{max-width:30rem;/);
  });
});

/** WCAG 2 relative luminance of #rrggbb. */
function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
export function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

describe("colour contrast (WCAG AA)", () => {
  // Every rule, including those inside @media: the innermost selector { declarations } pairs.
  const rules = [...PAGE_RULES.join("").matchAll(/([^{}]+)\{([^{}]*)\}/g)].map((m) => ({
    selector: (m[1] as string).trim(),
    decls: m[2] as string,
  }));
  const varOf = (decls: string, property: string) =>
    new RegExp(`(?:^|;)${property}:(?:[^;]* )?var\\(--([\\w-]+)\\)`).exec(decls)?.[1];

  it("the rules use the palette only: no colour literal outside it, every colour a var()", () => {
    const css = PAGE_RULES.join("");
    expect(css).not.toMatch(/#[0-9a-f]{3,8}\b|\brgba?\(|\bhsla?\(|:\s*(white|black|red|gray|grey|blue)\b/i);
    for (const r of rules)
      for (const d of r.decls.matchAll(/(?:^|;)(color|background|border[\w-]*|outline):([^;]*)/g))
        if (!/^(0|none)$/.test(d[2] as string) && d[1] !== "border-radius")
          expect(d[2], `${r.selector} ${d[1]}`).toMatch(/var\(--[\w-]+\)/);
    expect(Object.keys(PALETTES.dark).sort()).toEqual(Object.keys(PALETTES.light).sort());
  });

  it("every text colour on its background is at least 4.5:1, in light and in dark", () => {
    // A rule's text sits on its own background when it sets one, else on the surface (all text is inside <main>).
    const pairs = rules
      .map((r) => ({ selector: r.selector, text: varOf(r.decls, "color"), bg: varOf(r.decls, "background") }))
      .filter((p) => p.text !== undefined)
      .map((p) => ({ ...p, bg: p.bg ?? "surface" }));
    expect(pairs.length).toBeGreaterThanOrEqual(8);
    const found: string[] = [];
    for (const [scheme, palette] of Object.entries(PALETTES)) {
      const colour = palette as Record<string, string>;
      for (const { selector, text, bg } of pairs) {
        const ratio = contrast(colour[text as string] as string, colour[bg] as string);
        found.push(`${scheme} ${selector}: ${text} on ${bg} ${ratio.toFixed(2)}`);
        expect(ratio, `${scheme} ${selector}: --${text} on --${bg}`).toBeGreaterThanOrEqual(4.5);
      }
      // Non-text (WCAG 1.4.11): the field's border and the focus ring are at least 3:1 against what they sit on.
      expect(contrast(colour["field-border"] as string, colour.field as string)).toBeGreaterThanOrEqual(3);
      expect(contrast(colour["field-border"] as string, colour.surface as string)).toBeGreaterThanOrEqual(3);
      expect(contrast(colour.focus as string, colour.surface as string)).toBeGreaterThanOrEqual(3);
    }
    expect(found.some((f) => f.startsWith("dark .button: on-accent on accent"))).toBe(true);
  });

  it("computes contrast as WCAG does", () => {
    expect(contrast("#000000", "#ffffff")).toBeCloseTo(21, 5);
    expect(contrast("#777777", "#ffffff")).toBeCloseTo(4.48, 2);
  });
});

describe("the pages", () => {
  it("sign-in: a labelled password field, no alert on a first visit, what went wrong after a failed attempt", () => {
    const first = loginPage();
    expectShell(first);
    expect(first).toContain('<label for="token">Access token</label>');
    expect(first).toMatch(/<input\s+id="token"\s+name="token"\s+type="password"\s+autocomplete="current-password"/);
    expect(first).not.toContain('class="alert"');
    expect(nextStep(first)).toBe(
      "Paste the access token you were given for this dashboard, then press Open the dashboard.",
    );
    const again = loginPage("That access token is not valid.");
    expect(again).toContain('<p class="alert" role="alert">That access token is not valid.</p>');
  });

  it("gateway not answering: where, that it may be starting, that the page retries, and doctor; the JSON is unchanged", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    const failure = describeUpstreamFailure(refused, new URL("http://openclaw-gateway:18789"));
    const page = renderRefusal(failure, true);
    expect(page.contentType).toBe("text/html; charset=utf-8");
    expectShell(page.body);
    expect(page.body).toContain("<h1>The gateway is not answering</h1>");
    expect(nextStep(page.body)).toBe(
      "The OpenClaw gateway at http://openclaw-gateway:18789 is not answering (it may still be starting): this page retries in 5 seconds, and if it stays down the administrator can run openclaw-sidecar doctor.",
    );
    expect(page.body).toContain("<code>openclaw-sidecar doctor</code>");
    expect(page.body).toContain('<meta http-equiv="refresh" content="5" />');
    expect(page.body).toContain("<code>502 upstream_refused</code>");
    const json = renderRefusal(failure, false);
    expect(json).toEqual({
      contentType: "application/json; charset=utf-8",
      body: `${JSON.stringify({ error: { type: "upstream_refused", message: failure.message } })}\n`,
    });
    // A timeout is a 504 with the same page; an answer that cannot be forwarded does not retry by itself.
    const late = describeUpstreamFailure(
      Object.assign(new Error("x"), { code: "UPSTREAM_TIMEOUT" }),
      new URL("http://gw:1"),
    );
    expect(renderRefusal(late, true).body).toContain("<h1>The gateway is not answering</h1>");
    const bad = describeUpstreamFailure(Object.assign(new Error("bad"), { code: "x" }), new URL("http://gw:1"));
    expect(renderRefusal(bad, true).body).toContain("http-equiv");
  });

  it("each refusal a person can meet has a heading and a next step; its message is escaped", () => {
    const cases: Array<[number, string, Record<string, string> | undefined, string, RegExp]> = [
      [429, "rate_limited", { "retry-after": "300" }, "Too many sign-in attempts", /^Wait 300 seconds, then/],
      [403, "oidc_not_allowed", undefined, "Sign-in refused", /^Ask the administrator to give your account access/],
      [403, "assertion_identity_invalid", undefined, "Sign-in refused", /^Ask the administrator/],
      [401, "oidc_invalid_token", undefined, "Sign-in did not finish", /^Open the dashboard again to sign in/],
      [400, "oidc_state_mismatch", undefined, "Sign-in did not finish", /^Open the dashboard again to sign in/],
      [503, "oidc_provider_unreachable", undefined, "Sign-in is not available right now", /^Reload this page/],
      [502, "oidc_provider_error", undefined, "Sign-in did not finish", /^Open the dashboard again to sign in/],
      [503, "draining", undefined, "The dashboard is not available right now", /^Reload this page/],
      [403, "client_not_allowed", undefined, "Not open to this address", /^Connect from a network the administrator/],
      [431, "headers_too_large", undefined, "431 Request Header Fields Too Large", /^Go back to the dashboard/],
    ];
    for (const [status, type, headers, heading, next] of cases) {
      const { body } = renderRefusal({ status, type, message: HOSTILE, ...(headers ? { headers } : {}) }, true);
      expectShell(body);
      expect(body, type).toContain(`<h1>${heading}</h1>`);
      expect(nextStep(body), type).toMatch(next);
      expect(body).toContain(escapeHtml(HOSTILE));
      expect(body).not.toContain("<script>");
    }
  });
});
