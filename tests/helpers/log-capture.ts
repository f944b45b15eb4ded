import { Writable } from 'node:stream';

/** A stream for pino that keeps every line, so tests can assert on (and grep) what was logged. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) if (line) this.lines.push(line);
    cb();
  }
  text(): string {
    return this.lines.join('\n');
  }
}
