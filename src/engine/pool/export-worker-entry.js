// Development entry for an export thread (see worker-entry.js).
require('tsx/cjs');
require('./export-worker.ts');
