import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { createProtectedApp } from '../../examples/express-app/server.js';
import { demoToken } from '../../examples/express-app/token.js';
import { cleanup, NOW, onCleanup } from './harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function tempAudit(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-example-'));
  onCleanup(async () => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'audit.db');
}

describe('examples/express-app', () => {
  afterEach(cleanup);

  it('serves a ward nurse the nursing view of a patient over a real connection', async () => {
    const { app, mesh } = await createProtectedApp({ audit: tempAudit(), now: () => NOW });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    onCleanup(async () => {
      await new Promise((resolve) => server.close(resolve));
      await mesh.close();
    });
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/patients/pat-001`, {
      headers: { Authorization: `Bearer ${demoToken('ward-nurse', NOW)}`, 'X-Purpose': 'direct-care' },
    });
    expect(res.status).to.equal(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body['id']).to.equal('pat-001');
    expect(body).to.have.property('diagnoses');
    expect(body).not.to.have.any.keys('address', 'telecom', 'gp', 'flags', 'consent');
    const [event] = await mesh.audit.query({});
    expect(event).to.include({ user: 'nurse-1', decision: 'disclosed', resource: 'Patient' });
  });

  it('runs as `tsx examples/express-app/server.ts`, printing its port and a curl example', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/express-app/server.ts'], {
      cwd: ROOT,
      env: { ...process.env, PORT: '0', FIELDMESH_AUDIT: tempAudit() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onCleanup(async () => {
      child.kill();
    });
    let out = '';
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (m && out.includes('X-Purpose')) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`the example exited with ${code}: ${out}`)));
    });
    expect(out).to.match(/curl -s http:\/\/127\.0\.0\.1:\d+\/patients\/pat-001/);
    expect(out).to.match(/Authorization: Bearer [\w-]+\.[\w-]+\.[\w-]+/);
    const anonymous = await fetch(`http://127.0.0.1:${port}/patients/pat-001`, { headers: { 'X-Purpose': 'direct-care' } });
    expect(anonymous.status).to.equal(401);
    expect(await anonymous.json()).to.have.nested.property('error.code', 'unauthenticated');
  });
});
