package websessions.speed.hbase;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ScheduledFuture;
import org.apache.flink.api.common.operators.ProcessingTimeService;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.groups.SinkWriterMetricGroup;
import org.apache.flink.types.Row;
import org.apache.flink.types.RowKind;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hbase.HBaseConfiguration;
import org.apache.hadoop.hbase.TableName;
import org.apache.hadoop.hbase.client.BufferedMutator;
import org.apache.hadoop.hbase.client.BufferedMutatorParams;
import org.apache.hadoop.hbase.client.Connection;
import org.apache.hadoop.hbase.client.ConnectionFactory;
import org.apache.hadoop.hbase.client.Delete;
import org.apache.hadoop.hbase.client.Mutation;
import org.apache.hadoop.hbase.client.Put;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes the update rows of one sink subtask to HBase through {@link BufferedMutator}s (one per table).
 *
 * <p>Updates are coalesced per HBase row until the next flush, with the Python writer's rules
 * ({@code streaming/hbase_sink.py}): a closed record is final (a later open or drop of its row in the
 * same flush changes nothing), a drop removes a pending open record, the newest open record of a row
 * wins; a metric row and a top list's item keep their newest totals. So each cell gets at most one mutation
 * per flush, and a delete never shares a batch (and a server timestamp) with a put of the same cells.
 *
 * <p>A flush runs every {@code flushIntervalMs} (a processing-time timer in the task's mailbox, so it
 * never races {@link #write}), before each checkpoint barrier ({@link #flush(boolean)} is called by
 * Flink then: a completed checkpoint has all its updates in HBase) and at the end of a bounded input.
 * A failed mutation (the client's retries exhausted) is rethrown: the job fails and restarts from its
 * last checkpoint, whose updates were all written; what follows is written again, idempotently.
 */
final class HBaseSessionWriter implements SinkWriter<Row> {
    private static final Logger LOG = LoggerFactory.getLogger(HBaseSessionWriter.class);
    static final byte[] SESSION = b("s");
    static final byte[] OPEN = b("o");
    static final byte[] METRICS = b("m");
    static final byte[] LATE = b("l");
    static final byte[] PROGRESS = b("p");
    static final byte[] TOP_PAGES = b("p");
    static final byte[] TOP_REFERRERS = b("r");
    static final byte[] RECORD = b("record");

    private final HBaseSessionSink config;
    private final ProcessingTimeService timers;
    private final Connection connection;
    private final BufferedMutator sessions;
    private final BufferedMutator metrics;
    private final BufferedMutator late;
    private final BufferedMutator progress;
    private final BufferedMutator top;
    private final int subtask;
    private volatile IOException asyncFailure;
    private ScheduledFuture<?> timer;

    /** Row key (host|ip|start) -> the one mutation pending for it and whether it is a closed record. */
    private final Map<String, Pending> pendingSessions = new LinkedHashMap<>();
    private final Map<String, Put> pendingMetrics = new LinkedHashMap<>();
    private final List<Mutation> pendingLate = new ArrayList<>();
    private final Map<String, Put> pendingSources = new LinkedHashMap<>();
    /** (row key, family, item) -> the newest count of a top list's item. */
    private final Map<String, Put> pendingTop = new LinkedHashMap<>();
    /** This writer's counters since it started, written to its progress row on every flush. */
    private long sessionsClosed;
    private long openPuts;
    private long openDeletes;
    private long metricPuts;
    private long latePuts;
    private long topPuts;
    private final Counter puts;
    private final Counter deletes;
    private final Counter updates;
    private long flushes;

    private record Pending(boolean closed, List<Mutation> mutations) {}

    HBaseSessionWriter(HBaseSessionSink config, ProcessingTimeService timers, SinkWriterMetricGroup metricGroup,
            int subtask) throws IOException {
        this.config = config;
        this.timers = timers;
        this.subtask = subtask;
        Configuration conf = HBaseConfiguration.create();
        conf.set("hbase.zookeeper.quorum", config.zookeeperQuorum);
        conf.set("hbase.zookeeper.property.clientPort", Integer.toString(config.zookeeperPort));
        conf.set("hbase.client.retries.number", Integer.toString(config.clientRetries));
        conf.set("hbase.client.operation.timeout", Long.toString(config.operationTimeoutMs));
        connection = ConnectionFactory.createConnection(conf);
        BufferedMutator.ExceptionListener listener = (exception, mutator) -> asyncFailure = exception;
        sessions = connection.getBufferedMutator(params(config.sessionsTable, listener));
        metrics = connection.getBufferedMutator(params(config.metricsTable, listener));
        late = connection.getBufferedMutator(params(config.lateTable, listener));
        progress = connection.getBufferedMutator(params(config.progressTable, listener));
        top = connection.getBufferedMutator(params(config.topTable, listener));
        puts = metricGroup.counter("hbasePuts");
        deletes = metricGroup.counter("hbaseDeletes");
        updates = metricGroup.counter("updates");
        schedule();
    }

    private BufferedMutatorParams params(String table, BufferedMutator.ExceptionListener listener) {
        return new BufferedMutatorParams(TableName.valueOf(table))
                .writeBufferSize(config.writeBufferBytes)
                .listener(listener);
    }

    private void schedule() {
        long next = timers.getCurrentProcessingTime() + config.flushIntervalMs;
        timer = timers.registerTimer(next, time -> {
            flushPending();
            schedule();
        });
    }

    @Override
    public void write(Row row, Context context) throws IOException {
        RowKind kind = row.getKind();
        if (kind == RowKind.UPDATE_BEFORE || kind == RowKind.DELETE) {
            return; // the totals' retractions: the next row replaces the cells anyway
        }
        updates.inc();
        String what = SessionRows.text(row, SessionRows.KIND);
        switch (what) {
            case "open", "session", "drop" -> session(row, what);
            case "metric" -> metric(row);
            case "late" -> late(row);
            case "source" -> source(row);
            case "top_page" -> top(row, TOP_PAGES);
            case "top_referrer" -> top(row, TOP_REFERRERS);
            default -> throw new IOException("unknown update kind " + what);
        }
        if (pendingSessions.size() + pendingMetrics.size() + pendingLate.size() + pendingTop.size()
                >= config.maxPendingRows) {
            flushPending();
        }
    }

    private void session(Row row, String what) {
        String host = SessionRows.text(row, SessionRows.HOST);
        String ip = SessionRows.text(row, SessionRows.IP);
        String start = SessionRows.text(row, SessionRows.T_START);
        long startMs = SessionRows.epochMs(start);
        byte[] key = SessionRows.rowKey(host, ip, startMs);
        String id = new String(key, StandardCharsets.UTF_8);
        Pending pending = pendingSessions.get(id);
        if (pending != null && pending.closed()) {
            return; // a closed record is final
        }
        switch (what) {
            case "drop" -> pendingSessions.put(id, new Pending(false, List.of(new Delete(key).addFamily(OPEN))));
            case "open" -> pendingSessions.put(id, new Pending(false, List.of(new Put(key)
                    .addColumn(OPEN, RECORD, SessionRows.recordJson(row, host, ip, start, startMs, "open")))));
            default -> pendingSessions.put(id, new Pending(true, List.of(
                    new Put(key)
                            .addColumn(SESSION, RECORD, SessionRows.recordJson(row, host, ip, start, startMs, "closed"))
                            .addColumn(SESSION, b("dt"), b(start.substring(0, 10)))
                            .addColumn(SESSION, b("session_id"), b(SessionRows.sessionId(host, ip, startMs))),
                    new Delete(key).addFamily(OPEN))));
        }
    }

    private void metric(Row row) {
        String host = SessionRows.text(row, SessionRows.HOST);
        long minute = SessionRows.number(row, SessionRows.BUCKET);
        long events = SessionRows.number(row, SessionRows.EVENTS);
        long errors = SessionRows.number(row, SessionRows.ERRORS);
        byte[] key = SessionRows.metricKey(host, minute);
        pendingMetrics.put(new String(key, StandardCharsets.UTF_8), new Put(key)
                .addColumn(METRICS, b("events"), b(Long.toString(events)))
                .addColumn(METRICS, b("active_users"), b(Long.toString(SessionRows.number(row, SessionRows.USERS))))
                .addColumn(METRICS, b("errors"), b(Long.toString(errors)))
                .addColumn(METRICS, b("error_rate"), b(SessionRows.errorRate(errors, events))));
    }

    /** A top list's running count of one item in (host, minute): cell {@code <family>:<item>} of the minute's row. */
    private void top(Row row, byte[] family) {
        byte[] key = SessionRows.metricKey(SessionRows.text(row, SessionRows.HOST),
                SessionRows.number(row, SessionRows.BUCKET));
        String item = SessionRows.text(row, SessionRows.FIRST_URL); // a top row's item (sessions_job.top_lists)
        pendingTop.put(new String(key, StandardCharsets.UTF_8) + "|" + (char) family[0] + "|" + item, new Put(key)
                .addColumn(family, b(item), b(Long.toString(SessionRows.number(row, SessionRows.EVENTS)))));
    }

    private void late(Row row) {
        String time = SessionRows.text(row, SessionRows.T_START);
        long timeMs = SessionRows.epochMs(time);
        byte[] key = SessionRows.lateKey(SessionRows.text(row, SessionRows.HOST), SessionRows.text(row, SessionRows.IP),
                time, timeMs, String.valueOf(row.getField(SessionRows.PART)),
                String.valueOf(row.getField(SessionRows.OFFSET_MIN)));
        pendingLate.add(new Put(key).addColumn(LATE, b("t"), b(Long.toString(timeMs))));
    }

    /** A Kafka partition's counters (running totals of the job): row {@code source|<partition>}. */
    private void source(Row row) {
        String part = String.valueOf(row.getField(SessionRows.PART));
        byte[] key = b("source|" + part);
        Put put = new Put(key);
        for (int pos : new int[] {SessionRows.RECORDS, SessionRows.INVALID, SessionRows.OFFSET_MIN,
            SessionRows.OFFSET_MAX}) {
            put.addColumn(PROGRESS, b(SessionRows.UPDATE_COLUMNS[pos]), b(Long.toString(SessionRows.number(row, pos))));
        }
        String tEnd = SessionRows.text(row, SessionRows.T_END);
        put.addColumn(PROGRESS, b("t_end"), b(tEnd == null ? "" : tEnd));
        pendingSources.put(part, put);
    }

    /** This writer's row {@code sink|<subtask>}: what it wrote since it started, and when it last flushed. */
    private Put sinkProgress() {
        Put put = new Put(b("sink|" + subtask));
        long[] values = {updates.getCount(), sessionsClosed, openPuts, openDeletes, metricPuts, latePuts, topPuts,
            flushes, System.currentTimeMillis()};
        String[] names = {"updates", "sessions_closed", "open_puts", "open_deletes", "metric_puts", "late_puts",
            "top_puts", "flushes", "flushed_at_ms"};
        for (int i = 0; i < names.length; i++) {
            put.addColumn(PROGRESS, b(names[i]), b(Long.toString(values[i])));
        }
        return put;
    }

    /** Send everything pending and wait until HBase has it; rethrow any failure of this or an earlier send. */
    void flushPending() throws IOException {
        checkFailure();
        if (pendingSessions.isEmpty() && pendingMetrics.isEmpty() && pendingLate.isEmpty()
                && pendingSources.isEmpty() && pendingTop.isEmpty()) {
            return;
        }
        List<Mutation> sessionMutations = new ArrayList<>(pendingSessions.size() + 16);
        for (Pending pending : pendingSessions.values()) {
            sessionMutations.addAll(pending.mutations());
            if (pending.closed()) {
                sessionsClosed++;
            } else if (pending.mutations().get(0) instanceof Put) {
                openPuts++;
            } else {
                openDeletes++;
            }
        }
        List<Mutation> metricMutations = new ArrayList<>(pendingMetrics.values());
        metricPuts += metricMutations.size();
        latePuts += pendingLate.size();
        List<Mutation> topMutations = new ArrayList<>(pendingTop.values());
        topPuts += topMutations.size();
        count(sessionMutations);
        count(metricMutations);
        count(pendingLate);
        count(topMutations);
        sessions.mutate(sessionMutations);
        metrics.mutate(metricMutations);
        late.mutate(pendingLate);
        top.mutate(topMutations);
        sessions.flush();
        metrics.flush();
        late.flush();
        top.flush();
        flushes++;
        // Progress last: the counters of a partition are written once every update before them is in HBase.
        List<Mutation> progressMutations = new ArrayList<>(pendingSources.values());
        progressMutations.add(sinkProgress());
        progress.mutate(progressMutations);
        progress.flush();
        pendingSessions.clear();
        pendingMetrics.clear();
        pendingLate.clear();
        pendingSources.clear();
        pendingTop.clear();
        checkFailure();
    }

    private void count(List<? extends Mutation> mutations) {
        for (Mutation m : mutations) {
            (m instanceof Delete ? deletes : puts).inc();
        }
    }

    private void checkFailure() throws IOException {
        IOException failure = asyncFailure;
        if (failure != null) {
            throw new IOException("hbase: writing the speed layer's rows failed (the job restarts from its last"
                    + " checkpoint): " + failure.getMessage(), failure);
        }
    }

    @Override
    public void flush(boolean endOfInput) throws IOException {
        flushPending(); // before every checkpoint barrier, and at the end of a bounded input
    }

    @Override
    public void close() throws Exception {
        if (timer != null) {
            timer.cancel(false);
        }
        LOG.info("hbase sink: {} updates, {} puts, {} deletes in {} flushes", updates.getCount(), puts.getCount(),
                deletes.getCount(), flushes);
        try {
            sessions.close();
            metrics.close();
            late.close();
            progress.close();
            top.close();
        } finally {
            connection.close();
        }
    }

    static byte[] b(String value) {
        return value.getBytes(StandardCharsets.UTF_8);
    }
}
