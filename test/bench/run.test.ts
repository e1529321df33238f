import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { benchFiles, runBench } from '../../bench/lib/harness.js';
import {
  type BenchResult,
  describeBench,
  EXPECTED_IDS,
  formatNumber,
  missingRows,
  parseResultLine,
  renderMarkdown,
  resultLine,
  sortResults,
} from '../../bench/lib/results.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const row = (id: string, over: Partial<BenchResult> = {}): BenchResult => ({
  id,
  what: `what ${id}`,
  fieldmesh: 1200,
  baseline: 2000,
  unit: 'req/s',
  ratio: 0.6,
  target: '≥ 0.5×',
  met: true,
  note: '',
  ...over,
});

const silent = { out: () => undefined, err: () => undefined };

describe('bench harness: result lines', () => {
  it('reads a result line and ignores every other line', () => {
    const r = row('gateway-vs-cerbos', { baseline: null, ratio: null, met: null });
    expect(parseResultLine(resultLine(r))).to.deep.equal({ kind: 'result', result: r });
    expect(parseResultLine('gateway: 16 connections')).to.deep.equal({ kind: 'none' });
    expect(parseResultLine(' BENCH-RESULT {}')).to.deep.equal({ kind: 'none' });
  });

  it('refuses a result line that breaks the protocol, saying why', () => {
    const cases: [string, RegExp][] = [
      ['BENCH-RESULT {not json', /not one JSON object/],
      ['BENCH-RESULT [1,2]', /not one JSON object/],
      [resultLine(row('x', { fieldmesh: Number.NaN })), /fieldmesh is not a finite number/],
      [`BENCH-RESULT ${JSON.stringify({ ...row('x'), ratio: '2' })}`, /ratio is not a finite number or null/],
      [`BENCH-RESULT ${JSON.stringify({ ...row('x'), met: 'yes' })}`, /met is not true, false or null/],
      [`BENCH-RESULT ${JSON.stringify({ ...row('x'), target: undefined })}`, /target is not a string/],
      [resultLine(row('')), /id is empty/],
    ];
    for (const [line, reason] of cases) {
      const parsed = parseResultLine(line);
      expect(parsed.kind, line).to.equal('malformed');
      if (parsed.kind === 'malformed') expect(parsed.reason).to.match(reason);
    }
  });

  it("orders rows as the issue's table, then the others by id, and names the missing ones", () => {
    const ids = sortResults([row('audit-b'), row('gateway-vs-cerbos'), row('audit-a'), row('engine-vs-naive-casl')]).map((r) => r.id);
    expect(ids).to.deep.equal(['engine-vs-naive-casl', 'gateway-vs-cerbos', 'audit-a', 'audit-b']);
    expect(missingRows(EXPECTED_IDS.filter((id) => id !== 'compile-100-roles').map((id) => row(id)))).to.deep.equal([
      { source: 'compile-100-roles', reason: 'no bench printed this row' },
    ]);
  });

  it('formats figures for the table', () => {
    expect(formatNumber(null)).to.equal('–');
    expect(formatNumber(271_345.6)).to.equal('271,346');
    expect(formatNumber(0.26789)).to.equal('0.268');
    expect(formatNumber(0)).to.equal('0');
  });

  it("takes a bench's first doc-comment paragraph as its 'how measured'", () => {
    expect(describeBench('/**\n * Gateway overhead: one\n * run.\n *\n * Run: x\n */\ncode')).to.equal('Gateway overhead: one run.');
    expect(describeBench('const x = 1;')).to.equal('');
  });
});

describe('bench harness: the table', () => {
  const info = {
    date: '2026-01-01T00:00:00.000Z',
    cpu: 'Test CPU',
    cores: 2,
    node: 'v20.0.0',
    commit: 'abc1234',
    load: [1.5, 2.25] as [number, number],
    quick: false,
  };

  it('writes the machine, one row per result in order, the failures and how each bench measured', () => {
    const md = renderMarkdown(
      info,
      [row('audit-x', { note: 'a | note' }), row('middleware-vs-bare', { met: false, ratio: 0.3 })],
      [{ source: 'gateway.ts', reason: 'exited with code 1' }],
      new Map([['gateway.ts', 'Gateway overhead.']]),
    );
    expect(md).to.contain('- Machine: Test CPU, 2 cores');
    expect(md).to.contain('- Node: v20.0.0');
    expect(md).to.contain('- Commit: abc1234');
    expect(md).to.contain('- Date: 2026-01-01T00:00:00.000Z');
    expect(md).to.contain('1.50 / 2.25');
    const lines = md.split('\n');
    const middleware = lines.findIndex((l) => l.startsWith('| middleware-vs-bare |'));
    const audit = lines.findIndex((l) => l.startsWith('| audit-x |'));
    expect(middleware).to.be.greaterThan(-1);
    expect(audit).to.be.greaterThan(middleware);
    expect(lines[middleware]).to.contain('| 0.30× |').and.to.contain('**no**');
    expect(md).to.contain('| gateway.ts | **failed**: exited with code 1 |');
    // A bench file that failed comes after every row.
    expect(lines.findIndex((l) => l.startsWith('| gateway.ts |'))).to.be.greaterThan(audit);
    expect(md).to.contain('- **audit-x**: a | note');
    expect(md).to.contain('- **bench/gateway.ts**: Gateway overhead.');
    expect(md).not.to.contain('quick run');
    expect(renderMarkdown({ ...info, quick: true }, [], [], new Map())).to.contain('quick run');
  });

  it("puts a row of the issue's table that nobody printed in its place, as failed", () => {
    const md = renderMarkdown(
      info,
      [row('audit-x'), row('gateway-vs-cerbos'), row('engine-vs-naive-casl')],
      missingRows([row('engine-vs-naive-casl'), row('gateway-vs-cerbos')]),
      new Map(),
    );
    const ids = md
      .split('\n')
      .filter((l) => l.startsWith('| ') && !l.startsWith('| row '))
      .map((l) => l.split(' | ')[0]!.slice(2));
    expect(ids).to.deep.equal([
      'engine-vs-naive-casl',
      'engine-vs-hand-written',
      'middleware-vs-bare',
      'gateway-vs-http-proxy',
      'gateway-vs-jwt-casl-proxy',
      'gateway-vs-cerbos',
      'compile-100-roles',
      'compile-1000-roles',
      'request-1000-vs-10-roles',
      'instances-1',
      'instances-2',
      'instances-3',
      'audit-x',
    ]);
    expect(md).to.contain('| engine-vs-hand-written | **failed**: no bench printed this row |');
    expect(md).to.contain('| instances-2 | **failed**: no bench printed this row |');
  });
});

describe('bench harness: running benches', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fieldmesh-bench-test-'));
    writeFileSync(
      join(dir, 'good.ts'),
      [
        '/** A fake bench that prints two rows. */',
        "const quick = process.argv.includes('--quick');",
        "console.log('warming up');",
        `console.log(${JSON.stringify(resultLine(row('engine-vs-naive-casl')))});`,
        `process.stdout.write(${JSON.stringify(resultLine(row('audit-fake', { note: 'quick?' })))}.replace('quick?', String(quick)));`,
      ].join('\n'),
    );
    writeFileSync(join(dir, 'fails.ts'), `console.log(${JSON.stringify(resultLine(row('audit-before-crash')))});\nprocess.exit(3);\n`);
    writeFileSync(join(dir, 'silent.ts'), "console.log('no rows here');\n");
    writeFileSync(join(dir, 'malformed.ts'), 'console.log(\'BENCH-RESULT {"id":"x"}\');\n');
    writeFileSync(join(dir, 'hangs.ts'), 'setInterval(() => undefined, 1000);\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('collects the rows of a bench, the last line too when it has no newline, and passes --quick through', async () => {
    const echoed: string[] = [];
    const run = await runBench(dir, 'good.ts', {
      quick: true,
      cwd: ROOT,
      timeoutMs: 60_000,
      echo: { out: (s) => echoed.push(s), err: () => undefined },
    });
    expect(run.failures).to.deep.equal([]);
    expect(run.results.map((r) => r.id)).to.deep.equal(['engine-vs-naive-casl', 'audit-fake']);
    expect(run.results[1]!.note).to.equal('true');
    expect(run.howMeasured).to.equal('A fake bench that prints two rows.');
    expect(run.seconds).to.be.greaterThan(0);
    expect(echoed.join('')).to.contain('warming up');
  });

  it('records a bench that exits non-zero as failed, keeping the rows it printed', async () => {
    const run = await runBench(dir, 'fails.ts', { quick: false, cwd: ROOT, timeoutMs: 60_000, echo: silent });
    expect(run.results.map((r) => r.id)).to.deep.equal(['audit-before-crash']);
    expect(run.failures).to.deep.equal([{ source: 'fails.ts', reason: 'exited with code 3' }]);
  });

  it('records a bench that prints no row, a malformed row, a missing file, or runs past its time as failed', async () => {
    const opts = { quick: false, cwd: ROOT, timeoutMs: 60_000, echo: silent };
    expect((await runBench(dir, 'silent.ts', opts)).failures).to.deep.equal([
      { source: 'silent.ts', reason: 'printed no BENCH-RESULT line' },
    ]);
    const malformed = await runBench(dir, 'malformed.ts', opts);
    expect(malformed.failures).to.have.length(1);
    expect(malformed.failures[0]!.reason).to.match(/^malformed result line: x: what is not a string/);
    expect((await runBench(dir, 'absent.ts', opts)).failures).to.deep.equal([
      { source: 'absent.ts', reason: 'the bench file does not exist' },
    ]);
    const hung = await runBench(dir, 'hangs.ts', { ...opts, timeoutMs: 3000 });
    expect(hung.failures).to.deep.equal([{ source: 'hangs.ts', reason: 'killed after 3 s' }]);
  });

  it('lists the named benches first, then the others sorted, never run.ts', () => {
    expect(benchFiles(['b.ts', 'a.ts'], ['z.ts', 'run.ts', 'a.ts', 'c.ts', 'x.d.ts', 'README.md'])).to.deep.equal([
      'b.ts',
      'a.ts',
      'c.ts',
      'z.ts',
    ]);
  });

  it('npm run bench: writes the table with every failure and exits 1 when a bench fails', () => {
    const only = mkdtempSync(join(tmpdir(), 'fieldmesh-bench-run-'));
    try {
      writeFileSync(join(only, 'good.ts'), readFileSync(join(dir, 'good.ts')));
      writeFileSync(join(only, 'silent.ts'), readFileSync(join(dir, 'silent.ts')));
      const out = join(only, 'BENCHMARKS.md');
      const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'run.ts'), '--quick', '--dir', only, '--out', out], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 120_000,
      });
      expect(r.status, r.stderr).to.equal(1);
      const md = readFileSync(out, 'utf8');
      expect(md).to.contain('quick run');
      expect(md).to.contain('| engine-vs-naive-casl |');
      expect(md).to.contain('| silent.ts | **failed**: printed no BENCH-RESULT line |');
      // The named benches of the table are absent from this directory: each is a failed row, and so is each row nobody printed.
      expect(md).to.contain('| gateway.ts | **failed**: the bench file does not exist |');
      expect(md).to.contain('| engine-vs-hand-written | **failed**: no bench printed this row |');
      expect(md).not.to.contain('| engine-vs-naive-casl | **failed**');
    } finally {
      rmSync(only, { recursive: true, force: true });
    }
  });
});
