// Automatic defragmentation by the monitor leader (cluster.yaml etcd.auto_defrag): compaction
// frees pages inside etcd's database file, but only a defrag returns them to the file system and
// keeps the file, which the quota measures, near its in-use size. A member qualifies when its
// file is large enough to matter and mostly free; qualifying members are defragmented one at a
// time, followers first (EtcdMaintenance.defragAll).
import type { Log } from '../cluster/etcd/log.ts';
import type { DefragStep, EtcdMaintenance, MemberStatus } from '../cluster/etcd/maintenance.ts';

export interface AutoDefragOptions {
  /** Defragment when in-use bytes / file size is below this... */
  inUseBelow: number;
  /** ...and the file is at least this many bytes. */
  minDbSizeBytes: number;
  intervalMs: number;
  /** Only the monitor leader defragments. */
  isLeader: () => boolean;
  log: Log;
}

/** Whether a member's database is worth a defrag. Pure. */
export function needsDefrag(m: MemberStatus, opts: Pick<AutoDefragOptions, 'inUseBelow' | 'minDbSizeBytes'>): boolean {
  return m.reachable && m.db_size_bytes >= opts.minDbSizeBytes && m.db_size_bytes > 0 && m.db_size_in_use_bytes / m.db_size_bytes < opts.inUseBelow;
}

export class AutoDefrag {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<DefragStep[]> | null = null;
  /** Defragmentations done, for the metrics. */
  defrags = 0;

  constructor(
    private readonly maint: EtcdMaintenance,
    private readonly opts: AutoDefragOptions,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.check().catch(() => undefined), this.opts.intervalMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One check (never two at once); resolves with the defragmentations done. */
  check(): Promise<DefragStep[]> {
    this.running ??= this.checkOnce().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async checkOnce(): Promise<DefragStep[]> {
    if (!this.opts.isLeader()) return [];
    const statuses = await this.maint.memberStatuses();
    const due = new Set(statuses.filter((m) => needsDefrag(m, this.opts)).map((m) => m.name));
    if (due.size === 0) return [];
    this.opts.log.info({ members: [...due] }, 'etcd databases mostly free space: defragmenting one member at a time');
    try {
      const steps = await this.maint.defragAll({
        only: (m) => due.has(m.name),
        // A monitor that stops leading stops here: the new leader makes its own rounds.
        stillWanted: () => this.opts.isLeader(),
        onStep: (s) => {
          this.defrags++;
          this.opts.log.info({ ...s }, 'etcd member defragmented');
        },
      });
      return steps;
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'automatic etcd defrag stopped');
      return [];
    }
  }
}
