import type { CompiledPolicies } from './compile.js';
import { grantKey } from './compile.js';
import type { AccessCode } from '../lib/errors.js';
import { isPlainObject } from '../lib/paths.js';

/**
 * The part of a plan that depends on the policy set and on who asks for
 * what, never on the clock or the request: kept across requests
 * (planRequest builds it once per key). Its arrays are frozen: every
 * request that hits the cache shares them.
 */
export interface CachedCore<Core> {
  core?: Core;
  /** The request may see nothing (no grant for it): refused per request, with that request's decision. */
  refusal?: { code: AccessCode; message: string };
}

/** Most plan cores kept per policy set; the least recently used is dropped first. */
export const PLAN_CACHE_SIZE = 1024;
/** Longest key kept: a request whose roles and claims make a longer one is planned afresh every time, never cached. */
const MAX_KEY_LENGTH = 65_536;
/** Most characters of all keys together (about 8 MB): long keys crowd each other out rather than grow memory. */
const MAX_TOTAL_KEY_LENGTH = 4_194_304;
/** Deepest claim value the key encodes; deeper ones are planned afresh. */
const MAX_DEPTH = 16;

const caches = new WeakMap<CompiledPolicies, PlanCache<unknown>>();

/**
 * The cache of one compiled policy set. It lives as long as that object:
 * a reload compiles a new one, so a plan of the old set is never served.
 *
 * @example
 * const cache = planCacheFor(compiled);
 */
export function planCacheFor<Core>(compiled: CompiledPolicies): PlanCache<Core> {
  let cache = caches.get(compiled);
  if (!cache) caches.set(compiled, (cache = new PlanCache<unknown>(compiled)));
  return cache as PlanCache<Core>;
}

export class PlanCache<Core> {
  private readonly entries = new Map<string, CachedCore<Core>>();
  private keyLength = 0;
  /** `role␀purpose␀resource` → the claims that role's grants for it read. */
  private readonly grantClaims = new Map<string, readonly string[]>();
  /** Resource → the claims its restrictions read. */
  private readonly restrictionClaims = new Map<string, readonly string[]>();

  constructor(private readonly compiled: CompiledPolicies) {}

  /** Number of cores kept (for tests). */
  get size(): number {
    return this.entries.size;
  }

  /**
   * The key of a plan core: everything it depends on, written so that two
   * different requests never share one (tagged JSON of the values, never
   * concatenated text). `undefined` when a claim it needs is not plain data
   * (a class instance, an accessor, a hole, too deep or too long to key on):
   * such a request is planned afresh.
   */
  keyOf(resource: string, purpose: string, action: string, roles: readonly string[], user: unknown): string | undefined {
    // Claims are only read from a plain object (templates.ts claimOf); any other holder reads as none, and must not share a key with one that does.
    if (!isPlainObject(user)) return undefined;
    const names = this.claimNamesOf(resource, purpose, roles);
    const claims: unknown[] = [];
    try {
      for (const name of names) claims.push([name, Object.hasOwn(user, name) ? tagged(ownValue(user, name), 0) : ['m']]);
    } catch (e) {
      if (e === UNKEYABLE) return undefined;
      throw e;
    }
    const key = JSON.stringify([resource, purpose, action, roles, claims]);
    return key.length > MAX_KEY_LENGTH ? undefined : key;
  }

  /** The claims the grants of these roles and the restrictions of the resource read, sorted, each once. */
  private claimNamesOf(resource: string, purpose: string, roles: readonly string[]): readonly string[] {
    const fromRestrictions = this.restrictionClaimsOf(resource);
    if (roles.length === 1 && fromRestrictions.length === 0) return this.grantClaimsOf(roles[0]!, purpose, resource);
    const names = new Set(fromRestrictions);
    for (const role of roles) for (const name of this.grantClaimsOf(role, purpose, resource)) names.add(name);
    return [...names].sort();
  }

  get(key: string): CachedCore<Core> | undefined {
    const hit = this.entries.get(key);
    if (hit) {
      // Most recently used last: the first entry is the one to drop.
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  set(key: string, value: CachedCore<Core>): void {
    if (!this.entries.has(key)) this.keyLength += key.length;
    this.entries.set(key, value);
    while (this.entries.size > PLAN_CACHE_SIZE || this.keyLength > MAX_TOTAL_KEY_LENGTH) {
      const oldest = this.entries.keys().next().value!;
      this.entries.delete(oldest);
      this.keyLength -= oldest.length;
    }
  }

  private grantClaimsOf(role: string, purpose: string, resource: string): readonly string[] {
    const key = grantKey(role, purpose, resource);
    let names = this.grantClaims.get(key);
    if (names === undefined) {
      // The grants the role holds, inherited ones included (compile.ts): a claim an inherited grant reads is part of the key.
      const found = new Set<string>();
      for (const g of this.compiled.grants.get(key) ?? []) for (const name of g.where?.claims ?? []) found.add(name);
      names = [...found].sort();
      // Only roles the policy declares are remembered: a token naming a million unknown roles cannot grow this map.
      if (Object.hasOwn(this.compiled.document.roles, role)) this.grantClaims.set(key, names);
    }
    return names;
  }

  private restrictionClaimsOf(resource: string): readonly string[] {
    let names = this.restrictionClaims.get(resource);
    if (names === undefined) {
      const found = new Set<string>();
      // Each compiled condition names the claims it reads (policy/conditions.ts): the list grants use too.
      for (const r of this.compiled.restrictions.get(resource) ?? []) for (const name of r.when?.claims ?? []) found.add(name);
      names = [...found];
      if (this.compiled.resources.has(resource)) this.restrictionClaims.set(resource, names);
    }
    return names;
  }
}

const UNKEYABLE = Symbol('unkeyable');

/** An own data property's value; an accessor could answer differently each time it is read. */
function ownValue(holder: object, key: string | number): unknown {
  const d = Object.getOwnPropertyDescriptor(holder, key);
  if (d === undefined || !('value' in d)) throw UNKEYABLE;
  return d.value;
}

/**
 * A claim value as a tree of tagged JSON, one form per value the condition
 * filling tells apart: `"1"` and `1`, `0` and `-0`, `null`, `undefined` and
 * absent, a list and an object. Anything else is not keyed.
 */
function tagged(v: unknown, depth: number): unknown {
  if (depth > MAX_DEPTH) throw UNKEYABLE;
  switch (typeof v) {
    case 'string':
      return ['s', v];
    case 'number':
      return ['n', Object.is(v, -0) ? '-0' : String(v)];
    case 'boolean':
      return ['b', v];
    case 'undefined':
      return ['u'];
  }
  if (v === null) return ['z'];
  if (Array.isArray(v)) {
    // A named property beside the items (the condition filling reads any own property) is not keyed: planned afresh.
    if (Object.getPrototypeOf(v) !== Array.prototype || Object.getOwnPropertyNames(v).length !== v.length + 1) throw UNKEYABLE;
    const out: unknown[] = ['a'];
    for (let i = 0; i < v.length; i++) {
      if (!Object.hasOwn(v, i)) throw UNKEYABLE;
      out.push(tagged(ownValue(v, i), depth + 1));
    }
    return out;
  }
  if (isPlainObject(v)) {
    const out: unknown[] = ['o'];
    // Every own property, enumerable or not: the condition filling reads them all, so the key must tell them apart.
    for (const k of Object.getOwnPropertyNames(v).sort()) out.push([k, tagged(ownValue(v, k), depth + 1)]);
    return out;
  }
  throw UNKEYABLE;
}
