import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import ts from 'typescript';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/**
 * The layers, lowest first: what each folder of src/ may import besides
 * itself. The engine (lib, policy, engine) knows nothing of HTTP, storage or
 * the shells built on it; FHIR knowledge (src/fhir) sits on the engine for both shells; the audit sees the engine only through its types
 * (a decision to record); the two HTTP shells share src/http and never reach
 * into each other. `index.ts` at the root is the package entry: it may name
 * anything a user imports from `fieldmesh`.
 */
const MAY_IMPORT: Record<string, readonly string[]> = {
  lib: [],
  policy: ['lib'],
  engine: ['policy', 'lib'],
  audit: ['lib'],
  fhir: ['engine', 'policy', 'lib'],
  http: ['fhir', 'engine', 'policy', 'audit', 'lib'],
  express: ['http', 'fhir', 'engine', 'policy', 'audit', 'lib'],
  gateway: ['http', 'fhir', 'engine', 'policy', 'audit', 'lib'],
  demo: ['express', 'gateway', 'http', 'fhir', 'engine', 'policy', 'audit', 'lib', 'testing'],
  testing: ['engine', 'policy', 'lib'],
  cli: ['demo', 'express', 'gateway', 'http', 'fhir', 'engine', 'policy', 'audit', 'lib', 'testing'],
  '.': ['express', 'gateway', 'http', 'fhir', 'engine', 'policy', 'audit', 'lib', 'testing'],
};

/** Layers a folder may import types from (erased at runtime), beyond MAY_IMPORT. */
const MAY_IMPORT_TYPES: Record<string, readonly string[]> = {
  audit: ['engine'],
};

interface Edge {
  from: string;
  to: string;
  /** `import type` / `export type`, or every named binding type-only: gone at runtime. */
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

function isTypeOnly(clause: ts.ImportClause | undefined): boolean {
  if (clause === undefined) return false; // `import './x.js'` runs the module
  if (clause.isTypeOnly) return true;
  if (clause.name !== undefined) return false;
  const bindings = clause.namedBindings;
  return (
    bindings !== undefined && ts.isNamedImports(bindings) && bindings.elements.length > 0 && bindings.elements.every((e) => e.isTypeOnly)
  );
}

/**
 * Every import of a file, static or dynamic, with whether it is type-only.
 * The specifier list is TypeScript's own pre-processor's (`ts.preProcessFile`,
 * which also finds `import()` and re-exports); the syntax tree is read only
 * to learn which of them are type-only, which the pre-processor cannot tell.
 */
function specifiersOf(file: string): { spec: string; typeOnly: boolean }[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
  const typeOnly = new Map<string, boolean>();
  const tree = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  for (const statement of tree.statements) {
    let spec: ts.Expression | undefined;
    let types = false;
    if (ts.isImportDeclaration(statement)) {
      spec = statement.moduleSpecifier;
      types = isTypeOnly(statement.importClause);
    } else if (ts.isExportDeclaration(statement) && statement.moduleSpecifier !== undefined) {
      spec = statement.moduleSpecifier;
      const clause = statement.exportClause;
      types =
        statement.isTypeOnly ||
        (clause !== undefined && ts.isNamedExports(clause) && clause.elements.length > 0 && clause.elements.every((e) => e.isTypeOnly));
    }
    if (spec !== undefined && ts.isStringLiteral(spec)) typeOnly.set(spec.text, (typeOnly.get(spec.text) ?? true) && types);
  }
  return specifiers.map((spec) => ({ spec, typeOnly: typeOnly.get(spec) ?? false }));
}

/** Every relative import of a file: the edges of src/'s graph. */
function importsOf(file: string): Edge[] {
  return specifiersOf(file)
    .filter(({ spec }) => spec.startsWith('.'))
    .map(({ spec, typeOnly }) => ({
      from: relative(SRC, file),
      to: relative(SRC, resolve(dirname(file), spec.replace(/\.js$/, '.ts'))),
      typeOnly,
    }));
}

/** The npm package an import names (`@scope/name`, or `name`), or undefined for a relative or `node:` import. */
function packageOf(spec: string): string | undefined {
  if (spec.startsWith('.') || spec.startsWith('node:')) return undefined;
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

function layerOf(path: string): string {
  const slash = path.indexOf('/');
  return slash === -1 ? '.' : path.slice(0, slash);
}

function graph(): Map<string, Edge[]> {
  return new Map(sourceFiles(SRC).map((f) => [relative(SRC, f), importsOf(f)]));
}

/** Every elementary circle's files, found by Tarjan's strongly connected components, each with one path around it. */
function circles(g: Map<string, Edge[]>): { members: string[]; path: string[] }[] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: { members: string[]; path: string[] }[] = [];
  const next = (v: string) => (g.get(v) ?? []).map((e) => e.to).filter((t) => g.has(t));

  function connect(v: string): void {
    index.set(v, counter);
    low.set(v, counter);
    counter += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of next(v)) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const members: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      members.push(w);
    } while (w !== v);
    const selfLoop = next(v).includes(v);
    if (members.length > 1 || selfLoop) found.push({ members: members.sort(), path: cyclePath(v, new Set(members)) });
  }

  /** A shortest way from `start` back to itself inside its component, for the failure message. */
  function cyclePath(start: string, within: Set<string>): string[] {
    const previous = new Map<string, string>();
    const queue = [start];
    while (queue.length > 0) {
      const v = queue.shift()!;
      for (const w of next(v)) {
        if (!within.has(w)) continue;
        if (w === start) {
          const path = [start];
          for (let u: string | undefined = v; u !== undefined && u !== start; u = previous.get(u)) path.unshift(u);
          path.unshift(start);
          return path;
        }
        if (!previous.has(w)) {
          previous.set(w, v);
          queue.push(w);
        }
      }
    }
    return [start];
  }

  for (const v of [...g.keys()].sort()) if (!index.has(v)) connect(v);
  return found;
}

describe('architecture', () => {
  it('reads every import of src/ (the rules below would pass vacuously otherwise)', () => {
    const g = graph();
    expect(g.size).to.be.greaterThan(80);
    expect(g.get('engine/compile.ts')?.map((e) => e.to)).to.include('lib/canonical-json.ts');
    expect(
      g.get('index.ts')?.find((e) => e.to === 'express/mesh.ts'),
      'the dynamic import of the middleware',
    ).to.not.equal(undefined);
    expect(g.get('express/mesh.ts')?.find((e) => e.to === 'express/options.ts')?.typeOnly).to.equal(false);
    expect(g.get('audit/event.ts')?.find((e) => e.to === 'engine/decision.ts')?.typeOnly).to.equal(true);
  });

  it('has no import circle', () => {
    const found = circles(graph());
    expect(
      found.map((c) => `${c.path.join(' → ')} (component: ${c.members.join(', ')})`),
      'import circles',
    ).to.deep.equal([]);
  });

  it('imports only downward: lib → policy → engine → audit → http → express | gateway → demo → cli', () => {
    const upward: string[] = [];
    for (const [file, edges] of graph()) {
      const layer = layerOf(file);
      const allowed = MAY_IMPORT[layer];
      expect(allowed, `a layer for src/${layer}/ in MAY_IMPORT`).to.not.equal(undefined);
      for (const edge of edges) {
        const target = layerOf(edge.to);
        if (target === layer) continue;
        const ok = allowed!.includes(target) || (edge.typeOnly && (MAY_IMPORT_TYPES[layer] ?? []).includes(target));
        if (!ok) upward.push(`${file} → ${edge.to}${edge.typeOnly ? ' (types)' : ''}`);
      }
    }
    expect(upward, 'imports against the layering').to.deep.equal([]);
  });

  it('loads at run time only the packages it depends on: express is a peer used for types only, better-sqlite3 optional and loaded lazily', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      dependencies: Record<string, string>;
      optionalDependencies: Record<string, string>;
      peerDependencies: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
    };
    expect(pkg.peerDependencies).to.have.property('express');
    expect(pkg.peerDependenciesMeta.express?.optional).to.equal(true);
    expect(pkg.optionalDependencies).to.have.property('better-sqlite3');
    const runtime = new Map<string, string[]>();
    let typeOnlyExpress = 0;
    for (const file of sourceFiles(SRC)) {
      for (const { spec, typeOnly } of specifiersOf(file)) {
        const name = packageOf(spec);
        if (name === undefined) continue;
        if (typeOnly) {
          if (name === 'express') typeOnlyExpress++;
          continue;
        }
        runtime.set(name, [...(runtime.get(name) ?? []), relative(SRC, file)]);
      }
    }
    expect(typeOnlyExpress, 'the middleware names express types (the check would pass vacuously otherwise)').to.be.greaterThan(0);
    const undeclared = [...runtime.keys()].filter((name) => !(name in pkg.dependencies) && !(name in pkg.optionalDependencies));
    expect(undeclared, 'packages imported at run time that are not dependencies').to.deep.equal([]);
    expect(runtime.get('better-sqlite3')?.every((f) => f.startsWith('audit/sqlite/'))).to.equal(true);
    // The SQLite store (and through it the driver) is reached only through the loader that names the missing package.
    const intoStore = [...graph()].flatMap(([file, edges]) =>
      edges.filter((e) => e.to === 'audit/sqlite/store.ts' && !e.typeOnly).map(() => file),
    );
    expect([...new Set(intoStore)]).to.deep.equal(['audit/load-sqlite.ts']);
  });
});
