import { HOSTILE_KEYS, longestPrefix, own, splitPath } from '../lib/paths.js';
import type { FieldClass, PolicyDocument } from './schema.js';

/**
 * The field paths of one resource: every path declared under its `fields`,
 * and every path the policy names under a declared field (in a view's fields
 * or transforms, a grant, or a restriction's `withhold`), with the class of
 * its longest declared prefix (docs/policy-language.md, "Resources": `name.family` under a
 * declared `name` is a `direct` field). One rule for the checks at load and
 * for the compiled masks, so that what is checked is what is enforced.
 * A named path that lies under no declared field, or holds a hostile
 * segment, is not a field: the checks report it.
 *
 * @example
 * fieldsOf(doc, 'Patient').get('name.family'); // 'direct' (inherited from name)
 */
export function fieldsOf(doc: PolicyDocument, resource: string): Map<string, FieldClass> {
  const declared = own(doc.resources, resource)?.fields ?? {};
  const fields = new Map<string, FieldClass>(Object.entries(declared));
  for (const path of namedPaths(doc, resource)) {
    if (fields.has(path) || isHostile(path)) continue;
    const prefix = longestPrefix(Object.keys(declared), path);
    if (prefix !== undefined) fields.set(path, declared[prefix]!);
  }
  return fields;
}

/**
 * The field paths that may reach a non-identifiable purpose's view of a
 * resource: those declared under `fields`, and those this purpose names
 * itself (in its view or in a grant for it). A path that only another
 * purpose names is not copied here, so widening a direct-care grant never
 * widens what a de-identified flow receives (Caldicott 2).
 *
 * @example
 * ownFieldsOf(doc, 'Patient', 'service-planning').has('diagnoses.display'); // true when planning names it
 */
export function ownFieldsOf(doc: PolicyDocument, resource: string, purpose: string): Set<string> {
  const fields = fieldsOf(doc, resource);
  const declared = Object.keys(own(doc.resources, resource)?.fields ?? {});
  return new Set([...declared, ...namedPaths(doc, resource, purpose).filter((p) => fields.has(p))]);
}

/** Whether a path has a segment that would reach a prototype if it were ever walked or copied. */
export function isHostile(path: string): boolean {
  return splitPath(path).some((s) => HOSTILE_KEYS.has(s));
}

/** Every field path the policy names for a resource outside its `fields`; only those of one purpose when `purpose` is given. */
function namedPaths(doc: PolicyDocument, resource: string, purpose?: string): string[] {
  const named: string[] = [];
  for (const [name, def] of Object.entries(doc.purposes)) {
    const view = purpose === undefined || name === purpose ? own(def.views, resource) : undefined;
    if (view) named.push(...view.fields, ...Object.keys(view.transform));
  }
  for (const role of Object.values(doc.roles)) {
    for (const g of role.grants) {
      if (g.resource !== resource || (purpose !== undefined && g.purpose !== purpose)) continue;
      for (const list of [g.read, g.update, g.create]) if (Array.isArray(list)) named.push(...list);
    }
  }
  if (purpose !== undefined) return named;
  for (const r of doc.restrictions) {
    if (r.resource === resource && r.withhold !== 'record') named.push(...r.withhold.filter((f) => f !== 'record'));
  }
  return named;
}
