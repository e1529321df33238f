/**
 * The API of app.ts with need-to-know enforcement: the same handlers, with
 * fieldmesh in front of each route. Run: `npx tsx examples/express-app/server.ts`.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { fieldmesh } from '../../src/express/mesh.js';
import { findPatient, getPatient, listPatients, updatePatient } from './app.js';
import { DEMO_AUDIENCE, DEMO_ISSUER, DEMO_SECRET, demoToken } from './token.js';

/**
 * The protected app, and its mesh (close it when done). `now` fixes the clock for tests.
 *
 * @example
 * const { app, mesh } = await createProtectedApp({ audit: './audit.db' });
 */
export async function createProtectedApp(opts: { audit?: string; now?: () => Date } = {}) {
  const mesh = await fieldmesh({
    ...(opts.now ? { now: opts.now } : {}),
    policies: fileURLToPath(new URL('../../policies', import.meta.url)),
    jwt: { secret: DEMO_SECRET, issuer: DEMO_ISSUER, audience: DEMO_AUDIENCE },
    audit: opts.audit ?? process.env['FIELDMESH_AUDIT'] ?? join(tmpdir(), 'fieldmesh-example-audit.db'),
    pseudonymKey: process.env['FIELDMESH_PSEUDONYM_KEY'] ?? 'demo-only-pseudonym-key-change-me',
  });
  const app = express();
  app.get('/patients', mesh.read('Patient'), listPatients);
  app.get('/patients/:id', mesh.read('Patient'), getPatient);
  app.patch('/patients/:id', mesh.write('Patient', { load: (req) => findPatient(req.params['id']) }), updatePatient);
  return { app, mesh };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { app } = await createProtectedApp();
  const server = app.listen(Number(process.env['PORT'] ?? 3000), '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    console.log(`Patient API with fieldmesh on http://127.0.0.1:${port}`);
    console.log(
      `curl -s http://127.0.0.1:${port}/patients/pat-001 \\\n  -H "Authorization: Bearer ${demoToken('ward-nurse')}" \\\n  -H "X-Purpose: direct-care"`,
    );
    console.log('Other roles: npx tsx examples/express-app/token.ts gp|receptionist|analyst|researcher|safeguarding-lead');
  });
}
