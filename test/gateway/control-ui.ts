// Drives the REAL OpenClaw Control UI in headless Debian Chromium (playwright-core, no downloaded browser), with the
// browser's traffic originating in a chosen network namespace, and reports what the page's WebSocket did.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type Browser, type Page, chromium } from "playwright-core";
import { ARTIFACTS_DIR, CHROMIUM, CHROMIUM_FLAGS, chromiumPrereqs } from "../helpers/chromium.ts";

/** Unmet prerequisites for driving Chromium, as sentences for describeTier. */
export const controlUiPrereqs = chromiumPrereqs;

/** One handshake-relevant WebSocket frame, summarised (secrets never copied). */
export type UiFrame =
  | {
      dir: "sent";
      kind: "connect";
      clientId?: string;
      clientMode?: string;
      hasDevice: boolean;
      authKeys: string[];
      buildId?: string;
    }
  | { dir: "received"; kind: "challenge" }
  | { dir: "received"; kind: "hello-ok"; scopes: string[] }
  | { dir: "received"; kind: "error"; code?: string; message?: string; details?: Record<string, unknown> };

export interface ControlUiResult {
  /** Handshake frames in order. */
  frames: UiFrame[];
  /** Close events seen by the page's own WebSocket objects (code and reason, which CDP does not expose). */
  closes: Array<{ url: string; code: number; reason: string }>;
  /** Visible text, including inside shadow roots (the UI is built from web components), whitespace-collapsed. */
  text: string;
  title: string;
  isSecureContext: boolean;
  screenshot?: string;
}

// Records close code/reason per socket: Playwright and CDP report a close but not its code or reason.
const RECORD_CLOSES = `(() => {
  const Native = window.WebSocket;
  window.__ocCloses = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("close", (e) => window.__ocCloses.push({ url: this.url, code: e.code, reason: e.reason }));
    }
  };
})();`;

function summarise(dir: "sent" | "received", payload: string | Buffer): UiFrame | undefined {
  // Frames are the gateway's JSON; only a few optional fields are read, each guarded by `?.`.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- untyped wire JSON, read defensively
  let msg: Record<string, any>;
  try {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
    msg = JSON.parse(payload.toString()) as Record<string, any>;
  } catch {
    return undefined;
  }
  if (dir === "sent" && msg.method === "connect") {
    const p = msg.params ?? {};
    return {
      dir,
      kind: "connect",
      clientId: p.client?.id,
      clientMode: p.client?.mode,
      hasDevice: Boolean(p.device),
      authKeys: Object.keys(p.auth ?? {}),
      buildId: p.client?.buildId,
    };
  }
  if (dir === "received" && msg.event === "connect.challenge") return { dir, kind: "challenge" };
  if (dir === "received" && msg.type === "res" && msg.payload?.type === "hello-ok")
    return { dir, kind: "hello-ok", scopes: msg.payload.auth?.scopes ?? [] };
  if (dir === "received" && msg.type === "res" && msg.ok === false)
    return { dir, kind: "error", code: msg.error?.code, message: msg.error?.message, details: msg.error?.details };
  return undefined;
}

export interface ControlUiSession {
  /** The Playwright page, for anything beyond the helpers below (clicks, cookies, extra navigation). */
  page: Page;
  /** Handshake frames of every socket the page opened, in order. */
  frames: UiFrame[];
  /** Navigates (waits for `load`). */
  goto(url: string): Promise<void>;
  /**
   * Waits until a hello-ok or error frame arrives after frame index `since` (default: any so far), then `settleMs`
   * (default 1.5 s) more so the UI renders it. Returns that frame, or undefined on timeout (default 30 s).
   */
  waitForOutcome(opts?: { since?: number; timeoutMs?: number; settleMs?: number }): Promise<UiFrame | undefined>;
  /** Frames, closes, visible text; with `screenshotName`, also a full-page PNG under test-artifacts/. */
  report(screenshotName?: string): Promise<ControlUiResult>;
  /** Closes the browser and removes its temporary files. Idempotent. */
  close(): Promise<void>;
}

// Rendered text only: skips scripts, styles and display:none subtrees (the page carries a hidden "did not start"
// fallback). Not checkVisibility(): it is false for the UI's display:contents custom elements.
const VISIBLE_TEXT = `(() => {
  const walk = (n) => {
    let s = "";
    if (n.shadowRoot) s += walk(n.shadowRoot);
    for (const c of n.childNodes) {
      if (c.nodeType === 3) s += c.textContent + " ";
      else if (c.nodeType === 11) s += walk(c);
      else if (c.nodeType === 1 && !["SCRIPT", "STYLE", "TEMPLATE"].includes(c.tagName) && getComputedStyle(c).display !== "none") {
        s += walk(c);
      }
    }
    return s;
  };
  return walk(document.body).replace(/\\s+/g, " ").trim();
})()`;

/** Starts headless Chromium inside namespace `ns` (its connections come from that namespace's address). */
export async function launchControlUi(ns: string): Promise<ControlUiSession> {
  const tmp = mkdtempSync(path.join(tmpdir(), "ocst-chromium-"));
  // Playwright talks to Chromium over inherited pipes (fds 3/4); `ip netns exec` keeps them open across its exec.
  const wrapper = path.join(tmp, "chromium-in-netns");
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec '${ns}' ${CHROMIUM} "$@"\n`);
  chmodSync(wrapper, 0o755);
  let browser: Browser;
  try {
    browser = await chromium.launch({
      executablePath: wrapper,
      headless: true,
      chromiumSandbox: false,
      args: CHROMIUM_FLAGS,
      timeout: 60_000,
    });
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  const page = await browser.newPage();
  await page.addInitScript(RECORD_CLOSES);
  const frames: UiFrame[] = [];
  page.on("websocket", (ws) => {
    ws.on("framesent", (f) => {
      const s = summarise("sent", f.payload);
      if (s) frames.push(s);
    });
    ws.on("framereceived", (f) => {
      const s = summarise("received", f.payload);
      if (s) frames.push(s);
    });
  });
  let closed = false;
  return {
    page,
    frames,
    goto: async (url) => {
      await page.goto(url, { waitUntil: "load", timeout: 30_000 });
    },
    waitForOutcome: async ({ since = 0, timeoutMs = 30_000, settleMs = 1_500 } = {}) => {
      const deadline = Date.now() + timeoutMs;
      let found: UiFrame | undefined;
      while (
        !(found = frames.slice(since).find((f) => f.kind === "hello-ok" || f.kind === "error")) &&
        Date.now() < deadline
      ) {
        await page.waitForTimeout(100);
      }
      await page.waitForTimeout(settleMs);
      return found;
    },
    report: async (screenshotName) => {
      const result: ControlUiResult = {
        frames: [...frames],
        closes: (await page.evaluate("window.__ocCloses ?? []")) as ControlUiResult["closes"],
        text: (await page.evaluate(VISIBLE_TEXT)) as string,
        title: await page.title(),
        isSecureContext: (await page.evaluate("window.isSecureContext")) as boolean,
      };
      if (screenshotName) {
        mkdirSync(ARTIFACTS_DIR, { recursive: true });
        result.screenshot = path.join(ARTIFACTS_DIR, screenshotName);
        await page.screenshot({ path: result.screenshot, fullPage: true });
      }
      return result;
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await browser.close().catch(() => undefined);
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/** One-shot: opens `url` in a fresh browser inside `ns`, waits for the handshake outcome, reports, closes. */
export async function openControlUi(opts: {
  ns: string;
  url: string;
  screenshotName?: string;
  timeoutMs?: number;
}): Promise<ControlUiResult> {
  const ui = await launchControlUi(opts.ns);
  try {
    await ui.goto(opts.url);
    await ui.waitForOutcome({ timeoutMs: opts.timeoutMs });
    return await ui.report(opts.screenshotName);
  } finally {
    await ui.close();
  }
}
