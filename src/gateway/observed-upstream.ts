import { FieldmeshError } from '../lib/errors.js';
import type { Metrics } from '../http/metrics.js';
import { inSpan } from '../http/spans.js';
import type { Upstream } from './upstream.js';

/**
 * The record API as the gateway calls it: each exchange traced as
 * `fieldmesh.upstream` and timed into `fieldmesh_upstream_seconds`, its
 * result `ok`, the code it failed with (`upstream_unreachable`,
 * `upstream_timeout`, `upstream_invalid`), or `upstream_error` for a 5xx.
 * Neither the path nor the answer is recorded.
 *
 * @example
 * const upstream = observedUpstream(createUpstream(opts), metrics);
 */
export function observedUpstream(upstream: Upstream, metrics: Metrics): Upstream {
  return {
    send(req) {
      return inSpan('fieldmesh.upstream', {}, async (span) => {
        const started = performance.now();
        let result = 'internal';
        try {
          const answer = await upstream.send(req);
          result = answer.status >= 500 ? 'upstream_error' : 'ok';
          if (result !== 'ok') span.setAttribute('fieldmesh.code', result);
          return answer;
        } catch (e) {
          if (e instanceof FieldmeshError) result = e.code;
          throw e;
        } finally {
          metrics.upstream((performance.now() - started) / 1000, result);
        }
      });
    },
    close: () => upstream.close(),
  };
}
