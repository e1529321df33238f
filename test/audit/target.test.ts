import { expect } from 'chai';
import { resolveTarget } from '../../src/audit/target.js';
import { describePostgres } from '../../src/audit/unavailable.js';

describe('audit/target', () => {
  it('takes postgres:// and postgresql:// URLs (any case) for PostgreSQL, and paths for SQLite', () => {
    expect(resolveTarget('postgres://u:pw@db:5432/audit')).to.deep.equal({ kind: 'postgres', url: 'postgres://u:pw@db:5432/audit' });
    expect(resolveTarget('POSTGRESQL://db/audit').kind).to.equal('postgres');
    // pg's own form for a Unix socket: no host before the path.
    expect(resolveTarget('postgres://u@/audit?host=/var/run/postgresql').kind).to.equal('postgres');
    for (const path of ['./fieldmesh-audit.db', '/var/lib/fieldmesh/audit.db', 'audit.db', 'C:\\trails\\audit.db', 'trails/2026:audit.db'])
      expect(resolveTarget(path)).to.deep.equal({ kind: 'sqlite', path });
  });

  for (const [what, target, shown] of [
    ['a leading space', ' postgres://postgres:S3CRETPW@127.0.0.1:5432/test', undefined],
    ['a driver suffix', 'postgresql+psycopg://postgres:S3CRETPW@127.0.0.1:5432/test', 'postgresql+psycopg://127.0.0.1:5432/test'],
    ['one slash', 'postgres:/postgres:S3CRETPW@127.0.0.1/test', 'postgres:///…'],
    ['no slash', 'postgres:postgres:S3CRETPW@127.0.0.1/test', 'postgres:///…'],
    ['another database', 'mysql://root:S3CRETPW@db/audit?password=S3CRETPW', 'mysql://db/audit'],
    ['a URL inside a path', 'trails/postgres://u:S3CRETPW@db/x', undefined],
    ['a malformed host', 'postgres://postgres:S3CRETPW@[bad/test', 'postgres://(unparsable URL)'],
    ['a port out of range', 'postgres://postgres:S3CRETPW@db:99999/test', 'postgres://(unparsable URL)'],
  ] as const) {
    it(`refuses a target with ${what}, never as a file name and never with its password`, () => {
      let message = '';
      try {
        resolveTarget(target);
        expect.fail('accepted');
      } catch (e) {
        expect(e).to.be.instanceOf(TypeError);
        message = (e as Error).message;
      }
      expect(message).not.to.include('S3CRETPW');
      expect(message).not.to.include('root');
      if (shown !== undefined) expect(message).to.include(` ${shown}:`);
    });
  }

  it('refuses surrounding whitespace rather than trimming it, for a path as for a URL', () => {
    for (const t of ['./audit.db ', '\t./audit.db', './audit.db\n', 'postgres://db/audit\n'])
      expect(() => resolveTarget(t)).to.throw(TypeError, /begins or ends with whitespace/);
  });

  it('checks a { postgres } target the same way', () => {
    expect(() => resolveTarget({ postgres: 'postgres://u:S3CRETPW@[bad/x' })).to.throw(
      TypeError,
      /malformed audit URL postgres:\/\/\(unparsable URL\)/,
    );
  });

  it('describes a URL without user, password, query, or a path that could hold them', () => {
    expect(describePostgres('postgres://app:secret@db:5432/audit?password=secret')).to.equal('postgres://db:5432/audit');
    expect(describePostgres('postgres:app:secret@db/audit')).to.equal('postgres:///…');
    expect(describePostgres('not a url app:secret@db')).to.equal('postgres://(unparsable URL)');
  });
});
