// Where log lines go: a buffer in front of a file descriptor (stdout), written asynchronously in large pieces.
//
// An access log writes a line per request, so how lines reach the descriptor is part of the proxy's cost: one
// asynchronous write(2) costs about 40 µs of CPU (a thread-pool round trip) whatever its size, so lines are batched
// into writes of ~32 KiB, and appending a line is O(1). The event loop never blocks on a slow reader of stdout (a
// stalled log driver); if it stalls for long, at most `maxBuffered` bytes wait, newer lines are dropped and counted,
// and the count is reported as a line of its own once writing resumes. At exit, what is buffered is written
// synchronously.
import fs from "node:fs";

export interface LogSinkOptions {
  /** Buffered bytes that trigger a write. */
  flushAt?: number;
  /** Buffered bytes beyond which new lines are dropped (and counted). */
  maxBuffered?: number;
  /** Rewrites the sink's own report line (the pretty log format); the lines written to it come formatted. */
  format?: (jsonLine: string) => string;
}

/**
 * When stdout is a full non-blocking pipe (EAGAIN), the write is tried again after this long, until it goes through.
 */
const RETRY_MS = 10;

export class LogSink {
  private readonly fd: number;
  private readonly flushAt: number;
  private readonly maxBuffered: number;
  private readonly format: (jsonLine: string) => string;
  private parts: string[] = [];
  private size = 0;
  private writing = false;
  /** Lines dropped since the last report. */
  private dropped = 0;
  /** Lines dropped in total. */
  droppedTotal = 0;

  constructor(fd: number, opts: LogSinkOptions = {}) {
    this.fd = fd;
    this.flushAt = opts.flushAt ?? 32 * 1024;
    this.maxBuffered = opts.maxBuffered ?? 16 * 1024 * 1024;
    this.format = opts.format ?? ((line) => line);
  }

  /** Appends one line (with its newline). Never blocks; false when the line was dropped. */
  write(line: string): boolean {
    if (this.size + line.length > this.maxBuffered) {
      this.dropped++;
      this.droppedTotal++;
      return false;
    }
    this.parts.push(line);
    this.size += line.length;
    if (this.size >= this.flushAt) this.flush();
    return true;
  }

  /** Starts writing what is buffered (unless a write is in flight; it continues when that one ends). */
  flush(callback?: (err?: Error) => void): void {
    if (this.writing || this.size === 0) {
      callback?.();
      return;
    }
    this.writing = true;
    this.writeFrom(this.take(), 0);
    callback?.();
  }

  /** Writes everything buffered now, blocking (for process exit). */
  flushSync(): void {
    if (this.size === 0) return;
    const data = this.take();
    let offset = 0;
    const deadline = Date.now() + 1000;
    while (offset < data.length && Date.now() < deadline) {
      try {
        offset += fs.writeSync(this.fd, data, offset, data.length - offset);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EAGAIN") return;
      }
    }
  }

  private take(): Buffer {
    if (this.dropped > 0) {
      this.parts.push(
        this.format(
          `{"level":"warn","time":"${new Date().toISOString()}","name":"openclaw-sidecar","droppedLines":${this.dropped},"msg":"log lines dropped: stdout was not read fast enough"}\n`,
        ),
      );
      this.dropped = 0;
    }
    const data = Buffer.from(this.parts.join(""));
    this.parts = [];
    this.size = 0;
    return data;
  }

  private writeFrom(data: Buffer, offset: number): void {
    fs.write(this.fd, data, offset, data.length - offset, null, (err, written) => {
      if (err) {
        if (err.code === "EAGAIN") {
          setTimeout(() => this.writeFrom(data, offset), RETRY_MS).unref();
          return;
        }
        // stdout is gone (EPIPE, EBADF): nothing to write to; keep accepting lines, drop them in batches.
        this.writing = false;
        return;
      }
      if (offset + written < data.length) {
        this.writeFrom(data, offset + written);
        return;
      }
      this.writing = false;
      if (this.size >= this.flushAt) this.flush();
    });
  }
}
