/**
 * The bench's PyTorch loop servers (bench/pytorch.ts startLoopServers): the client side of
 * pytorch_step.py --serve-loops, driven here by stand-in executables given as the python, so
 * that it runs without torch: the ready line, one answer per loop asked for, and what a server
 * that fails to start, answers with an error, or dies becomes.
 */
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import { join } from "node:path";
import t from "tap";
import { startLoopServers } from "../../bench/pytorch";

const dir = mkdtempSync(join(os.tmpdir(), "advserve-loop-server-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** An executable standing in for python3: ignores its arguments (pytorch_step.py and flags). */
function fake(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

const opts = (python: string) => ({
  python,
  models: ["m"],
  batches: [1],
  quick: true,
  ensemble: false,
  threads: 2,
  maxOtherCores: 0.25,
  referenceBlas: false,
  progress: () => {},
});
// startLoopServers starts an openblas-openmp server too where that BLAS is installed.
const setups = existsSync(
  "/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3",
)
  ? ["plain", "openblas-openmp"]
  : ["plain"];

t.test(
  "a server answers each loop it serves, and an error for one it does not",
  async (t) => {
    const python = fake(
      "serving",
      `echo '{"ready": true}'
n=0
while read name; do
  n=$((n + 1))
  if [ "$name" = m ]; then echo "{\\"name\\": \\"m\\", \\"ms\\": $((100 * n)).5, \\"other_cores\\": 0.01}"; else echo '{"error": "not served"}'; fi
done`,
    );
    const { servers, notes } = await startLoopServers(opts(python), "m");
    t.same(notes, []);
    t.same(
      servers.map((s) => s.setup),
      setups,
    );
    const s = servers[0];
    t.same(await s.loop("m"), { ms: 100.5, otherCores: 0.01 });
    t.same(
      await s.loop("m"),
      { ms: 200.5, otherCores: 0.01 },
      "the second answer is the second loop",
    );
    await t.rejects(s.loop("other"), /plain: not served/);
    t.same(
      await s.loop("m"),
      { ms: 400.5, otherCores: 0.01 },
      "still serving after an error",
    );
    servers.forEach((x) => x.close());
  },
);

t.test(
  "a server that exits before it is ready is a note with its last stderr line",
  async (t) => {
    const python = fake(
      "broken",
      `echo 'Traceback (most recent call last):' >&2\necho 'ModuleNotFoundError: No module named torch' >&2\nexit 3`,
    );
    const { servers, notes } = await startLoopServers(opts(python), "m");
    t.same(servers, []);
    t.equal(notes.length, setups.length);
    t.match(
      notes[0],
      /^plain: exited before it was ready: ModuleNotFoundError: No module named torch$/,
    );
  },
);

t.test("a skip or error line instead of ready is a note", async (t) => {
  const python = fake(
    "skipping",
    `echo '{"skipped": "ImportError: torch"}'\nexit 3`,
  );
  const { servers, notes } = await startLoopServers(opts(python), "m");
  t.same(servers, []);
  t.match(notes[0], /^plain: ImportError: torch/);
});

t.test(
  "a server that dies while serving fails the loop asked of it",
  async (t) => {
    const python = fake(
      "dying",
      `echo '{"ready": true}'\nread name\necho 'Segmentation fault' >&2\nexit 139`,
    );
    const { servers } = await startLoopServers(opts(python), "m");
    await t.rejects(servers[0].loop("m"), /plain: exited: Segmentation fault/);
    servers.forEach((x) => x.close());
  },
);

t.test("no python, no servers", async (t) => {
  const { servers, notes } = await startLoopServers(
    opts(join(dir, "absent")),
    "m",
  );
  t.same(servers, []);
  t.match(notes[0], /absent not found/);
});
