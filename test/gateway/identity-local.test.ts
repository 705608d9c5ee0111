// Issue 3 against the REAL gateway and the REAL Control UI in headless Chromium, from the NAT'd client namespace:
// identity mode (gateway trusted-proxy + deviceAutoApprove behind the sidecar at 10.77.0.3) and local mode (the
// sidecar inside the gateway's namespace, dialing a loopback-bound gateway with no forwarding headers).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { controlUiBuildId } from "../../src/commands/doctor.ts";
import { describeTier } from "../helpers/tier.ts";
import { controlUiPrereqs, launchControlUi } from "./control-ui.ts";
import { gatewayPrereqs, type RunningGateway, startGateway, trustedProxyGateway } from "./gateway.ts";
import { cleanupStaleNetworks, createTestNetwork, netnsPrereqs, nsExec, type TestNetwork } from "./netns.ts";
import { connectFromNamespace } from "./protocol-client.ts";
import { type SidecarProcess, runDoctor, startSidecarIn } from "./sidecar-process.ts";

const ID_GW_PORT = 18790;
const LOCAL_GW_PORT = 18791;
const ID_SC_PORT = 8081;
const LOCAL_SC_PORT = 8082;
/** An identity-mode sidecar with public paths, for the gate tests of issue 11 against the real gateway. */
const PUBLIC_SC_PORT = 8083;
const USER_TOKEN = "alice-token-0123456789-abcdefghij";
const GATEWAY_TOKEN = "local-gateway-token-0123456789abc";
const COOKIE_SECRET = "s".repeat(48);

interface DevicesList {
  pending: Array<{ requestId: string; deviceId: string; clientId?: string }>;
  paired: Array<{ deviceId: string; clientId?: string; remoteIp?: string; approvedVia?: string; scopes?: string[] }>;
}

/**
 * Gateway log lines that betray a WebSocket reaching it: each connection it accepts, refuses or loses before connect is
 * logged with its `conn=` id (`webchat connected conn=…`, `unauthorized conn=… remote=…`, `closed before connect
 * conn=…`), a failed upgrade as `ws upgrade error from <ip>`. Callers take their mark after their own CLI calls.
 */
const CLIENT_TRACE = /conn=|ws upgrade|10\.77\.0\.2/;

describeTier(
  "real gateway + real Control UI: identity and local modes",
  [...netnsPrereqs(), ...gatewayPrereqs(), ...controlUiPrereqs()],
  () => {
    let net: TestNetwork;
    let idGw: RunningGateway;
    let localGw: RunningGateway;
    let idSc: SidecarProcess;
    let localSc: SidecarProcess;
    let publicSc: SidecarProcess;
    /** Control UI clients must send the gateway's build id, which its index.html carries. */
    const buildId = async () => {
      const r = await nsExec(net.gateway.ns, "curl", ["-s", "-m", "5", `${idGw.loopbackUrl}/`], { timeoutMs: 10_000 });
      return controlUiBuildId(r.stdout) ?? "";
    };
    const doctor = (ns: string, flags: string[]) => runDoctor(ns, flags);
    const curlFromClient = (url: string, extra: string[] = []) =>
      nsExec(net.client.ns, "curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5", ...extra, url], {
        timeoutMs: 10_000,
      }).then((r) => r.stdout);

    beforeAll(async () => {
      await cleanupStaleNetworks();
      net = await createTestNetwork();
      const idOrigin = `http://${net.sidecar.ip}:${ID_SC_PORT}`;
      [idGw, localGw] = await Promise.all([
        startGateway({
          host: net.gateway,
          port: ID_GW_PORT,
          config: {
            gateway: trustedProxyGateway(ID_GW_PORT, net.sidecar.ip, ["alice@example.com"], {
              controlUi: { allowedOrigins: [idOrigin] },
            }),
          },
        }),
        startGateway({
          host: net.gateway,
          port: LOCAL_GW_PORT,
          config: {
            gateway: {
              port: LOCAL_GW_PORT,
              bind: "loopback",
              auth: { mode: "token", token: GATEWAY_TOKEN },
              controlUi: { allowedOrigins: [`http://${net.gateway.ip}:${LOCAL_SC_PORT}`] },
            },
          },
        }),
      ]);
      idSc = await startSidecarIn(net.sidecar.ns, {
        "--listen": `0.0.0.0:${ID_SC_PORT}`,
        "--upstream": `http://${net.gateway.ip}:${ID_GW_PORT}`,
        "--mode": "identity",
        "--token": USER_TOKEN,
        "--user": "alice@example.com",
        "--cookie-secret": COOKIE_SECRET,
        "--public-origin": idOrigin,
      });
      publicSc = await startSidecarIn(net.sidecar.ns, {
        "--listen": `0.0.0.0:${PUBLIC_SC_PORT}`,
        "--upstream": `http://${net.gateway.ip}:${ID_GW_PORT}`,
        "--mode": "identity",
        "--token": USER_TOKEN,
        "--user": "alice@example.com",
        "--cookie-secret": COOKIE_SECRET,
        "--public-paths": "/assets/,/healthz",
        // Its upgrades are to be refused outright (401), not held for a token-field login.
        "--control-ui-token-login": "false",
      });
      // Local mode: the sidecar shares the gateway's namespace (network_mode: service:gateway) and dials loopback.
      localSc = await startSidecarIn(net.gateway.ns, {
        "--listen": `0.0.0.0:${LOCAL_SC_PORT}`,
        "--upstream": `http://127.0.0.1:${LOCAL_GW_PORT}`,
        "--mode": "local",
        "--token": GATEWAY_TOKEN,
        "--cookie-secret": COOKIE_SECRET,
      });
    }, 180_000);

    afterAll(async () => {
      await idSc?.stop();
      await publicSc?.stop();
      await localSc?.stop();
      await Promise.all([idGw?.stop(), localGw?.stop()]);
      await net?.destroy();
    }, 40_000);

    describe("identity mode", () => {
      it("the real Control UI opened at /?token=… loads and reaches hello-ok: no pairing request, no approval", async () => {
        const ui = await launchControlUi(net.client.ns);
        try {
          await ui.goto(`http://${net.sidecar.ip}:${ID_SC_PORT}/?token=${USER_TOKEN}`);
          const outcome = await ui.waitForOutcome({ timeoutMs: 40_000 });
          const report = await ui.report("identity-control-ui-connected.png");
          expect(outcome).toMatchObject({ kind: "hello-ok" });
          expect(report.frames).toContainEqual(
            expect.objectContaining({ kind: "connect", clientId: "openclaw-control-ui", hasDevice: true }),
          );
          expect(ui.page.url()).not.toContain("token="); // the sidecar's redirect took the token out of the URL
          expect(report.text).not.toContain("Approve this browser");
        } finally {
          await ui.close();
        }
        const list = await idGw.cliJson<DevicesList>(["devices", "list"]);
        expect(list.pending).toEqual([]);
        // The gateway's own record: auto-approved by the trusted-proxy path (a manual approval would say "owner"), for
        // the NAT'd client's address, with the non-admin deviceAutoApprove scopes.
        const browsers = list.paired.filter((d) => d.clientId === "openclaw-control-ui");
        expect(browsers).toHaveLength(1);
        expect(browsers[0]).toMatchObject({ approvedVia: "trusted-proxy", remoteIp: net.client.ip });
        expect(browsers[0]?.scopes).not.toContain("operator.admin");
        expect(idGw.logs() + readLog(idGw)).toContain("authenticated user connected");
        expect(await idSc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "ok" })).toBeGreaterThanOrEqual(
          1,
        );
        // Closing the browser closed its socket with 1001 going away; the sidecar counted the client's close frame.
        await expect
          .poll(
            () =>
              idSc.metric("openclaw_sidecar_websocket_closes_total", {
                code: "1001",
                initiator: "client",
                reason_class: "going_away",
              }),
            { timeout: 5_000 },
          )
          .toBeGreaterThanOrEqual(1);
      }, 90_000);

      it("the real Control UI opened at /#token=… (its own token field's path) connects: no ?token= login, no pairing (issue 16)", async () => {
        const ui = await launchControlUi(net.client.ns);
        const http: string[] = [];
        ui.page.on("response", (r) => http.push(`${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`));
        try {
          await ui.goto(`http://${net.sidecar.ip}:${ID_SC_PORT}/#token=${USER_TOKEN}`);
          const outcome = await ui.waitForOutcome({ timeoutMs: 40_000 });
          const report = await ui.report("identity-token-field-connected.png");
          expect(outcome, JSON.stringify({ frames: report.frames, http })).toMatchObject({ kind: "hello-ok" });
          expect(report.frames).toContainEqual(
            expect.objectContaining({
              kind: "connect",
              clientId: "openclaw-control-ui",
              hasDevice: true,
              authKeys: expect.arrayContaining(["token"]),
            }),
          );
          expect(report.text).not.toContain("Approve this browser");
          // Before it connects the UI loads its shell without a session; nothing it asked for was refused.
          expect(
            http.filter((l) => / (401|403|429) ?$/.test(l)),
            http.join("\n"),
          ).toEqual([]);
          expect(http.some((l) => l.startsWith("GET / "))).toBe(true);
          if (process.env.DEBUG_UI_HTTP) process.stdout.write(`${http.join("\n")}\n`);
        } finally {
          await ui.close();
        }
        expect((await idGw.cliJson<DevicesList>(["devices", "list"])).pending).toEqual([]);
        expect(idSc.logs()).toContain("login (connect frame)");
        expect(idSc.logs()).not.toContain(USER_TOKEN);
      }, 90_000);

      it("the same page with a wrong token shows the gateway-style error, and no connect reached the gateway", async () => {
        const mark = idGw.logs().length;
        const before = await idSc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "unauthenticated" });
        const ui = await launchControlUi(net.client.ns);
        try {
          await ui.goto(`http://${net.sidecar.ip}:${ID_SC_PORT}/#token=not-the-token`);
          const outcome = await ui.waitForOutcome({ timeoutMs: 40_000 });
          const report = await ui.report("identity-token-field-wrong-token.png");
          expect(outcome, JSON.stringify(report.frames)).toMatchObject({
            kind: "error",
            details: { code: "AUTH_TOKEN_MISMATCH" },
          });
          expect(report.text).toMatch(/token mismatch/i);
          expect(report.frames.filter((f) => f.kind === "hello-ok")).toEqual([]);
        } finally {
          await ui.close();
        }
        await new Promise((r) => setTimeout(r, 500));
        // The gateway saw the upgrade close before any connect: never a connect-handler line (connected/unauthorized).
        expect(idGw.logs().slice(mark)).not.toMatch(
          /webchat connected|unauthorized conn=|authenticated user connected/,
        );
        expect(
          await idSc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "unauthenticated" }),
        ).toBeGreaterThan(before);
      }, 90_000);

      it("a wrong token gets 401 and never reaches the gateway", async () => {
        const before = (await idGw.cliJson<DevicesList>(["devices", "list"])).paired.length;
        const mark = idGw.logs().length;
        expect(
          await curlFromClient(`http://${net.sidecar.ip}:${ID_SC_PORT}/control-ui-config.json`, [
            "-H",
            "Authorization: Bearer wrong",
            "-H",
            "Accept: application/json",
          ]),
        ).toBe("401");
        const ws = await connectFromNamespace(net.client.ns, {
          url: `ws://${net.sidecar.ip}:${ID_SC_PORT}/`,
          clientId: "openclaw-control-ui",
          headers: { Authorization: "Bearer wrong" },
          origin: `http://${net.sidecar.ip}:${ID_SC_PORT}`,
        });
        expect(ws).toMatchObject({ kind: "http", status: 401 });
        await new Promise((r) => setTimeout(r, 500)); // anything the gateway would log about it has been written by now
        expect(idGw.logs().slice(mark)).not.toMatch(CLIENT_TRACE);
        expect((await idGw.cliJson<DevicesList>(["devices", "list"])).paired.length).toBe(before);
        expect(
          await idSc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "unauthenticated" }),
        ).toBeGreaterThanOrEqual(1);
        expect(
          await idSc.metric("openclaw_sidecar_auth_failures_total", { reason: "bad_token" }),
        ).toBeGreaterThanOrEqual(2);
        expect(idSc.logs()).not.toContain(USER_TOKEN);
      }, 40_000);

      it("bypassing the sidecar gets nothing, and the gateway logs it (the control for the checks above)", async () => {
        const mark = idGw.logs().length;
        const origin = `http://${net.sidecar.ip}:${ID_SC_PORT}`;
        // The identity headers the sidecar would add, sent by the client itself straight to the gateway: not trusted.
        const forged = await connectFromNamespace(net.client.ns, {
          url: `ws://${net.gateway.ip}:${ID_GW_PORT}/`,
          clientId: "openclaw-control-ui",
          origin,
          headers: {
            "x-forwarded-user": "alice@example.com",
            "x-forwarded-proto": "http",
            "x-forwarded-for": "10.77.0.9",
          },
        });
        expect(forged).toMatchObject({ kind: "http", status: 403 });
        expect(forged.kind === "http" && forged.body).toContain("proxy_attribution_required");
        const bare = await connectFromNamespace(net.client.ns, {
          url: `ws://${net.gateway.ip}:${ID_GW_PORT}/`,
          clientId: "openclaw-control-ui",
          buildId: await buildId(),
          origin,
        });
        expect(bare).toMatchObject({ kind: "close", code: 1008 });
        expect(bare.kind === "close" && bare.error?.details?.authReason).toBe("trusted_proxy_untrusted_source");
        await expect.poll(() => idGw.logs().slice(mark), { timeout: 5_000 }).toMatch(CLIENT_TRACE);
      }, 40_000);

      it("a client-sent x-forwarded-user: mallory is replaced by the authenticated user", async () => {
        const id = await buildId();
        const mark = idGw.logs().length;
        const r = await connectFromNamespace(net.client.ns, {
          url: `ws://${net.sidecar.ip}:${ID_SC_PORT}/`,
          clientId: "openclaw-control-ui",
          buildId: id,
          origin: `http://${net.sidecar.ip}:${ID_SC_PORT}`,
          headers: { Authorization: `Bearer ${USER_TOKEN}`, "x-forwarded-user": "mallory" },
          scopes: ["operator.read"],
        });
        // allowUsers is ["alice@example.com"]: had "mallory" (or "mallory, alice…") reached the gateway, it would
        // refuse.
        expect(r, JSON.stringify(r)).toMatchObject({ kind: "hello-ok" });
        await expect
          .poll(() => idGw.logs().slice(mark), { timeout: 5_000 })
          .toMatch(/authenticated user connected conn=\S+ user=alice@example\.com/);
        expect(idGw.logs() + readLog(idGw)).not.toContain("mallory");
      }, 40_000);

      it("public paths hold against the gateway's own path resolution, and never open a WebSocket (issue 11, findings 2 and 3)", async () => {
        const base = `http://${net.sidecar.ip}:${PUBLIC_SC_PORT}`;
        // --path-as-is: curl would otherwise resolve the dot segments itself, before the sidecar sees them.
        const get = (target: string, extra: string[] = []) =>
          nsExec(
            net.client.ns,
            "curl",
            [
              "-s",
              "--path-as-is",
              "-m",
              "5",
              "-o",
              "/dev/null",
              "-w",
              "%{http_code} %{content_type}",
              ...extra,
              `${base}${target}`,
            ],
            { timeoutMs: 10_000 },
          ).then((r) => r.stdout);
        const walkarounds = [
          "/assets/../control-ui-config.json",
          "/assets/%2e%2e/control-ui-config.json",
          "/assets/.%2E/control-ui-config.json",
          "/assets\\..\\control-ui-config.json",
          "/assets/..%2fcontrol-ui-config.json",
          "/healthz/../control-ui-config.json",
        ];
        for (const target of walkarounds) {
          // The gateway resolves each of these to its authenticated config route: with alice's token, it answers it…
          const resolved = await get(target, ["-H", `Authorization: Bearer ${USER_TOKEN}`]);
          if (!target.includes("%2f"))
            expect([target, resolved]).toEqual([target, expect.stringMatching(/^200 application\/json/)]);
          // …and without one the sidecar answers instead, never the gateway.
          expect([target, await get(target)]).toEqual([target, expect.stringMatching(/^401 /)]);
        }
        // What really is public stays public: an asset of the Control UI, and the gateway's health route.
        const index = await nsExec(
          net.client.ns,
          "curl",
          ["-s", "-m", "5", "-H", `Authorization: Bearer ${USER_TOKEN}`, `${base}/`],
          { timeoutMs: 10_000 },
        );
        const asset = /\/assets\/[^"']+\.js/.exec(index.stdout)?.[0];
        expect(asset, index.stdout.slice(0, 300)).toBeDefined();
        expect(await get(asset as string)).toMatch(/^200 /);
        expect(await get("/healthz")).toMatch(/^200 /);
        // An upgrade to a public path is authenticated like any other: the gateway would serve its WebSocket there.
        const mark = idGw.logs().length;
        const ws = await connectFromNamespace(net.client.ns, {
          url: `ws://${net.sidecar.ip}:${PUBLIC_SC_PORT}/healthz`,
          clientId: "openclaw-control-ui",
          origin: base,
        });
        expect(ws).toMatchObject({ kind: "http", status: 401 });
        await new Promise((r) => setTimeout(r, 500));
        expect(idGw.logs().slice(mark)).not.toMatch(CLIENT_TRACE);
      }, 60_000);

      // Last in this block: the doctor's passing handshake pairs one more (auto-approved) device.
      it("doctor: passes for alice, names a user the gateway does not allow", async () => {
        const base = [
          "--mode",
          "identity",
          "--upstream",
          `http://${net.gateway.ip}:${ID_GW_PORT}`,
          "--sidecar-address",
          net.sidecar.ip,
          "--public-origin",
          `http://${net.sidecar.ip}:${ID_SC_PORT}`,
          "--token",
          USER_TOKEN,
          "--cookie-secret",
          COOKIE_SECRET,
        ];
        const ok = await doctor(net.sidecar.ns, [...base, "--user", "alice@example.com"]);
        expect(ok.out).toContain("[ok] test handshake: hello-ok");
        expect(ok.out).toContain("RESULT: identity mode will work.");
        expect(ok.code, ok.out).toBe(0);
        const bad = await doctor(net.sidecar.ns, [...base, "--user", "bob@example.com"]);
        expect(bad.out).toContain("trusted_proxy_user_not_allowed");
        expect(bad.out).toContain("allowUsers");
        expect(bad.code, bad.out).toBe(1);
      }, 60_000);

      // Issue 23 §3: the sidecar on the same port (the gateway allows that origin), its token in a tokensFile.
      it("a token removed while the Control UI is connected: its WebSocket closes with 1008 and the reason, and the UI stops instead of reconnecting in a loop", async () => {
        const idOrigin = `http://${net.sidecar.ip}:${ID_SC_PORT}`;
        const dir = mkdtempSync(path.join(tmpdir(), "ocs-reload-gw-"));
        const tokens = path.join(dir, "tokens.json");
        const entry = (token: string) => JSON.stringify([{ user: "alice@example.com", token }]);
        writeFileSync(tokens, entry(USER_TOKEN));
        await idSc.stop();
        const reloading = await startSidecarIn(net.sidecar.ns, {
          "--listen": `0.0.0.0:${ID_SC_PORT}`,
          "--upstream": `http://${net.gateway.ip}:${ID_GW_PORT}`,
          "--mode": "identity",
          "--tokens-file": tokens,
          "--cookie-secret": COOKIE_SECRET,
          "--public-origin": idOrigin,
        });
        const upgrades = () => reloading.metric("openclaw_sidecar_websocket_upgrades_total");
        try {
          const ui = await launchControlUi(net.client.ns);
          try {
            await ui.goto(`${idOrigin}/?token=${USER_TOKEN}`);
            expect(await ui.waitForOutcome({ timeoutMs: 40_000 })).toMatchObject({ kind: "hello-ok" });
            const before = await upgrades();
            writeFileSync(tokens, entry("another-token-0123456789-abcdefghij")); // the file watch reloads it
            await expect
              .poll(async () => (await ui.report()).closes, { timeout: 15_000 })
              .toContainEqual(expect.objectContaining({ code: 1008, reason: "credentials revoked: sign in again" }));
            // What the UI does next: it reconnects with its (now stale) cookie; the sidecar holds that upgrade for a
            // token (the token-field login) and the connect frame carries none, so the gateway-style AUTH_TOKEN_MISSING
            // error ends it. Watched for 30 s.
            await new Promise((r) => setTimeout(r, 30_000));
            const report = await ui.report("identity-credentials-revoked.png");
            const attempts = (await upgrades()) - before;
            process.stdout.write(
              `credentials revoked, Control UI afterwards (30 s): ${attempts} upgrade(s); closes ${JSON.stringify(report.closes)}; errors ${JSON.stringify(report.frames.filter((f) => f.kind === "error"))}; text: ${report.text.slice(0, 300)}\n`,
            );
            expect(reloading.logs()).toContain('"trigger":"file');
            expect(attempts).toBeLessThanOrEqual(5);
            expect(report.frames.filter((f) => f.kind === "error").at(-1)).toMatchObject({
              details: expect.objectContaining({ code: "AUTH_TOKEN_MISSING" }),
            });
            expect(report.text).toContain("expects its token"); // the UI's own token form, not a reconnect spinner
          } finally {
            await ui.close();
          }
        } finally {
          await reloading.stop();
          rmSync(dir, { recursive: true, force: true });
          idSc = await startSidecarIn(net.sidecar.ns, {
            "--listen": `0.0.0.0:${ID_SC_PORT}`,
            "--upstream": `http://${net.gateway.ip}:${ID_GW_PORT}`,
            "--mode": "identity",
            "--token": USER_TOKEN,
            "--user": "alice@example.com",
            "--cookie-secret": COOKIE_SECRET,
            "--public-origin": idOrigin,
          });
        }
      }, 150_000);
    });

    describe("local mode", () => {
      it("the real Control UI connects without pairing through the shared-namespace sidecar", async () => {
        const ui = await launchControlUi(net.client.ns);
        try {
          await ui.goto(`http://${net.gateway.ip}:${LOCAL_SC_PORT}/?token=${GATEWAY_TOKEN}`);
          const outcome = await ui.waitForOutcome({ timeoutMs: 40_000 });
          const report = await ui.report("local-control-ui-connected.png");
          expect(outcome).toMatchObject({ kind: "hello-ok" });
          // The UI read the gateway token from the redirect's #token= fragment and sent it in the connect frame.
          expect(report.frames).toContainEqual(
            expect.objectContaining({
              kind: "connect",
              clientId: "openclaw-control-ui",
              hasDevice: true,
              authKeys: expect.arrayContaining(["token"]),
            }),
          );
          expect(ui.page.url()).not.toContain("?token=");
        } finally {
          await ui.close();
        }
        const list = await localGw.cliJson<DevicesList>(["devices", "list"]);
        expect(list.pending).toEqual([]);
        // Paired silently as a direct-local client: that is what local mode is (and why it is admin and dev-only).
        expect(list.paired.filter((d) => d.clientId === "openclaw-control-ui")).toEqual([
          expect.objectContaining({ approvedVia: "silent" }),
        ]);
        expect(
          await localSc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "ok" }),
        ).toBeGreaterThanOrEqual(1);
      }, 90_000);

      it("the login redirect hands the token to the UI in the fragment and sets the session cookie", async () => {
        const r = await nsExec(
          net.client.ns,
          "curl",
          ["-s", "-i", "-m", "5", `http://${net.gateway.ip}:${LOCAL_SC_PORT}/?token=${GATEWAY_TOKEN}`],
          { timeoutMs: 10_000 },
        );
        expect(r.stdout).toMatch(/^HTTP\/1\.1 303/);
        expect(r.stdout).toMatch(new RegExp(`^location: /#token=${GATEWAY_TOKEN}\r?$`, "im"));
        expect(r.stdout).toMatch(/^set-cookie: [^=]+=[^;]+;.*HttpOnly/im);
      }, 20_000);

      it("without a valid token nothing reaches the gateway", async () => {
        const mark = localGw.logs().length;
        expect(await curlFromClient(`http://${net.gateway.ip}:${LOCAL_SC_PORT}/`, ["-H", "Accept: text/html"])).toBe(
          "401",
        );
        const ws = await connectFromNamespace(net.client.ns, {
          url: `ws://${net.gateway.ip}:${LOCAL_SC_PORT}/`,
          token: GATEWAY_TOKEN,
        });
        expect(ws).toMatchObject({ kind: "http", status: 401 }); // the gateway's token in the connect frame is not enough
        const wrong = await connectFromNamespace(net.client.ns, {
          url: `ws://${net.gateway.ip}:${LOCAL_SC_PORT}/`,
          headers: { Authorization: "Bearer wrong" },
        });
        expect(wrong).toMatchObject({ kind: "http", status: 401 });
        await new Promise((r) => setTimeout(r, 500));
        expect(localGw.logs().slice(mark)).not.toMatch(CLIENT_TRACE);
        expect(
          await localSc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "unauthenticated" }),
        ).toBeGreaterThanOrEqual(1);
      }, 40_000);

      it("doctor: passes inside the gateway's namespace; from its own container it names the loopback bind", async () => {
        const flags = [
          "--mode",
          "local",
          "--token",
          GATEWAY_TOKEN,
          "--public-origin",
          `http://${net.gateway.ip}:${LOCAL_SC_PORT}`,
        ];
        const ok = await doctor(net.gateway.ns, [...flags, "--upstream", `http://127.0.0.1:${LOCAL_GW_PORT}`]);
        expect(ok.out).toMatch(/\[ok\] test handshake: (hello-ok|authenticated and paired)/);
        expect(ok.code, ok.out).toBe(0);
        // The same gateway seen from the sidecar namespace: bound to loopback, so nothing listens on its LAN address.
        const apart = await doctor(net.sidecar.ns, [
          ...flags,
          "--upstream",
          `http://${net.gateway.ip}:${LOCAL_GW_PORT}`,
        ]);
        expect(apart.out).toContain("cannot reach the gateway");
        expect(apart.out).toContain('"loopback" only with network_mode: service:<gateway>');
        expect(apart.code, apart.out).toBe(1);
      }, 60_000);
    });
  },
);

/** The gateway's own file log (its console output is in logs()). */
function readLog(gw: RunningGateway): string {
  try {
    return readFileSync(path.join(gw.home, "gateway.jsonl"), "utf8");
  } catch {
    return "";
  }
}
