// Every rendered file read back the way its consumer reads it: the runtime's own config reader
// for the JSON files, python3 for the dtable-web fragment, an INI parser for dtable-db.conf, a
// YAML parser for the compose file and etcd's config. (etcd itself: consumers.int.test.ts.)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseIni } from 'ini';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { monitorConfigSchema, nodeConfigSchema, proxyConfigSchema, readConfigFile, webConfigSchema } from '../../../runtime/config/files.ts';
import { renderPlan } from '../../../infra/render/render.ts';
import { writeRendered } from '../../../infra/render/write.ts';
import type { Target } from '../../../infra/plan/types.ts';
import { repoPlan } from './fixtures.ts';
import { pythonEval } from './python.ts';

const tmp = mkdtempSync(join(tmpdir(), 'dtc-consumers-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.each(['docker', 'local'] as Target[])('files rendered for the %s target', (target) => {
  const plan = repoPlan(target);
  const out = join(tmp, target);
  writeRendered(renderPlan(plan), out);
  const at = (p: string) => join(out, p);

  it('give each node a dtable_server_config.json the node runtime accepts', () => {
    for (const node of plan.nodes) {
      const config = readConfigFile(nodeConfigSchema, at(`${node.name}/dtable_server_config.json`));
      expect(config.cluster_config).toEqual({
        etcd_host_list: plan.etcd.hostList,
        node_id: node.nodeId,
        node_url: node.nodeUrl,
        local_node_url: node.localNodeUrl,
      });
      expect(config.dtable_cluster).toMatchObject({
        listen: { host: node.listenHost, port: node.port },
        lease_ttl: plan.leaseTtl,
        data_dir: node.dataDir,
        private_key_env: 'DTABLE_PRIVATE_KEY',
      });
    }
  });

  it('give the proxy a dtable_server_config.json the proxy runtime accepts', () => {
    const config = readConfigFile(proxyConfigSchema, at('dtable-server-proxy/dtable_server_config.json'));
    expect(config.cluster_config.etcd_host_list).toEqual(plan.etcd.hostList);
    expect(config.dtable_cluster.listen.port).toBe(plan.proxy.port);
    expect(config.dtable_cluster.admin_listen.port).toBe(plan.proxy.adminPort);
  });

  it('give each monitor replica a monitor.json the monitor runtime accepts', () => {
    for (const m of plan.monitors) {
      const config = readConfigFile(monitorConfigSchema, at(`${m.name}/monitor.json`));
      expect(config).toMatchObject({ monitor_id: m.monitorId, lease_ttl: plan.leaseTtl, metrics_listen: { port: m.metricsPort } });
    }
  });

  it('give the web role a web.json the web runtime accepts', () => {
    const config = readConfigFile(webConfigSchema, at('web/web.json'));
    expect(config).toMatchObject({ url: plan.web.url, proxy_url: plan.proxy.url, listen: { port: plan.web.port } });
  });

  it('give dtable-web a Python fragment that sets the three cluster settings', () => {
    const values = pythonEval(
      readFileSync(at('dtable-web/dtable_web_settings.py'), 'utf8'),
      '[ns["ENABLE_DTABLE_SERVER_CLUSTER"], ns["ETCD_SERVER_HOST_LIST"], ns["DTABLE_PROXY_SERVER_URL"], sorted(ns)]',
    );
    const hosts = target === 'docker'
      ? ['etcd-01.example.com', 'etcd-02.example.com', 'etcd-03.example.com']
      : plan.etcd.hostList;
    expect(values).toEqual([
      true,
      hosts,
      plan.proxy.url,
      ['DTABLE_PROXY_SERVER_URL', 'ENABLE_DTABLE_SERVER_CLUSTER', 'ETCD_SERVER_HOST_LIST'],
    ]);
  });

  it('give dtable-db a conf fragment whose [dtable cache] dtable_server_url is the proxy', () => {
    const ini = parseIni(readFileSync(at('dtable-db/dtable-db.conf'), 'utf8'));
    expect(ini).toEqual({ 'dtable cache': { dtable_server_url: plan.proxy.url } });
  });

  it('give the proxy a docker-compose.yml with image, both ports, the shared volume and TIME_ZONE', () => {
    const compose = parseYaml(readFileSync(at('dtable-server-proxy/docker-compose.yml'), 'utf8'));
    expect(compose).toEqual({
      services: {
        'dtable-server-proxy': {
          image: 'dtable-cluster:latest',
          container_name: 'dtable-server-proxy',
          restart: 'unless-stopped',
          ports: [`${plan.proxy.port}:${plan.proxy.port}`, `${plan.proxy.adminPort}:${plan.proxy.adminPort}`],
          volumes: ['/opt/dtable-server-proxy/shared:/shared'],
          environment: ['TIME_ZONE=Etc/UTC', 'DTABLE_ADMIN_TOKEN'],
        },
      },
    });
  });

  it('give each etcd member a config naming the whole initial cluster', () => {
    for (const m of plan.etcd.members) {
      const conf = parseYaml(readFileSync(at(`${m.name}/etcd.conf.yml`), 'utf8'));
      expect(conf).toMatchObject({
        name: m.name,
        'data-dir': m.dataDir,
        'advertise-client-urls': m.clientUrl,
        'initial-advertise-peer-urls': m.peerUrl,
        'initial-cluster': plan.etcd.members.map((o) => `${o.name}=${o.peerUrl}`).join(','),
        'initial-cluster-state': 'new',
        'max-txn-ops': 1024,
      });
    }
  });
});
