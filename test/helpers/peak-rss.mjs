// Preloaded into a child (node --import) by the abuse tests: on exit, its peak
// resident set size (getrusage maxRSS, KiB) goes to $POSTERSCOPE_PEAK_RSS_FILE.
import { writeFileSync } from 'node:fs';

process.on('exit', () => {
  const file = process.env.POSTERSCOPE_PEAK_RSS_FILE;
  if (file) writeFileSync(file, String(process.resourceUsage().maxRSS));
});
