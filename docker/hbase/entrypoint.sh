#!/usr/bin/env bash
# Entrypoint of the HBase image: renders hbase-site.xml from the platform's WEBSESSIONS_* settings (the
# x-websessions-env block of docker-compose.yml: the same names as the local stack's HBase service, other
# values), then runs one role in the foreground:
#   master | regionserver | thrift   (anything else is executed as given, e.g. `hbase shell`)
# HBase runs distributed: root directory on HDFS, ZooKeeper in its own service, Thrift 1 with the
# threadpool server, buffered transport and the binary protocol (what happybase speaks, port 9090).
set -euo pipefail

: "${WEBSESSIONS_HDFS_HOST:?}" "${WEBSESSIONS_HDFS_RPC_PORT:?}"
: "${WEBSESSIONS_HBASE_ZOOKEEPER_PORT:?}" "${WEBSESSIONS_HBASE_MASTER_PORT:?}" "${WEBSESSIONS_HBASE_REGIONSERVER_PORT:?}"
: "${WEBSESSIONS_HBASE_THRIFT_PORT:?}" "${WEBSESSIONS_HBASE_THRIFT_INFO_PORT:?}"
: "${WEBSESSIONS_HBASE_HEAP:?}" "${WEBSESSIONS_HBASE_THRIFT_HEAP:?}"
ZOOKEEPER_QUORUM="${HBASE_ZOOKEEPER_QUORUM:-zookeeper}"
DFS_REPLICATION="${DFS_REPLICATION:-1}"

property() {
  printf '  <property><name>%s</name><value>%s</value></property>\n' "$1" "$2"
}

{
  echo '<?xml version="1.0"?>'
  echo '<configuration>'
  property hbase.cluster.distributed true
  property hbase.rootdir "hdfs://${WEBSESSIONS_HDFS_HOST}:${WEBSESSIONS_HDFS_RPC_PORT}/hbase"
  property hbase.tmp.dir /tmp/hbase
  # The HDFS client inside HBase writes with this replication (its default, 3, would leave every WAL
  # block under-replicated with one DataNode and make the region server roll its WAL over and over).
  property dfs.replication "${DFS_REPLICATION}"
  property hbase.wal.provider filesystem
  property hbase.zookeeper.quorum "${ZOOKEEPER_QUORUM}"
  property hbase.zookeeper.property.clientPort "${WEBSESSIONS_HBASE_ZOOKEEPER_PORT}"
  property hbase.master.port "${WEBSESSIONS_HBASE_MASTER_PORT}"
  property hbase.master.info.port 16010
  property hbase.regionserver.port "${WEBSESSIONS_HBASE_REGIONSERVER_PORT}"
  property hbase.regionserver.info.port 16030
  property hbase.regionserver.thrift.server.type threadpool
  property hbase.regionserver.thrift.framed false
  property hbase.regionserver.thrift.compact false
  property hbase.regionserver.thrift.port "${WEBSESSIONS_HBASE_THRIFT_PORT}"
  property hbase.thrift.info.port "${WEBSESSIONS_HBASE_THRIFT_INFO_PORT}"
  echo '</configuration>'
} > "${HBASE_CONF_DIR}/hbase-site.xml"

# The JDK 17 module flags of the local stack's JVM services (websessions/stack/jvm.py module_flags; a test
# keeps the two lists equal) and the Netty reflection switch its HBase service sets.
JDK17_OPTS=(
  --add-opens=java.base/java.io=ALL-UNNAMED
  --add-opens=java.base/java.lang=ALL-UNNAMED
  --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens=java.base/java.math=ALL-UNNAMED
  --add-opens=java.base/java.net=ALL-UNNAMED
  --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/java.text=ALL-UNNAMED
  --add-opens=java.base/java.util=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED
  --add-opens=java.base/java.util.zip=ALL-UNNAMED
  --add-opens=java.base/jdk.internal.ref=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens=java.base/sun.security.util=ALL-UNNAMED
  --add-opens=java.base/sun.security.x509=ALL-UNNAMED
  --add-opens=java.base/java.util.regex=ALL-UNNAMED
  --add-opens=java.base/java.time=ALL-UNNAMED
  --add-exports=java.base/jdk.internal.misc=ALL-UNNAMED
  --add-exports=java.base/sun.net.dns=ALL-UNNAMED
  --add-exports=java.base/sun.net.util=ALL-UNNAMED
  --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED
  --add-modules=jdk.unsupported
  -Dorg.apache.hbase.thirdparty.io.netty.tryReflectionSetAccessible=true
)
export HBASE_OPTS="${HBASE_OPTS:-} ${JDK17_OPTS[*]}"

case "${1:-master}" in
  master)
    export HBASE_HEAPSIZE="${WEBSESSIONS_HBASE_HEAP}"
    exec hbase master start
    ;;
  regionserver)
    export HBASE_HEAPSIZE="${WEBSESSIONS_HBASE_HEAP}"
    exec hbase regionserver start
    ;;
  thrift)
    export HBASE_HEAPSIZE="${WEBSESSIONS_HBASE_THRIFT_HEAP}"
    exec hbase thrift start -threadpool -p "${WEBSESSIONS_HBASE_THRIFT_PORT}" --infoport "${WEBSESSIONS_HBASE_THRIFT_INFO_PORT}"
    ;;
  *)
    exec "$@"
    ;;
esac
