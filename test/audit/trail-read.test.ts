import { expect } from 'chai';
import { prepareEntry } from '../../src/audit/event.js';
import { whereClause } from '../../src/audit/filter.js';
import { sqliteDialect } from '../../src/audit/sqlite/schema.js';
import { trailReadEntry } from '../../src/audit/trail-read.js';

describe('audit/trail-read', () => {
  it('records who read the trail, the record reported on, and the scope as text, as an entry the trail accepts', () => {
    const entry = trailReadEntry({
      action: 'report',
      by: ' Dr A Guardian ',
      recordId: 'p-1002',
      scope: { since: '2026-03-01T00:00:00.000Z', until: undefined, count: 3 },
    });
    expect(entry).to.deep.include({
      user: 'Dr A Guardian',
      action: 'report',
      decision: 'disclosed',
      resource: 'AuditEvent',
      recordIds: ['p-1002'],
      fieldsDisclosed: [],
      transforms: { since: '2026-03-01T00:00:00.000Z', count: '3' },
    });
    expect(() => prepareEntry(entry)).to.not.throw();
  });

  it('refuses a read without a reader', () => {
    expect(() => trailReadEntry({ action: 'export', by: '  ', scope: {} })).to.throw(TypeError, /who ran it/);
  });

  it('the event schema knows the read actions, and still refuses an unknown one', () => {
    for (const action of ['query', 'report', 'export'] as const)
      expect(() => prepareEntry(trailReadEntry({ action, by: 'x', scope: {} }))).to.not.throw();
    expect(() => prepareEntry({ ...trailReadEntry({ action: 'export', by: 'x', scope: {} }), action: 'download' as 'export' })).to.throw(
      TypeError,
      /action/,
    );
  });

  it('pages by seq: afterSeq and throughSeq bound the seq, and a negative or fractional one is a programming error', () => {
    expect(whereClause({ chain: 'main', afterSeq: 10, throughSeq: 20 }, sqliteDialect, undefined)).to.deep.equal({
      where: 'WHERE chain = ? AND seq > ? AND seq <= ?',
      params: ['main', 10, 20],
    });
    expect(() => whereClause({ afterSeq: -1 }, sqliteDialect, undefined)).to.throw(TypeError, /afterSeq/);
    expect(() => whereClause({ throughSeq: 1.5 }, sqliteDialect, undefined)).to.throw(TypeError, /throughSeq/);
  });
});
