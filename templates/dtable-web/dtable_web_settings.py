# generated from cluster.yaml — do not edit
# Append to dtable-web's dtable_web_settings.py.

# etcd
ENABLE_DTABLE_SERVER_CLUSTER = {{ enable }}
ETCD_SERVER_HOST_LIST = {{ etcd_server_host_list }}
DTABLE_PROXY_SERVER_URL = {{ proxy_url }}
