import { canonicalJson } from '../lib/canonical-json.js';
import { longestPrefix } from '../lib/paths.js';
import type { FieldClass, PurposeDef, TransformName } from '../policy/schema.js';
import type { CompiledPolicies, CompiledView } from './compile.js';
import { listFields } from './diff-access.js';
import type { ChangeEffect, ChangeKind, PolicyChange } from './diff-change.js';
import { carries, pathUnion, transformOf } from './diff-paths.js';

/**
 * Transforms from least to most identifying, for `transform-changed`: a
 * keyed pseudonym reveals nothing of the value; an age band less than a
 * year of birth; a postcode district and the last four characters of a
 * number more; the value itself (no transform) most. Moving up this list
 * widens, down it narrows.
 */
export const TRANSFORM_ORDER: readonly (TransformName | 'none')[] = ['pseudonym', 'age-band', 'year', 'district', 'mask', 'none'];

/**
 * Field classes each class is less strict than (docs/policy-language.md,
 * "Resources"): an identifier may reach a non-identifiable purpose as a
 * pseudonym, a direct identifier never; special category data needs an
 * Article 9 condition. `special` and the identifying classes constrain
 * different things, so a move between them is not provably stricter and
 * counts as widening.
 */
const STRICTER: Record<FieldClass, readonly FieldClass[]> = {
  operational: ['quasi', 'identifier', 'direct', 'special'],
  quasi: ['identifier', 'direct', 'special'],
  identifier: ['direct'],
  direct: [],
  special: [],
};

/** Purposes added, removed, expired, re-dated or loosened, and each view's fields and transforms. */
export function purposeChanges(before: CompiledPolicies, after: CompiledPolicies, today: string): PolicyChange[] {
  const changes: PolicyChange[] = [];
  for (const purpose of union(before.purposes.keys(), after.purposes.keys())) {
    const old = before.purposes.get(purpose);
    const now = after.purposes.get(purpose);
    if (!old) {
      changes.push({ kind: 'purpose-added', effect: 'widening', purpose, message: `purpose added (review by ${now!.def.reviewBy})` });
    } else if (!now) {
      changes.push({ kind: 'purpose-removed', effect: 'narrowing', purpose, message: 'purpose removed' });
    } else {
      changes.push(...termChanges(old.def, now.def, today).map((c) => ({ ...c, purpose })));
    }
    for (const resource of union(old?.views.keys() ?? [], now?.views.keys() ?? [])) {
      changes.push(...viewChanges(old?.views.get(resource), now?.views.get(resource)).map((c) => ({ ...c, purpose, resource })));
    }
  }
  return changes;
}

type Unscoped = Omit<PolicyChange, 'purpose' | 'resource'>;

/** A purpose's own terms: review date, identifiability, consent, opt-out, break-glass, lawful basis. */
function termChanges(old: PurposeDef, now: PurposeDef, today: string): Unscoped[] {
  const out: Unscoped[] = [];
  const wasExpired = old.reviewBy < today;
  const isExpired = now.reviewBy < today;
  const dates = { before: old.reviewBy, after: now.reviewBy };
  if (!wasExpired && isExpired) {
    out.push({ kind: 'purpose-expired', effect: 'narrowing', ...dates, message: `expired: review date ${now.reviewBy} has passed` });
  } else if (wasExpired && !isExpired) {
    out.push({
      kind: 'purpose-redated',
      effect: 'widening',
      ...dates,
      message: `back in use: review date moved from ${old.reviewBy} (passed) to ${now.reviewBy}`,
    });
  } else if (old.reviewBy !== now.reviewBy) {
    // Both past: the flow stays stopped either way.
    const effect: ChangeEffect = isExpired ? 'neutral' : now.reviewBy > old.reviewBy ? 'widening' : 'narrowing';
    out.push({ kind: 'purpose-redated', effect, ...dates, message: `review date moved from ${old.reviewBy} to ${now.reviewBy}` });
  }
  const flag = (key: 'identifiable' | 'consent' | 'optOut' | 'breakGlass', widensTo: unknown, what: string) => {
    if (old[key] === now[key]) return;
    const effect: ChangeEffect = now[key] === widensTo ? 'widening' : 'narrowing';
    out.push({
      kind: 'purpose-changed',
      effect,
      before: { [key]: old[key] },
      after: { [key]: now[key] },
      message: `${key}: ${String(old[key])} → ${String(now[key])} (${what})`,
    });
  };
  flag('identifiable', true, 'whether identifying fields may reach this purpose');
  flag('consent', 'implied', 'whether a record needs granted consent');
  flag('optOut', 'ignore', 'whether opted-out rows are withheld');
  flag('breakGlass', false, 'whether the purpose needs a break-glass declaration');
  if (canonicalJson(old.lawfulBasis) !== canonicalJson(now.lawfulBasis)) {
    out.push({
      kind: 'purpose-changed',
      effect: 'neutral',
      before: { lawfulBasis: old.lawfulBasis },
      after: { lawfulBasis: now.lawfulBasis },
      message: `lawful basis ${canonicalJson(old.lawfulBasis)} → ${canonicalJson(now.lawfulBasis)}`,
    });
  }
  return out;
}

/** A view: the most a purpose may carry of a resource. Fields compared over the paths either side names (diff-paths.ts), transforms per field both carry. */
function viewChanges(old: CompiledView | undefined, now: CompiledView | undefined): Unscoped[] {
  const paths = pathUnion(old?.resource, now?.resource);
  const fieldsOf = (v: CompiledView | undefined) => (v ? paths.filter((p) => carries(v.resource, v.mask, p, v.declaredOnly)) : []);
  const o = fieldsOf(old);
  const n = fieldsOf(now);
  if (!old) return [{ kind: 'view-added', effect: 'widening', fields: n, message: `view added: ${listFields(n) || '(no fields)'}` }];
  if (!now)
    return [{ kind: 'view-removed', effect: 'narrowing', fields: o, message: `view removed (was ${listFields(o) || 'no fields'})` }];
  const out: Unscoped[] = [];
  const gained = n.filter((f) => !o.includes(f));
  const lost = o.filter((f) => !n.includes(f));
  if (gained.length > 0)
    out.push({ kind: 'view-fields-gained', effect: 'widening', fields: gained, message: `view gains ${listFields(gained)}` });
  if (lost.length > 0) out.push({ kind: 'view-fields-lost', effect: 'narrowing', fields: lost, message: `view loses ${listFields(lost)}` });
  const groups = new Map<string, Unscoped & { fields: string[] }>();
  for (const field of n.filter((f) => o.includes(f))) {
    const from = transformOf(old, field) ?? 'none';
    const to = transformOf(now, field) ?? 'none';
    if (from === to) continue;
    const key = `${from}\0${to}`;
    const group = groups.get(key);
    if (group) group.fields.push(field);
    else {
      const kind: ChangeKind = from === 'none' ? 'transform-added' : to === 'none' ? 'transform-removed' : 'transform-changed';
      const effect: ChangeEffect = TRANSFORM_ORDER.indexOf(to) > TRANSFORM_ORDER.indexOf(from) ? 'widening' : 'narrowing';
      groups.set(key, { kind, effect, fields: [field], before: from, after: to, message: '' });
    }
  }
  for (const g of groups.values()) {
    const fields = listFields(g.fields);
    g.message =
      g.kind === 'transform-added'
        ? `${fields}: now ${String(g.after)} (was the value itself)`
        : g.kind === 'transform-removed'
          ? `${fields}: now the value itself (was ${String(g.before)})`
          : `${fields}: ${String(g.before)} → ${String(g.after)} (${g.effect === 'widening' ? 'more' : 'less'} identifying)`;
    out.push(g);
  }
  return out;
}

/** Resources added or removed, fields declared, undeclared or reclassified, consent and opt-out paths moved. */
export function resourceChanges(before: CompiledPolicies, after: CompiledPolicies): PolicyChange[] {
  const changes: PolicyChange[] = [];
  for (const resource of union(before.resources.keys(), after.resources.keys())) {
    const old = before.resources.get(resource)?.def;
    const now = after.resources.get(resource)?.def;
    if (!old) {
      changes.push({
        kind: 'resource-added',
        effect: 'neutral',
        resource,
        message: 'resource added (disclosed only through views and grants, listed apart)',
      });
      continue;
    }
    if (!now) {
      changes.push({ kind: 'resource-removed', effect: 'narrowing', resource, message: 'resource removed' });
      continue;
    }
    for (const key of ['id', 'subject', 'consent', 'optOut'] as const) {
      if (old[key] === now[key]) continue;
      // Where consent or an opt-out is read decides which rows pass: a moved path cannot be proved harmless.
      // The id and subject paths only name records in the audit trail.
      const unsure = key === 'consent' || key === 'optOut';
      const change: PolicyChange = {
        kind: 'resource-changed',
        effect: unsure ? 'widening' : 'neutral',
        resource,
        before: { [key]: old[key] ?? null },
        after: { [key]: now[key] ?? null },
        message: `${key} path ${old[key] ?? '(none)'} → ${now[key] ?? '(none)'}${unsure ? ': review needed' : ''}`,
      };
      if (unsure) change.reviewNeeded = true;
      changes.push(change);
    }
    for (const field of union(Object.keys(old.fields), Object.keys(now.fields))) {
      const was = old.fields[field];
      const is = now.fields[field];
      if (was === is) continue;
      // A path declared or dropped under a declared field changes the class its subtree has.
      const from = was ?? inherited(old.fields, field);
      const to = is ?? inherited(now.fields, field);
      const kind: ChangeKind = !was ? 'field-declared' : !is ? 'field-undeclared' : 'field-reclassified';
      const effect: ChangeEffect =
        from === undefined || to === undefined || from === to ? 'neutral' : STRICTER[from].includes(to) ? 'narrowing' : 'widening';
      const classes = from && to && from !== to ? ` (class ${from} → ${to})` : is ? ` (${is})` : '';
      const verb = kind === 'field-declared' ? 'declared' : kind === 'field-undeclared' ? 'no longer declared' : 'reclassified';
      changes.push({
        kind,
        effect,
        resource,
        fields: [field],
        before: from ?? null,
        after: to ?? null,
        message: `${field} ${verb}${classes}`,
      });
    }
  }
  return changes;
}

function inherited(fields: Record<string, FieldClass>, path: string): FieldClass | undefined {
  const prefix = longestPrefix(
    Object.keys(fields).filter((f) => f !== path),
    path,
  );
  return prefix === undefined ? undefined : fields[prefix];
}

export function union(a: Iterable<string>, b: Iterable<string>): string[] {
  return [...new Set([...a, ...b])].sort();
}
