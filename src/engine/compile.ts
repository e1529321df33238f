import { createHash } from 'node:crypto';
import { canonicalJson } from '../lib/canonical-json.js';
import { compileCondition, type ConditionTemplate } from '../policy/conditions.js';
import { compileShapeGuard } from '../policy/marker-shape.js';
import type { Condition, FieldClass, PolicyDocument, PurposeDef, ResourceDef, TransformName } from '../policy/schema.js';
import { fieldIndex } from '../policy/fields.js';
import { roleAncestry, type HeldRole } from '../policy/roles.js';
import { transformAt } from '../policy/validate.js';
import { isWithin, splitPath } from '../lib/paths.js';
import { valueKey } from '../lib/value-key.js';

/**
 * The policy set compiled once, at load: every field list becomes a bit mask
 * over the resource's declared paths, every condition a template. Per record
 * only row conditions are left to evaluate (STYLE: compile-time work once).
 */
export interface CompiledPolicies {
  version: string;
  document: PolicyDocument;
  resources: Map<string, CompiledResource>;
  purposes: Map<string, CompiledPurpose>;
  /**
   * `role␀purpose␀resource` → the grants that role holds: its own, then
   * those of the roles it inherits (breadth-first, policy/roles.ts), so
   * every consumer sees through inheritance without per-request work.
   */
  grants: Map<string, CompiledGrant[]>;
  restrictions: Map<string, CompiledRestriction[]>;
  /**
   * HL7 PurposeOfUse code → the purposes declaring it (`purposeOfUse`), in
   * declaration order: a token's purpose claim selects its purpose by this
   * (src/http/purpose-of-use.ts). A code two purposes declare lists both.
   */
  purposeOfUse: ReadonlyMap<string, readonly string[]>;
  /** Whether any view uses the pseudonym transform (then a key is required). */
  usesPseudonyms: boolean;
}

export interface TrieNode {
  /** Set when this node is a declared field path. */
  path?: string;
  children: Map<string, TrieNode>;
}

export interface CompiledResource {
  name: string;
  def: ResourceDef;
  /**
   * Field paths, sorted; a path's bit is `1n << index`. The declared ones and
   * every path the policy names under one (`name.family`), which inherits its
   * class: then masks, projections, explain, the matrix and filters treat
   * both alike.
   */
  paths: string[];
  bits: Map<string, bigint>;
  classes: Map<string, FieldClass>;
  trie: TrieNode;
  all: bigint;
}

export interface CompiledView {
  resource: CompiledResource;
  mask: bigint;
  /** Declared path → the transform that applies to it (inherited from a transformed ancestor). */
  transforms: Map<string, TransformName>;
  /**
   * The view of a non-identifiable purpose: only field paths are copied,
   * never keys a record holds under them (docs/policy-language.md, "Purposes":
   * undeclared keys under a granted subtree are dropped), so free text cannot ride along.
   */
  declaredOnly: boolean;
}

export interface CompiledPurpose {
  name: string;
  def: PurposeDef;
  views: Map<string, CompiledView>;
}

export interface CompiledGrant {
  /** `role#index` of the role that wrote the grant, as recorded in decisions; the same when it is inherited. */
  label: string;
  /** The role that wrote the grant: an `unless.roles` exemption follows it (engine/plan.ts `isExempt`). */
  role: string;
  /**
   * Set when the grant is held through inheritance: the chain from the
   * holding role to `role` (`['senior-nurse', 'ward-nurse']`), for explain,
   * the trace and the matrix to say where it came from.
   */
  inheritedVia?: readonly string[];
  read: bigint;
  update: bigint;
  create: bigint;
  where?: ConditionTemplate;
}

export interface CompiledRestriction {
  name: string;
  because: string;
  /** Withholds the whole record. */
  record: boolean;
  mask: bigint;
  fields: string[];
  when?: ConditionTemplate;
  /** True when a record holds a marker in a shape `when` does not expect: the restriction then fires. */
  oddShape?: (record: object) => boolean;
  unlessRoles?: ReadonlySet<string>;
  unlessPurposes?: ReadonlySet<string>;
}

export const grantKey = (role: string, purpose: string, resource: string): string => `${role}\0${purpose}\0${resource}`;

/**
 * Compile a validated policy document.
 *
 * @example
 * const compiled = compilePolicies(document);
 * compiled.version; // 'a1b2c3d4e5f60718'
 */
export function compilePolicies(doc: PolicyDocument): CompiledPolicies {
  const fields = fieldIndex(doc);
  const resources = new Map(
    Object.keys(doc.resources).map((name) => [name, compileResource(name, doc.resources[name]!, fields.fieldsOf(name))]),
  );
  const purposes = new Map<string, CompiledPurpose>();
  let usesPseudonyms = false;
  for (const [name, def] of Object.entries(doc.purposes)) {
    const views = new Map<string, CompiledView>();
    for (const [resourceName, view] of Object.entries(def.views)) {
      const resource = resources.get(resourceName)!;
      let mask = maskOf(resource, view.fields);
      // Not identifiable: only paths declared, or named by this purpose itself, may pass.
      if (!def.identifiable) mask &= exactMaskOf(resource, fields.ownFieldsOf(resourceName, name));
      const transforms = new Map<string, TransformName>();
      for (const path of resource.paths) {
        const t = transformAt(view.transform, path);
        if (t !== undefined && (mask & resource.bits.get(path)!) !== 0n) transforms.set(path, t);
      }
      if ([...transforms.values()].includes('pseudonym')) usesPseudonyms = true;
      views.set(resourceName, { resource, mask, transforms, declaredOnly: !def.identifiable });
    }
    purposes.set(name, { name, def, views });
  }

  // Many roles grant the same thing: equal field lists share one mask and
  // equal conditions one compiled template; each grant keeps its own label and role.
  const shared = sharedCompilation();
  const own = new Map<string, CompiledGrant[]>();
  for (const [role, def] of Object.entries(doc.roles)) {
    own.set(
      role,
      def.grants.map((g, i) => {
        const view = purposes.get(g.purpose)!.views.get(g.resource)!;
        const grant: CompiledGrant = {
          label: `${role}#${i}`,
          role,
          read: shared.mask(view, g.read),
          update: shared.mask(view, g.update),
          create: shared.mask(view, g.create),
        };
        if (g.where) grant.where = shared.condition(g.where);
        return grant;
      }),
    );
  }
  // A role holds its own grants, then those it inherits, each once (a diamond's common role once).
  const grants = new Map<string, CompiledGrant[]>();
  for (const [role, held] of roleAncestry(doc.roles)) {
    for (const h of held) {
      const from = h.role;
      doc.roles[from]!.grants.forEach((g, i) => {
        const origin = own.get(from)![i]!;
        const grant = from === role ? origin : inheritedGrant(origin, h);
        const key = grantKey(role, g.purpose, g.resource);
        const list = grants.get(key);
        if (list) list.push(grant);
        else grants.set(key, [grant]);
      });
    }
  }

  const restrictions = new Map<string, CompiledRestriction[]>();
  for (const r of doc.restrictions) {
    const resource = resources.get(r.resource)!;
    const list = r.withhold === 'record' ? ['record'] : r.withhold;
    const fields = list.filter((f) => f !== 'record');
    const compiled: CompiledRestriction = {
      name: r.name,
      because: r.because,
      record: list.includes('record'),
      mask: maskOf(resource, fields),
      fields,
    };
    if (r.when) compiled.when = compileCondition(r.when);
    const oddShape = r.when ? compileShapeGuard(r.when) : undefined;
    if (oddShape) compiled.oddShape = oddShape;
    if (r.unless?.roles) compiled.unlessRoles = new Set(r.unless.roles);
    if (r.unless?.purposes) compiled.unlessPurposes = new Set(r.unless.purposes);
    restrictions.set(r.resource, [...(restrictions.get(r.resource) ?? []), compiled]);
  }

  return {
    version: versionOf(doc),
    document: doc,
    resources,
    purposes,
    grants,
    restrictions,
    purposeOfUse: purposesByCode(doc),
    usesPseudonyms,
  };
}

/** Each declared PurposeOfUse code with the purposes that answer to it, each once. */
function purposesByCode(doc: PolicyDocument): Map<string, readonly string[]> {
  const byCode = new Map<string, string[]>();
  for (const [name, def] of Object.entries(doc.purposes)) {
    for (const code of def.purposeOfUse ?? []) {
      const names = byCode.get(code);
      if (names === undefined) byCode.set(code, [name]);
      else if (!names.includes(name)) names.push(name);
    }
  }
  return byCode;
}

/**
 * A grant as an inheriting role holds it. Its chain is built when explain,
 * the trace or the matrix first asks (`HeldRole.chain`), not at load: a set
 * of many roles holding many others costs one object per grant held.
 */
function inheritedGrant(origin: CompiledGrant, held: HeldRole): CompiledGrant {
  let chain: readonly string[] | undefined;
  return Object.defineProperty({ ...origin }, 'inheritedVia', {
    enumerable: true,
    get: () => (chain ??= held.chain),
  });
}

/**
 * Masks and condition templates, compiled once per distinct field list of a
 * view and per distinct condition of one policy set (keys: `valueKey`).
 */
function sharedCompilation() {
  const masks = new Map<CompiledView, Map<string, bigint>>();
  const conditions = new Map<string, ConditionTemplate>();
  return {
    /** A grant's field list within its view: `view` is the whole view, a list grants the subtrees it names. */
    mask(view: CompiledView, list: string[] | 'view' | undefined): bigint {
      if (list === undefined) return 0n;
      if (list === 'view') return view.mask;
      let byList = masks.get(view);
      if (!byList) masks.set(view, (byList = new Map()));
      const key = list.join('\n');
      let mask = byList.get(key);
      if (mask === undefined) byList.set(key, (mask = maskOf(view.resource, list) & view.mask));
      return mask;
    },
    condition(condition: Condition): ConditionTemplate {
      const key = valueKey(condition);
      if (key === undefined) return compileCondition(condition);
      let template = conditions.get(key);
      if (!template) conditions.set(key, (template = compileCondition(condition)));
      return template;
    },
  };
}

function compileResource(name: string, def: ResourceDef, classes: Map<string, FieldClass>): CompiledResource {
  const paths = [...classes.keys()].sort();
  const bits = new Map(paths.map((p, i) => [p, 1n << BigInt(i)]));
  const trie: TrieNode = { children: new Map() };
  for (const path of paths) {
    let node = trie;
    for (const segment of splitPath(path)) {
      let next = node.children.get(segment);
      if (!next) node.children.set(segment, (next = { children: new Map() }));
      node = next;
    }
    node.path = path;
  }
  const all = paths.reduce((m, p) => m | bits.get(p)!, 0n);
  return { name, def, paths, bits, classes, trie, all };
}

/** The bits of every field path in the subtrees of `fields`: a field path grants its whole subtree. */
export function maskOf(resource: CompiledResource, fields: readonly string[]): bigint {
  let mask = 0n;
  for (const path of resource.paths) if (fields.some((f) => isWithin(path, f))) mask |= resource.bits.get(path)!;
  return mask;
}

/** The bits of exactly these field paths, nothing below them. */
function exactMaskOf(resource: CompiledResource, paths: Iterable<string>): bigint {
  let mask = 0n;
  for (const p of paths) mask |= resource.bits.get(p) ?? 0n;
  return mask;
}

/** Field paths whose bits are set. */
export function pathsOf(resource: CompiledResource, mask: bigint): string[] {
  return resource.paths.filter((p) => (mask & resource.bits.get(p)!) !== 0n);
}

/**
 * A stable hash of the normalised policy set: the same rules give the same
 * version, whatever the files' layout or key order. It uses the audit
 * trail's canonical JSON, so the version an event records and the bytes it
 * is chained by follow one serialisation.
 */
function versionOf(doc: PolicyDocument): string {
  const normal = { resources: doc.resources, purposes: doc.purposes, roles: doc.roles, restrictions: doc.restrictions };
  return createHash('sha256').update(canonicalJson(normal)).digest('hex').slice(0, 16);
}
