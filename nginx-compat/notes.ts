// What the importer says about each directive, and the one stable text form of a result (the CLI report and the
// golden cases print the same thing, so a golden diff is exactly what a user would see change).
import { isAbsolute, relative } from "node:path";
import type { NginxImportError } from "./errors.ts";

/**
 * translated:  became a sidecar option (or is what the sidecar does by default).
 * not_needed:  nginx plumbing with nothing to carry over; the sidecar already behaves well here.
 * unsupported: behaviour the sidecar does not reproduce: review it before switching.
 * insecure:    the original did something unsafe for the gateway; the sidecar deliberately does not.
 */
export type NoteKind = "translated" | "not_needed" | "unsupported" | "insecure";

export interface Note {
  /** Absolute path of the file the directive is in. */
  file: string;
  line: number;
  directive: string;
  kind: NoteKind;
  message: string;
}

export interface ImportResult {
  config: Record<string, unknown>;
  notes: Note[];
}

/** A path as shown to people: relative to `base` when it lies under it. */
export function displayPath(file: string, base: string): string {
  const rel = relative(base, file);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : file;
}

export function formatNote(note: Note, base: string): string {
  return `${displayPath(note.file, base)}:${note.line}  ${note.directive}  ${note.kind}  ${note.message}`;
}

/** Notes in file order, then a one-line count per kind, so that a review can start from the summary. */
export function formatNotes(notes: Note[], base: string): string {
  const lines = notes.map((n) => formatNote(n, base));
  const count = (k: NoteKind) => notes.filter((n) => n.kind === k).length;
  lines.push(
    `summary: ${count("translated")} translated, ${count("not_needed")} not needed, ${count("unsupported")} unsupported, ${count("insecure")} insecure in the original`,
  );
  if (count("unsupported") > 0)
    lines.push('review every "unsupported" line before switching: that behaviour is not carried over');
  return `${lines.join("\n")}\n`;
}

export const formatConfig = (config: Record<string, unknown>): string => `${JSON.stringify(config, null, 2)}\n`;

/** `error: file:line message`, the way both the CLI and the golden cases print a failed import. */
export function formatError(e: NginxImportError, base: string): string {
  return `error: ${displayPath(e.file, base)}${e.line > 0 ? `:${e.line}` : ""} ${e.reason}\n`;
}
