import { z } from 'zod';

/** A JSON Schema document, as plain JSON. */
export type JsonSchema = { [key: string]: unknown };

/**
 * What an editor shows for a file: a title, a description for the file, and
 * descriptions by key path: `roles.*.grants[].where` (`*` is any key of a
 * map, `[]` any item of a list).
 */
export interface EditorSchemaOptions {
  title: string;
  description: string;
  descriptions: Readonly<Record<string, string>>;
}

/**
 * A zod schema as the JSON Schema (draft 2020-12) an editor validates YAML
 * files against: the input side (a key with a default may be left out),
 * strict objects as `additionalProperties: false`, and descriptions where a
 * person needs them while typing. What JSON Schema cannot say (a
 * refinement across keys, a calendar check) stays with the runtime schema,
 * which runs on every load.
 *
 * A `Date` the YAML reader may make of an unquoted date is left out: YAML
 * 1.2, which editors and fieldmesh read, makes a string of it. Any other
 * type JSON Schema cannot express throws, so a new one is handled on
 * purpose rather than turned into "anything goes". A description whose path
 * names no key throws too, so the table cannot go stale unseen.
 *
 * @example
 * editorSchema(z.strictObject({ a: z.string() }), { title: 'T', description: 'D', descriptions: { a: 'the a' } });
 */
export function editorSchema(schema: z.ZodType, opts: EditorSchemaOptions): JsonSchema {
  const json = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: ({ zodSchema, path }) => {
      if (zodSchema._zod.def.type === 'date') return { not: {} };
      throw new TypeError(`${path.join('.')}: a ${zodSchema._zod.def.type} has no JSON Schema form: say how an editor should check it`);
    },
  }) as JsonSchema;
  const out = withoutImpossible(json) as JsonSchema;
  for (const [path, description] of Object.entries(opts.descriptions)) {
    const node = nodeAt(out, path);
    if (!node) throw new TypeError(`the description of "${path}" names no key of the schema "${opts.title}"`);
    node['description'] = description;
  }
  const { $schema, ...rest } = out;
  return { $schema, title: opts.title, description: opts.description, ...rest };
}

const isObject = (v: unknown): v is JsonSchema => typeof v === 'object' && v !== null && !Array.isArray(v);
const isImpossible = (v: unknown) => isObject(v) && Object.keys(v).length === 1 && isObject(v['not']) && Object.keys(v['not']).length === 0;

/** Drop `{ not: {} }` branches of every `anyOf`; a single branch left takes the place of the `anyOf`. */
function withoutImpossible(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutImpossible);
  if (!isObject(node)) return node;
  const out: JsonSchema = {};
  for (const [k, v] of Object.entries(node)) out[k] = withoutImpossible(v);
  const anyOf = out['anyOf'];
  if (Array.isArray(anyOf)) {
    const possible = anyOf.filter((b) => !isImpossible(b));
    if (possible.length === 1 && isObject(possible[0])) {
      const { anyOf: _, ...rest } = out;
      return { ...rest, ...possible[0] };
    }
    out['anyOf'] = possible;
  }
  return out;
}

/** The schema node at `roles.*.grants[].where`; an `anyOf` holds its branches' keys. */
function nodeAt(root: JsonSchema, path: string): JsonSchema | undefined {
  let node: JsonSchema | undefined = root;
  for (const step of path.split(/\.|(?=\[\])/)) {
    if (!node) return undefined;
    if (step === '[]') node = branchWith(node, 'items');
    else if (step === '*') node = branchWith(node, 'additionalProperties');
    else {
      const props = branchWith(node, 'properties');
      node = props && isObject(props[step]) ? (props[step] as JsonSchema) : undefined;
    }
  }
  return node;
}

function branchWith(node: JsonSchema, key: string): JsonSchema | undefined {
  if (isObject(node[key])) return node[key] as JsonSchema;
  const branches = Array.isArray(node['anyOf']) ? (node['anyOf'] as unknown[]) : [];
  const branch = branches.find((b) => isObject(b) && isObject(b[key]));
  return branch ? ((branch as JsonSchema)[key] as JsonSchema) : undefined;
}
