// `npm start` runs the sidecar as npm → sh -c → node. A supervisor (or timeout(1)) that stops npm by its PID reaches
// npm only; npm forwards the signal to the shell, the shell dies, and node would keep running, orphaned, still
// listening. So a sidecar started by an npm script watches its parent: once the process that started it is gone
// (its parent pid changed: it was re-parented), it stops as if it had been sent SIGTERM. Started any other way
// (container, systemd, the bin script, `nohup node src/cli.ts &`), it is not watched: there the signal reaches it.
// (An `exec node …` script would let the signal through on POSIX shells, but breaks `npm start` under Windows'
// cmd.exe.)

/** True when an npm script started this process (npm sets npm_lifecycle_event for the script's environment). */
export const startedByNpmScript = (env: NodeJS.ProcessEnv = process.env): boolean =>
  env.npm_lifecycle_event !== undefined;

/** Calls `onGone` once when this process's parent changes. Returns a function that stops watching. */
export function watchParent(onGone: () => void, intervalMs = 500): () => void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone();
  }, intervalMs);
  timer.unref(); // never what keeps the process alive
  return () => clearInterval(timer);
}
