// `npm start`'s prestart: refuse a Node older than 24 with a sentence saying what to install, instead of Node's
// ERR_UNKNOWN_FILE_EXTENSION on src/cli.ts (the sidecar runs its TypeScript directly). Plain JavaScript that any
// Node since 12 parses; the same check as bin/openclaw-sidecar's, and package.json "engines".
const major = Number(process.versions.node.split(".")[0]);
if (major < 24) {
  process.stderr.write(
    `openclaw-sidecar needs Node.js 24 or newer (it runs its TypeScript sources directly); found Node v${process.versions.node} at ${process.execPath}.\n` +
      "Install Node.js 24 LTS or 26 LTS (https://nodejs.org/, or your system's package manager) and put it first on PATH,\n" +
      "or run the container image instead (docker build -t openclaw-sidecar .), or run `npm ci` without --omit=optional\n" +
      "to get the per-platform Node binary from npm.\n",
  );
  process.exit(1);
}
