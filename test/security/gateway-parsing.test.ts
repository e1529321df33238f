import type { IncomingMessage, ServerResponse } from 'node:http';
import { expect } from 'chai';
import { safePath } from '../../src/gateway/headers.js';
import { as, call, records, startRawUpstream, startTestGateway, USERS } from '../gateway/helpers.js';

/**
 * The gateway checks a request as it parses it and forwards the raw bytes.
 * An upstream written in another language may parse the same bytes
 * differently; then the check and the use disagree.
 */
describe('security › gateway parser differentials', () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const c of open.splice(0).reverse()) await c.close();
  });

  /**
   * A record API that, like many legacy stacks (the W3C form recommendation,
   * Python's parse_qs before 3.9.2), accepts `;` as well as `&` between
   * parameters, and filters on every parameter it is given.
   */
  function semicolonApi(req: IncomingMessage, res: ServerResponse): void {
    const [, search = ''] = (req.url ?? '').split('?');
    const filters = search
      .split(/[&;]/)
      .filter(Boolean)
      .map((p) => p.split('=').map(decodeURIComponent) as [string, string]);
    const rows = records('Patient').filter((r) => filters.every(([k, v]) => k.startsWith('_') || String(r[k]) === v));
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(rows));
  }

  it('does not let a receptionist confirm a full NHS number (shown to them masked) by hiding the filter behind ";"', async () => {
    const upstream = await startRawUpstream(semicolonApi);
    open.push(upstream);
    const gw = await startTestGateway(upstream.url);
    open.push(gw);
    const headers = as(USERS.receptionist, 'administration');
    // nhsNumber is masked for administration, so filtering by it is refused.
    const direct = await call(`${gw.url}/patients?nhsNumber=9990000018`, { headers });
    expect(direct.status).to.equal(403);
    // The same filter after a readable one: the gateway sees gp = "B86001;nhsNumber=9990000018".
    const hidden = await call(`${gw.url}/patients?gp=B86001;nhsNumber=9990000018`, { headers });
    const forwarded = upstream.seen.at(-1)?.url ?? '';
    // Either refused, or forwarded in a form no parser can read as a second parameter.
    if (hidden.status === 200) expect(forwarded).not.to.match(/[;&]nhsNumber=/);
    else expect(hidden.status).to.equal(403);
  });

  it('refuses "..;" segments, which Tomcat and Spring normalise to ".." (path parameters stripped)', () => {
    expect(safePath('/patients/..;/concerns')).to.equal(undefined);
    expect(safePath('/patients/..;jsessionid=x/concerns')).to.equal(undefined);
  });

  it('refuses a double-encoded dot segment, which an upstream that decodes twice reads as ".."', () => {
    expect(safePath('/patients/%252e%252e/concerns')).to.equal(undefined);
  });
});
