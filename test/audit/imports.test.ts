import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const AUDIT = join(SRC, 'audit');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** The files a source names in its static `import … from` and `export … from` (type-only ones too): dynamic `import()` is not an edge. */
function staticImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/^(?:import|export)\s[^;]*?\sfrom\s+'([^']+)'|^import\s+'([^']+)'/gms)].map((m) => (m[1] ?? m[2]) as string);
  return specifiers.filter((s) => s.startsWith('.')).map((s) => resolve(dirname(file), s.replace(/\.js$/, '.ts')));
}

/** The first circle found among the static imports of `files` and of what they import inside `within`, as paths relative to `within`, or undefined. */
function firstCircle(files: string[], within: string): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (file: string): string[] | undefined => {
    if (state.get(file) === 'done') return undefined;
    if (state.get(file) === 'open') return [...path.slice(path.indexOf(file)), file].map((f) => relative(within, f));
    state.set(file, 'open');
    path.push(file);
    for (const next of staticImports(file).filter((f) => f.startsWith(within))) {
      const circle = visit(next);
      if (circle !== undefined) return circle;
    }
    path.pop();
    state.set(file, 'done');
    return undefined;
  };
  for (const file of files) {
    const circle = visit(file);
    if (circle !== undefined) return circle;
  }
  return undefined;
}

describe('audit (the folder)', () => {
  it('has no import circle inside src/audit, type-only imports included', () => {
    expect(firstCircle(sources(AUDIT), AUDIT)).to.equal(undefined);
  });

  it('names the circle a factory and its drivers used to make through type-only imports (the check can fail)', () => {
    // The layout before: store.ts imported both drivers to build its factory, and they imported their types from it.
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-imports-'));
    try {
      writeFileSync(join(dir, 'store.ts'), "import { openSqliteStore } from './sqlite/store.js';\nexport interface AuditStore { close(): Promise<void> }\n");
      const sqlite = join(dir, 'sqlite');
      mkdirSync(sqlite);
      writeFileSync(join(sqlite, 'store.ts'), "import type {\n  AuditStore,\n} from '../store.js';\nexport function openSqliteStore(): AuditStore | undefined { return undefined; }\n");
      expect(firstCircle([join(dir, 'store.ts')], dir)).to.deep.equal(['store.ts', 'sqlite/store.ts', 'store.ts']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the contract apart: types.ts imports nothing but types, and no driver folder', () => {
    const text = readFileSync(join(AUDIT, 'types.ts'), 'utf8');
    const imports = [...text.matchAll(/^import\s.*$/gm)].map((m) => m[0]);
    expect(imports.every((line) => line.startsWith('import type '))).to.equal(true);
    expect(staticImports(join(AUDIT, 'open.ts')).filter((f) => f.startsWith(join(AUDIT, 'sqlite')) || f.startsWith(join(AUDIT, 'postgres')))).to.deep.equal([]);
  });
});
