/**
 * An existing record API, as a team might already run it: Patient routes
 * over a JSON file, with no access control of its own. `server.ts` puts
 * fieldmesh in front of these same handlers.
 */
import { readFileSync } from 'node:fs';
import express, { type Request, type Response } from 'express';

type Patient = Record<string, unknown> & { id: string };

const file = new URL('../../fixtures/records/Patient.json', import.meta.url);
const patients: Patient[] = JSON.parse(readFileSync(file, 'utf8')) as Patient[];

/**
 * The stored record with this id (for fieldmesh's `load`: update grants with row conditions need it).
 *
 * @example
 * await findPatient('pat-001'); // { id: 'pat-001', … }
 */
export async function findPatient(id: unknown): Promise<Patient | undefined> {
  return patients.find((p) => p.id === id);
}

/**
 * GET /patients: every patient, or those matching simple `?field=value` filters.
 *
 * @example
 * app.get('/patients', listPatients);
 */
export function listPatients(req: Request, res: Response): void {
  const filters = Object.entries(req.query).filter(([k]) => !k.startsWith('_'));
  res.json(patients.filter((p) => filters.every(([k, v]) => String(p[k]) === String(v))));
}

/**
 * GET /patients/:id
 *
 * @example
 * app.get('/patients/:id', getPatient);
 */
export async function getPatient(req: Request, res: Response): Promise<void> {
  const patient = await findPatient(req.params['id']);
  if (patient === undefined) res.status(404).json({ error: 'no such patient' });
  else res.json(patient);
}

/**
 * PATCH /patients/:id: merges the body into the record.
 *
 * @example
 * app.patch('/patients/:id', express.json(), updatePatient);
 */
export async function updatePatient(req: Request, res: Response): Promise<void> {
  const patient = await findPatient(req.params['id']);
  if (patient === undefined) {
    res.status(404).json({ error: 'no such patient' });
    return;
  }
  // Own keys only, never `__proto__`: a JSON body must not reach the prototype.
  for (const [key, value] of Object.entries(req.body as object)) if (key !== '__proto__') patient[key] = value;
  res.json(patient);
}

/**
 * The API without fieldmesh: every caller sees every field of every record.
 *
 * @example
 * createApp().listen(3000);
 */
export function createApp(): express.Express {
  const app = express();
  app.use(express.json());
  app.get('/patients', listPatients);
  app.get('/patients/:id', getPatient);
  app.patch('/patients/:id', updatePatient);
  return app;
}
