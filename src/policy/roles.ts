import { didYouMean } from '../lib/suggest.js';
import type { RoleDef } from './schema.js';

/**
 * Role inheritance (docs/policy-language.md, "Roles"): `inherits: [ward-nurse]`
 * makes a role hold everything the roles it names grant, transitively. The
 * one place that walks `inherits`: validation asks it for the problems,
 * compilation for each role's ancestry.
 */

/**
 * The most roles one inheritance chain may hold, the holding role included
 * (docs/policy-language.md, "Roles"). A deeper one is refused at load: no
 * organisation's grades run that deep, and a generated ladder of thousands
 * of roles would otherwise cost every load time and memory for nothing.
 */
export const MAX_INHERITANCE_DEPTH = 32;

/** A role a role holds: itself, or one it inherits, with the chain it came through. */
export interface HeldRole {
  role: string;
  /** The held role it was reached through; absent for the role itself. Chains share this prefix. */
  readonly through?: HeldRole | undefined;
  /**
   * From the holding role to `role`: `['senior-nurse', 'ward-nurse', 'hca']`; `[role]` for the role itself.
   * Built when asked (explain and the trace ask), so an ancestry costs one small object per role held.
   */
  readonly chain: readonly string[];
}

class Held implements HeldRole {
  constructor(
    readonly role: string,
    readonly through?: Held,
  ) {}

  get chain(): string[] {
    const chain: string[] = [];
    for (let at: Held | undefined = this; at !== undefined; at = at.through) chain.push(at.role);
    return chain.reverse();
  }
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
 * Each role held is one object pointing at the one it came through, so the
 * work and memory are those of the pairs held, whatever the chains' length.
 *
 * @example
 * roleAncestry({ hca: {}, 'ward-nurse': { inherits: ['hca'] }, 'senior-nurse': { inherits: ['ward-nurse'] } }).get('senior-nurse');
 * // [{ role: 'senior-nurse', chain: ['senior-nurse'] }, { role: 'ward-nurse', chain: [...] }, { role: 'hca', chain: ['senior-nurse', 'ward-nurse', 'hca'] }]
 */
export function roleAncestry(roles: Roles): Map<string, HeldRole[]> {
  const out = new Map<string, HeldRole[]>();
  for (const role of Object.keys(roles)) {
    const held: Held[] = [new Held(role)];
    const seen = new Set([role]);
    for (let i = 0; i < held.length; i++) {
      const at = held[i]!;
      for (const parent of inheritsOf(roles, at.role)) {
        if (seen.has(parent) || !Object.hasOwn(roles, parent)) continue;
        seen.add(parent);
        held.push(new Held(parent, at));
      }
    }
    out.set(role, held);
  }
  return out;
}

/**
 * The roles that hold, themselves or through what they inherit, a role `has`
 * is true of. Walks each `inherits` entry once, backwards, so it is linear
 * however deep or cyclic the lists are (validation asks it before it knows).
 *
 * @example
 * rolesHolding({ hca: {}, nurse: { inherits: ['hca'] }, clerk: {} }, (r) => r === 'hca'); // Set { 'hca', 'nurse' }
 */
export function rolesHolding(roles: Roles, has: (role: string) => boolean): Set<string> {
  const heirs = new Map<string, string[]>();
  for (const role of Object.keys(roles)) {
    for (const parent of inheritsOf(roles, role)) {
      if (!Object.hasOwn(roles, parent)) continue;
      const list = heirs.get(parent);
      if (list) list.push(role);
      else heirs.set(parent, [role]);
    }
  }
  const out = new Set(Object.keys(roles).filter(has));
  const queue = [...out];
  for (let i = 0; i < queue.length; i++) {
    for (const heir of heirs.get(queue[i]!) ?? []) {
      if (out.has(heir)) continue;
      out.add(heir);
      queue.push(heir);
    }
  }
  return out;
}

/**
 * What is wrong with the `inherits` lists: an unknown role (with the near
 * name), a role inheriting itself, a name listed twice, every cycle, named
 * whole (`a → b → c → a`) at the entry that closes it, and every chain
 * deeper than `MAX_INHERITANCE_DEPTH`, once, at the role where it first
 * becomes too deep. An inheritance cycle has no meaning (which role's grants
 * come first?), so it is refused rather than cut somewhere.
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
  const { depth, next } = walkInherits(roles, names, (role, path, message) => problems.push({ role, path, message }));
  for (const role of names) {
    // Along a longest chain each role is one shallower than the one before it, so every chain that is
    // too deep passes exactly one role one past the limit: reported there, once per chain.
    if (depth.get(role) !== MAX_INHERITANCE_DEPTH + 1) continue;
    const chain = [role];
    for (let at = next.get(role); at !== undefined; at = next.get(at.parent)) chain.push(at.parent);
    problems.push({
      role,
      path: `roles.${role}.inherits[${next.get(role)!.index}]`,
      message: `an inheritance chain deeper than ${MAX_INHERITANCE_DEPTH} roles (${shortChain(chain)}): flatten it`,
    });
  }
  return problems;
}

/**
 * Depth-first over the known edges, with a stack of its own (a chain of
 * thousands of roles must not overflow the call stack): an edge back to a
 * role still on the path closes a cycle, told to `cycle`. Returns each
 * role's depth (the roles on its longest chain, itself included; edges that
 * close a cycle are not followed) and the entry that chain goes through.
 */
function walkInherits(
  roles: Roles,
  names: readonly string[],
  cycle: (role: string, path: string, message: string) => void,
): { depth: Map<string, number>; next: Map<string, { parent: string; index: number }> } {
  const state = new Map<string, 'open' | 'done'>();
  const depth = new Map<string, number>();
  const next = new Map<string, { parent: string; index: number }>();
  // The known parents of a role, each once, with the index of its entry.
  const edgesOf = (role: string): [string, number][] => {
    const seen = new Set<string>();
    const edges: [string, number][] = [];
    (roles[role]!.inherits ?? []).forEach((parent, j) => {
      if (parent === role || seen.has(parent) || !Object.hasOwn(roles, parent)) return;
      seen.add(parent);
      edges.push([parent, j]);
    });
    return edges;
  };
  for (const root of names) {
    if (state.has(root)) continue;
    const stack = [{ role: root, edges: edgesOf(root), i: 0 }];
    const path = [root];
    state.set(root, 'open');
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      const edge = frame.edges[frame.i++];
      if (edge !== undefined) {
        const [parent, j] = edge;
        if (state.get(parent) === 'open') {
          const closed = [...path.slice(path.indexOf(parent)), parent];
          cycle(frame.role, `roles.${frame.role}.inherits[${j}]`, `inheritance cycle: ${shortChain(closed)}`);
        } else if (!state.has(parent)) {
          state.set(parent, 'open');
          path.push(parent);
          stack.push({ role: parent, edges: edgesOf(parent), i: 0 });
        }
        continue;
      }
      // Every parent is done, or open (an edge closing a cycle, not followed): the longest chain is known.
      let deepest = 0;
      for (const [parent, index] of frame.edges) {
        const d = state.get(parent) === 'done' ? depth.get(parent)! : 0;
        if (d > deepest) {
          deepest = d;
          next.set(frame.role, { parent, index });
        }
      }
      depth.set(frame.role, deepest + 1);
      state.set(frame.role, 'done');
      stack.pop();
      path.pop();
    }
  }
  return { depth, next };
}

/** `a → b → c`, as explain and the trace print a chain. */
export function formatChain(chain: readonly string[]): string {
  return chain.join(' → ');
}

/** A chain as a problem names it: whole when short, else its ends and its length (a message stays readable). */
function shortChain(chain: readonly string[]): string {
  return chain.length <= 8 ? formatChain(chain) : `${formatChain([...chain.slice(0, 3), '…', ...chain.slice(-2)])}, ${chain.length} roles`;
}

function inheritsOf(roles: Roles, role: string): readonly string[] {
  return (Object.hasOwn(roles, role) ? roles[role]!.inherits : undefined) ?? [];
}
