// The one page the sidecar renders itself: shown to a browser that arrives without a valid session. It submits the
// token as ?token= on the same URL, which the sidecar turns into a session cookie and a redirect without the token.
import { escapeHtml } from "../http/responses.ts";

export function loginPage(message: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>OpenClaw — sign in</title>
<style>body{font:16px system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;color:#222}
input{width:100%;padding:.5rem;margin:.5rem 0;box-sizing:border-box}button{padding:.5rem 1rem}.m{color:#a00}</style></head>
<body><h1>OpenClaw dashboard</h1>
<p class="m">${escapeHtml(message)}</p>
<form method="get"><label for="token">Access token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Open the dashboard</button></form>
<p><small>Protected by openclaw-sidecar.</small></p></body></html>
`;
}
