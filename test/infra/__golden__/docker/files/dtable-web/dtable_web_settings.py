# generated from cluster.yaml — do not edit
# Append to dtable-web's dtable_web_settings.py.

# etcd
ENABLE_DTABLE_SERVER_CLUSTER = True
ETCD_SERVER_HOST_LIST = ['etcd-01.example.com', 'etcd-02.example.com', 'etcd-03.example.com']
DTABLE_PROXY_SERVER_URL = 'http://dtable-server-proxy.example.com:5550/'
