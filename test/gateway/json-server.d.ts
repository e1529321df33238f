/** The part of json-server 0.17's programmatic API the gateway tests use (it ships no types). */
declare module 'json-server' {
  import type { RequestHandler } from 'express';
  interface JsonServerApp {
    use(...handlers: unknown[]): JsonServerApp;
    listen(port: number, host: string, cb: () => void): import('node:http').Server;
  }
  const jsonServer: {
    create(): JsonServerApp;
    router(db: object | string): RequestHandler & { db: unknown };
    defaults(opts?: { logger?: boolean; static?: string; noCors?: boolean }): RequestHandler[];
    bodyParser: RequestHandler[];
  };
  export default jsonServer;
}
