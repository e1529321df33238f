import { isWithin } from '../lib/paths.js';
import { conditionKey, EVERY_ROW, provablyWithin } from '../policy/condition-order.js';
import type { Condition } from '../policy/schema.js';
import type { CompiledGrant, CompiledPolicies } from './compile.js';
import { carries, pathUnion } from './diff-paths.js';
import type { ChangeKind, DiffAction, PolicyChange } from './diff-change.js';

/**
 * What each role may read, update and create, per purpose and resource, before
 * and after: from the compiled grants (`role␀purpose␀resource`), whose masks
 * already lie within the purpose's view, and which hold inherited grants too.
 *
 * Per field, the rows it is granted on are the union of the conditions of
 * the grants naming it. A field whose conditions changed is compared as a
 * set: narrowing only when every new condition lies provably within an old
 * one (`provablyWithin`); anything else may match more rows and widens.
 */
export function accessChanges(before: CompiledPolicies, after: CompiledPolicies): PolicyChange[] {
  const keys = [...new Set([...before.grants.keys(), ...after.grants.keys()])];
  const changes: PolicyChange[] = [];
  for (const key of keys) {
    const [role, purpose, resource] = key.split('\0') as [string, string, string];
    for (const action of ['read', 'update', 'create'] as const) {
      const paths = pathUnion(before.resources.get(resource), after.resources.get(resource));
      const old = fieldConditions(before, key, resource, action, paths);
      const now = fieldConditions(after, key, resource, action, paths);
      changes.push(...compareAccess(old, now).map((c) => ({ ...c, resource, purpose, role, action })));
    }
  }
  return changes;
}

/** Field path → the conditions (canonical key → condition) under which a role's grants give it; `{}` is every row. */
type FieldConditions = Map<string, Map<string, Condition>>;

function fieldConditions(
  compiled: CompiledPolicies,
  key: string,
  resourceName: string,
  action: DiffAction,
  paths: readonly string[],
): FieldConditions {
  const out: FieldConditions = new Map();
  const resource = compiled.resources.get(resourceName);
  if (!resource) return out;
  const purpose = key.split('\0')[1]!;
  const declaredOnly = compiled.purposes.get(purpose)?.views.get(resourceName)?.declaredOnly ?? false;
  for (const grant of compiled.grants.get(key) ?? []) {
    const condition = conditionOf(grant);
    const k = conditionKey(condition);
    for (const path of paths.filter((p) => carries(resource, grant[action], p, declaredOnly))) {
      let conditions = out.get(path);
      if (!conditions) out.set(path, (conditions = new Map()));
      conditions.set(k, condition);
    }
  }
  // A grant on every row makes any other condition on that field moot.
  const always = conditionKey(EVERY_ROW);
  for (const conditions of out.values()) {
    if (conditions.has(always) && conditions.size > 1) for (const k of [...conditions.keys()]) if (k !== always) conditions.delete(k);
  }
  return out;
}

function conditionOf(grant: CompiledGrant): Condition {
  return grant.where?.source ?? EVERY_ROW;
}

type Unscoped = Omit<PolicyChange, 'resource' | 'purpose' | 'role' | 'action'>;

/** Per field, then the fields that changed alike grouped into one change. */
function compareAccess(old: FieldConditions, now: FieldConditions): Unscoped[] {
  const groups = new Map<string, Unscoped & { fields: string[] }>();
  const add = (field: string, kind: ChangeKind, effect: PolicyChange['effect'], before?: Condition[], after?: Condition[]) => {
    const key = JSON.stringify([kind, effect, before?.map((c) => conditionKey(c)), after?.map((c) => conditionKey(c))]);
    const group = groups.get(key);
    if (group) {
      group.fields.push(field);
      return;
    }
    const change: Unscoped & { fields: string[] } = { kind, effect, fields: [field], message: '' };
    if (effect === 'widening' && kind === 'condition-changed') change.reviewNeeded = true;
    if (before) change.before = before;
    if (after) change.after = after;
    groups.set(key, change);
  };
  const fields = [...new Set([...old.keys(), ...now.keys()])].sort();
  for (const field of fields) {
    const o = [...(old.get(field)?.values() ?? [])];
    const n = [...(now.get(field)?.values() ?? [])];
    if (o.length === 0) add(field, 'fields-gained', 'widening', undefined, n);
    else if (n.length === 0) add(field, 'fields-lost', 'narrowing', o);
    else if (!sameKeys(old.get(field)!, now.get(field)!)) {
      const narrower = n.every((c) => o.some((was) => provablyWithin(c, was)));
      const everyRow = (list: Condition[]) => list.length === 1 && conditionKey(list[0]) === conditionKey(EVERY_ROW);
      const kind: ChangeKind = everyRow(o) ? 'condition-added' : everyRow(n) ? 'condition-removed' : 'condition-changed';
      add(field, kind, narrower ? 'narrowing' : 'widening', o, n);
    }
  }
  return [...groups.values()].map((c) => ({ ...c, message: accessMessage(c) }));
}

function sameKeys(a: Map<string, unknown>, b: Map<string, unknown>): boolean {
  return a.size === b.size && [...a.keys()].every((k) => b.has(k));
}

function accessMessage(c: Unscoped & { fields: string[] }): string {
  const fields = listFields(c.fields);
  const rows = (list: unknown) => describeRows(list as Condition[]);
  switch (c.kind) {
    case 'fields-gained':
      return `gains ${fields} ${rows(c.after)}`;
    case 'fields-lost':
      return `loses ${fields} (was ${rows(c.before)})`;
    case 'condition-added':
      return `${fields}: now only ${rows(c.after)} (was every row)`;
    case 'condition-removed':
      return `${fields}: now on every row (was only ${rows(c.before)})`;
    default:
      return c.effect === 'narrowing'
        ? `${fields}: rows narrowed to ${rows(c.after)} (was ${rows(c.before)})`
        : `${fields}: rows changed to ${rows(c.after)} (was ${rows(c.before)}); not provably narrower: review needed`;
  }
}

/** `on every row`, or `where {"careTeam":"${user.team}"}` (several: `or`). Policy text, never record values. */
export function describeRows(conditions: readonly Condition[]): string {
  if (conditions.some((c) => conditionKey(c) === conditionKey(EVERY_ROW))) return 'on every row';
  return `where ${conditions.map((c) => conditionKey(c)).join(' or ')}`;
}

/** Fields for a message: a path under another one listed goes without saying (a field names its subtree). */
export function listFields(fields: readonly string[]): string {
  return fields.filter((f) => !fields.some((g) => g !== f && isWithin(f, g))).join(', ');
}
