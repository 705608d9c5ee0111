// The import-nginx command: the JSON config on stdout (redirect it into a file), the review report on stderr.
// Exit codes: 0 imported (read the report: "unsupported" lines are behaviour that is not carried over), 2 bad input.
import { NginxImportError, formatConfig, formatError, formatNotes, importNginx } from "./import.ts";

const USAGE = "usage: openclaw-sidecar import-nginx <nginx.conf>  (config JSON on stdout, report on stderr)\n";

export function runImportNginx(argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): number {
  const [file, ...rest] = argv;
  if (file === undefined || rest.length > 0 || file.startsWith("-")) {
    err.write(USAGE);
    return 2;
  }
  try {
    const result = importNginx(file);
    out.write(formatConfig(result.config));
    err.write(formatNotes(result.notes, process.cwd()));
    return 0;
  } catch (e) {
    if (e instanceof NginxImportError) {
      err.write(formatError(e, process.cwd()));
      return 2;
    }
    throw e;
  }
}
