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
      subjectIds: ['p-1002'],
      fieldsDisclosed: [],
      transforms: { since: '2026-03-01T00:00:00.000Z', count: '3' },
    });
    expect(() => prepareEntry(entry)).to.not.throw();
  });

  it('names the id read about as both record and subject, whichever was given, so a report either way finds the read', () => {
    const byRecord = trailReadEntry({ action: 'query', by: 'b', recordId: 'pat-001', scope: {} });
    const bySubject = trailReadEntry({ action: 'report', by: 'c', subjectId: 'pat-001', scope: {} });
    for (const e of [byRecord, bySubject]) expect(e).to.deep.include({ recordIds: ['pat-001'], subjectIds: ['pat-001'] });
    const unfiltered = trailReadEntry({ action: 'export', by: 'd', scope: { after: 0 } });
    expect(unfiltered.recordIds).to.deep.equal([]);
    expect(unfiltered).to.not.have.property('subjectIds');
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
