// The one error the importer throws for bad input. It always names a file and a line (0 when the problem is the file
// itself), so the CLI and the golden cases can print `file:line message` the way nginx -t does.
export class NginxImportError extends Error {
  readonly file: string;
  readonly line: number;
  /** The message without the location, for formatters that print the location themselves. */
  readonly reason: string;
  constructor(file: string, line: number, reason: string) {
    super(line > 0 ? `${file}:${line}: ${reason}` : `${file}: ${reason}`);
    this.name = "NginxImportError";
    this.file = file;
    this.line = line;
    this.reason = reason;
  }
}
