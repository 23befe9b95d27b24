// etcd maintenance for a cluster that runs for years (etcd docs, op-guide/maintenance.md): each
// member's database size and in-use size, the revision and the last compaction, alarms, and the
// operations that free space: compaction, defragmentation (one member at a time, followers
// first), disarming an alarm, and moving the leader. Each member is addressed through its own
// client, because Status and Defragment answer for the member they reach.
import type { Etcd3 } from 'etcd3';

/** One member as the plan names it: its name and `host:port` (or URL) of its client endpoint. */
export interface MemberEndpoint {
  readonly name: string;
  readonly host: string;
}

/** One member's Status (etcd Maintenance.Status), or why it did not answer. */
export interface MemberStatus {
  name: string;
  endpoint: string;
  /** etcd member id, decimal string; "" when unreachable. */
  id: string;
  reachable: boolean;
  is_leader: boolean;
  /** Size of the backend database file, bytes (etcd `dbSize`). */
  db_size_bytes: number;
  /** Bytes of it logically in use (etcd `dbSizeInUse`); the rest is free pages a defrag returns. */
  db_size_in_use_bytes: number;
  /** The member's store revision. */
  revision: number;
  raft_term: number;
  raft_index: number;
  version: string;
  error?: string;
}

/** A raised alarm (etcd `AlarmMember`): `NOSPACE` (quota exceeded) or `CORRUPT`. */
export interface EtcdAlarm {
  member_id: string;
  /** Member name, "" when the id is not one of the members asked. */
  member: string;
  alarm: string;
}

export interface EtcdMaintenanceReport {
  /** Highest revision any member reports. */
  revision: number;
  /** Revision of the last compaction: reads below it fail; 0 = never compacted. */
  compact_revision: number;
  alarms: EtcdAlarm[];
  members: MemberStatus[];
  /** Name of the member every reachable member agrees leads; null when none. */
  leader: string | null;
}

export interface DefragStep {
  member: string;
  was_leader: boolean;
  db_size_before: number;
  db_size_after: number;
  ms: number;
}

export interface EtcdMaintenanceOptions {
  /** Builds a client for one member endpoint (closed by close()). */
  connect: (host: string) => Etcd3;
  members: readonly MemberEndpoint[];
  /** How long a member may take to be healthy again after its defrag, ms. Default 60000. */
  healthyTimeoutMs?: number;
}

/** A member did not become healthy again after its defragmentation. */
export class DefragError extends Error {
  override name = 'DefragError';
}

/** No member of the etcd cluster answers Maintenance.Status: nothing can be read or changed. */
export class EtcdUnreachableError extends Error {
  override name = 'EtcdUnreachableError';
  constructor(readonly statuses: readonly MemberStatus[]) {
    super(`no etcd member answers: ${statuses.map((x) => `${x.name}: ${x.error ?? 'down'}`).join('; ')}`);
  }
}

const num = (v: string | number | undefined) => Number(v ?? 0);

export class EtcdMaintenance {
  private readonly clients = new Map<string, Etcd3>();

  constructor(private readonly opts: EtcdMaintenanceOptions) {
    if (opts.members.length === 0) throw new Error('EtcdMaintenance: no members');
  }

  private client(m: MemberEndpoint): Etcd3 {
    let c = this.clients.get(m.name);
    if (!c) {
      c = this.opts.connect(m.host);
      this.clients.set(m.name, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  /** Status of every member (unreachable ones with `reachable: false` and the error). */
  async memberStatuses(): Promise<MemberStatus[]> {
    return Promise.all(this.opts.members.map((m) => this.memberStatus(m)));
  }

  async memberStatus(m: MemberEndpoint): Promise<MemberStatus> {
    try {
      const s = await this.client(m).maintenance.status();
      const inUse = (s as unknown as { dbSizeInUse?: string }).dbSizeInUse;
      return {
        name: m.name,
        endpoint: m.host,
        id: s.header.member_id,
        reachable: true,
        is_leader: s.leader === s.header.member_id,
        db_size_bytes: num(s.dbSize),
        db_size_in_use_bytes: num(inUse),
        revision: num(s.header.revision),
        raft_term: num(s.raftTerm),
        raft_index: num(s.raftIndex),
        version: s.version,
      };
    } catch (err) {
      return {
        name: m.name,
        endpoint: m.host,
        id: '',
        reachable: false,
        is_leader: false,
        db_size_bytes: 0,
        db_size_in_use_bytes: 0,
        revision: 0,
        raft_term: 0,
        raft_index: 0,
        version: '',
        error: (err as Error).message,
      };
    }
  }

  /** A client that reaches some member (the first reachable one). */
  private async anyClient(statuses?: MemberStatus[]): Promise<Etcd3> {
    const s = statuses ?? (await this.memberStatuses());
    const up = this.opts.members.find((m, i) => s[i]?.reachable);
    if (!up) throw new EtcdUnreachableError(s);
    return this.client(up);
  }

  /** Raised alarms (etcd Maintenance.Alarm GET), with member names. */
  async alarms(statuses?: MemberStatus[]): Promise<EtcdAlarm[]> {
    const s = statuses ?? (await this.memberStatuses());
    const res = await (await this.anyClient(s)).maintenance.alarm({ action: 'Get', memberID: 0, alarm: 'None' });
    const names = new Map(s.filter((x) => x.reachable).map((x) => [x.id, x.name]));
    // The client names the enum values `Nospace`/`Corrupt`; etcd and its docs say NOSPACE/CORRUPT.
    return res.alarms.map((a) => ({ member_id: String(a.memberID), member: names.get(String(a.memberID)) ?? '', alarm: String(a.alarm).toUpperCase() }));
  }

  /**
   * The revision of the last compaction. etcd 3.4's API does not report it, so it is found as the
   * lowest revision a read still succeeds at (a read below it fails with ErrCompacted): a binary
   * search of about log2(revision) serializable reads.
   */
  async compactRevision(revision: number, statuses?: MemberStatus[]): Promise<number> {
    if (revision <= 1) return 0;
    const c = await this.anyClient(statuses);
    const readable = async (rev: number) => {
      try {
        await c.get('\0dtable-cluster-compaction-probe').revision(rev).exec();
        return true;
      } catch (err) {
        if (/compacted/i.test((err as Error).message)) return false;
        throw err;
      }
    };
    if (await readable(1)) return 0;
    let lo = 1; // not readable
    let hi = revision; // readable (the current revision always is)
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (await readable(mid)) hi = mid;
      else lo = mid;
    }
    return hi;
  }

  /** Everything `status` shows about etcd's storage. */
  async report(): Promise<EtcdMaintenanceReport> {
    const members = await this.memberStatuses();
    const up = members.filter((m) => m.reachable);
    const revision = Math.max(0, ...up.map((m) => m.revision));
    const leaders = new Set(up.filter((m) => m.is_leader).map((m) => m.name));
    return {
      revision,
      compact_revision: up.length > 0 ? await this.compactRevision(revision, members) : 0,
      alarms: up.length > 0 ? await this.alarms(members) : [],
      members,
      leader: leaders.size === 1 ? [...leaders][0]! : null,
    };
  }

  /**
   * Compacts the key history up to `revision` (default: the current revision minus `keep`).
   * Physical: returns once the compaction is applied to the backend, so a defrag right after
   * can reclaim the space. Returns the revision compacted to (0 = nothing to do).
   */
  async compact(opts: { revision?: number; keep?: number } = {}): Promise<number> {
    const statuses = await this.memberStatuses();
    // With no member answering, the current revision would read as 0: "nothing to compact".
    const client = await this.anyClient(statuses);
    const current = Math.max(0, ...statuses.filter((m) => m.reachable).map((m) => m.revision));
    const target = opts.revision ?? current - (opts.keep ?? 0);
    const done = await this.compactRevision(current, statuses);
    if (target <= done || target < 1) return 0;
    await client.kv.compact({ revision: target, physical: true });
    return target;
  }

  /**
   * Defragments every member, one at a time: followers first, the leader last, each healthy
   * again (answers Status, sees a leader, and has caught up with the raft index the leader had
   * when its defrag ended) before the next. Throws DefragError and stops when a member does not
   * recover, so at most one member is ever unavailable.
   */
  async defragAll(opts: { only?: (m: MemberStatus) => boolean; onStep?: (s: DefragStep) => void; stillWanted?: () => boolean } = {}): Promise<DefragStep[]> {
    const statuses = await this.memberStatuses();
    const down = statuses.filter((s) => !s.reachable);
    if (down.length === statuses.length) throw new EtcdUnreachableError(statuses);
    if (down.length > 0) throw new DefragError(`not defragmenting while ${down.map((d) => d.name).join(', ')} ${down.length === 1 ? 'is' : 'are'} unreachable: the cluster would lose more than one member`);
    const order = [...statuses].sort((a, b) => Number(a.is_leader) - Number(b.is_leader)).filter((s) => opts.only?.(s) ?? true);
    const steps: DefragStep[] = [];
    for (const s of order) {
      if (opts.stillWanted && !opts.stillWanted()) break;
      // Every member answers before each step, not only at the start: one that went down since
      // would make this step the second member unavailable.
      if (steps.length > 0) {
        const now = await this.memberStatuses();
        const gone = now.filter((x) => !x.reachable);
        if (gone.length > 0) throw new DefragError(`stopped defragmenting: ${gone.map((d) => d.name).join(', ')} went unreachable`);
      }
      const m = this.opts.members.find((x) => x.name === s.name)!;
      const started = Date.now();
      await this.client(m).maintenance.defragment();
      const after = await this.waitHealthy(m);
      const step = { member: m.name, was_leader: s.is_leader, db_size_before: s.db_size_bytes, db_size_after: after.db_size_bytes, ms: Date.now() - started };
      steps.push(step);
      opts.onStep?.(step);
    }
    return steps;
  }

  private async waitHealthy(m: MemberEndpoint): Promise<MemberStatus> {
    const deadline = Date.now() + (this.opts.healthyTimeoutMs ?? 60_000);
    let target = -1;
    let last = '';
    while (Date.now() < deadline) {
      const all = await this.memberStatuses();
      const me = all.find((x) => x.name === m.name)!;
      const leader = all.find((x) => x.is_leader);
      if (target < 0 && leader) target = leader.raft_index;
      if (me.reachable && leader && target >= 0 && me.raft_index >= target) return me;
      last = me.reachable ? (leader ? `raft index ${me.raft_index} < ${target}` : 'no leader') : (me.error ?? 'unreachable');
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new DefragError(`etcd member ${m.name} is not healthy again after its defragmentation: ${last}`);
  }

  /**
   * Deactivates the raised alarms of `type` (default NOSPACE: a CORRUPT alarm is only ever cleared
   * on purpose, after the member is replaced); returns the alarms disarmed.
   */
  async disarm(type = 'NOSPACE'): Promise<EtcdAlarm[]> {
    const statuses = await this.memberStatuses();
    const raised = (await this.alarms(statuses)).filter((a) => a.alarm === type);
    const c = await this.anyClient(statuses);
    const wire = { NOSPACE: 'Nospace', CORRUPT: 'Corrupt' } as const;
    for (const a of raised) {
      const alarm = wire[a.alarm as keyof typeof wire];
      if (alarm) await c.maintenance.alarm({ action: 'Deactivate', memberID: a.member_id, alarm });
    }
    return raised;
  }

  /** Transfers etcd leadership to `member` (etcd Maintenance.MoveLeader, sent to the leader). */
  async moveLeader(member: string): Promise<void> {
    const statuses = await this.memberStatuses();
    const leader = statuses.find((s) => s.is_leader);
    const target = statuses.find((s) => s.name === member);
    if (!statuses.some((s) => s.reachable)) throw new EtcdUnreachableError(statuses);
    if (!leader) throw new Error('etcd has no leader');
    if (!target?.reachable) throw new Error(`etcd member ${member} is not reachable`);
    if (leader.name === member) return;
    const m = this.opts.members.find((x) => x.name === leader.name)!;
    await this.client(m).maintenance.moveLeader({ targetID: target.id });
  }
}
