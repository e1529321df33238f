import { conditionKey, EVERY_ROW } from '../policy/condition-order.js';
import type { CompiledPolicies, CompiledRestriction } from './compile.js';
import { carries, pathUnion } from './diff-paths.js';
import type { PolicyChange } from './diff-change.js';
import { describeRows, listFields } from './diff-access.js';
import { union } from './diff-purposes.js';
import { exemptionChanges } from './diff-exemptions.js';

interface Placed {
  resource: string;
  restriction: CompiledRestriction;
}

/**
 * Restrictions added or removed, withholding more or less, firing on other
 * rows, or exempting roles through other grants. Matched by name (names are
 * unique in a set); one that moved to another resource is removed from the
 * first and added to the second. A restriction that may fire on fewer
 * records, or exempts more, widens access.
 */
export function restrictionChanges(before: CompiledPolicies, after: CompiledPolicies): PolicyChange[] {
  const old = byName(before);
  const now = byName(after);
  // Every role and purpose either set knows: exemptions are compared per purpose and role (diff-exemptions.ts).
  const roles = union(Object.keys(before.document.roles), Object.keys(after.document.roles));
  const purposes = union(before.purposes.keys(), after.purposes.keys());
  const changes: PolicyChange[] = [];
  for (const name of union(old.keys(), now.keys())) {
    const o = old.get(name);
    const n = now.get(name);
    if (o && n && o.resource === n.resource) {
      changes.push(...compare(before, after, o, n, roles, purposes).map((c) => ({ ...c, resource: n.resource, restriction: name })));
      continue;
    }
    if (o)
      changes.push({
        kind: 'restriction-removed',
        effect: 'widening',
        resource: o.resource,
        restriction: name,
        message: `removed: no longer ${describe(before, o)}`,
      });
    if (n)
      changes.push({
        kind: 'restriction-added',
        effect: 'narrowing',
        resource: n.resource,
        restriction: name,
        message: `added: ${describe(after, n)}`,
      });
  }
  return changes;
}

function byName(compiled: CompiledPolicies): Map<string, Placed> {
  const out = new Map<string, Placed>();
  for (const [resource, list] of compiled.restrictions)
    for (const restriction of list) out.set(restriction.name, { resource, restriction });
  return out;
}

function withheld(compiled: CompiledPolicies, p: Placed, paths?: readonly string[]): string[] {
  if (p.restriction.record) return ['record'];
  const resource = compiled.resources.get(p.resource)!;
  return (paths ?? resource.paths).filter((path) => carries(resource, p.restriction.mask, path));
}

function describe(compiled: CompiledPolicies, p: Placed): string {
  const what = p.restriction.record ? 'the whole record' : listFields(withheld(compiled, p));
  return `withholds ${what} ${describeRows([p.restriction.when?.source ?? EVERY_ROW])}`;
}

type Unscoped = Omit<PolicyChange, 'resource' | 'restriction'>;

/**
 * A restriction's `when` changed. Only a `when` removed (or emptied to `{}`)
 * provably fires on every record it fired on before: it now fires on every
 * record. Any other change is widening, review needed, even a conjunct
 * dropped, which under MongoDB semantics matches more rows: the engine also
 * fires a restriction when a field its `when` compares holds a value of an
 * unexpected shape (policy/marker-shape.ts: `marker: "true"` for
 * `marker: true`), and when a claim its `when` reads is missing (fail
 * closed), so a dropped conjunct can stop it firing on records and for users
 * it fired on before (docs/cli.md, "diff").
 */
function whenChange(o: CompiledRestriction, n: CompiledRestriction): Unscoped | undefined {
  const before = o.when?.source ?? EVERY_ROW;
  const after = n.when?.source ?? EVERY_ROW;
  if (conditionKey(before) === conditionKey(after)) return undefined;
  const was = describeRows([before]);
  if (conditionKey(after) === conditionKey(EVERY_ROW))
    return { kind: 'restriction-when-changed', effect: 'narrowing', before, after, message: `now fires on every record (was ${was})` };
  return {
    kind: 'restriction-when-changed',
    effect: 'widening',
    reviewNeeded: true,
    before,
    after,
    message: `now fires ${describeRows([after])} (was ${was}): may no longer fire on some records or for some users: review needed`,
  };
}

function compare(before: CompiledPolicies, after: CompiledPolicies, o: Placed, n: Placed, roles: string[], purposes: string[]): Unscoped[] {
  const out: Unscoped[] = [];
  // Over the paths either side names: a path only one side names is withheld through its parent on the other.
  const paths = o.resource === n.resource ? pathUnion(before.resources.get(o.resource), after.resources.get(n.resource)) : undefined;
  const was = withheld(before, o, paths);
  const is = withheld(after, n, paths);
  // The whole record covers every field: going from it to a list withholds less, and back more.
  const less = o.restriction.record
    ? n.restriction.record
      ? []
      : ['record']
    : was.filter((f) => !is.includes(f) && !n.restriction.record);
  const more = n.restriction.record
    ? o.restriction.record
      ? []
      : ['record']
    : is.filter((f) => !was.includes(f) && !o.restriction.record);
  if (less.length > 0)
    out.push({
      kind: 'restriction-withholds-less',
      effect: 'widening',
      fields: less,
      before: was,
      after: is,
      message: `no longer withholds ${listFields(less)}`,
    });
  if (more.length > 0)
    out.push({
      kind: 'restriction-withholds-more',
      effect: 'narrowing',
      fields: more,
      before: was,
      after: is,
      message: `now also withholds ${listFields(more)}`,
    });

  const change = whenChange(o.restriction, n.restriction);
  if (change) out.push(change);

  out.push(...exemptionChanges(before, after, o.restriction, n.restriction, n.resource, roles, purposes));
  return out;
}
