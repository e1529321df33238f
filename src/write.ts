import { emptyDecision, type Decision } from './decision.js';
import { AccessError } from './errors.js';
import { HOSTILE_KEYS, isPlainObject, isWithin } from './paths.js';
import { pathsOf } from './compile.js';
import type { Plan } from './request.js';

/**
 * Check a create or update body against the fields the user may write for the
 * declared purpose. Any other field refuses the whole body, naming the
 * fields, before the handler or the upstream sees it (SPEC "Writes").
 *
 * Row conditions (`where`) of update grants are evaluated on the existing
 * record; without it, only unconditional grants apply (fail closed). Create
 * grants are evaluated on the new record itself.
 *
 * @example
 * const decision = checkWriteWithPlan(plan, { ward: 'ward-9' }, existingRecord);
 */
export function checkWriteWithPlan(plan: Plan, body: unknown, existing?: unknown): Decision {
  const { resource, view, ctx } = plan;
  const refuse = (code: 'write_forbidden' | 'invalid_body', message: string, fields: string[] = []): never => {
    throw new AccessError(code, message, { ...decisionOf(plan, fields), outcome: 'refused', code });
  };
  if (!isPlainObject(body)) refuse('invalid_body', `the body must be a JSON object (a ${ctx.resource} record or part of one)`);
  const target = plan.action === 'create' ? body : existing;
  let mask = 0n;
  const grants: string[] = [];
  for (const g of plan.grants) {
    const applies = g.grant.where === undefined || (isPlainObject(target) && g.matches(target));
    if (!applies) continue;
    mask |= plan.action === 'create' ? g.grant.create : g.grant.update;
    grants.push(g.grant.label);
  }
  mask &= view.mask;
  if (grants.length === 0) {
    if (plan.action === 'update' && existing === undefined) refuse('write_forbidden', `your grants to update ${ctx.resource} depend on the record, which was not provided`);
    refuse('write_forbidden', `you may not ${plan.action} this ${ctx.resource} record for purpose "${ctx.purpose}"`);
  }
  const writable = pathsOf(resource, mask);
  const written: string[] = [];
  const forbidden: string[] = [];
  walk(body as Record<string, unknown>, '', writable, written, forbidden);
  if (forbidden.length > 0) {
    refuse('write_forbidden', `you may not ${plan.action} ${forbidden.map((f) => `"${f}"`).join(', ')} of ${ctx.resource} for purpose "${ctx.purpose}"; writable: ${writable.join(', ') || 'nothing'}`, written);
  }
  return { ...decisionOf(plan, written), grants };
}

/** Sort every key path of the body into written (under a writable path) or forbidden. */
function walk(value: unknown, at: string, writable: string[], written: string[], forbidden: string[]): void {
  if (Array.isArray(value)) {
    for (const v of value) walk(v, at, writable, written, forbidden);
    return;
  }
  if (!isPlainObject(value)) {
    if (at) forbidden.push(at);
    return;
  }
  for (const key of Object.keys(value)) {
    const path = at ? `${at}.${key}` : key;
    if (HOSTILE_KEYS.has(key)) forbidden.push(path);
    else if (writable.some((w) => isWithin(path, w))) written.includes(path) || written.push(path);
    else if (writable.some((w) => isWithin(w, path))) walk(value[key], path, writable, written, forbidden);
    else forbidden.includes(path) || forbidden.push(path);
  }
}

function decisionOf(plan: Plan, written: string[]): Decision {
  const d = emptyDecision({
    outcome: 'disclosed', action: plan.action, resource: plan.resource.name, purpose: plan.purpose.name, roles: plan.roles,
    policyVersion: plan.policyVersion, breakGlass: plan.ctx.breakGlass,
  });
  return { ...d, written };
}
