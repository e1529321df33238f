import type { Request } from 'express';
import { readJsonRequest } from '../http/json-body.js';

/**
 * The write body as the handler will see it: `req.body` when a parser has
 * already run, otherwise read and parsed here as every caller's body is
 * (`readJsonRequest`) and left on `req.body`, so a write is checked whether
 * or not the app uses `express.json()`. A stream something else already
 * consumed is `undefined` (the engine refuses it as `invalid_body`).
 */
export async function readJsonBody(req: Request, maxBytes: number): Promise<unknown> {
  if (req.body !== undefined) return req.body;
  if (req.readableEnded) return undefined;
  const body = await readJsonRequest(req, maxBytes);
  req.body = body;
  return body;
}
