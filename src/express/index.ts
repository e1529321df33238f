/**
 * `fieldmesh/express`: need-to-know enforcement inside an express app, one
 * `mesh.read()` or `mesh.write()` in front of each record route.
 *
 * @example
 * import { fieldmesh } from 'fieldmesh/express';
 * const mesh = await fieldmesh({ policies: './policies', jwt: { secret, issuer, audience }, audit: { sqlite: './fieldmesh-audit.db' } });
 * app.get('/patients/:id', mesh.read('Patient'), getPatient);
 */
export { fieldmesh } from './mesh.js';
export type { Mesh, WriteOptions } from './mesh.js';
export type { MeshOptions, ReadOptions } from './options.js';
