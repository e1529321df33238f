import { rolesFrom } from '../engine/plan.js';

/**
 * The user a request acts for: the verified token's claims, with `sub` and
 * the roles the token grants. Conditions such as `${user.team}` read it.
 */
export interface User {
  sub: string;
  roles: string[];
  [claim: string]: unknown;
}

/**
 * The claim at `path` in a token payload. An exact key is tried first, so
 * namespaced claims such as `https://idp.example/roles` work; otherwise the
 * path is read dot by dot (`realm_access.roles`). Only own properties are
 * read: a path like `__proto__.x` must never reach the prototype chain.
 *
 * @example
 * claimAt({ realm_access: { roles: ['nurse'] } }, 'realm_access.roles'); // ['nurse']
 */
export function claimAt(claims: Record<string, unknown>, path: string): unknown {
  if (Object.hasOwn(claims, path)) return claims[path];
  let node: unknown = claims;
  for (const step of path.split('.')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, step)) return undefined;
    node = (node as Record<string, unknown>)[step];
  }
  return node;
}

/**
 * The roles a token grants, from the claim at `path`: an array of strings or
 * one string. A missing claim grants no role (the request is then refused by
 * the policy, not here); any other shape is `undefined`, which the verifier
 * refuses, because guessing at a malformed roles claim could widen access.
 *
 * @example
 * rolesAt({ roles: 'nurse' }, 'roles'); // ['nurse']
 */
export function rolesAt(claims: Record<string, unknown>, path: string): string[] | undefined {
  return rolesFrom(claimAt(claims, path));
}
