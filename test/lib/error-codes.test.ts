import { expect } from 'chai';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  ACCESS_CODES,
  ERROR_CODES,
  fitsRelayed,
  handlerStatusCode,
  isErrorCode,
  publicText,
  statusOf,
  type ErrorCode,
} from '../../src/lib/error-codes.js';

const DOCS = join(import.meta.dirname, '../../docs');

/** A documented code: where it is, and the status its row states. */
interface Listed {
  code: string;
  status: string | undefined;
  where: string;
}

/**
 * The codes of every table row of the form `| status | `code` … | … |`: a
 * status cell (`403`, `4xx/5xx`, `400 / 413`, `any 4xx/5xx`) and a cell of
 * backticked codes, paired with the statuses in order when there are as many.
 * A status that is not one (`any 4xx/5xx`) is undefined: the codes must still
 * be known.
 */
function listedCodes(text: string, file: string): Listed[] {
  const found: Listed[] = [];
  text.split('\n').forEach((line, i) => {
    const cells = /^\|([^|]+)\|([^|]+)\|/.exec(line);
    if (!cells) return;
    const statusCell = cells[1]!.trim();
    if (!/^(any )?[0-9x]{3}/.test(statusCell)) return;
    const codes = [...cells[2]!.matchAll(/`([a-z][a-z0-9_]*)`/g)].map((m) => m[1]!);
    const statuses = /^any /.test(statusCell)
      ? []
      : statusCell
          .replace(/^([0-9x]{3}), ([0-9x]{3})$/, '$1/$2')
          .split(' / ')
          .map((s) => s.trim());
    codes.forEach((code, j) => {
      const status = statuses.length === 1 ? statuses[0] : statuses.length === codes.length ? statuses[j] : undefined;
      found.push({ code, status, where: `${file}:${i + 1}` });
    });
  });
  return found;
}

function registryStatus(code: ErrorCode): string {
  return String(ERROR_CODES[code].status);
}

function problems(listed: Listed[]): string[] {
  const out: string[] = [];
  for (const l of listed) {
    if (!isErrorCode(l.code)) out.push(`${l.where}: \`${l.code}\` is not in src/lib/error-codes.ts`);
    else if (l.status !== undefined && l.status !== registryStatus(l.code))
      out.push(`${l.where}: \`${l.code}\` is ${registryStatus(l.code)}, not ${l.status}`);
  }
  return out;
}

describe('error codes', () => {
  describe('docs/errors.md', () => {
    const setup = () => listedCodes(readFileSync(join(DOCS, 'errors.md'), 'utf8'), 'docs/errors.md');

    it('lists every code of the registry', () => {
      const listed = new Set(setup().map((l) => l.code));
      expect(Object.keys(ERROR_CODES).filter((c) => !listed.has(c))).to.deep.equal([]);
    });

    it("lists no code the registry lacks, and each with the registry's status", () => {
      expect(problems(setup())).to.deep.equal([]);
    });
  });

  it("every other table of codes in the docs states the registry's status", () => {
    const listed = readdirSync(DOCS)
      .filter((f) => f.endsWith('.md'))
      .flatMap((f) => listedCodes(readFileSync(join(DOCS, f), 'utf8'), `docs/${f}`));
    expect(listed.length).to.be.greaterThan(60);
    expect(problems(listed)).to.deep.equal([]);
  });

  describe('the checker', () => {
    it('catches a code the registry lacks, a wrong status, and pairs statuses with codes', () => {
      const text = [
        '| status | code | when |',
        '|---|---|---|',
        '| 403 | `purpose_unknown` | x |',
        '| 400 | `resource_unknown` | x |',
        '| 404 | `no_such_code` | x |',
        '| 400 / 413 | `invalid_body` / `payload_too_large` | x |',
        '| 4xx, 5xx | `upstream_error` | x |',
      ].join('\n');
      expect(problems(listedCodes(text, 'f.md'))).to.deep.equal([
        'f.md:4: `resource_unknown` is 500, not 400',
        'f.md:5: `no_such_code` is not in src/lib/error-codes.ts',
      ]);
    });
  });

  describe('the registry', () => {
    it("answers an unknown purpose as not permitted (403) and an unknown resource as the deployment's fault (500)", () => {
      expect(statusOf('purpose_unknown')).to.equal(403);
      expect(statusOf('purpose_not_granted')).to.equal(403);
      expect(statusOf('resource_unknown')).to.equal(500);
    });

    it('gives every code a meaning, a status that is an HTTP error, and every 5xx a fixed public text', () => {
      for (const [code, entry] of Object.entries(ERROR_CODES)) {
        expect(entry.meaning, code).to.match(/\S/);
        const status = entry.status;
        if (typeof status === 'number') expect(status, code).to.be.within(400, 599);
        else expect(['4xx', '5xx', '4xx/5xx'], code).to.include(status);
        if (typeof status === 'number' && status >= 500) expect(publicText(code as ErrorCode), code).to.match(/\S/);
      }
    });

    it('keeps internals out of the public texts: none names a path, a host or an environment variable', () => {
      for (const code of Object.keys(ERROR_CODES) as ErrorCode[])
        expect(publicText(code), code).not.to.match(/\/|FIELDMESH_|\d+\.\d+\.\d+/);
    });

    it('has a fixed status for every code an AccessError carries', () => {
      for (const code of ACCESS_CODES) expect(statusOf(code), code).to.be.a('number');
    });

    it("relays a status only within a code's range", () => {
      const range = (code: 'upstream_error' | 'request_error' | 'handler_error') => ERROR_CODES[code].status;
      expect(fitsRelayed(range('upstream_error'), 409)).to.equal(true);
      expect(fitsRelayed(range('upstream_error'), 503)).to.equal(true);
      expect(fitsRelayed(range('upstream_error'), 302)).to.equal(false);
      expect(fitsRelayed(range('request_error'), 418)).to.equal(true);
      expect(fitsRelayed(range('request_error'), 500)).to.equal(false);
      expect(fitsRelayed(range('handler_error'), 502)).to.equal(true);
      expect(fitsRelayed(range('handler_error'), 499)).to.equal(false);
      expect(fitsRelayed(range('handler_error'), 500.5)).to.equal(false);
    });

    it("names a handler's status by its own code where it has one", () => {
      expect(handlerStatusCode(409)).to.equal('conflict');
      expect(handlerStatusCode(404)).to.equal('not_found');
      expect(handlerStatusCode(401)).to.equal('unauthenticated');
      expect(handlerStatusCode(418)).to.equal('request_error');
      expect(handlerStatusCode(503)).to.equal('handler_error');
    });

    it('knows its own codes and nothing else', () => {
      expect(isErrorCode('record_withheld')).to.equal(true);
      expect(isErrorCode('toString')).to.equal(false);
      expect(isErrorCode('odd')).to.equal(false);
    });
  });
});
