import { expect } from 'chai';
import { brief, positiveInt, progressBar, renderTable, shortTime, styles, timeOption } from '../../src/cli/audit-format.js';

describe('cli/audit-format', () => {
  describe('styles', () => {
    it('colours only on a terminal', () => {
      expect(styles({ isTTY: false }).red('x')).to.equal('x');
      expect(styles({}).red('x')).to.equal('x');
      const saved = process.env.NO_COLOR;
      delete process.env.NO_COLOR;
      try {
        expect(styles({ isTTY: true }).red('x')).to.equal('\u001b[31mx\u001b[39m');
      } finally {
        if (saved !== undefined) process.env.NO_COLOR = saved;
      }
    });

    it('never colours when NO_COLOR is set', () => {
      const saved = process.env.NO_COLOR;
      process.env.NO_COLOR = '1';
      try {
        expect(styles({ isTTY: true }).red('x')).to.equal('x');
      } finally {
        if (saved === undefined) delete process.env.NO_COLOR;
        else process.env.NO_COLOR = saved;
      }
    });
  });

  describe('renderTable', () => {
    it('aligns columns by their text, painting cells after padding', () => {
      const paint = (s: string) => `<${s}>`;
      const plain = styles({ isTTY: false });
      const table = renderTable(
        ['A', 'LONGER'],
        [
          ['xyz', 'b'],
          [{ text: 'q', paint }, 'last'],
        ],
        plain,
      );
      expect(table).to.equal('A    LONGER\nxyz  b\n<q  >  last');
    });
  });

  describe('timeOption', () => {
    it('reads dates, date-times and ages; a bare --until date includes that whole day', () => {
      expect(timeOption('since')('2026-03-31')).to.equal('2026-03-31T00:00:00.000Z');
      expect(timeOption('until')('2026-03-31')).to.equal('2026-04-01T00:00:00.000Z');
      expect(timeOption('since')('2026-03-31T14:00:00+01:00')).to.equal('2026-03-31T13:00:00.000Z');
      const sevenDays = Date.now() - Date.parse(timeOption('since')('7d'));
      expect(Math.round(sevenDays / 86_400_000)).to.equal(7);
      expect(() => timeOption('since')('last tuesday')).to.throw(/expected a date/);
    });
  });

  describe('small formats', () => {
    it('shortens times, lists and checks counts', () => {
      expect(shortTime('2026-03-01T14:02:11.123Z')).to.equal('2026-03-01 14:02:11Z');
      expect(brief(['a', 'b', 'c', 'd', 'e'])).to.equal('a, b, c +2');
      expect(positiveInt('20')).to.equal(20);
      expect(() => positiveInt('0')).to.throw();
      expect(() => positiveInt('2.5')).to.throw();
    });
  });

  describe('progressBar', () => {
    function setup(isTTY: boolean) {
      const written: string[] = [];
      const stream = {
        isTTY,
        write: (s: string) => {
          written.push(s);
          return true;
        },
      } as unknown as NodeJS.WriteStream;
      return { written, bar: progressBar(stream, 100) };
    }

    it('draws on a terminal for long runs, once per percent, and clears itself', () => {
      const { written, bar } = setup(true);
      for (let i = 1; i <= 400; i++) bar.update(i, 400);
      bar.done();
      // 0% to 100%, then the clear.
      expect(written).to.have.length(102);
      expect(written[0]).to.equal(`\r[${'.'.repeat(30)}]   0%  1/400 events`);
      expect(written[100]).to.equal(`\r[${'#'.repeat(30)}] 100%  400/400 events`);
      expect(written[101]).to.equal('\r\u001b[2K');
    });

    it('stays silent when not a terminal or the run is short', () => {
      const piped = setup(false);
      for (let i = 1; i <= 400; i++) piped.bar.update(i, 400);
      piped.bar.done();
      const short = setup(true);
      for (let i = 1; i <= 50; i++) short.bar.update(i, 50);
      short.bar.done();
      expect([...piped.written, ...short.written]).to.deep.equal([]);
    });
  });
});
