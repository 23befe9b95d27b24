#!/usr/bin/env bash
# Installs what the cluster and its tests need, only where it is missing: npm dependencies
# (npm ci), etcd and MariaDB from Debian's packages, and for bin/test Chromium and Prometheus.
# Sourced by bin/up and bin/test.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "error: need root (or sudo) to run: $*" >&2; return 1; fi; }

need_pkgs=()
command -v etcd >/dev/null || need_pkgs+=(etcd-server)
command -v etcdctl >/dev/null || need_pkgs+=(etcd-client)
# dtable-web compatibility tests read the cluster with Debian's python3-etcd3, as dtable-web does.
/usr/bin/python3 -c 'import etcd3' >/dev/null 2>&1 || need_pkgs+=(python3-etcd3)
# MariaDB base storage (cluster.yaml storage.kind mariadb): `up` and the tests run Debian's mariadbd.
{ command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ]; } && command -v mariadb-install-db >/dev/null || need_pkgs+=(mariadb-server)
# The operator console is tested in Debian's headless Chromium (driven by playwright-core, never a
# downloaded browser); only bin/test asks for it (ensure_test_deps=1), so `up` does not install a browser.
if [ "${ensure_test_deps:-0}" = 1 ]; then command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || need_pkgs+=(chromium); fi
# bin/test only as well: promtool checks the rendered scrape config and alert rules, and a real
# Prometheus runs them against a local cluster.
if [ "${ensure_test_deps:-0}" = 1 ]; then { command -v prometheus >/dev/null && command -v promtool >/dev/null; } || need_pkgs+=(prometheus); fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "error: missing ${need_pkgs[*]} and no apt-get; install etcd 3.4+ (etcd, etcdctl), MariaDB 10.6+ (mariadbd, mariadb-install-db), chromium and Prometheus 2.x (prometheus, promtool) yourself" >&2
    exit 1
  fi
  echo "==> installing ${need_pkgs[*]} from Debian's packages"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

lock="$root/package-lock.json"
stamp="$root/node_modules/.package-lock.json"
if [ ! -d "$root/node_modules" ] || [ "$lock" -nt "$stamp" ]; then
  echo "==> installing npm dependencies (npm ci)"
  (cd "$root" && npm ci --no-audit --no-fund --loglevel=error)
fi
