/**
 * Progress reporting for long work (embedding, downloads). Library code talks
 * to the `Progress` interface; the CLI decides how it looks: a redrawn bar with
 * rate and ETA on a TTY, a plain log line every few seconds otherwise.
 */
export interface Progress {
  /** Starts (or restarts) a task of `total` units; `total` may be unknown. */
  start(label: string, total: number | undefined, unit?: string): void;
  /** Adds `n` finished units. */
  tick(n?: number): void;
  /** Finishes the task and prints a summary line. */
  done(summary?: string): void;
}

export const silentProgress: Progress = { start() {}, tick() {}, done() {} };

export interface TerminalProgressOptions {
  stream?: NodeJS.WriteStream;
  /** Redraw interval on a TTY, ms. */
  redrawMs?: number;
  /** Log interval when not a TTY, ms. */
  logEveryMs?: number;
  /** Force TTY or plain mode regardless of the stream. */
  tty?: boolean;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mmss = `${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}

function formatCount(n: number, unit: string): string {
  if (unit === 'B') {
    if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)} GiB`;
    if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
    if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
    return `${n} B`;
  }
  return String(n);
}

/** A `Progress` that draws on stderr (or the given stream). */
export function terminalProgress(options: TerminalProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr;
  const tty = options.tty ?? Boolean(stream.isTTY);
  const redrawMs = options.redrawMs ?? 100;
  const logEveryMs = options.logEveryMs ?? 5000;
  let label = '';
  let unit = '';
  let total: number | undefined;
  let count = 0;
  let started = 0;
  let lastDraw = 0;

  const line = (): string => {
    const elapsed = (performance.now() - started) / 1000;
    const rate = elapsed > 0 ? count / elapsed : 0;
    const rateText = unit === 'B' ? `${formatCount(rate, 'B')}/s` : `${rate.toFixed(1)}/s`;
    if (total === undefined || total <= 0) {
      return `${label} ${formatCount(count, unit)} ${rateText} ${formatDuration(elapsed)}`;
    }
    const fraction = Math.min(1, count / total);
    const eta = rate > 0 ? (total - count) / rate : Infinity;
    const width = 24;
    const filled = Math.round(fraction * width);
    const bar = tty ? `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ` : '';
    return `${label} ${bar}${formatCount(count, unit)}/${formatCount(total, unit)} (${(fraction * 100).toFixed(0)}%) ${rateText} ETA ${formatDuration(eta)}`;
  };

  const draw = (force: boolean): void => {
    const now = performance.now();
    if (!force && now - lastDraw < (tty ? redrawMs : logEveryMs)) return;
    lastDraw = now;
    if (tty) stream.write(`\r\x1b[2K${line()}`);
    else stream.write(`${line()}\n`);
  };

  return {
    start(newLabel, newTotal, newUnit = '') {
      label = newLabel;
      total = newTotal;
      unit = newUnit;
      count = 0;
      started = performance.now();
      lastDraw = tty ? 0 : started;
      if (tty) draw(true);
    },
    tick(n = 1) {
      count += n;
      draw(false);
    },
    done(summary) {
      if (tty) stream.write('\r\x1b[2K');
      const elapsed = (performance.now() - started) / 1000;
      stream.write(`${summary ?? `${label} done: ${formatCount(count, unit)}`} in ${formatDuration(elapsed)}\n`);
    },
  };
}
