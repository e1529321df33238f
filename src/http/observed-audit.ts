import type { AuditStore } from '../audit/types.js';
import type { PolicySet } from '../engine/policy-set.js';
import type { Metrics } from './metrics.js';
import { inSpan, spanAttributes } from './spans.js';

/**
 * The trail as both shells use it: each append timed (the request waits for
 * it, so its latency is the shell's) and traced as `fieldmesh.audit.commit`.
 * Everything else passes straight through. The group commit's own batch
 * size and duration come from the store's `onCommit` hook instead, so the
 * trail itself never loads a metrics library.
 *
 * @example
 * const audit = observedAudit(store, metrics, () => holder.current);
 */
export function observedAudit(store: AuditStore, metrics: Metrics, policies: () => PolicySet): AuditStore {
  return {
    append(entry) {
      const attributes = spanAttributes(policies(), {
        resource: entry.resource,
        purpose: entry.purpose,
        outcome: entry.decision,
        code: entry.code,
      });
      return inSpan('fieldmesh.audit.commit', attributes, async () => {
        const started = performance.now();
        let ok = false;
        try {
          const event = await store.append(entry);
          ok = true;
          return event;
        } finally {
          metrics.auditAppend((performance.now() - started) / 1000, ok);
        }
      });
    },
    query: (filter) => store.query(filter),
    count: (filter) => store.count(filter),
    archive: (options) => store.archive(options),
    verify: (onProgress, options) => store.verify(onProgress, options),
    pendingReviews: () => store.pendingReviews(),
    acknowledge: (eventId, by, note) => store.acknowledge(eventId, by, note),
    healthy: () => store.healthy(),
    close: () => store.close(),
  };
}
