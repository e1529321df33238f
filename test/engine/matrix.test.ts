import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { chromium, type Browser } from 'playwright-core';
import { loadPolicies } from '../../src/engine/policy-set.js';
import { disclosureMatrix } from '../../src/engine/matrix.js';

const CHROMIUM = '/usr/bin/chromium';
const NOW = new Date('2026-11-24T00:00:00Z');

describe('disclosure matrix', () => {
  it('marks each field per role: disclosed, transformed (how) or withheld, conditional ones starred', async () => {
    const html = disclosureMatrix((await loadPolicies('policies')).compiled, NOW);
    expect(html).to.include('<h2>administration › Patient</h2>');
    expect(html).to.not.match(/<script/i);
  });

  it('escapes what it prints from the policy set', async () => {
    const html = disclosureMatrix((await loadPolicies('policies')).compiled, NOW);
    expect(html).to.not.include('<b>');
    expect(html.match(/title="[^"]*"/g)!.join('')).to.not.include('<');
  });

  describe('in a real browser', () => {
    let browser: Browser | undefined;
    let server: Server;
    let url: string;
    before(async function () {
      if (!existsSync(CHROMIUM)) {
        console.log(`      (skipped: no ${CHROMIUM}; apt-get install chromium to run the page tests)`);
        this.skip();
      }
      const html = disclosureMatrix((await loadPolicies('policies')).compiled, NOW);
      server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--no-sandbox',
          '--headless',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
        ],
      });
    });
    after(async () => {
      await browser?.close();
      server?.close();
    });

    it('shows the receptionist the masked NHS number and never the diagnoses for administration', async () => {
      const page = await browser!.newPage();
      await page.goto(url);
      const section = page.locator('section#administration--Patient');
      const headers = await section.locator('thead th').allTextContents();
      const col = headers.indexOf('receptionist');
      expect(col).to.be.greaterThan(1);
      const cellOf = (field: string) => section.locator(`tbody tr:has(th:text-is("${field}")) > *`).nth(col);
      expect(await cellOf('diagnoses').getAttribute('data-status')).to.equal('withheld');
      expect(await cellOf('nhsNumber').textContent()).to.match(/^≈ mask/);
      expect(await cellOf('address').textContent()).to.equal('✓*');
      await page.screenshot({ path: join(tmpdir(), 'fieldmesh-matrix.png') });
      await page.close();
    });

    it('strikes through the expired purpose', async () => {
      const page = await browser!.newPage();
      await page.goto(url);
      const decoration = await page.evaluate(`getComputedStyle(document.querySelector('section.expired h2')).textDecorationLine`);
      expect(decoration).to.equal('line-through');
      await page.close();
    });
  });
});
