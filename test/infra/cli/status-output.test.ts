// The text of `status`: the endpoint lines read as one column.
import { expect, it } from 'vitest';
import { formatStatus } from '../../../infra/cli/commands/status.ts';
import type { ClusterStatus } from '../../../infra/local/cluster-status.ts';

it('web, proxy, console and etcd values start in the same column', () => {
  const s = {
    cluster: 'seatable',
    run_dir: '/r',
    supervisor: { pid: 1, running: true, phase: 'ready', ready_ms: 1 },
    web: { url: 'http://127.0.0.1:17012/', healthy: true },
    proxy: { url: 'http://127.0.0.1:17008/', admin_url: 'http://127.0.0.1:17009/', healthy: true },
    console: { url: 'http://127.0.0.1:17009/console/' },
    etcd: { endpoints: [], healthy: true, members: [], leader: null, revision: 5, compact_revision: 0, alarms: [], quota_backend_bytes: 1 << 30, advice: [] },
    storage: { kind: 'filesystem', dir: '/b' },
    nodes: [],
    monitor: { leader: null, replicas: [] },
    assignment: null,
    processes: [],
  } as unknown as ClusterStatus;
  const lines = formatStatus(s).split('\n');
  const column = (prefix: string) => {
    const l = lines.find((x) => x.startsWith(prefix))!;
    return l.length - l.slice(prefix.length).trimStart().length;
  };
  expect(['web', 'proxy', 'console', 'etcd', ' '].map(column)).toEqual([8, 8, 8, 8, 8]);
});
