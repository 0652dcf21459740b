// benchmark.js finds lodash as the global `_` in a browser (bundled, its require('lodash') comes back
// empty); this must run before benchmark.js itself is evaluated (see benchmark_globals.ts).
// @ts-expect-error lodash ships no types and the page needs none
import lodash from 'lodash';

Object.assign(globalThis, { _: lodash });
