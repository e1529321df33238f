import jwt from 'jsonwebtoken';

/**
 * The demo's HMAC secret: public, printed on start, never to be used anywhere else.
 *
 * @example
 * jwt.sign({ sub: 'gp-1', roles: ['gp'], training }, DEMO_JWT_SECRET, { expiresIn: '8h' });
 */
export const DEMO_JWT_SECRET = 'fieldmesh-demo-only-hmac-secret-do-not-use-in-production';
/**
 * The demo's pseudonym key: public, printed on start, never to be used anywhere else.
 *
 * @example
 * resolveConfig(flags, { FIELDMESH_PSEUDONYM_KEY: DEMO_PSEUDONYM_KEY });
 */
export const DEMO_PSEUDONYM_KEY = 'fieldmesh-demo-only-pseudonym-key';

/**
 * One ready-to-paste request of the demo, and what it shows.
 */
export interface DemoStep {
  title: string;
  curl: string;
}

interface DemoRequest {
  title: string;
  claims: Record<string, unknown>;
  path: string;
  purpose: string;
  breakGlass?: string;
}

const REQUESTS: DemoRequest[] = [
  {
    title: 'A GP reads a patient registered at the practice, for direct care: the whole direct-care view',
    claims: { sub: 'gp-1', roles: ['gp'], practice: 'B86001' },
    path: '/patients/pat-001',
    purpose: 'direct-care',
  },
  {
    title: 'A receptionist reads the same patient for administration: contact details, a masked NHS number, no diagnoses',
    claims: { sub: 'rec-1', roles: ['receptionist'] },
    path: '/patients/pat-001',
    purpose: 'administration',
  },
  {
    title: 'An analyst lists patients for service planning: pseudonyms, age bands, postcode districts; opted-out rows withheld',
    claims: { sub: 'analyst-1', roles: ['analyst'] },
    path: '/patients',
    purpose: 'service-planning',
  },
  {
    title: 'A receptionist filters by diagnosis, a field they may not see: refused (403 filter_forbidden), never forwarded',
    claims: { sub: 'rec-1', roles: ['receptionist'] },
    path: '/patients?diagnoses.code=J45',
    purpose: 'administration',
  },
  {
    title: "A ward-7 nurse breaks glass to read a ward-9 patient in an emergency: shown at once, flagged for the guardian's review",
    claims: { sub: 'nurse-1', roles: ['ward-nurse'], team: 'ward-7' },
    path: '/patients/pat-003',
    purpose: 'emergency',
    breakGlass: 'Patient collapsed in the corridor, ward-9 team cannot be reached',
  },
];

/**
 * The demo's requests as curl commands, each with a freshly signed token
 * (HS256, 8 hours) whose `training` claim is recent (Caldicott 5).
 *
 * @example
 * for (const step of demoSteps('http://127.0.0.1:8080')) console.log(step.title, step.curl);
 */
export function demoSteps(gatewayUrl: string, now: Date = new Date()): DemoStep[] {
  const training = new Date(now.getTime() - 30 * 86_400_000).toISOString().slice(0, 10);
  return REQUESTS.map((r) => {
    const token = jwt.sign({ ...r.claims, training }, DEMO_JWT_SECRET, { algorithm: 'HS256', expiresIn: '8h' });
    const headers = [`-H 'Authorization: Bearer ${token}'`, `-H 'X-Purpose: ${r.purpose}'`];
    if (r.breakGlass !== undefined) headers.push(`-H 'X-Break-Glass: ${r.breakGlass}'`);
    return { title: r.title, curl: `curl -s '${gatewayUrl}${r.path}' ${headers.join(' ')}` };
  });
}

/**
 * The text `fieldmesh demo` prints once everything listens.
 */
export function demoGuide(o: { gatewayUrl: string; apiUrl: string; audit: string; now?: Date }): string {
  const steps = demoSteps(o.gatewayUrl, o.now);
  return [
    '',
    'fieldmesh demo',
    `  record API (no access control):   ${o.apiUrl}`,
    `  fieldmesh gateway in front of it: ${o.gatewayUrl}`,
    `  audit trail:                      ${o.audit}`,
    '',
    'DEMO ONLY: the HMAC secret and the pseudonym key below are public. Never use them elsewhere.',
    `  FIELDMESH_JWT_SECRET=${DEMO_JWT_SECRET}`,
    `  FIELDMESH_PSEUDONYM_KEY=${DEMO_PSEUDONYM_KEY}`,
    '',
    'Try these (tokens are valid for 8 hours):',
    '',
    ...steps.flatMap((s, i) => [`# ${i + 1}. ${s.title}`, s.curl, '']),
    '# Every request above was recorded, field names only, never values:',
    `npx fieldmesh audit query --audit ${o.audit}`,
    '',
    'Press Ctrl-C to stop.',
    '',
  ].join('\n');
}
