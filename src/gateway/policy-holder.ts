import { watch, type FSWatcher } from 'node:fs';
import { FieldmeshError, PolicyError, formatIssue } from '../lib/errors.js';
import { loadPolicies, type PolicyOptions, type PolicySet } from '../engine/policy-set.js';

/**
 * The part of a pino logger the holder reports to.
 *
 * @example
 * const logger: HolderLogger = pino();
 */
export interface HolderLogger {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * The policy set a running gateway decides with, replaced whole on reload.
 * Each request reads `current` once and keeps that set to the end, so a
 * reload never mixes two versions within one decision.
 *
 * @example
 * const holder = await holdPolicies('./policies', { pseudonymKey }, { logger });
 * holder.current.version; // 'sha256:…'
 */
export interface PolicyHolder {
  readonly current: PolicySet;
  /** Load the directory again; on any problem keep the current set and resolve false. */
  reload(why: string): Promise<boolean>;
  /** Reload when a file of the directory changes (debounced). */
  watch(debounceMs?: number): void;
  close(): void;
}

/**
 * Load a policy directory and keep it. `check` adds what the policies alone
 * cannot know (the routes' resources still exist, a pseudonym key is there
 * when a purpose needs one): its problems refuse a set at start-up and on reload.
 *
 * @example
 * const holder = await holdPolicies(dir, opts, { logger, check: (set) => unknownResources(routes, set.resourceNames()) });
 */
export async function holdPolicies(
  dir: string,
  opts: PolicyOptions,
  hooks: { logger: HolderLogger; check?: (set: PolicySet) => string[]; onReload?: (ok: boolean) => void },
): Promise<PolicyHolder> {
  const { logger, check = () => [], onReload = () => undefined } = hooks;
  const load = async (): Promise<PolicySet> => {
    const set = await loadPolicies(dir, opts);
    const problems = check(set);
    if (problems.length > 0)
      throw new FieldmeshError('policy_rejected', `the policy set in ${dir} cannot be used:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    return set;
  };
  let current = await load();
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  // Reloads run one after another: a slow load must not land after a newer one.
  let queue: Promise<unknown> = Promise.resolve();

  const holder: PolicyHolder = {
    get current() {
      return current;
    },
    reload(why) {
      const run = queue.then(async () => {
        try {
          const next = await load();
          const changed = next.version !== current.version;
          current = next;
          logger.info(
            { event: 'policy_reload', why, policyVersion: next.version, changed },
            changed ? 'policies reloaded' : 'policies reloaded (unchanged)',
          );
          onReload(true);
          return true;
        } catch (e) {
          // Fail safe: the last good set keeps deciding; a half-edited file must not open or close access.
          const problems =
            e instanceof PolicyError ? e.issues.filter((i) => i.severity === 'error').map(formatIssue) : [(e as Error).message];
          logger.error(
            { event: 'policy_reload_failed', why, policyVersion: current.version, problems },
            'policy reload failed: keeping the last good policy set',
          );
          onReload(false);
          return false;
        }
      });
      queue = run;
      return run;
    },
    watch(debounceMs = 250) {
      if (watcher !== undefined) return;
      watcher = watch(dir, (_event, file) => {
        if (file !== null && !/\.ya?ml$/i.test(String(file))) return;
        clearTimeout(timer);
        // Editors write a file in several steps: wait until they are done.
        timer = setTimeout(() => void holder.reload('file change'), debounceMs);
      });
      watcher.on('error', (e) => logger.error({ event: 'policy_watch_failed', err: e.message }, 'watching the policy directory failed'));
    },
    close() {
      clearTimeout(timer);
      watcher?.close();
      watcher = undefined;
    },
  };
  return holder;
}
