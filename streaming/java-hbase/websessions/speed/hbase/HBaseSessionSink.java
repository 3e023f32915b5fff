package websessions.speed.hbase;

import java.io.IOException;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.api.Table;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.table.api.bridge.internal.AbstractStreamTableEnvironmentImpl;
import org.apache.flink.types.Row;

/**
 * The speed layer's HBase sink (Flink's Sink API): the job's update rows
 * ({@code streaming.sessions_job.UPDATE_COLUMNS}) into the tables of
 * {@code websessions/stores/hbase_sessions.py} with the HBase client's {@code BufferedMutator}, in the
 * job's JVM (see {@link HBaseSessionWriter} for coalescing, flushing and failures). There is no Flink
 * HBase connector for Flink 2.x; this is the small part of one the speed layer needs.
 *
 * <p>Delivery is at least once: every update before a completed checkpoint is in HBase; updates after
 * it are replayed after a restore and rewrite the same cells (every write is a whole record keyed by
 * host, ip and session start, or by host and minute; a top list's count is a running total per host, minute and
 * item).
 */
public final class HBaseSessionSink implements Sink<Row> {
    private static final long serialVersionUID = 1L;

    final String zookeeperQuorum;
    final int zookeeperPort;
    final String sessionsTable;
    final String metricsTable;
    final String lateTable;
    final String progressTable;
    final String topTable;
    final long flushIntervalMs;
    final long writeBufferBytes = 4L << 20;
    final int maxPendingRows = 20_000;
    final int clientRetries = 5;
    final long operationTimeoutMs = 60_000L;

    public HBaseSessionSink(String zookeeperQuorum, int zookeeperPort, String sessionsTable, String metricsTable,
            String lateTable, String progressTable, String topTable, long flushIntervalMs) {
        if (flushIntervalMs <= 0) {
            throw new IllegalArgumentException("the flush interval must be positive");
        }
        this.zookeeperQuorum = zookeeperQuorum;
        this.zookeeperPort = zookeeperPort;
        this.sessionsTable = sessionsTable;
        this.metricsTable = metricsTable;
        this.lateTable = lateTable;
        this.progressTable = progressTable;
        this.topTable = topTable;
        this.flushIntervalMs = flushIntervalMs;
    }

    @Override
    public SinkWriter<Row> createWriter(WriterInitContext context) throws IOException {
        return new HBaseSessionWriter(this, context.getProcessingTimeService(), context.metricGroup(),
                context.getTaskInfo().getIndexOfThisSubtask());
    }

    /**
     * Adds {@code updates} (a changelog table of update rows) written by this sink to the table
     * environment's job graph; returns the environment, whose {@code executeAsync} runs the job.
     * The table environment's configuration (checkpoints, parallelism, jars) is applied to it.
     */
    public static StreamExecutionEnvironment attach(StreamTableEnvironment tEnv, Table updates, HBaseSessionSink sink) {
        DataStream<Row> rows = tEnv.toChangelogStream(updates);
        rows.sinkTo(sink).name("HBase sessions, metrics, top lists, late events").uid("hbase-sessions-sink");
        StreamExecutionEnvironment env = ((AbstractStreamTableEnvironmentImpl) tEnv).execEnv();
        env.configure(tEnv.getConfig().getConfiguration(), Thread.currentThread().getContextClassLoader());
        return env;
    }
}
