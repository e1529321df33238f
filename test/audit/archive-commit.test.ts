/**
 * `fieldmesh audit archive` on PostgreSQL when the connection drops in the
 * checkpoint's transaction: the built binary talks to the server through a
 * proxy that reads the protocol's messages and cuts the link at a chosen
 * one. Once COMMIT was sent the rows may be gone, so the archive file must
 * never be deleted unless the trail shows the checkpoint did not commit.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openAuditStore } from '../../src/audit/open.js';
import { fieldmesh, fieldmeshAsync } from '../cli/run.js';
import { sampleEntry } from './entries.js';

const PG_URL = process.env.FIELDMESH_TEST_PG_URL;
const T = 'fieldmesh_audit_events';

/**
 * A proxy in front of PostgreSQL that forwards the frontend's messages one
 * by one and, at the first simple query or parse whose text matches `at`
 * (once a DELETE has gone by), either forwards it and then drops the client
 * (`after`) or drops both sides without forwarding it (`before`). With
 * `cutAfter`, every connection is then reset and new ones refused: the
 * trail is unreachable.
 */
async function dropProxy(
  upstreamPort: number,
  opts: { at: RegExp; forward: 'after' | 'before'; cutAfter: boolean },
): Promise<{ port: number; dropped: () => boolean; close: () => Promise<void> }> {
  const open = new Set<Socket>();
  let dropped = false;
  let cut = false;
  const server: Server = createServer((client) => {
    if (cut) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(upstreamPort, '127.0.0.1');
    open.add(client);
    open.add(upstream);
    let buf = Buffer.alloc(0);
    let started = false;
    let sawDelete = false;
    let mine = false;
    const close = (): void => {
      open.delete(client);
      open.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (d: Buffer) => {
      if (mine) return;
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (!started) {
          if (buf.length < 4) return;
          const len = buf.readInt32BE(0);
          if (buf.length < len) return;
          upstream.write(buf.subarray(0, len));
          buf = buf.subarray(len);
          started = true;
          continue;
        }
        if (buf.length < 5) return;
        const len = buf.readInt32BE(1);
        if (buf.length < len + 1) return;
        const msg = buf.subarray(0, len + 1);
        buf = buf.subarray(len + 1);
        const type = String.fromCharCode(msg[0] as number);
        const text = msg.subarray(5).toString('latin1');
        if ((type === 'Q' || type === 'P') && /DELETE FROM/i.test(text)) sawDelete = true;
        if (!dropped && (type === 'Q' || type === 'P') && opts.at.test(text) && (sawDelete || /DELETE FROM/i.test(text))) {
          dropped = true;
          mine = true;
          if (opts.forward === 'after') {
            // The server gets the message and then the end of the stream: it runs it; its answer never arrives.
            upstream.removeAllListeners('data');
            upstream.write(msg, () => upstream.end());
            client.destroy();
          } else close();
          if (opts.cutAfter) {
            cut = true;
            for (const s of open) if (s !== upstream) s.resetAndDestroy();
          }
          return;
        }
        upstream.write(msg);
      }
    });
    upstream.on('data', (d: Buffer) => {
      if (!mine) client.write(d);
    });
    client.on('error', close).on('close', () => (mine ? undefined : close()));
    upstream.on('error', close).on('close', () => (mine ? open.delete(upstream) : close()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    dropped: () => dropped,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('fieldmesh audit archive when the connection drops in the checkpoint (PostgreSQL, built binary)', function () {
  this.timeout(120_000);
  const dirs: string[] = [];
  const schemas: string[] = [];
  before(function () {
    if (PG_URL === undefined) {
      console.log('    (skipped: needs PostgreSQL: FIELDMESH_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test npm test)');
      this.skip();
    }
  });
  after(async () => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    if (PG_URL !== undefined && schemas.length > 0) {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
      await client.end();
    }
  });

  /** A schema of the test's own with 10 events of 2025 and 2 of now; the direct URL and one through a proxy. */
  async function trail(): Promise<{ dir: string; direct: string; via: (port: number) => string; rows: () => Promise<number> }> {
    const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-archive-commit-'));
    dirs.push(dir);
    const schema = `fm_arcommit_${randomBytes(6).toString('hex')}`;
    schemas.push(schema);
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    const url = new URL(PG_URL as string);
    url.searchParams.set('options', `-c search_path=${schema}`);
    const direct = url.toString();
    const store = await openAuditStore(direct);
    try {
      for (let i = 0; i < 10; i++) {
        await store.append(sampleEntry({ requestId: `old-${i}`, time: new Date(Date.UTC(2025, 0, 1) + i * 60_000).toISOString() }));
      }
      for (let i = 0; i < 2; i++) await store.append(sampleEntry({ requestId: `now-${i}` }));
    } finally {
      await store.close();
    }
    const via = (port: number): string => {
      const u = new URL(direct);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    };
    const rows = async (): Promise<number> => {
      const c = new pg.Client({ connectionString: direct });
      await c.connect();
      try {
        return Number((await c.query<{ n: string }>(`SELECT COUNT(*) AS n FROM ${T}`)).rows[0]?.n);
      } finally {
        await c.end();
      }
    };
    return { dir, direct, via, rows };
  }

  const upstreamPort = (): number => Number(new URL(PG_URL as string).port || 5432);

  it('COMMIT sent, answer lost, trail reachable again: the checkpoint is found, the archive kept, exit 0', async () => {
    const t = await trail();
    const proxy = await dropProxy(upstreamPort(), { at: /^COMMIT/i, forward: 'after', cutAfter: false });
    const out = join(t.dir, 'a.jsonl');
    try {
      const r = await fieldmeshAsync(['audit', 'archive', '--before', '2026-01-01', '--out', out, '--audit', t.via(proxy.port)]);
      expect(proxy.dropped()).to.equal(true);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.contain('archived seq 1 to 10').and.contain('the trail holds it: the archive is in place');
    } finally {
      await proxy.close();
    }
    expect(existsSync(out)).to.equal(true);
    expect(await t.rows()).to.equal(3);
    const v = fieldmesh(['audit', 'verify', '--archive', out, '--audit', t.direct]);
    expect(v.code, v.stdout).to.equal(0);
  });

  it('COMMIT sent, answer lost, trail unreachable: exit 2, the archive kept, and verify --archive passes once it is back', async () => {
    const t = await trail();
    const proxy = await dropProxy(upstreamPort(), { at: /^COMMIT/i, forward: 'after', cutAfter: true });
    const out = join(t.dir, 'b.jsonl');
    try {
      const r = await fieldmeshAsync(['audit', 'archive', '--before', '2026-01-01', '--out', out, '--audit', t.via(proxy.port)]);
      expect(proxy.dropped()).to.equal(true);
      expect(r.code, r.stdout).to.equal(2);
      expect(r.stderr).to.contain(`the archive ${out} is kept`).and.contain(`run \`audit verify --archive ${out}\` when it is back`);
    } finally {
      await proxy.close();
    }
    expect(existsSync(out)).to.equal(true);
    expect(await t.rows()).to.equal(3); // it did commit: the file is the only copy of seq 1 to 10
    const v = fieldmesh(['audit', 'verify', '--archive', out, '--audit', t.direct]);
    expect(v.code, v.stdout).to.equal(0);
  });

  it('dropped before COMMIT was sent: nothing committed, the file withdrawn, exit 2, and a retry archives', async () => {
    const t = await trail();
    const proxy = await dropProxy(upstreamPort(), { at: /DELETE FROM/i, forward: 'before', cutAfter: true });
    const out = join(t.dir, 'c.jsonl');
    try {
      const r = await fieldmeshAsync(['audit', 'archive', '--before', '2026-01-01', '--out', out, '--audit', t.via(proxy.port)]);
      expect(proxy.dropped()).to.equal(true);
      expect(r.code, r.stdout).to.equal(2);
      expect(r.stderr).to.contain('cannot be written');
    } finally {
      await proxy.close();
    }
    expect(existsSync(out)).to.equal(false);
    expect(await t.rows()).to.equal(12);
    expect(fieldmesh(['audit', 'verify', '--audit', t.direct]).code).to.equal(0);
    const again = fieldmesh(['audit', 'archive', '--before', '2026-01-01', '--out', out, '--audit', t.direct]);
    expect(again.code, again.stderr).to.equal(0);
  });
});
