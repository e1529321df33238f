import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import fc from 'fast-check';
import { parseDocument, stringify } from 'yaml';
import { fastYaml } from '../../src/policy/yaml.js';
import { writePolicySet } from '../../bench/lib/generate.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * What the reference reader (`yaml`, as policy/parse.ts calls it) makes of a
 * text: its data with mappings as objects, or `undefined` when it refuses the
 * text or when two keys of a mapping become one name (then the loader refuses it).
 */
function reference(text: string): { value: unknown } | undefined {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) return undefined;
  let clash = false;
  const plain = (v: unknown): unknown => {
    if (v instanceof Map) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of v) {
        const key = String(k);
        if (Object.hasOwn(out, key)) clash = true;
        Object.defineProperty(out, key, { value: plain(x), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    return Array.isArray(v) ? v.map(plain) : v;
  };
  let value: unknown;
  try {
    value = doc.contents === null ? null : plain(doc.toJS({ maxAliasCount: 100, mapAsMap: true }));
  } catch {
    return undefined;
  }
  return clash ? undefined : { value };
}

/** The rule the fast reader keeps: it answers only where the reference answers the same. */
function agrees(text: string): boolean {
  const fast = fastYaml(text);
  if (fast === undefined) return true;
  const ref = reference(text);
  expect(ref, `the fast reader read a text the reference refuses: ${JSON.stringify(text)}`).to.not.equal(undefined);
  expect(fast.value, JSON.stringify(text)).to.deep.equal(ref!.value);
  return true;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules' || name.startsWith('.')) return [];
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

describe('policy/yaml', () => {
  describe('fastYaml', () => {
    it('reads every policy file in the repository exactly as the reference reader does, or leaves it to it', () => {
      const files = ['policies', 'test', 'examples', 'fixtures'].flatMap((d) => yamlFiles(join(ROOT, d)));
      expect(files.length).to.be.greaterThan(20);
      let fast = 0;
      for (const file of files) {
        const text = readFileSync(file, 'utf8');
        agrees(text);
        if (fastYaml(text)) fast++;
      }
      // The fast path is taken for most of them: otherwise this test would compare nothing.
      expect(fast).to.be.greaterThan(files.length / 2);
    });

    it('reads a generated policy set on the fast path, equal to the reference', () => {
      const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-yaml-'));
      try {
        writePolicySet(dir, { resources: 3, purposes: 2, roles: 4 });
        for (const name of readdirSync(dir)) {
          const text = readFileSync(join(dir, name), 'utf8');
          expect(fastYaml(text), name).to.not.equal(undefined);
          agrees(text);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('keeps a file on the fast path when it opens with the editor schema comment (yaml-language-server)', () => {
      const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-yaml-'));
      try {
        writePolicySet(dir, { resources: 2, purposes: 2, roles: 3 });
        for (const name of readdirSync(dir)) {
          const body = readFileSync(join(dir, name), 'utf8');
          for (const comment of [
            '# yaml-language-server: $schema=../schemas/policy.schema.json\n',
            '# yaml-language-server: $schema=./node_modules/fieldmesh/schemas/policy.schema.json\n# roles of the ward\n\n',
          ]) {
            const text = comment + body;
            expect(fastYaml(text), `${name} after ${comment}`).to.not.equal(undefined);
            expect(fastYaml(text), `${name} after ${comment}`).to.deep.equal(fastYaml(body));
            agrees(text);
          }
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('resolves plain scalars by the YAML 1.2 core schema, as the reference does', () => {
      const text = [
        'yes: yes',
        'no: [no, on, off, y, n, Yes]',
        'date: 2027-03-31',
        'time: 2001-12-14t21:59:43.10-05:00',
        'ints: [0, -0, +12, 012, 0o17, 0x1F, 0b101, 1_000, 12345678901234567890]',
        'floats: [1.0, .5, -1.5e3, 1e3, .inf, -.Inf, .nan, 1.]',
        'nulls: [~, null, Null, NULL, nUll]',
        'bools: [true, True, TRUE, false, tRue]',
        'quoted: ["1", \'true\', "~", "2027-03-31"]',
        '1: one',
        '1.5: a float key',
        'null: a null key',
        'true: a bool key',
        'sexagesimal: 190:20:30',
      ].join('\n');
      const fast = fastYaml(text);
      expect(fast).to.not.equal(undefined);
      agrees(text);
      const value = fast!.value as Record<string, unknown>;
      expect(value['yes']).to.equal('yes');
      expect(value['date']).to.equal('2027-03-31');
      expect(value['ints']).to.deep.equal([0, -0, 12, 12, 15, 31, '0b101', '1_000', Number('12345678901234567890')]);
      expect(value['1']).to.equal('one');
    });

    it('leaves to the reference every construct where two readers may differ', () => {
      const unsure = [
        'a: &x 1\nb: *x\n',
        'a: !!str 1\n',
        'a: ! 1\n',
        'base: { a: 1 }\nc:\n  <<: { a: 2 }\n',
        '%YAML 1.1\n---\na: yes\n',
        '---\na: 1\n',
        'a: 1\n...\n',
        'a: |\n  text\n',
        'a: >\n  folded\n',
        'a: "\\u0041"\n',
        'a:\t1\n',
        'a: 1\rb: 2\n',
        'a: "\u2028"\n',
        '\uFEFFa: 1\n',
        'a: "\u0007"\n',
        `a: ${'x'.repeat(1200)}\n`,
        `${'k'.repeat(1100)}: 1\n`,
        `a: ${'['.repeat(200)}${']'.repeat(200)}\n`,
        '{ a: 1 }: mapping key\n',
        '? { a: 1 }\n: mapping key\n',
        // An empty entry: js-yaml read the less indented entry after it as its sibling.
        'l:\n  - k:\n    - a\n    -\n  - y: 1\n',
        'a:\n -\n- b\n',
        'a:\n  -  \n- b\n',
        'a:\n  b:\n    -\n  - x\n',
        'where: { team: { $in: [x] } }\nl:\n  - k:\n    - # nothing\n  - y: 1\n',
      ];
      for (const text of unsure) {
        expect(fastYaml(text), JSON.stringify(text)).to.equal(undefined);
        agrees(text);
      }
    });

    it('leaves every text the reference refuses to the reference, so refusals and their lines come from one reader', () => {
      const refused = [
        'roles:\n  gp: {}\n  gp: {}\n',
        'a: 1\na: 2\n',
        '1: a\n01: b\n',
        'null: a\n~: b\n',
        'a: [1, 2\n',
        'a: b: c\n',
        'a:\n  - 1\n  b: 2\n',
        '"a"#c: 1\n',
        'a: "x\n',
        '- a\nb: 1\n',
        '{a: 1, a: 2}\n',
        'a:\n    b: 1\n  c: 2\n',
        // YAML 1.2 refuses it; js-yaml read it as [null, "t1"], widening a condition.
        'where:\n  team:\n    $in:\n      -\n    - t1\n',
      ];
      for (const text of refused) {
        expect(reference(text), JSON.stringify(text)).to.equal(undefined);
        expect(fastYaml(text), JSON.stringify(text)).to.equal(undefined);
      }
    });

    it('keeps a hostile key as an own key, for the loader to refuse', () => {
      const fast = fastYaml('roles:\n  __proto__: { admin: true }\n  constructor: 1\n');
      expect(fast).to.not.equal(undefined);
      const roles = (fast!.value as { roles: object }).roles;
      expect(Object.keys(roles)).to.deep.equal(['__proto__', 'constructor']);
      expect(Object.getPrototypeOf(roles)).to.equal(Object.prototype);
      expect(({} as Record<string, unknown>)['admin']).to.equal(undefined);
    });

    it('agrees with the reference on texts made of YAML tokens at random (property)', () => {
      const TOKENS = [
        'a',
        'b',
        'read',
        '"a"',
        "'a'",
        "'it''s'",
        '"x y"',
        '1',
        '01',
        '-0',
        '0x1F',
        '0o17',
        '0b1',
        '1_0',
        'yes',
        'no',
        'on',
        '~',
        'null',
        'Null',
        'true',
        'TRUE',
        '1e3',
        '.5',
        '.inf',
        '-.Inf',
        '.nan',
        '2027-03-31',
        '12345678901234567890',
        '+1',
        '1:2',
        'a b',
        'a#b',
        ' #c',
        '__proto__',
        '[object Object]',
        'é',
        '—',
        '${user.team}',
        '"${user[\\"x\\"]}"',
        'https://x/y',
        '{',
        '}',
        '[',
        ']',
        ', ',
        ',',
        ': ',
        ':',
        '- ',
        '-',
        '? ',
        '?',
        ' ',
        '\n',
        '\n ',
        '\n  ',
        '\n   ',
        'a: ',
        '- a: ',
        '\n  b: ',
        '\n    ',
        '\n- ',
        '\r\n',
        '#c',
        '&a ',
        '*a',
        '!!str ',
        '! ',
        '<<: ',
        '| ',
        '> ',
        '\t',
        '---\n',
        '...\n',
        '%YAML 1.1\n',
        '\\',
        '"',
        "'",
        '@',
        '`',
      ];
      fc.assert(
        fc.property(fc.array(fc.constantFrom(...TOKENS), { minLength: 1, maxLength: 30 }), (tokens) => agrees(tokens.join(''))),
        { numRuns: 3000 },
      );
    });

    it('agrees with the reference on random policy-like values written in block and flow style (property)', () => {
      const scalar = fc.oneof(
        fc.constantFrom('yes', 'on', '2027-03-31', '0o17', '0x1F', '~', 'null', '', ' a', 'a ', 'a: b', '- a', '#a', '${user.team}', 'é'),
        fc.string({ maxLength: 8 }),
        fc.integer(),
        fc.double({ noNaN: true }),
        fc.boolean(),
        fc.constant(null),
      );
      const key = fc.oneof(fc.constantFrom('a', 'b', '1', 'true', 'null', 'yes', 'where', '$in', 'a.b'), fc.string({ maxLength: 6 }));
      const value = fc.letrec((tie) => ({
        node: fc.oneof({ depthSize: 'small' }, scalar, tie('list'), tie('map')),
        list: fc.array(tie('node'), { maxLength: 4 }),
        map: fc.dictionary(key, tie('node'), { maxKeys: 4 }),
      })).node;
      fc.assert(
        fc.property(value, fc.boolean(), fc.integer({ min: 2, max: 4 }), (v, flow, indent) =>
          agrees(stringify(v, { indent, ...(flow ? { collectionStyle: 'flow' as const } : {}) })),
        ),
        { numRuns: 1500 },
      );
    });
  });
});
