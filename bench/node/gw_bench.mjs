// gw_bench.mjs: the queue peer for `make bench`: graphile-worker on the
// same PostgreSQL as streamerd. Adds --jobs jobs in bulk (addJobs, --batch
// per call), then starts a runner with a no-op task and measures jobs per
// second from the first add to the last completion written back to the
// database (the "job:complete" event); run_per_s leaves the adding out.
//
//   DATABASE_URL="host=/dir user=postgres dbname=x" \
//     node gw_bench.mjs [--jobs N] [--batch N] [--concurrency N] [--tuned]
//
// --tuned turns on graphile-worker's batching (localQueue and batched
// completions), its documented way to go faster. Prints one JSON line.
import { EventEmitter } from "node:events";
import os from "node:os";
import { run, makeWorkerUtils, Logger } from "graphile-worker";

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? Number(process.argv[i + 1]) : dflt;
}

// libpq key=value strings become postgres:// URLs for node-postgres:
// "host=/dir user=postgres dbname=x" -> postgres://postgres@/x?host=/dir
function pgUrl(s) {
  if (!s) throw new Error("DATABASE_URL is not set");
  if (/^postgres(ql)?:\/\//.test(s)) return s;
  const kv = Object.fromEntries(
    s.trim().split(/\s+/).map((w) => {
      const i = w.indexOf("=");
      return [w.slice(0, i), w.slice(i + 1)];
    }),
  );
  const user = encodeURIComponent(kv.user || "postgres");
  const db = encodeURIComponent(kv.dbname || "postgres");
  const q = kv.host ? `?host=${encodeURIComponent(kv.host)}` : "";
  return `postgres://${user}@/${db}${q}`;
}

const jobs = arg("--jobs", 20000);
const batch = arg("--batch", 1000);
const concurrency = arg("--concurrency", 2 * os.cpus().length);
const tuned = process.argv.includes("--tuned");
const connectionString = pgUrl(process.env.DATABASE_URL);
const quiet = new Logger(() => (level, message) => {
  if (level === "error") console.error(`gw_bench: ${message}`);
});

const events = new EventEmitter();
let done = 0, failed = 0, tLast = 0, resolveAll;
const allDone = new Promise((r) => (resolveAll = r));
events.on("job:complete", ({ error }) => {
  if (error) failed++;
  else done++;
  if (done + failed === jobs) {
    tLast = performance.now();
    resolveAll();
  }
});

const preset = tuned
  ? { worker: { localQueue: { size: 4 * concurrency }, completeJobBatchDelay: 0 } }
  : {};
// Bulk first, then the runner: graphile-worker's batching reacts to how
// adds and fetches interleave, which made concurrent adding noisy (4k to
// 13k jobs/s from one run to the next).
const utils = await makeWorkerUtils({ connectionString, logger: quiet });
await utils.migrate();
const t0 = performance.now();
for (let i = 0; i < jobs; i += batch) {
  const n = Math.min(batch, jobs - i);
  await utils.addJobs(Array.from({ length: n }, () => ({ identifier: "noop", payload: {} })));
}
const tAdded = performance.now();
const runner = await run({
  connectionString,
  concurrency,
  maxPoolSize: concurrency + 2,
  noHandleSignals: true,
  pollInterval: 1000,
  logger: quiet,
  events,
  preset,
  taskList: { noop: async () => {} },
});
const timeout = setTimeout(() => resolveAll(), 120000);
await allDone;
clearTimeout(timeout);
const t1 = tLast || performance.now();

await runner.stop();
await utils.release();

const s = (t1 - t0) / 1000;
console.log(JSON.stringify({
  label: tuned ? "graphile-worker-tuned" : "graphile-worker",
  jobs, batch, concurrency, done, failed,
  add_s: +((tAdded - t0) / 1000).toFixed(3),
  add_per_s: +(jobs / ((tAdded - t0) / 1000)).toFixed(1),
  total_s: +s.toFixed(3),
  jobs_per_s: +(done / s).toFixed(1),
  run_per_s: +(done / ((t1 - tAdded) / 1000)).toFixed(1),
}));
process.exit(done === jobs ? 0 : 1);
