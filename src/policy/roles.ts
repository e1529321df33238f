import { didYouMean } from '../lib/suggest.js';
import type { RoleDef } from './schema.js';

/**
 * Role inheritance (docs/policy-language.md, "Roles"): `inherits: [ward-nurse]`
 * makes a role hold everything the roles it names grant, transitively. The
 * one place that walks `inherits`: validation asks it for the problems,
 * compilation for each role's ancestry.
 */

/** A role a role holds: itself, or one it inherits, with the chain it came through. */
export interface HeldRole {
  role: string;
  /** From the holding role to `role`: `['senior-nurse', 'ward-nurse', 'hca']`; `[role]` for the role itself. */
  chain: readonly string[];
}

/** One problem with an `inherits` list, at its path (`roles.X.inherits[0]`). */
export interface InheritProblem {
  role: string;
  path: string;
  message: string;
}

type Roles = Readonly<Record<string, Pick<RoleDef, 'inherits'>>>;

/**
 * For each role, the roles it holds: itself first, then what it inherits,
 * breadth-first in the order written, each once (a diamond holds its
 * common ancestor once, through the first chain met). Unknown names are
 * skipped and cycles stop: a policy with either never loads (`inheritProblems`).
 *
 * @example
 * roleAncestry({ hca: {}, 'ward-nurse': { inherits: ['hca'] }, 'senior-nurse': { inherits: ['ward-nurse'] } }).get('senior-nurse');
 * // [{ role: 'senior-nurse', chain: ['senior-nurse'] }, { role: 'ward-nurse', chain: [...] }, { role: 'hca', chain: ['senior-nurse', 'ward-nurse', 'hca'] }]
 */
export function roleAncestry(roles: Roles): Map<string, HeldRole[]> {
  const out = new Map<string, HeldRole[]>();
  for (const role of Object.keys(roles)) {
    const held: HeldRole[] = [{ role, chain: [role] }];
    const seen = new Set([role]);
    for (let i = 0; i < held.length; i++) {
      const { role: at, chain } = held[i]!;
      for (const parent of inheritsOf(roles, at)) {
        if (seen.has(parent) || !Object.hasOwn(roles, parent)) continue;
        seen.add(parent);
        held.push({ role: parent, chain: [...chain, parent] });
      }
    }
    out.set(role, held);
  }
  return out;
}

/**
 * What is wrong with the `inherits` lists: an unknown role (with the near
 * name), a role inheriting itself, a name listed twice, and every cycle,
 * named whole (`a → b → c → a`) at the entry that closes it. An inheritance
 * cycle has no meaning (which role's grants come first?), so it is refused
 * rather than cut somewhere.
 */
export function inheritProblems(roles: Roles): InheritProblem[] {
  const problems: InheritProblem[] = [];
  const names = Object.keys(roles);
  for (const role of names) {
    const seen = new Set<string>();
    (roles[role]!.inherits ?? []).forEach((parent, j) => {
      const path = `roles.${role}.inherits[${j}]`;
      if (seen.has(parent)) problems.push({ role, path, message: `"${parent}" is listed twice: keep one` });
      else if (parent === role) problems.push({ role, path, message: `a role cannot inherit itself: remove "${parent}"` });
      else if (!Object.hasOwn(roles, parent))
        problems.push({ role, path, message: `unknown role "${parent}"${didYouMean(parent, names)}` });
      seen.add(parent);
    });
  }
  // Depth-first over the known edges; an edge back to a role still on the path closes a cycle.
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (role: string): void => {
    state.set(role, 'open');
    path.push(role);
    const seen = new Set<string>();
    (roles[role]!.inherits ?? []).forEach((parent, j) => {
      if (parent === role || seen.has(parent) || !Object.hasOwn(roles, parent)) return;
      seen.add(parent);
      if (state.get(parent) === 'open') {
        const cycle = [...path.slice(path.indexOf(parent)), parent];
        problems.push({ role, path: `roles.${role}.inherits[${j}]`, message: `inheritance cycle: ${cycle.join(' → ')}` });
      } else if (!state.has(parent)) visit(parent);
    });
    path.pop();
    state.set(role, 'done');
  };
  for (const role of names) if (!state.has(role)) visit(role);
  return problems;
}

/** `a → b → c`, as explain and the trace print a chain. */
export function formatChain(chain: readonly string[]): string {
  return chain.join(' → ');
}

function inheritsOf(roles: Roles, role: string): readonly string[] {
  return (Object.hasOwn(roles, role) ? roles[role]!.inherits : undefined) ?? [];
}
