// The web lookup role as a process: a cluster view for the assign-<hh> → dtable-server- lookup,
// the durable base directory, and the HTTP app.
import type { FastifyInstance } from 'fastify';
import { connectEtcd, type Etcd3 } from '../cluster/etcd/client.ts';
import { ClusterView } from '../cluster/etcd/cluster-view.ts';
import type { Log } from '../cluster/etcd/log.ts';
import { keyspace } from '../cluster/keyspace.ts';
import type { WebConfig } from '../config/files.ts';
import type { Registry } from 'prom-client';
import { buildWebApp } from './app.ts';
import { BaseDirectory } from './base-directory.ts';

export class WebRole {
  private client: Etcd3 | null = null;
  private view: ClusterView | null = null;
  private app: FastifyInstance | null = null;

  constructor(private readonly opts: { config: WebConfig; privateKey: string; adminToken: string; log: Log; registry?: Registry }) {}

  async start(): Promise<void> {
    const { config, log } = this.opts;
    const directory = new BaseDirectory(config.data_dir);
    this.client = connectEtcd({ hostList: config.etcd_host_list, tls: config.tls });
    this.view = await ClusterView.open(this.client, keyspace(config.key_prefix), { log });
    const view = this.view;
    this.app = buildWebApp({
      directory,
      // SeaTable's lookup: the node assign-<hh> names, then that node's registration.
      lookup: { nodeUrlFor: (b) => { const id = view.assignedTo(b); return id ? (view.node(id)?.node_url ?? null) : null; } },
      privateKey: this.opts.privateKey,
      adminToken: this.opts.adminToken,
      accessTokenTtl: config.access_token_ttl,
      ...(this.opts.registry ? { registry: this.opts.registry } : {}),
    });
    await this.app.listen({ host: config.listen.host, port: config.listen.port });
    log.info({ listen: config.listen, bases: directory.list().length }, 'web role started');
  }

  port(): number {
    const a = this.app?.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  async stop(): Promise<void> {
    await this.app?.close().catch(() => undefined);
    await this.view?.close().catch(() => undefined);
    this.client?.close();
  }
}
