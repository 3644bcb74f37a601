import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Random } from '../core/random.js';
import type { DnsResolver } from '../core/resolver.js';
import type { Config } from '../config/schema.js';
import { errorMessage, FerryError } from '../core/errors.js';
import { createRouter, type Router } from '../deliver/route.js';
import { createDmarcCheck } from '../policy/dmarc-check.js';
import { createDmarcGuard } from '../policy/dmarc-guard.js';
import type { RetryPolicy } from '../outcome/decide.js';
import type { MessageCheck } from '../core/message-check.js';
import { createKeySource, loadPrivateKey, type KeySource } from '../sign/keys.js';
import { createSigner, type SignOffload, type Signer } from '../sign/signer.js';
import type { DkimKeysStore } from '../core/store.js';

/**
 * The parts a reload rebuilds from the new configuration — DKIM keys and signer, the DMARC
 * guard, the router. The pipeline holds the stable wrappers this returns; a reload (reload.ts)
 * builds a complete new set with build() (which throws on anything wrong, before anything
 * changes) and then swaps it in with swap().
 */
export interface ReloadPartsDeps {
  /** Keys made by `ferry dkim keygen`, read from the store at each lookup. */
  dkimKeys: Pick<DkimKeysStore, 'byDomain'>;
  resolver: DnsResolver;
  clock: Clock;
  random: Random;
  logger: Logger;
  /** Fixed at start: a signer's header buffer follows the listener's limit. */
  maxHeaderBytes: number;
  /** The signing threads (fixed at start); null: sign on the main thread. */
  signOffload?: SignOffload | null;
}

interface Parts {
  keys: KeySource;
  signer: Signer;
  dmarc: MessageCheck | null;
  router: Router;
}

export function createReloadParts(initial: Config, deps: ReloadPartsDeps) {
  const { clock, logger, resolver, random } = deps;
  // DKIM keys: configured PEM files plus those made by `ferry dkim keygen` (read per lookup).
  // Rebuilt on reload (fresh cache: a key file replaced at the same path is read again).
  const keySource: KeySource = { keysFor: (d) => now.keys.keysFor(d) };

  function build(cfg: Config): Parts {
    // Read every configured key now: a missing or unreadable file stops the start or refuses the
    // reload, rather than surfacing as unsigned mail later.
    cfg.dkim.keys.forEach((k, i) => {
      try {
        loadPrivateKey(k.keyFile);
      } catch (err) {
        throw new FerryError('FERRY_ERR_CONFIG', `dkim.keys[${i}].keyFile: ${errorMessage(err)}`, { cause: err });
      }
    });
    const keys = createKeySource(async (domain) => [
      ...cfg.dkim.keys,
      ...(await deps.dkimKeys.byDomain(domain)).map((k) => ({ domain: k.domain, selector: k.selector, keyFile: k.keyFile })),
    ]);
    const signer = createSigner({ keys: keySource, defaultDomain: cfg.dkim.defaultDomain, clock, maxHeaderBytes: deps.maxHeaderBytes + 64 * 1024, offload: deps.signOffload ?? null });
    let dmarc: MessageCheck | null = null;
    if (cfg.dmarc.mode !== 'off') {
      const guard = createDmarcGuard({
        resolver,
        clock,
        mode: cfg.dmarc.mode,
        hasKeyFor: async (d) => (await keySource.keysFor(d)).length > 0,
        rewrite: cfg.dmarc.rewrite ?? { address: '', brand: '' },
        logger,
        cacheTtlMs: cfg.dmarc.cacheTtlMs,
      });
      dmarc = createDmarcCheck(guard, { clock, timeoutMs: cfg.dmarc.lookupTimeoutMs, logger });
    }
    const router = createRouter({
      resolver,
      routes: cfg.routes,
      allowPrivateMx: cfg.delivery.allowPrivateMx,
      port: cfg.delivery.port,
      random,
      requireTlsDomains: cfg.delivery.requireTlsDomains,
      encryptOnlyDomains: cfg.outboundTls.encryptOnlyDomains,
      clock,
    });
    return { keys, signer, dmarc, router };
  }

  let now: Parts = build(initial);
  return {
    keySource,
    signer: { sign: (domain, input) => now.signer.sign(domain, input) } satisfies Signer,
    dmarcCheck: (async (ctx) => (now.dmarc ? now.dmarc(ctx) : undefined)) satisfies MessageCheck,
    router: { resolve: (domain) => now.router.resolve(domain) } satisfies Router,
    /** A complete new set for `cfg`; throws (changing nothing) when any part cannot be built. */
    build,
    swap(parts: Parts): void {
      now = parts;
    },
  };
}

/** The retry policy of whichever configuration is current, read at each decision. */
export function currentRetryPolicy(current: () => Config): RetryPolicy {
  return {
    get retryScheduleMinutes() {
      return current().delivery.retryScheduleMinutes;
    },
    get retryJitter() {
      return current().delivery.retryJitter;
    },
    get maxAgeHours() {
      return current().delivery.maxAgeHours;
    },
    get mailboxFullSuppressAfterHours() {
      return current().bounces.mailboxFullSuppressAfterHours;
    },
  };
}
