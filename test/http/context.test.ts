import { expect } from 'chai';
import fc from 'fast-check';
import { AccessError } from '../../src/engine/access-error.js';
import type { User } from '../../src/http/claims.js';
import { withoutControls } from '../../src/lib/text.js';
import { readDeclaredContext, requestIdFrom, type ContextOptions, type RequestHeaders } from '../../src/http/context.js';

const NOW = new Date('2026-06-01T12:00:00Z');

function setup(userClaims: Partial<User> = {}, opts: ContextOptions = {}) {
  const user: User = { sub: 'u1', roles: ['nurse', 'safeguarding-lead'], team: 'ward-7', training: '2026-01-15', ...userClaims };
  const read = (headers: RequestHeaders) => readDeclaredContext(headers, user, { now: () => NOW, ...opts });
  const refused = (headers: RequestHeaders): AccessError => {
    try {
      read(headers);
    } catch (err) {
      expect(err).to.be.instanceOf(AccessError);
      return err as AccessError;
    }
    return expect.fail('the request was not refused');
  };
  return { user, read, refused };
}

describe('readDeclaredContext', () => {
  describe('X-Purpose', () => {
    it('returns the declared purpose and the user with all their roles', () => {
      const { read } = setup();
      const ctx = read({ 'x-purpose': 'direct-care' });
      expect(ctx.purpose).to.equal('direct-care');
      expect(ctx.user.roles).to.deep.equal(['nurse', 'safeguarding-lead']);
      expect(ctx.user.team).to.equal('ward-7');
      expect(ctx).not.to.have.property('breakGlass');
      expect(ctx).not.to.have.property('actingRole');
    });

    it('reads header names in any case and trims the value', () => {
      const { read } = setup();
      expect(read({ 'X-Purpose': '  service-planning ' }).purpose).to.equal('service-planning');
    });

    it('reads the last of several spellings of one header, and refuses a value that is not text, a hole in a list included', () => {
      const { read, refused } = setup();
      expect(read({ 'x-purpose': 'direct-care', 'X-PURPOSE': 'safeguarding' }).purpose).to.equal('safeguarding');
      expect(read({ 'x-purpose': ['direct-care'] }).purpose).to.equal('direct-care');
      const holed: string[] = [];
      holed[1] = 'direct-care';
      expect(refused({ 'x-purpose': holed }).code).to.equal('bad_request');
      expect(refused({ 'x-purpose': 'direct-care', 'x-acting-role': [7] as unknown as string[] }).code).to.equal('bad_request');
    });

    it('takes well-formed options as given and refuses malformed ones as before', () => {
      const user: User = { sub: 'u1', roles: ['nurse'], training: '2025-01-01' };
      const headers = { 'x-purpose': 'direct-care' };
      expect(() => readDeclaredContext(headers, user, { trainingMaxAgeDays: 365, now: () => NOW })).to.throw(AccessError, /training/);
      expect(readDeclaredContext(headers, user, { trainingMaxAgeDays: 600, now: () => NOW }).purpose).to.equal('direct-care');
      expect(() => readDeclaredContext(headers, user, { trainingMaxAgeDays: 1.5 })).to.throw(TypeError, /Invalid request context options/);
      expect(() => readDeclaredContext(headers, user, { trainingMaxAgeDays: 2 ** 60 })).to.throw(TypeError);
      expect(() => readDeclaredContext(headers, user, { extra: 1 } as unknown as ContextOptions)).to.throw(TypeError);
    });

    it('refuses a request without a purpose with 400 purpose_required', () => {
      const { refused } = setup();
      for (const headers of [{}, { 'x-purpose': '' }, { 'x-purpose': '   ' }]) {
        const e = refused(headers);
        expect(e.code).to.equal('purpose_required');
        expect(e.status).to.equal(400);
      }
    });

    it('refuses a malformed purpose with 400 purpose_malformed, without repeating it', () => {
      const { refused } = setup();
      for (const bad of ['-care', 'direct care', 'direct-care, research', 'a'.repeat(65), '<script>x</script>']) {
        const e = refused({ 'x-purpose': bad });
        expect(e.code, bad).to.equal('purpose_malformed');
        expect(e.status).to.equal(400);
        expect(e.message).not.to.include(bad);
      }
    });

    it('accepts a purpose of 64 characters', () => {
      const { read } = setup();
      expect(read({ 'x-purpose': `a${'b'.repeat(63)}` }).purpose).to.have.length(64);
    });

    it('refuses repeated X-Purpose headers rather than choosing one', () => {
      const { refused } = setup();
      expect(refused({ 'x-purpose': ['direct-care', 'research'] }).code).to.equal('purpose_malformed');
    });
  });

  describe('X-Break-Glass', () => {
    it('returns the trimmed reason', () => {
      const { read } = setup();
      const ctx = read({ 'x-purpose': 'emergency', 'x-break-glass': '  Unconscious patient in A&E  ' });
      expect(ctx.breakGlass).to.equal('Unconscious patient in A&E');
    });

    it('refuses a reason shorter than 10 characters with 403 break_glass_refused', () => {
      const { refused } = setup();
      for (const reason of ['', 'urgent', '  123456789  ']) {
        const e = refused({ 'x-purpose': 'emergency', 'x-break-glass': reason });
        expect(e.code).to.equal('break_glass_refused');
        expect(e.status).to.equal(403);
        expect(e.message).to.match(/at least 10 characters/);
      }
    });

    it('accepts a reason of exactly 10 characters', () => {
      const { read } = setup();
      expect(read({ 'x-purpose': 'emergency', 'x-break-glass': '1234567890' }).breakGlass).to.equal('1234567890');
    });

    it('refuses a reason with a tab, DEL, a C0 or C1 control, or a line separator with 400 break_glass_malformed', () => {
      const { refused } = setup();
      for (const c of ['\t', '\u0000', '\u001b', '\u007f', '\u0085', '\u009b', '\u2028', '\u202e']) {
        const e = refused({ 'x-purpose': 'emergency', 'x-break-glass': `Unconscious${c} patient in A&E` });
        expect(e.code).to.equal('break_glass_malformed');
        expect(e.status).to.equal(400);
        expect(e.message).not.to.include('Unconscious');
      }
    });

    it('keeps nothing of a control character in any text (property)', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary' }), (text) => {
          const clean = withoutControls(text);
          expect(clean).not.to.match(/[\u0000-\u001f\u007f-\u009f]/);
          // Removing is all it does: the other characters stay, in order.
          expect(withoutControls(clean)).to.equal(clean);
        }),
      );
    });

    it('refuses a reason longer than 1000 characters', () => {
      const { refused } = setup();
      expect(refused({ 'x-purpose': 'emergency', 'x-break-glass': 'x'.repeat(1001) }).code).to.equal('break_glass_refused');
    });
  });

  describe('X-Acting-Role', () => {
    it('narrows the user to the one role they act in, without changing the user passed in', () => {
      const { read, user } = setup();
      const ctx = read({ 'x-purpose': 'direct-care', 'x-acting-role': 'nurse' });
      expect(ctx.actingRole).to.equal('nurse');
      expect(ctx.user.roles).to.deep.equal(['nurse']);
      expect(ctx.user.sub).to.equal('u1');
      expect(user.roles).to.deep.equal(['nurse', 'safeguarding-lead']);
    });

    it('refuses a role the user does not hold with 403 role_not_held', () => {
      const { refused } = setup();
      const e = refused({ 'x-purpose': 'direct-care', 'x-acting-role': 'caldicott-guardian' });
      expect(e.code).to.equal('role_not_held');
      expect(e.status).to.equal(403);
      expect(e.message).to.include('you hold: nurse, safeguarding-lead');
      expect(e.message).not.to.include('caldicott-guardian');
    });

    it('refuses an acting role when the user holds none', () => {
      const { refused } = setup({ roles: [] });
      expect(refused({ 'x-purpose': 'direct-care', 'x-acting-role': 'nurse' }).message).to.include('you hold: none');
    });
  });

  describe('confidentiality training', () => {
    it('refuses a user without a training date with 403 training_missing', () => {
      const { refused } = setup({ training: undefined });
      const e = refused({ 'x-purpose': 'direct-care' });
      expect(e.code).to.equal('training_missing');
      expect(e.status).to.equal(403);
    });

    it('refuses a training claim that is not an ISO date', () => {
      for (const training of ['last year', '2026-02-30', 20260101, '01/06/2026']) {
        const { refused } = setup({ training });
        expect(refused({ 'x-purpose': 'direct-care' }).code, String(training)).to.equal('training_missing');
      }
    });

    it('accepts training exactly 365 days old and refuses it a day later with training_expired', () => {
      expect(setup({ training: '2025-06-01' }).read({ 'x-purpose': 'direct-care' }).purpose).to.equal('direct-care');
      const e = setup({ training: '2025-05-31' }).refused({ 'x-purpose': 'direct-care' });
      expect(e.code).to.equal('training_expired');
      expect(e.status).to.equal(403);
      expect(e.message).to.match(/older than 365 days/);
    });

    it('accepts a full ISO timestamp', () => {
      expect(setup({ training: '2025-09-01T09:30:00+01:00' }).read({ 'x-purpose': 'direct-care' }).purpose).to.equal('direct-care');
    });

    it('honours a configured maximum age', () => {
      const opts = { trainingMaxAgeDays: 90 };
      expect(setup({ training: '2026-03-03' }, opts).read({ 'x-purpose': 'direct-care' }).purpose).to.equal('direct-care');
      expect(setup({ training: '2026-03-02' }, opts).refused({ 'x-purpose': 'direct-care' }).message).to.match(/older than 90 days/);
    });

    it('refuses a training date in the future beyond a day of time-zone grace', () => {
      expect(setup({ training: '2026-06-02' }).read({ 'x-purpose': 'direct-care' }).purpose).to.equal('direct-care');
      expect(setup({ training: '2026-06-03' }).refused({ 'x-purpose': 'direct-care' }).code).to.equal('training_missing');
    });

    it('checks training under break-glass too', () => {
      const { refused } = setup({ training: '2020-01-01' });
      expect(refused({ 'x-purpose': 'emergency', 'x-break-glass': 'Unconscious patient in A&E' }).code).to.equal('training_expired');
    });
  });

  it('throws a TypeError for bad options', () => {
    const { user } = setup();
    expect(() => readDeclaredContext({ 'x-purpose': 'direct-care' }, user, { trainingMaxAgeDays: 0 })).to.throw(TypeError);
    expect(() => readDeclaredContext({ 'x-purpose': 'direct-care' }, user, { trainingMaxDays: 30 } as ContextOptions)).to.throw(TypeError);
  });
});

describe('requestIdFrom', () => {
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  it('honours a safe incoming X-Request-Id', () => {
    expect(requestIdFrom({ 'x-request-id': 'req-42.a_b:c' })).to.equal('req-42.a_b:c');
    expect(requestIdFrom({ 'X-Request-Id': 'abc' })).to.equal('abc');
  });

  it('generates a UUID when there is none', () => {
    expect(requestIdFrom({})).to.match(UUID);
    expect(requestIdFrom({})).not.to.equal(requestIdFrom({}));
  });

  it('never echoes an unsafe value', () => {
    for (const bad of ['', 'a b', 'x'.repeat(129), '<script>', 'id\u0000', 'é']) {
      const id = requestIdFrom({ 'x-request-id': bad });
      expect(id, bad).to.match(UUID);
    }
  });
});
