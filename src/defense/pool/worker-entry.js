// Development entry for a transform thread when advserve runs from TypeScript (tsx, tap): a plain
// CommonJS file that piscina can load whatever loader the parent uses; it then loads the
// TypeScript worker through tsx. The compiled build starts worker.js directly.
require('tsx/cjs');
module.exports = require('./worker.ts');
