// The token sign-in page: shown to a browser that arrives without a valid session (identity and local modes). It
// submits the token as ?token= on the same URL, which the sidecar turns into a session cookie and a redirect without
// the token. The page is the shared shell (http/page.ts); what went wrong, if anything, is said above the form.
import { html, renderPage } from "../http/page.ts";

/** `problem`: why an earlier attempt failed, in the person's words; none on a first visit. */
export function loginPage(problem?: string): string {
  return renderPage({
    heading: "Sign in",
    alert: problem,
    next: "Paste the access token you were given for this dashboard, then press Open the dashboard.",
    body: html`<form method="get">
      <label for="token">Access token</label>
      <input
        id="token"
        name="token"
        type="password"
        autocomplete="current-password"
        autocapitalize="off"
        spellcheck="false"
        required
        autofocus
      />
      <button class="button" type="submit">Open the dashboard</button>
    </form> `,
  });
}
