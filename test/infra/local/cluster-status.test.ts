// What `status --json` reports of the local cluster without etcd: the processes of the run dir, and
// the shape of the assignment.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPlan } from '../../../infra/cli/options.ts';
import { assignmentJson, collectStatus } from '../../../infra/local/cluster-status.ts';
import { localMariadbDir, mariadbPidFile } from '../../../infra/local/mariadb.ts';
import { runDirLayout } from '../../../infra/local/run-dir.ts';
import { BUCKETS } from '../../../runtime/cluster/buckets.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'dtc-status-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('assignmentJson', () => {
  const assignment = BUCKETS.map((_, i) => (i === 5 ? null : i % 2 ? 'dtable-server-02' : 'dtable-server-01'));
  const json = JSON.parse(JSON.stringify(assignmentJson(assignment, 7)));

  it('lists every bucket in bucket order in by_bucket, through JSON', () => {
    expect(json.by_bucket.map((b: { bucket: string }) => b.bucket)).toEqual([...BUCKETS]);
    expect(json.by_bucket.slice(4, 7)).toEqual([
      { bucket: '04', node_id: 'dtable-server-01' },
      { bucket: '05', node_id: null },
      { bucket: '06', node_id: 'dtable-server-01' },
    ]);
  });

  it('keeps buckets as a lookup map of the assigned buckets', () => {
    expect(json).toMatchObject({ epoch: 7, assigned: 255 });
    expect(json.buckets['0a']).toBe('dtable-server-01');
    expect(json.buckets['05']).toBeUndefined();
  });
});

it("collectStatus lists the run dir's MariaDB among the processes", async () => {
  const config = join(tmp, 'cluster.yaml');
  // Nothing listens on these low ports.
  writeFileSync(config, readFileSync(join(ROOT, 'cluster.yaml'), 'utf8').replace(/base_port: \d+/, 'base_port: 1100'));
  const { plan } = loadPlan({ config, target: 'local', runDir: join(tmp, 'run') });
  // A process named mariadbd whose pid is in the run dir's pid file, as `up` leaves it.
  const db = spawn('bash', ['-c', 'exec -a mariadbd sleep 600'], { stdio: 'ignore' });
  try {
    const dir = localMariadbDir(plan.runDir);
    mkdirSync(dir, { recursive: true });
    writeFileSync(mariadbPidFile(dir), `${db.pid}\n`);
    const s = await collectStatus(plan, runDirLayout(plan.runDir));
    expect(s.processes).toEqual([{ name: 'mariadb', kind: 'mariadb', pid: db.pid, status: 'running' }]);
  } finally {
    db.kill('SIGKILL');
  }
}, 30_000);
