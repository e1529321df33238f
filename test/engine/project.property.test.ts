import { expect } from 'chai';
import fc from 'fast-check';
import type { CompiledResource, TrieNode } from '../../src/engine/compile.js';
import { compileProjector, withProjections } from '../../src/engine/project.js';
import { DROP, makeTransform, type Transform } from '../../src/engine/transforms.js';
import { policiesFromSources } from '../../src/engine/policy-set.js';
import { compileReferenceProjector } from './project-reference.js';

/**
 * The generated projector against the closure projector it replaced
 * (project-reference.ts), over random field paths, masks, transforms and
 * records; and hostile text wherever text can reach it: nothing runs,
 * nothing leaks.
 */

/** A resource over these field paths, built as compile.ts builds one (sorted paths, one bit each, a trie). */
function resourceOf(fieldPaths: readonly string[]): CompiledResource {
  const paths = [...new Set(fieldPaths)].sort();
  const bits = new Map(paths.map((p, i) => [p, 1n << BigInt(i)]));
  const trie: TrieNode = { children: new Map() };
  for (const path of paths) {
    let node = trie;
    for (const segment of path.split('.')) {
      let next = node.children.get(segment);
      if (!next) node.children.set(segment, (next = { children: new Map() }));
      node = next;
    }
    node.path = path;
  }
  const all = paths.reduce((m, p) => m | bits.get(p)!, 0n);
  return { name: 'R', def: { id: 'id', fields: {} }, paths, bits, classes: new Map(), trie, all };
}

const upper: Transform = (v) => (typeof v === 'string' ? v.toUpperCase() : DROP);
const district = makeTransform('district', { purpose: 'p', now: new Date('2026-06-01T00:00:00Z') });

const SEGMENTS = ['a', 'b', 'c', 'list'];
const fieldPath = fc.array(fc.constantFrom(...SEGMENTS), { minLength: 1, maxLength: 3 }).map((s) => s.join('.'));
const leaf = fc.oneof(
  fc.constantFrom<unknown>('x', 'LS1 4AP', 1, 0, true, false, null, undefined, '', 'toString'),
  fc.constant(new Date(0)),
  fc.constant(() => 1),
);
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom(...SEGMENTS, 'other', 'toString', '__proto__', 'constructor'), tie('v'), { maxKeys: 4 }),
  ),
})).v;
/** A record as JSON.parse would give it (so `__proto__` can be an own key), or not even an object. */
const record = fc.oneof(
  { weight: 5, arbitrary: fc.dictionary(fc.constantFrom(...SEGMENTS, 'other', '__proto__'), value, { maxKeys: 5 }) },
  { weight: 1, arbitrary: value },
);

const setup = fc.record({
  paths: fc.array(fieldPath, { minLength: 1, maxLength: 6 }),
  maskBits: fc.bigInt({ min: 0n, max: (1n << 6n) - 1n }),
  transformed: fc.array(fc.nat(5), { maxLength: 2 }),
  whichTransform: fc.boolean(),
  declaredOnly: fc.boolean(),
});

/** Deep equality that also holds when keys come in another order (JSON-like values and undefined only). */
function same(a: unknown, b: unknown): void {
  expect(a).to.deep.equal(b);
}

/** No object or list of the output is one of the input's: values are copied, never shared. */
function sharesNothing(output: unknown, input: unknown): boolean {
  const seen = new Set<unknown>();
  const collect = (v: unknown) => {
    if (v !== null && typeof v === 'object') {
      seen.add(v);
      for (const c of Object.values(v)) collect(c);
    }
  };
  collect(input);
  const check = (v: unknown): boolean =>
    v === null || typeof v !== 'object' ? true : !seen.has(v) && Object.values(v).every((c) => check(c));
  return check(output);
}

describe('engine/project generated projector', () => {
  it('gives exactly what the closure projector gives, for random masks, transforms and records, in both paths', () => {
    fc.assert(
      fc.property(setup, fc.array(record, { minLength: 1, maxLength: 6 }), (s, records) => {
        const resource = resourceOf(s.paths);
        const mask = s.maskBits & resource.all;
        const transforms = new Map<string, Transform>();
        for (const i of s.transformed) {
          const p = resource.paths[i % resource.paths.length]!;
          transforms.set(p, s.whichTransform ? upper : district);
        }
        const transformOf = (path: string) => transforms.get(path);
        const generated = compileProjector(resource, mask, transformOf, s.declaredOnly);
        const reference = compileReferenceProjector(resource, mask, transformOf, s.declaredOnly);
        for (const r of records) {
          const expected = reference(r);
          // Outside a redaction (every key asked with Object.hasOwn) and inside one (the literal fast path).
          same(generated(r), expected);
          const fast = withProjections(() => generated(r));
          same(fast, expected);
          expect(sharesNothing(fast, r)).to.equal(true);
          // Non-identifiable views keep the record's key order: their rows are sorted by serialised content.
          if (s.declaredOnly) expect(JSON.stringify(fast)).to.equal(JSON.stringify(expected));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('takes the slow path, own keys only, when Object.prototype has been given a field name', () => {
    const resource = resourceOf(['a', 'b']);
    const project = compileProjector(resource, resource.all, () => undefined);
    const proto = Object.prototype as Record<string, unknown>;
    try {
      proto['b'] = 'inherited';
      const out = withProjections(() => project({ a: 1 }));
      expect(out).to.deep.equal({ a: 1 });
      expect(Object.hasOwn(out as object, 'b')).to.equal(false);
    } finally {
      delete proto['b'];
    }
    expect(withProjections(() => project({ a: 1, b: 2 }))).to.deep.equal({ a: 1, b: 2 });
  });

  it('copies no inherited key under a permitted field when a built-in of Object.prototype is made enumerable', () => {
    const resource = resourceOf(['a']);
    const project = compileProjector(resource, resource.all, () => undefined);
    const before = Object.getOwnPropertyDescriptor(Object.prototype, 'toLocaleString')!;
    try {
      Object.defineProperty(Object.prototype, 'toLocaleString', {
        value: 'inherited',
        enumerable: true,
        configurable: true,
        writable: true,
      });
      expect(withProjections(() => project({ a: { b: 1 } }))).to.deep.equal({ a: { b: 1 } });
      expect(Object.keys((withProjections(() => project({ a: { b: 1 } })) as { a: object }).a)).to.deep.equal(['b']);
    } finally {
      Object.defineProperty(Object.prototype, 'toLocaleString', before);
    }
  });

  describe('hostile text', () => {
    const CANARY = '__fieldmeshCanary';
    const g = globalThis as Record<string, unknown>;
    const HOSTILE = [
      `"]; globalThis.${CANARY} = 1; //`,
      `'); globalThis.${CANARY} = 1; ('`,
      `\\"; globalThis.${CANARY} = 1; "`,
      `\${globalThis.${CANARY} = 1}`,
      `*/ globalThis.${CANARY} = 1; /*`,
      `\u2028globalThis.${CANARY} = 1;\u2029`,
      `\nglobalThis.${CANARY} = 1;\n`,
      '__proto__',
      'constructor',
      'prototype',
      'toString',
      '\\',
      '`',
    ];

    afterEach(() => {
      expect(g[CANARY], 'hostile text ran as code').to.equal(undefined);
      delete g[CANARY];
    });

    it('field names: compiled as literals, nothing runs, output as the closure projector gives it', () => {
      const paths = [...HOSTILE, ...HOSTILE.map((h) => `nest.${h}`), 'id'];
      const resource = resourceOf(paths);
      const record = JSON.parse(
        JSON.stringify({
          id: 'p1',
          nest: Object.fromEntries(HOSTILE.map((h) => [h, `v ${h}`])),
          ...Object.fromEntries(HOSTILE.map((h) => [h, h])),
        }),
      ) as Record<string, unknown>;
      for (const mask of [
        resource.all,
        resource.bits.get('id')! | resource.bits.get('nest.toString')!,
        resource.all & ~resource.bits.get('id')!,
      ]) {
        for (const declaredOnly of [false, true]) {
          const project = compileProjector(resource, mask, (p) => (p.endsWith('`') ? upper : undefined), declaredOnly);
          const reference = compileReferenceProjector(resource, mask, (p) => (p.endsWith('`') ? upper : undefined), declaredOnly);
          const out = withProjections(() => project(record));
          same(out, reference(record));
          same(project(record), reference(record));
          expect(Object.getPrototypeOf(out)).to.equal(Object.prototype);
          expect(JSON.stringify(out)).to.not.match(/"__proto__"|"constructor"|"prototype"/);
        }
      }
      expect(({} as Record<string, unknown>)['polluted']).to.equal(undefined);
    });

    it('record keys, values and condition operands through the engine: nothing runs, nothing withheld leaks', () => {
      const operand = HOSTILE[0]!;
      const yaml = (s: string) => JSON.stringify(s);
      const policies = policiesFromSources([
        {
          file: 'p.yaml',
          text: [
            'resources:',
            '  Thing:',
            '    fields: { id: identifier, team: operational, note: operational, secret: operational }',
            'purposes:',
            '  work:',
            '    lawfulBasis: { article6: "6(1)(e)" }',
            '    reviewBy: 2099-12-31',
            '    views: { Thing: { fields: [id, team, note, secret] } }',
            'roles:',
            '  worker:',
            '    grants:',
            `      - { purpose: work, resource: Thing, read: [id, team, note], where: { team: ${yaml(operand)} } }`,
            'restrictions:',
            `  - { name: hostile, resource: Thing, when: { note: ${yaml(HOSTILE[4]!)} }, withhold: [note], because: test }`,
          ].join('\n'),
        },
      ]);
      const rows = HOSTILE.map((h, i) =>
        JSON.parse(JSON.stringify({ id: `t${i}`, team: operand, note: h, secret: h, [h]: h, extra: { [h]: h } })),
      ) as Record<string, unknown>[];
      const { data } = policies.redact(rows, {
        resource: 'Thing',
        purpose: 'work',
        user: { sub: 'u', roles: ['worker'], training: '2026-01-01' },
        now: new Date('2026-06-01T00:00:00Z'),
      });
      const expected = rows.map((r, i) =>
        HOSTILE[i] === HOSTILE[4] ? { id: r['id'], team: operand } : { id: r['id'], team: operand, note: r['note'] },
      );
      same(data, expected);
      expect(JSON.stringify(data)).to.not.include('secret');
    });
  });
});
