/**
 * Logging by level, as lws's lwsl_err .. lwsl_debug. Notice and above are on by default;
 * the emitter is pluggable so embedders can route lines into their own logging.
 */
export type LogLevel = "err" | "warn" | "notice" | "info" | "debug";

export const logLevels: readonly LogLevel[] = ["err", "warn", "notice", "info", "debug"];

export type LogEmitter = (level: LogLevel, message: string) => void;

export interface LoggerOptions {
  /** The most detailed level emitted. Default "notice". */
  level?: LogLevel;
  /** Where lines go. Default: stderr, one line each, prefixed with the level. */
  emit?: LogEmitter;
}

export class Logger {
  private readonly threshold: number;
  private readonly emitter: LogEmitter;

  constructor(options: LoggerOptions = {}) {
    this.threshold = logLevels.indexOf(options.level ?? "notice");
    this.emitter = options.emit ?? defaultEmitter;
  }

  enabled(level: LogLevel): boolean {
    return logLevels.indexOf(level) <= this.threshold;
  }

  log(level: LogLevel, message: string): void {
    if (this.enabled(level)) this.emitter(level, message);
  }

  err(message: string): void {
    this.log("err", message);
  }
  warn(message: string): void {
    this.log("warn", message);
  }
  notice(message: string): void {
    this.log("notice", message);
  }
  info(message: string): void {
    this.log("info", message);
  }
  debug(message: string): void {
    this.log("debug", message);
  }
}

function defaultEmitter(level: LogLevel, message: string): void {
  process.stderr.write(`[wsloop ${level.toUpperCase()}] ${message}\n`);
}
