# generated from cluster.yaml — do not edit
# Append to dtable-web's dtable_web_settings.py.

# etcd
ENABLE_DTABLE_SERVER_CLUSTER = True
ETCD_SERVER_HOST_LIST = ['127.0.0.1:17000', '127.0.0.1:17003', '127.0.0.1:17006']
DTABLE_PROXY_SERVER_URL = 'http://127.0.0.1:17011/'
