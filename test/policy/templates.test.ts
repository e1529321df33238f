import { expect } from 'chai';
import { claimNames, claimOf, isMalformedTemplate, isWholeTemplate, TEMPLATE, WHOLE_TEMPLATE } from '../../src/policy/templates.js';

describe('policy/templates', () => {
  describe('isMalformedTemplate', () => {
    it('accepts a dotted claim, a nested claim and a quoted namespaced claim, alone or inside text', () => {
      for (const text of [
        '${user.team}',
        'ward-${user.team}',
        '${user.org.team}',
        '${user["https://idp.example/staff_id"]}',
        'no template here',
      ]) {
        expect(isMalformedTemplate(text), text).to.equal(false);
      }
    });

    it('refuses any ${ that is not a well-formed template, so it never compares as plain text', () => {
      for (const text of [
        '${ user.staff }',
        '${user}',
        '${user.}',
        '${team}',
        '${user["a}"]}',
        '${user.team',
        'ok ${user.team} and ${oops}',
      ]) {
        expect(isMalformedTemplate(text), text).to.equal(true);
      }
    });
  });

  describe('isWholeTemplate', () => {
    it('is true only for a string that is one template and nothing else', () => {
      expect(isWholeTemplate('${user.teams}')).to.equal(true);
      expect(isWholeTemplate('${user["https://idp/teams"]}')).to.equal(true);
      expect(isWholeTemplate('ward-${user.team}')).to.equal(false);
      expect(isWholeTemplate('${user.a}${user.b}')).to.equal(false);
      expect(isWholeTemplate(['${user.teams}'])).to.equal(false);
    });
  });

  describe('claimOf', () => {
    const match = (text: string) => [...text.matchAll(TEMPLATE)][0]!;

    it('walks a dotted claim through nested objects', () => {
      expect(claimOf({ org: { team: 'ward-7' } }, match('${user.org.team}'))).to.equal('ward-7');
    });

    it('looks a quoted claim up whole, dots and slashes included', () => {
      const user = { 'https://idp.example/staff_id': 'S-1', https: { 'idp.example/staff_id': 'wrong' } };
      expect(claimOf(user, match('${user["https://idp.example/staff_id"]}'))).to.equal('S-1');
    });

    it('finds nothing for a missing claim, an inherited property or a hostile name', () => {
      expect(claimOf({}, match('${user.team}'))).to.equal(undefined);
      expect(claimOf({ team: 'a' }, match('${user.team.length}'))).to.equal(undefined);
      expect(claimOf({}, match('${user.constructor}'))).to.equal(undefined);
      expect(claimOf({ a: {} }, match('${user.a.__proto__}'))).to.equal(undefined);
    });

    it('returns a claim whatever its type, lists included', () => {
      const whole = WHOLE_TEMPLATE.exec('${user.teams}')!;
      expect(claimOf({ teams: ['a', 'b'] }, whole)).to.deep.equal(['a', 'b']);
    });
  });

  describe('claimNames', () => {
    it('names the top-level claim of every template, through lists, operators and quoted names, each once', () => {
      const names = new Set<string>();
      claimNames(
        {
          gp: '${user.practice}',
          $or: [{ team: '${user.org.team}' }, { owner: { $in: ['${user["https://idp.example/staff"]}', 'x'] } }],
          note: 'ward-${user.practice}',
        },
        names,
      );
      expect([...names].sort()).to.deep.equal(['https://idp.example/staff', 'org', 'practice']);
    });

    it('names nothing in a condition without templates', () => {
      const names = new Set<string>();
      claimNames({ flags: 'dv-risk', riskLevel: { $gte: 2 } }, names);
      claimNames(undefined, names);
      expect(names.size).to.equal(0);
    });
  });
});
