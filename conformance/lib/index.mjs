export * from './service.mjs';
export * from './tokens.mjs';
export * from './rest.mjs';
export * from './client.mjs';
export * from './fixture.mjs';
