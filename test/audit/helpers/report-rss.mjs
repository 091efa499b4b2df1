// Preload (--import) that prints the process's peak resident set size on exit, for memory tests.
process.on('exit', () => {
  process.stderr.write(`MAXRSS_KB ${process.resourceUsage().maxRSS}\n`);
});
