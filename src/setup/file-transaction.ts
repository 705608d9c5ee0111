// All-or-nothing writes for `init`: every new content is first written to a temporary file beside its target (same
// mode and, as root, same owner as the file it replaces), every file that will change is backed up, and only then
// are the temporary files renamed over their targets — renames within a directory, the last and smallest step. A
// failure before that point removes the temporary files and backups and leaves the user's files untouched; a failure
// during the renames puts back the files already replaced, from their backups.
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";

export interface FileChange {
  file: string;
  content: string;
}
export interface NewSecret {
  name: string;
  content: string;
  /** uid:gid to own it (a container user), when running as root */ owner?: { uid: number; gid: number };
}
export interface Transaction {
  /** Existing files to replace (each backed up first). */
  changes: FileChange[];
  /** A directory that must not exist yet, created with mode 0700 and holding `secrets` (mode 0600). */
  secretsDir?: { dir: string; secrets: NewSecret[] };
  /** Suffix of the backup copies, e.g. ".bak-20261124T101500Z". */
  backupSuffix: string;
}
export interface Committed {
  backups: string[];
  secrets: string[];
}

const isRoot = (): boolean => process.getuid?.() === 0;

export function commit(tx: Transaction): Committed {
  const tag = `.openclaw-sidecar-init-${process.pid}-${randomBytes(4).toString("hex")}`;
  const temps: Array<{ temp: string; file: string; backup: string }> = [];
  let tempDir: string | undefined;
  const cleanup = (): void => {
    for (const t of temps) {
      rmSync(t.temp, { force: true });
      rmSync(t.backup, { force: true });
    }
    if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
  };
  try {
    for (const change of tx.changes) {
      const st = statSync(change.file);
      const entry = { temp: `${change.file}${tag}.tmp`, file: change.file, backup: `${change.file}${tx.backupSuffix}` };
      temps.push(entry);
      copyFileSync(change.file, entry.backup, constants.COPYFILE_EXCL);
      writeFileSync(entry.temp, change.content, { flag: "wx", mode: st.mode & 0o7777 });
      chmodSync(entry.temp, st.mode & 0o7777);
      if (isRoot()) chownSync(entry.temp, st.uid, st.gid);
    }
    if (tx.secretsDir !== undefined) {
      const { dir, secrets } = tx.secretsDir;
      if (existsSync(dir)) throw new Error(`${dir} already exists`);
      tempDir = path.join(path.dirname(dir), `${path.basename(dir)}${tag}`);
      mkdirSync(tempDir, { mode: 0o700 });
      for (const s of secrets) {
        const file = path.join(tempDir, s.name);
        writeFileSync(file, s.content, { flag: "wx", mode: 0o600 });
        if (s.owner !== undefined && isRoot()) chownSync(file, s.owner.uid, s.owner.gid);
      }
    }
  } catch (err) {
    cleanup();
    throw err;
  }
  const done: typeof temps = [];
  try {
    for (const t of temps) {
      renameSync(t.temp, t.file);
      done.push(t);
    }
    if (tx.secretsDir !== undefined && tempDir !== undefined) renameSync(tempDir, tx.secretsDir.dir);
  } catch (err) {
    // Put back what was already replaced; keep the backups if even that fails.
    for (const t of done) copyFileSync(t.backup, t.file);
    cleanup();
    throw err;
  }
  return {
    backups: temps.map((t) => t.backup),
    secrets: tx.secretsDir?.secrets.map((s) => path.join(tx.secretsDir!.dir, s.name)) ?? [],
  };
}
