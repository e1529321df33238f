import { expect } from 'chai';
import { z } from 'zod';
import { editorSchema } from '../../src/lib/json-schema.js';

describe('lib/json-schema', () => {
  describe('editorSchema', () => {
    const opts = { title: 'T', description: 'D', descriptions: {} };

    it('makes strict objects refuse unknown keys and leaves keys with a default optional', () => {
      const json = editorSchema(z.strictObject({ a: z.string(), b: z.boolean().default(true) }), opts);
      expect(json).to.deep.include({ title: 'T', description: 'D', type: 'object', required: ['a'], additionalProperties: false });
      expect(Object.keys(json)[0]).to.equal('$schema');
    });

    it('drops the Date a YAML reader may make of a date, keeping the string', () => {
      const date = z.union([z.iso.date(), z.date().transform((d) => d.toISOString())]);
      const json = editorSchema(z.strictObject({ on: date }), opts);
      expect((json['properties'] as Record<string, unknown>)['on']).to.deep.include({ type: 'string', format: 'date' });
      expect(JSON.stringify(json)).to.not.include('"not"');
    });

    it('refuses a type JSON Schema cannot express, rather than letting anything through', () => {
      expect(() => editorSchema(z.strictObject({ n: z.bigint() }), opts)).to.throw(TypeError, /n: a bigint has no JSON Schema form/);
    });

    it('places descriptions by key path through maps (*), lists ([]) and unions', () => {
      const schema = z.strictObject({
        roles: z.record(z.string(), z.strictObject({ grants: z.array(z.strictObject({ where: z.string() })) })),
        read: z.union([z.literal('view'), z.array(z.strictObject({ at: z.string() }))]),
      });
      const json = editorSchema(schema, { ...opts, descriptions: { 'roles.*.grants[].where': 'row condition', 'read[].at': 'where' } });
      const text = JSON.stringify(json);
      expect(text).to.include('"where":{"type":"string","description":"row condition"}');
      expect(text).to.include('"at":{"type":"string","description":"where"}');
    });

    it('refuses a description whose path names no key, so the table cannot go stale unseen', () => {
      expect(() => editorSchema(z.strictObject({ a: z.string() }), { ...opts, descriptions: { 'a.b': 'x' } })).to.throw(
        TypeError,
        /"a\.b" names no key/,
      );
      expect(() => editorSchema(z.strictObject({ a: z.string() }), { ...opts, descriptions: { wher: 'x' } })).to.throw(TypeError);
    });
  });
});
