import type { Config } from '../config/schema.js';
import type { TlsReporterSettings } from './reporter.js';

/** The reporter's settings from the configuration (the relay and `ferry tls report --send` alike). */
export function tlsReporterSettings(config: Config): TlsReporterSettings {
  const r = config.tlsRpt;
  return {
    organization: r.organization ?? config.hostname,
    contact: r.contact ?? `postmaster@${config.hostname}`,
    submitter: config.hostname,
    from: r.from ?? `tlsrpt-noreply@${config.hostname}`,
    sendDelayMinutes: r.sendDelayMinutes,
    checkIntervalMs: r.checkIntervalMs,
    maxAgeDays: r.maxAgeDays,
    keepDays: r.keepDays,
    https: { timeoutMs: r.httpsTimeoutMs, attempts: r.httpsAttempts, retryDelayMs: r.httpsRetryDelayMs },
  };
}
