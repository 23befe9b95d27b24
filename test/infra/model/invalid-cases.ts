// Invalid cluster.yaml cases: each is the valid base fixture with one edit, the exact first
// error line the validator must print, and whether it is a shape error (one the JSON Schema
// must reject too) rather than a YAML syntax or cross-field error.
import { readFileSync } from 'node:fs';

export const BASE = readFileSync(new URL('../../fixtures/cluster/base.yaml', import.meta.url), 'utf8');

export interface InvalidCase {
  readonly name: string;
  readonly text: string;
  /** The first printed line: `cluster.yaml:L:C: message`. */
  readonly error: string;
  readonly hint?: string;
  readonly shape: boolean;
}

function edit(from: string, to: string): string {
  if (!BASE.includes(from)) throw new Error(`base fixture has no ${JSON.stringify(from)}`);
  return BASE.replace(from, to);
}

export const INVALID_CASES: InvalidCase[] = [
  {
    name: 'etcd.tls.enabled written as "yes"',
    text: edit('etcd:\n  members:\n', 'etcd:\n  tls: { enabled: yes }\n  members:\n'),
    error: 'cluster.yaml:7:19: etcd.tls.enabled must be a boolean, got the string "yes"',
    shape: true,
  },
  {
    name: "a YAML syntax error",
    text: edit('  host: proxy.example.com\n', '  host: [proxy.example.com\n'),
    error: "cluster.yaml:26:1: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]",
    shape: false,
  },
  {
    name: "a key written twice",
    text: edit('name: test\n', 'name: test\nname: other\n'),
    error: "cluster.yaml:2:1: invalid YAML: Map keys must be unique",
    shape: false,
  },
  {
    name: "a document that is a list",
    text: '- name: test\n',
    error: "cluster.yaml:1:1: cluster.yaml must be a mapping of keys (name, etcd, nodes, proxy, ...)",
    shape: true,
  },
  {
    name: "a misspelt top-level key",
    text: edit('name: test\n', 'name: test\nlease_tll: 30\n'),
    error: "cluster.yaml:2:1: unknown key \"lease_tll\" (did you mean \"lease_ttl\"?)",
    hint: "allowed keys here: name, key_prefix, lease_ttl, secrets, docker_hosts, runtime_image, etcd, storage, nodes, proxy, monitor, web, local, prometheus",
    shape: true,
  },
  {
    name: "a misspelt member key",
    text: edit('      host: etcd-01.example.com\n', '      host: etcd-01.example.com\n      clinet_port: 2379\n'),
    error: "cluster.yaml:10:7: unknown key \"clinet_port\" in etcd.members[0] (did you mean \"client_port\"?)",
    hint: "allowed keys here: name, host, client_port, peer_port, docker_host, data_volume",
    shape: true,
  },
  {
    name: "a missing proxy section",
    text: edit('proxy:\n  host: proxy.example.com\n', ''),
    error: "cluster.yaml:1:1: missing required top-level key \"proxy\"",
    shape: true,
  },
  {
    name: "a member without host",
    text: edit('    - name: etcd-02\n      host: etcd-02.example.com\n', '    - name: etcd-02\n'),
    error: "cluster.yaml:10:7: etcd.members[1]: missing required key \"host\"",
    shape: true,
  },
  {
    name: "a lease_ttl that is text",
    text: edit('name: test\n', 'name: test\nlease_ttl: ninety\n'),
    error: "cluster.yaml:2:12: lease_ttl must be a number, got the string \"ninety\"",
    shape: true,
  },
  {
    name: "a lease_ttl below the minimum",
    text: edit('name: test\n', 'name: test\nlease_ttl: 3\n'),
    error: "cluster.yaml:2:12: lease_ttl must be at least 5 seconds (below etcd's minimum lease plus a keepalive round and fencing margin)",
    shape: true,
  },
  {
    name: "a port above 65535",
    text: edit('      host: etcd-01.example.com\n', '      host: etcd-01.example.com\n      client_port: 70000\n'),
    error: "cluster.yaml:10:20: etcd.members[0].client_port must be a port number between 1 and 65535",
    shape: true,
  },
  {
    name: "a node_id without the dtable-server- prefix",
    text: edit('node_id: dtable-server-02', 'node_id: server-02'),
    error: "cluster.yaml:20:14: nodes[1].node_id must start with \"dtable-server-\"",
    shape: true,
  },
  {
    name: "a node_url that is not a URL",
    text: edit('node_url: https://dtable-server-01.example.com/', 'node_url: dtable-server-01'),
    error: "cluster.yaml:18:15: nodes[0].node_url is not a valid URL: \"dtable-server-01\"",
    shape: false,
  },
  {
    name: "a node_url with an ftp scheme",
    text: edit('node_url: https://dtable-server-01.example.com/', 'node_url: ftp://dtable-server-01.example.com/'),
    error: "cluster.yaml:18:15: nodes[0].node_url must be an http:// or https:// URL",
    shape: false,
  },
  {
    name: "a local_node_url with a query",
    text: edit('local_node_url: http://10.0.0.2:5000/', 'local_node_url: http://10.0.0.2:5000/?x=1'),
    error: "cluster.yaml:22:21: nodes[1].local_node_url must not contain a query or fragment",
    shape: false,
  },
  {
    name: "a node_url with non-ASCII characters",
    text: edit('node_url: https://dtable-server-01.example.com/', 'node_url: https://dtäble.example.com/'),
    error: "cluster.yaml:18:15: nodes[0].node_url must be a URL of printable ASCII characters (no spaces; write international names as punycode)",
    shape: false,
  },
  {
    name: "two nodes with the same node_id",
    text: edit('node_id: dtable-server-02', 'node_id: dtable-server-01'),
    error: "cluster.yaml:20:14: duplicate name \"dtable-server-01\" (already used by the node at nodes[0].node_id)",
    hint: "every etcd member, node, proxy, monitor and web instance needs a unique name",
    shape: false,
  },
  {
    name: "two etcd members with the same name",
    text: edit('name: etcd-03', 'name: etcd-01'),
    error: "cluster.yaml:13:13: duplicate name \"etcd-01\" (already used by the etcd at etcd.members[0].name)",
    hint: "every etcd member, node, proxy, monitor and web instance needs a unique name",
    shape: false,
  },
  {
    name: "an etcd member named like the web instance",
    text: edit('name: etcd-03', 'name: web'),
    error: "cluster.yaml:13:13: name \"web\" is taken by the web lookup role of the same name",
    hint: "monitor replicas are named monitor-1, monitor-2, ... and the web role is named web; choose another name",
    shape: false,
  },
  {
    name: "a proxy named like a rendered fragment folder",
    text: edit('proxy:\n', 'proxy:\n  name: dtable-web\n'),
    error: "cluster.yaml:25:9: name \"dtable-web\" is reserved for a rendered fragment folder",
    hint: "choose another name than dtable-web or dtable-db or prometheus",
    shape: false,
  },
  {
    name: "two nodes with the same local_node_url",
    text: edit('local_node_url: http://10.0.0.2:5000/', 'local_node_url: http://10.0.0.1:5000/'),
    error: "cluster.yaml:20:5: port 5000 on host 10.0.0.1 is already used by dtable-server-01 (nodes[0].port)",
    hint: "give one of them another port or put it on another docker host",
    shape: false,
  },
  {
    name: "a proxy port clashing with a node on one docker host",
    text: edit('  host: proxy.example.com\n', '  host: proxy.example.com\n  port: 5000\n'),
    error: "cluster.yaml:26:9: port 5000 on docker host \"default\" is already used by dtable-server-01 (nodes[0].port)",
    hint: "give one of them another port or put it on another docker host",
    shape: false,
  },
  {
    name: "two members on one host address with the same client port",
    text: edit('host: etcd-02.example.com', 'host: etcd-01.example.com'),
    error: "cluster.yaml:10:7: port 2379 on host etcd-01.example.com is already used by etcd-01 (etcd.members[0].client_port)",
    hint: "give one of them another port or put it on another docker host",
    shape: false,
  },
  {
    name: "a reference to an unknown docker host",
    text: edit('docker_host: host-c', 'docker_host: host-d'),
    error: "cluster.yaml:15:20: unknown docker host \"host-d\"",
    hint: "did you mean \"host-b\"? (docker_hosts: default, host-b, host-c)",
    shape: false,
  },
  {
    name: "instances without docker_host and no default docker host",
    text: edit('  default: unix:///var/run/docker.sock\n', ''),
    error: "cluster.yaml:7:7: etcd-01 has no docker_host and docker_hosts has no \"default\" entry",
    hint: "add docker_host: one of host-b, host-c",
    shape: false,
  },
  {
    name: "an inline secret value",
    text: edit('name: test\n', 'name: test\nsecrets:\n  private_key: s3cr3t\n'),
    error: "cluster.yaml:3:3: secrets.private_key is an inline secret; cluster.yaml only names environment variables (private_key_env)",
    hint: "export the value in an environment variable, e.g. PRIVATE_KEY_VALUE, and write private_key_env: PRIVATE_KEY_VALUE",
    shape: true,
  },
  {
    name: "a secret env name that is a value",
    text: edit('name: test\n', 'name: test\nsecrets:\n  admin_token_env: "hunter2 !"\n'),
    error: "cluster.yaml:3:20: secrets.admin_token_env must be the name of an environment variable (letters, digits, \"_\"), not a secret value",
    hint: "inline secret values are not allowed: export the value, e.g. MY_KEY='...', and write admin_token_env: MY_KEY",
    shape: true,
  },
  {
    name: "max_txn_ops below 512",
    text: edit('etcd:\n', 'etcd:\n  max_txn_ops: 128\n'),
    error: "cluster.yaml:7:16: etcd.max_txn_ops must be at least 512 so the 256 assign keys fit one transaction",
    shape: true,
  },
  {
    name: "quota_backend_bytes below 8 MiB",
    text: edit('etcd:\n', 'etcd:\n  quota_backend_bytes: 1048576\n'),
    error: "cluster.yaml:7:24: etcd.quota_backend_bytes must be at least 8388608 (8 MiB)",
    shape: true,
  },
  {
    name: "an unknown compaction mode",
    text: edit('etcd:\n', 'etcd:\n  compaction: { mode: daily }\n'),
    error: 'cluster.yaml:7:23: etcd.compaction.mode must be "periodic" or "revision"',
    shape: true,
  },
  {
    name: "a periodic compaction retention that is not a duration",
    text: edit('etcd:\n', 'etcd:\n  compaction: { retention: 5 minutes }\n'),
    error: 'cluster.yaml:7:28: etcd.compaction.retention must be a duration like "5m", "1h" or "1h30m" for mode periodic',
    shape: false,
  },
  {
    name: "a revision compaction retention written as a duration",
    text: edit('etcd:\n', 'etcd:\n  compaction: { mode: revision, retention: 1h }\n'),
    error: "cluster.yaml:7:44: etcd.compaction.retention must be a whole number of revisions (at least 1) for mode revision",
    shape: false,
  },
  {
    name: "a periodic compaction retention under a minute",
    text: edit('etcd:\n', 'etcd:\n  compaction: { retention: 30s }\n'),
    error: "cluster.yaml:7:28: etcd.compaction.retention must be at least 1m: watchers that reconnect need some history",
    shape: false,
  },
  {
    name: "an auto_defrag threshold above 1",
    text: edit('etcd:\n', 'etcd:\n  auto_defrag: { in_use_below: 1.5 }\n'),
    error: "cluster.yaml:7:32: etcd.auto_defrag.in_use_below must be a fraction between 0 and 1",
    shape: true,
  },
  {
    name: "an empty member list",
    text: edit('etcd:\n  members:\n    - name: etcd-01\n      host: etcd-01.example.com\n    - name: etcd-02\n      host: etcd-02.example.com\n      docker_host: host-b\n    - name: etcd-03\n      host: etcd-03.example.com\n      docker_host: host-c\n', 'etcd:\n  members: []\n'),
    error: "cluster.yaml:7:12: etcd.members needs at least one member",
    shape: true,
  },
  {
    name: "nodes given as a mapping",
    text: BASE.slice(0, BASE.indexOf('nodes:')) + 'nodes: {}\nproxy:\n  host: proxy.example.com\n',
    error: "cluster.yaml:16:8: nodes must be a list, got a mapping",
    shape: true,
  },
  {
    name: "a cluster name with capitals",
    text: edit('name: test', 'name: Test'),
    error: "cluster.yaml:1:7: name must be lowercase letters, digits and \"-\" (at most 63, not starting or ending with \"-\")",
    shape: true,
  },
  {
    name: "a proxy host with a scheme",
    text: edit('host: proxy.example.com', 'host: http://proxy.example.com'),
    error: "cluster.yaml:25:9: proxy.host must be a host name or IPv4 address (letters, digits, \"-\" and \".\", no port or scheme)",
    shape: true,
  },
  {
    name: "a time zone carrying a newline and a key",
    text: edit('  host: proxy.example.com\n', '  host: proxy.example.com\n  time_zone: "UTC\\"\\ninjected: 1"\n'),
    error: "cluster.yaml:26:14: proxy.time_zone must be a time zone name like \"Europe/Berlin\"",
    shape: true,
  },
  {
    name: "a key_prefix inside the assign- namespace",
    text: edit('name: test\n', 'name: test\nkey_prefix: assign-x/\n'),
    error: "cluster.yaml:2:13: key_prefix must not start with \"assign-\" (it would overlap the cluster's own keys)",
    hint: "use a prefix like \"prod/\" or leave it empty for SeaTable compatibility",
    shape: false,
  },
  {
    name: "a misspelt local port slot",
    text: edit('name: test\n', 'name: test\nlocal:\n  ports:\n    etcd-01.clinet: 18000\n'),
    error: "cluster.yaml:4:5: local.ports: unknown port slot \"etcd-01.clinet\"",
    hint: "did you mean \"etcd-01.client\"?",
    shape: false,
  },
  {
    name: "two local slots on one port",
    text: edit('name: test\n', 'name: test\nlocal:\n  ports:\n    etcd-01.client: 18000\n    etcd-02.client: 18000\n'),
    error: "cluster.yaml:5:21: local port 18000 is already used by etcd-01.client",
    hint: "every local port must be distinct (all processes share 127.0.0.1)",
    shape: false,
  },
  {
    name: "a negative weight",
    text: edit('    docker_host: host-b\nproxy', '    docker_host: host-b\n    weight: -1\nproxy'),
    error: "cluster.yaml:24:13: nodes[1].weight must be at least 0",
    shape: true,
  },
  {
    name: "zero monitor replicas",
    text: edit('name: test\n', 'name: test\nmonitor:\n  replicas: 0\n'),
    error: "cluster.yaml:3:13: monitor.replicas must be at least 1",
    shape: true,
  },
  {
    name: "an etcd host with a quote",
    text: edit('host: etcd-01.example.com', `host: "etcd-01'; import os"`),
    error: "cluster.yaml:9:13: etcd.members[0].host must be a host name or IPv4 address (letters, digits, \"-\" and \".\", no port or scheme)",
    shape: true,
  },
  {
    name: "a docker host name with a space",
    text: edit('  host-c: ssh', '  "Bad Name": unix:///x\n  host-c: ssh'),
    error: "cluster.yaml:5:3: docker_hosts: key \"Bad Name\" must be lowercase letters, digits and \"-\" (at most 63, not starting or ending with \"-\")",
    shape: true,
  },
  {
    name: "a second YAML document",
    text: `${BASE}---\na: 1\n`,
    error: "cluster.yaml:29:1: cluster.yaml must hold a single YAML document (remove the second \"---\")",
    shape: false,
  },
  {
    name: "a fractional port",
    text: edit('proxy:\n', 'proxy:\n  port: 5550.5\n'),
    error: "cluster.yaml:25:9: proxy.port must be a whole number, got number 5550.5",
    shape: true,
  },
  {
    name: "nodes on two docker hosts without storage (filesystem by default)",
    text: BASE.replace('storage:\n  kind: mariadb\n  host: db.example.com\n', ''),
    error: "cluster.yaml:16:1: nodes run on 2 docker hosts (default, host-b) but storage is the filesystem, which only nodes of one host share: a bucket that moves to another host would find none of its bases",
    hint: "add `storage: {kind: mariadb, host: <server>, docker_host: <one of docker_hosts>}` (docs/cluster-yaml.md#storage), or put every node on one docker host",
    shape: false,
  },
  {
    name: "a storage password variable that holds another secret",
    text: edit('  host: db.example.com\n', '  host: db.example.com\n  password_env: DTABLE_ADMIN_TOKEN\n'),
    error: "cluster.yaml:29:17: \"DTABLE_ADMIN_TOKEN\" already holds another secret of the cluster",
    hint: "name a variable of its own, e.g. DTABLE_STORAGE_PASSWORD",
    shape: false,
  },
  {
    name: "a MariaDB system database for the bases",
    text: edit('  host: db.example.com\n', '  host: db.example.com\n  database: mysql\n'),
    error: "cluster.yaml:29:13: \"mysql\" is a system database of MariaDB",
    hint: "name a database of its own, e.g. dtable_bases",
    shape: false,
  },
  {
    name: "an unknown storage kind",
    text: edit('  kind: mariadb\n', '  kind: postgres\n'),
    error: "cluster.yaml:27:9: storage.kind must be \"filesystem\" or \"mariadb\"",
    shape: true,
  },
  {
    name: "a MariaDB password written inline",
    text: edit('  host: db.example.com\n', '  host: db.example.com\n  password_env: "s3cret!pass"\n'),
    error: "cluster.yaml:29:17: storage.password_env must be the name of an environment variable (letters, digits, \"_\"), not a secret value",
    shape: true,
  },
  {
    name: "MariaDB storage on an unknown docker host",
    text: edit('  host: db.example.com\n', '  host: db.example.com\n  docker_host: host-d\n'),
    error: "cluster.yaml:29:16: unknown docker host \"host-d\"",
    hint: "did you mean \"host-b\"? (docker_hosts: default, host-b, host-c)",
    shape: false,
  },
  {
    name: "MariaDB in a container on the port of a node of the same docker host",
    text: edit('  host: db.example.com\n', '  host: db.example.com\n  docker_host: host-b\n  port: 5000\n'),
    error: "cluster.yaml:30:9: port 5000 on docker host \"host-b\" is already used by dtable-server-02 (nodes[1].port)",
    hint: "give one of them another port or put it on another docker host",
    shape: false,
  },
  {
    name: "an empty node entry",
    text: edit('nodes:\n', 'nodes:\n  -\n'),
    error: "cluster.yaml:17:4: nodes[0] must be a mapping, got null (empty value)",
    shape: true,
  },
];
