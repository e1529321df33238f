import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import express from 'express';
import request from 'supertest';
import { FieldmeshError, PolicyError } from '../../src/lib/errors.js';
import { AccessError } from '../../src/engine/access-error.js';
import { FIELDMESH_ERROR_SYSTEM } from '../../src/fhir/operation-outcome.js';
import { securityHeaders, sendError } from '../../src/http/respond.js';

/** An express app whose one route fails with `err`. */
function expressApp(err: unknown) {
  const app = express();
  app.get('/patients', (_req, res) => {
    res.setHeader('ETag', '"upstream"');
    sendError(res, err, 'req-1');
  });
  return app;
}

/** A plain node:http server on 127.0.0.1 whose every response goes through `handler`. */
async function nodeServer(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return { url, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('sendError', () => {
  describe('on an express response', () => {
    it('answers an AccessError with its status and code, as JSON that no one caches', async () => {
      const res = await request(
        expressApp(new AccessError('training_expired', 'Your confidentiality training is older than 365 days')),
      ).get('/patients');
      expect(res.status).to.equal(403);
      expect(res.body).to.deep.equal({
        error: { code: 'training_expired', message: 'Your confidentiality training is older than 365 days' },
      });
      expect(res.headers['content-type']).to.equal('application/json; charset=utf-8');
      expect(res.headers['cache-control']).to.equal('no-store');
      expect(res.headers['x-content-type-options']).to.equal('nosniff');
      expect(res.headers['x-request-id']).to.equal('req-1');
    });

    it('names the Bearer scheme on a 401', async () => {
      const res = await request(expressApp(new AccessError('unauthenticated', 'token expired'))).get('/patients');
      expect(res.status).to.equal(401);
      expect(res.headers['www-authenticate']).to.equal('Bearer realm="fieldmesh"');
    });

    it('answers a 5xx FieldmeshError with its fixed public message, never the internal one', async () => {
      const res = await request(expressApp(new AccessError('audit_unavailable', 'SQLITE_BUSY at /var/lib/fieldmesh/audit.db'))).get(
        '/patients',
      );
      expect(res.status).to.equal(503);
      expect(res.body.error.code).to.equal('audit_unavailable');
      expect(res.body.error.message).to.equal('The audit trail cannot be written, so nothing is disclosed');
      expect(res.text).not.to.include('SQLITE_BUSY');
    });

    it('answers a policy error as a 500 without listing the policy problems', async () => {
      const err = new PolicyError([{ file: 'policies/roles.yaml', path: 'roles.nurse', message: 'secret detail', severity: 'error' }]);
      const res = await request(expressApp(err)).get('/patients');
      expect(res.status).to.equal(500);
      expect(res.text).not.to.include('secret detail');
    });

    it('answers anything else as a 500 that discloses nothing', async () => {
      const res = await request(expressApp(new Error('connect ECONNREFUSED 10.0.0.7:5432 for patient Jane Doe'))).get('/patients');
      expect(res.status).to.equal(500);
      expect(res.body).to.deep.equal({ error: { code: 'internal', message: 'Internal error: nothing was disclosed' } });
      expect(res.headers['x-request-id']).to.equal('req-1');
    });

    it('answers a FieldmeshError with a status outside 4xx/5xx as a 500', async () => {
      // The registry allows no such status; a subclass can still set one, and sendError must not trust it.
      class Odd extends FieldmeshError {
        override readonly status = 200;
      }
      const res = await request(expressApp(new Odd('bad_request', 'fine'))).get('/patients');
      expect(res.status).to.equal(500);
      expect(res.body.error.code).to.equal('internal');
    });

    it('drops headers that described the body it replaces', async () => {
      const res = await request(expressApp(new AccessError('not_found', 'No such record'))).get('/patients');
      expect(res.status).to.equal(404);
      expect(res.headers).not.to.have.property('etag');
    });
  });

  describe('on a plain node:http response', () => {
    it('answers with status, JSON body and headers', async () => {
      const server = await nodeServer((_req, res) => {
        res.setHeader('Content-Encoding', 'gzip');
        sendError(res, new AccessError('purpose_required', 'Declare a purpose'), 'req-2');
      });
      try {
        const res = await fetch(server.url);
        expect(res.status).to.equal(400);
        expect(await res.json()).to.deep.equal({ error: { code: 'purpose_required', message: 'Declare a purpose' } });
        expect(res.headers.get('content-type')).to.equal('application/json; charset=utf-8');
        expect(res.headers.get('cache-control')).to.equal('no-store');
        expect(res.headers.get('x-request-id')).to.equal('req-2');
        expect(res.headers.get('content-encoding')).to.equal(null);
      } finally {
        await server.close();
      }
    });

    it('cuts the connection when the response had already begun, so a partial body cannot pass for a whole one', async () => {
      const server = await nodeServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '1000' });
        res.write('[{"id":"p1"');
        setImmediate(() => sendError(res, new Error('redaction failed half-way'), 'req-3'));
      });
      try {
        const res = await fetch(server.url);
        expect(res.status).to.equal(200);
        let failed = false;
        try {
          await res.text();
        } catch {
          failed = true;
        }
        expect(failed).to.equal(true);
      } finally {
        await server.close();
      }
    });
  });
});

describe('securityHeaders', () => {
  it('marks a response as not to be stored or sniffed', async () => {
    const app = express();
    app.get('/patients', (_req, res) => {
      securityHeaders(res);
      res.json([]);
    });
    const res = await request(app).get('/patients');
    expect(res.headers['cache-control']).to.equal('no-store');
    expect(res.headers['x-content-type-options']).to.equal('nosniff');
  });
  describe('as a FHIR OperationOutcome', () => {
    function fhirApp(err: unknown) {
      const app = express();
      app.get('/Patient', (_req, res) => {
        res.setHeader('ETag', '"upstream"');
        res.setHeader('Allow', 'GET');
        sendError(res, err, 'req-1', { fhir: true, resourceType: 'Patient' });
      });
      return app;
    }

    it('answers with the same status and headers, labelled FHIR, the code in details and the fields as expressions', async () => {
      const res = await request(
        fhirApp(
          new AccessError('filter_forbidden', 'You may not filter, sort or look records up by "birthdate"', undefined, ['birthDate']),
        ),
      ).get('/Patient');
      expect(res.status).to.equal(403);
      expect(res.headers['content-type']).to.equal('application/fhir+json; charset=utf-8');
      expect(res.headers['cache-control']).to.equal('no-store');
      expect(res.headers['x-request-id']).to.equal('req-1');
      expect(res.headers['allow']).to.equal('GET');
      expect(res.headers).not.to.have.property('etag');
      expect(JSON.parse(res.text)).to.deep.equal({
        resourceType: 'OperationOutcome',
        issue: [
          {
            severity: 'error',
            code: 'forbidden',
            details: {
              coding: [{ system: FIELDMESH_ERROR_SYSTEM, code: 'filter_forbidden' }],
              text: 'You may not filter, sort or look records up by "birthdate"',
            },
            expression: ['Patient.birthDate'],
          },
        ],
      });
    });

    it('names the Bearer scheme on a 401, and keeps an unknown failure to the fixed internal 500', async () => {
      const unauthenticated = await request(fhirApp(new AccessError('unauthenticated', 'token expired'))).get('/Patient');
      expect(unauthenticated.status).to.equal(401);
      expect(unauthenticated.headers['www-authenticate']).to.equal('Bearer realm="fieldmesh"');
      const fault = await request(fhirApp(new Error('cannot read "Testwood"'))).get('/Patient');
      expect(fault.status).to.equal(500);
      expect(fault.text).not.to.include('Testwood');
      expect(JSON.parse(fault.text).issue[0].details.coding[0].code).to.equal('internal');
    });
  });
});
