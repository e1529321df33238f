import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { expect } from 'chai';
import { parse } from 'yaml';
import { z } from 'zod';
import { FIELD_CLASSES, TRANSFORMS } from '../../src/policy/schema.js';
import { SCHEMAS_DIR, schemaFiles } from '../../scripts/schemas.js';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The JSON Schemas editors check policy and case files with
 * (schemas/*.schema.json): generated from the zod schemas, shipped in the
 * package, referenced by every example file, and accepting every example.
 *
 * No JSON Schema validator is a dependency (ajv is not), so the schemas are
 * checked twice over: structurally, for what an editor relies on, and by
 * reading them back with zod's JSON Schema reader (`z.fromJSONSchema`) and
 * validating every example file and known-bad fixture with the result.
 */
type Json = { [key: string]: unknown };
const read = (name: string) => JSON.parse(readFileSync(join(SCHEMAS_DIR, name), 'utf8')) as Json;

function yamlFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules' || name.startsWith('.')) return [];
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

/** Every directory named `name` under `dir`. */
function dirsNamed(dir: string, name: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (entry === 'node_modules' || entry.startsWith('.') || !statSync(path).isDirectory()) return [];
    return entry === name ? [path] : dirsNamed(path, name);
  });
}

/** The example policy files users copy: the repository's set and every example's. */
const POLICY_FILES = [join(ROOT, 'policies'), ...dirsNamed(join(ROOT, 'examples'), 'policies')].flatMap(yamlFiles);
/** The fixture case files: the repository's and every example's. */
const CASE_FILES = [join(ROOT, 'fixtures', 'cases'), ...dirsNamed(join(ROOT, 'examples'), 'cases')].flatMap(yamlFiles);

describe('policy/json-schema', () => {
  it('ships schemas that equal what the zod schemas generate now (after changing them, run npm run schemas)', () => {
    for (const [name, text] of Object.entries(schemaFiles())) {
      const committed = existsSync(join(SCHEMAS_DIR, name)) ? readFileSync(join(SCHEMAS_DIR, name), 'utf8') : '(missing)';
      expect(committed === text, `schemas/${name} is out of date: run npm run schemas and commit it`).to.equal(true);
    }
  });

  it('ships them in the package, under fieldmesh/schemas/…', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
    expect(pkg.files).to.include('schemas');
    // The package resolves its own name through its exports, as an installed copy would.
    const require = createRequire(join(ROOT, 'package.json'));
    for (const name of ['policy.schema.json', 'cases.schema.json']) {
      expect(require.resolve(`fieldmesh/schemas/${name}`)).to.equal(join(SCHEMAS_DIR, name));
    }
  });

  describe('policy.schema.json', () => {
    const schema = read('policy.schema.json');
    const at = (...keys: string[]) => keys.reduce<Json>((node, k) => node[k] as Json, schema);
    const resource = at('properties', 'resources', 'additionalProperties');
    const purpose = at('properties', 'purposes', 'additionalProperties');
    const view = (purpose['properties'] as Json)['views'] as Json;
    const grant = at('properties', 'roles', 'additionalProperties', 'properties', 'grants', 'items');
    const restriction = at('properties', 'restrictions', 'items');

    it('is a titled draft 2020-12 schema', () => {
      expect(schema['$schema']).to.equal('https://json-schema.org/draft/2020-12/schema');
      expect(schema['title']).to.equal('fieldmesh policy file');
    });

    it('refuses unknown keys in every object of the language, as the loader does', () => {
      for (const [name, node] of Object.entries({
        file: schema,
        resource,
        purpose,
        lawfulBasis: (purpose['properties'] as Json)['lawfulBasis'] as Json,
        view: view['additionalProperties'] as Json,
        role: at('properties', 'roles', 'additionalProperties'),
        grant,
        restriction,
        unless: (restriction['properties'] as Json)['unless'] as Json,
      })) {
        expect(node['additionalProperties'], name).to.equal(false);
      }
    });

    it('lists the field classes and transforms, so an editor completes them', () => {
      expect(((resource['properties'] as Json)['fields'] as Json)['additionalProperties']).to.deep.include({ enum: [...FIELD_CLASSES] });
      const transform = ((view['additionalProperties'] as Json)['properties'] as Json)['transform'] as Json;
      expect(transform['additionalProperties']).to.deep.include({ enum: [...TRANSFORMS] });
    });

    it('leaves keys with a default optional, and requires the rest', () => {
      expect(purpose['required']).to.deep.equal(['lawfulBasis', 'reviewBy', 'views']);
      expect(grant['required']).to.deep.equal(['purpose', 'resource']);
      expect(restriction['required']).to.deep.equal(['name', 'resource', 'withhold', 'because']);
      expect(resource['required']).to.deep.equal(['fields']);
    });

    it('takes a review date as the string YAML 1.2 reads, never as anything at all', () => {
      const reviewBy = (purpose['properties'] as Json)['reviewBy'] as Json;
      expect(reviewBy).to.include({ type: 'string', format: 'date' });
      expect(reviewBy).to.not.have.property('anyOf');
    });

    it('describes the main keys, as the policy language does', () => {
      const described = (node: Json, ...keys: string[]) => {
        for (const k of keys)
          expect(((node['properties'] as Json)[k] as Json)['description'], k)
            .to.be.a('string')
            .and.not.equal('');
      };
      described(schema, 'resources', 'purposes', 'roles', 'restrictions');
      described(resource, 'id', 'subject', 'consent', 'optOut', 'fields');
      described(purpose, 'lawfulBasis', 'reviewBy', 'identifiable', 'consent', 'optOut', 'breakGlass', 'views');
      described(view['additionalProperties'] as Json, 'fields', 'transform');
      described(grant, 'purpose', 'resource', 'read', 'update', 'create', 'where');
      described(restriction, 'name', 'resource', 'when', 'withhold', 'unless', 'because');
    });
  });

  describe('every example file', () => {
    const policy = z.fromJSONSchema(read('policy.schema.json') as z.core.JSONSchema.JSONSchema);
    const cases = z.fromJSONSchema(read('cases.schema.json') as z.core.JSONSchema.JSONSchema);

    it('is a policy file the policy schema accepts, read back as a validator', () => {
      expect(POLICY_FILES.length).to.be.greaterThan(3);
      for (const file of [
        ...POLICY_FILES,
        ...['valid', 'fhir', 'registrar'].flatMap((d) => yamlFiles(join(ROOT, 'test/fixtures/policies', d))),
      ]) {
        const r = policy.safeParse(parse(readFileSync(file, 'utf8')));
        expect(r.success, `${relative(ROOT, file)}: ${JSON.stringify(r.error?.issues)}`).to.equal(true);
      }
    });

    it('is a case file the case schema accepts', () => {
      expect(CASE_FILES.length).to.be.greaterThan(3);
      for (const file of CASE_FILES) {
        const r = cases.safeParse(parse(readFileSync(file, 'utf8')));
        expect(r.success, `${relative(ROOT, file)}: ${JSON.stringify(r.error?.issues)}`).to.equal(true);
      }
    });

    it('and the schema read back refuses what the loader refuses by shape: unknown keys, classes, transforms, names, dates', () => {
      const bad = ['unknown-key', 'unknown-top-level-key', 'unknown-field-class', 'unknown-transform', 'restriction-without-because'];
      for (const name of bad) {
        const text = readFileSync(join(ROOT, 'test/fixtures/policies/invalid', `${name}.yaml`), 'utf8');
        expect(policy.safeParse(parse(text)).success, name).to.equal(false);
      }
      const lawfulBasis = { article6: '6(1)(e)' };
      expect(policy.safeParse({ roles: { 'bad name!': {} } }).success).to.equal(false);
      expect(policy.safeParse({ purposes: { p: { lawfulBasis, reviewBy: '2027-02-30', views: {} } } }).success).to.equal(false);
      expect(policy.safeParse({ purposes: { p: { lawfulBasis, reviewBy: '2027-02-28', views: {} } } }).success).to.equal(true);
      expect(cases.safeParse({ cases: [] }).success).to.equal(false);
      expect(cases.safeParse({ cases: [{ name: 'n', resource: 'R', purpose: 'p', expct: {} }] }).success).to.equal(false);
    });

    it('names its schema on its first line by a relative path, so an editor checks it as it is typed', () => {
      for (const [files, name] of [
        [POLICY_FILES, 'policy.schema.json'],
        [CASE_FILES, 'cases.schema.json'],
      ] as const) {
        for (const file of files) {
          const first = readFileSync(file, 'utf8').split('\n')[0]!;
          const m = /^# yaml-language-server: \$schema=(\S+)$/.exec(first);
          expect(m, `${relative(ROOT, file)}: first line`).to.not.equal(null);
          expect(resolve(dirname(file), m![1]!), relative(ROOT, file)).to.equal(join(SCHEMAS_DIR, name));
        }
      }
    });
  });
});
