/**
 * What a front end hides, from the rules the server redacts with: the server
 * sends a user's packed rules, the browser builds a CASL ability from them
 * (as @casl/react or @casl/vue do) and asks it per field. Run it:
 * `node --import tsx examples/front-end/ability.ts`.
 */
import { createMongoAbility, type MongoAbility, type RawRuleOf, subject } from '@casl/ability';
import { packRules, unpackRules } from '@casl/ability/extra';
import { loadPolicies } from '../../src/index.js';

const POLICIES = new URL('../../policies', import.meta.url).pathname;

/** Server side: the rules of one user for a purpose and resource, packed for the wire (e.g. `GET /me/abilities`). */
export async function rulesFor(user: Record<string, unknown>, purpose: string, now = new Date()): Promise<string> {
  const policies = await loadPolicies(POLICIES, { pseudonymKey: 'example-pseudonym-key', now });
  const ability = policies.abilityFor(user, purpose, 'Patient', { now });
  return JSON.stringify({ rules: packRules(ability.rules), transforms: ability.transforms, refusal: ability.refusal });
}

/** Browser side: the ability from what the server sent, and what a patient screen may show of a record. */
export function visibleFields(sent: string, record: Record<string, unknown>, fields: string[]): Record<string, boolean> {
  const { rules } = JSON.parse(sent) as { rules: Parameters<typeof unpackRules>[0] };
  const ability = createMongoAbility(unpackRules(rules) as RawRuleOf<MongoAbility>[]);
  return Object.fromEntries(fields.map((f) => [f, ability.can('read', subject('Patient', { ...record }), f)]));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const now = new Date('2026-11-24');
  const sent = await rulesFor({ sub: 'gp-1', roles: ['gp'], practice: 'B86001', training: '2026-06-01' }, 'direct-care', now);
  const record = { id: 'pat-002', gp: 'B86001', flags: ['dv-risk'] };
  console.log(visibleFields(sent, record, ['nhsNumber', 'name', 'address', 'telecom', 'diagnoses']));
  // { nhsNumber: true, name: true, address: false, telecom: false, diagnoses: true }
}
