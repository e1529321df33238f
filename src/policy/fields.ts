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
  return fieldIndex(doc).fieldsOf(resource);
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
  return fieldIndex(doc).ownFieldsOf(resource, purpose);
}

/** `fieldsOf` and `ownFieldsOf` for every resource and purpose of one document, its grants read once. */
export interface FieldIndex {
  fieldsOf(resource: string): Map<string, FieldClass>;
  ownFieldsOf(resource: string, purpose: string): Set<string>;
}

/**
 * Index the paths a document names, in one pass over its purposes, grants
 * and restrictions, so that checking or compiling a set of many roles does
 * not walk every grant once per resource and purpose. Build it once the
 * document is complete: it does not see later changes.
 *
 * @example
 * const fields = fieldIndex(doc);
 * fields.fieldsOf('Patient').get('name.family'); // 'direct'
 */
export function fieldIndex(doc: PolicyDocument): FieldIndex {
  const named = namedPaths(doc);
  const all = new Map<string, Map<string, FieldClass>>();
  const fieldsOfResource = (resource: string) => {
    let fields = all.get(resource);
    if (!fields) {
      const declared = own(doc.resources, resource)?.fields ?? {};
      const prefixes = Object.keys(declared);
      fields = new Map<string, FieldClass>(Object.entries(declared));
      for (const path of named.get(resource)?.all ?? []) {
        if (fields.has(path) || isHostile(path)) continue;
        const prefix = longestPrefix(prefixes, path);
        if (prefix !== undefined) fields.set(path, declared[prefix]!);
      }
      all.set(resource, fields);
    }
    return fields;
  };
  return {
    fieldsOf: (resource) => new Map(fieldsOfResource(resource)),
    ownFieldsOf: (resource, purpose) => {
      const fields = fieldsOfResource(resource);
      const declared = Object.keys(own(doc.resources, resource)?.fields ?? {});
      const mine = [...(named.get(resource)?.byPurpose.get(purpose) ?? [])].filter((p) => fields.has(p));
      return new Set([...declared, ...mine]);
    },
  };
}

/** Whether a path has a segment that would reach a prototype if it were ever walked or copied. */
export function isHostile(path: string): boolean {
  return splitPath(path).some((s) => HOSTILE_KEYS.has(s));
}

/** The paths one resource's fields are named by outside `fields`, in the order written. */
interface NamedPaths {
  /** In views, grants and restrictions' `withhold`. */
  all: Set<string>;
  /** In each purpose's view and in the grants for that purpose (never a restriction). */
  byPurpose: Map<string, Set<string>>;
}

/** Every field path the policy names outside `fields`, by resource: one pass over the document. */
function namedPaths(doc: PolicyDocument): Map<string, NamedPaths> {
  const index = new Map<string, NamedPaths>();
  const of = (resource: string) => {
    let entry = index.get(resource);
    if (!entry) index.set(resource, (entry = { all: new Set(), byPurpose: new Map() }));
    return entry;
  };
  const add = (resource: string, purpose: string | undefined, paths: readonly string[]) => {
    const entry = of(resource);
    let mine: Set<string> | undefined;
    if (purpose !== undefined) {
      mine = entry.byPurpose.get(purpose);
      if (!mine) entry.byPurpose.set(purpose, (mine = new Set()));
    }
    for (const path of paths) {
      entry.all.add(path);
      mine?.add(path);
    }
  };
  for (const [name, def] of Object.entries(doc.purposes)) {
    for (const [resource, view] of Object.entries(def.views)) add(resource, name, [...view.fields, ...Object.keys(view.transform)]);
  }
  for (const role of Object.values(doc.roles)) {
    for (const g of role.grants) {
      for (const list of [g.read, g.update, g.create]) if (Array.isArray(list)) add(g.resource, g.purpose, list);
    }
  }
  for (const r of doc.restrictions) {
    if (r.withhold !== 'record')
      add(
        r.resource,
        undefined,
        r.withhold.filter((f) => f !== 'record'),
      );
  }
  return index;
}
