// Development entry for a gradient worker when advserve runs from TypeScript (tsx, tap):
// a plain CommonJS file, so that whatever loader the parent uses, the worker can start and
// then load the TypeScript worker through tsx. The compiled build starts worker.js directly.
require('tsx/cjs');
require('./worker.ts');
