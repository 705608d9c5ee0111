// `openclaw-sidecar import-nginx`: reads a hand-written nginx.conf (and what it includes) and returns the equivalent
// sidecar configuration plus one note per directive saying what became of it. Bad input — a syntax error, a missing
// file, no proxy_pass to translate — throws NginxImportError naming the file and line.
import { parseConfig } from "./parser.ts";
import { translate } from "./translate.ts";
import type { ImportResult } from "./notes.ts";

export { NginxImportError } from "./errors.ts";
export type { ImportResult, Note, NoteKind } from "./notes.ts";
export { formatConfig, formatError, formatNotes } from "./notes.ts";

export function importNginx(path: string): ImportResult {
  return translate(parseConfig(path), path);
}
