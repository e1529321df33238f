/**
 * A FHIR client through the gateway, end to end: a real FHIR R4 server
 * (medplum's router over its in-memory repository, loaded with Synthea-like
 * patients and vital signs), the gateway in front of it with the policies and
 * routes beside this file, and fhir-kit-client asking as a clinician and as a
 * clerk whose tokens carry their purpose of use. A clinician has rows hidden
 * (other practices), so a filtered search is not paged (`_count`): a page cut
 * before hidden rows are removed would show that they matched. Run:
 * `npx tsx examples/fhir/demo.ts` (docs/fhir.md, "Try it").
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from 'fhir-kit-client';
import jwt from 'jsonwebtoken';
import { pino } from 'pino';
import type { Bundle, CapabilityStatement, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { resolveConfig, startGateway } from '../../src/gateway/index.js';
import { startFhirServer } from '../../test/gateway/fhir-server.js';
import { LOINC, synthea } from '../../test/fixtures/fhir/synthea.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const SECRET = 'fhir-demo-secret-of-at-least-32-bytes!';

/** A token as an identity provider would issue it: roles, practice, training, and why the user asks (HL7 PurposeOfUse). */
function token(claims: Record<string, unknown>): string {
  const training = new Date(Date.now() - 30 * 86_400_000).toISOString().slice(0, 10);
  return jwt.sign({ training, ...claims }, SECRET, { algorithm: 'HS256', expiresIn: '5m' });
}

/** What a refused request's OperationOutcome says: the issue type and fieldmesh's code. */
function outcome(err: unknown): string {
  const oo = (err as { response?: { status?: number; data?: OperationOutcome } }).response;
  const issue = oo?.data?.issue?.[0];
  return `${oo?.status} ${issue?.code} ${issue?.details?.coding?.[0]?.code}`;
}

/** Run the demo, printing one line per step; returns the lines (the example's test reads them). */
export async function demo(print: (line: string) => void = console.log): Promise<string[]> {
  const lines: string[] = [];
  const say = (line: string) => {
    lines.push(line);
    print(line);
  };
  const data = synthea();
  const fhir = await startFhirServer(data.all);
  const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-fhir-demo-'));
  const gateway = await startGateway(
    resolveConfig(
      {
        upstream: fhir.url,
        routes: join(HERE, 'routes.yaml'),
        policies: join(HERE, 'policies'),
        port: '0',
        audit: join(dir, 'audit.db'),
        jwtSecret: SECRET,
        purposeClaim: 'purpose_of_use',
      },
      {},
    ),
    { watch: false, logger: pino({ level: 'silent' }) },
  );
  try {
    const clinician = new Client({
      baseUrl: gateway.url,
      customHeaders: {
        Authorization: `Bearer ${token({ sub: 'dr-1', roles: ['clinician'], practice: 'Y00001', purpose_of_use: 'TREAT' })}`,
      },
    });
    const clerk = new Client({
      baseUrl: gateway.url,
      customHeaders: { Authorization: `Bearer ${token({ sub: 'clerk-1', roles: ['clerk'], purpose_of_use: ['HOPERAT'] })}` },
    });

    const patients = (await clinician.search({
      resourceType: 'Patient',
      searchParams: { birthdate: 'ge1960' },
    })) as unknown as Bundle<Patient>;
    say(`clinician, Patient?birthdate=ge1960: ${patients.entry?.length ?? 0} patients of their own practice`);
    const first = patients.entry?.[0]?.resource;
    const since = (await clinician.search({
      resourceType: 'Observation',
      searchParams: { patient: `Patient/${first?.id}`, date: 'ge2025-01-01' },
    })) as unknown as Bundle;
    const heart = (await clinician.search({
      resourceType: 'Observation',
      searchParams: { patient: `Patient/${first?.id}`, code: `${LOINC}|8867-4` },
    })) as unknown as Bundle;
    say(`clinician, observations of ${first?.id}: ${since.entry?.length ?? 0} since 2025, ${heart.entry?.length ?? 0} heart rates`);

    const names = (await clerk.search({
      resourceType: 'Patient',
      searchParams: { family: first?.name?.[0]?.family ?? '' },
    })) as unknown as Bundle<Patient>;
    const one = names.entry?.[0]?.resource;
    say(
      `clerk, Patient?family=${first?.name?.[0]?.family}: ${names.entry?.length ?? 0} patients, fields ${Object.keys(one ?? {})
        .sort()
        .join(', ')}`,
    );
    // The administration purpose marks what it withholds: the label says fields were withheld, never which or what.
    say(`clerk, security labels: ${(one?.meta?.security ?? []).map((c) => c.code).join(', ')}`);
    await clerk.search({ resourceType: 'Patient', searchParams: { birthdate: 'ge1960' } }).then(
      () => say('clerk, Patient?birthdate=ge1960: answered (unexpected)'),
      (err: unknown) => say(`clerk, Patient?birthdate=ge1960: refused, ${outcome(err)}`),
    );

    // medplum's in-memory router has no CapabilityStatement of its own (it reads /metadata as a search): the gateway says 502.
    await clinician.capabilityStatement().then(
      (found: unknown) => say(`/metadata: ${((found as CapabilityStatement).rest?.[0]?.resource ?? []).map((r) => r.type).join(', ')}`),
      (err: unknown) => say(`/metadata: ${outcome(err)} (this upstream has no CapabilityStatement)`),
    );
  } catch (err) {
    say(`refused: ${outcome(err)}`);
  } finally {
    await gateway.close();
    await fhir.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return lines;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await demo();
