package websessions.speed;

import java.nio.charset.StandardCharsets;
import java.util.Properties;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.connector.file.src.FileSource;
import org.apache.flink.connector.file.src.reader.TextLineInputFormat;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.core.fs.Path;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.OffsetResetStrategy;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.table.api.bridge.internal.AbstractStreamTableEnvironmentImpl;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.logical.BigIntType;
import org.apache.flink.table.types.logical.IntType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.table.types.logical.TimestampType;
import org.apache.flink.table.types.logical.VarCharType;
import org.apache.flink.types.Row;
import org.apache.flink.types.RowKind;
import org.apache.flink.util.Collector;

/**
 * The speed layer as one DataStream pipeline, no SQL and no Table conversions on the per-event path:
 * a source decoding each record with {@link EventDecoder} ({@link #kafka}, or {@link #file} for tests and
 * benchmarks), {@link EventClassifier} chained to it, the session operator ({@link SessionOperator}, the
 * same as the SQL path's {@link SpeedSessions#sessionize}), and the update rows for the sink ({@link #updates}:
 * {@code streaming.sessions_job.UPDATE_COLUMNS}, the rows the HBase sink and the update topic take).
 */
public final class SpeedStream {
    private static final LogicalType TEXT = VarCharType.STRING_TYPE;
    private static final LogicalType COUNT = new BigIntType();
    public static final InternalTypeInfo<RowData> INPUT_TYPE_INFO = InternalTypeInfo.of(RowType.of(
            new LogicalType[] {TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, new IntType(), TEXT, new TimestampType(3),
                new IntType(), COUNT}, SpeedSessions.INPUT_COLUMNS));
    static final InternalTypeInfo<RowData> COUNTER_TYPE_INFO = InternalTypeInfo.of(RowType.of(
            new LogicalType[] {new IntType(), COUNT, COUNT, COUNT, COUNT, TEXT}, SpeedSessions.COUNTER_NAMES));
    static final InternalTypeInfo<RowData> SESSION_TYPE_INFO = InternalTypeInfo.of(RowType.of(
            new LogicalType[] {TEXT, TEXT, TEXT, TEXT, TEXT, COUNT, COUNT, COUNT, TEXT, TEXT, TEXT, TEXT, TEXT},
            SpeedSessions.OUTPUT_NAMES));

    /** {@code streaming.sessions_job.UPDATE_COLUMNS}. */
    public static final String[] UPDATE_NAMES = {
        "ukey", "kind", "host", "ip", "t_start", "t_end", "bucket", "events", "pages", "errors", "users", "first_url",
        "last_url", "referrer", "user_agent", "geo", "part", "records", "invalid", "offset_min", "offset_max"
    };
    public static final TypeInformation<Row> UPDATE_TYPE_INFO = Types.ROW_NAMED(UPDATE_NAMES,
            Types.STRING, Types.STRING, Types.STRING, Types.STRING, Types.STRING, Types.STRING, Types.LONG,
            Types.LONG, Types.LONG, Types.LONG, Types.LONG, Types.STRING, Types.STRING, Types.STRING, Types.STRING,
            Types.STRING, Types.INT, Types.LONG, Types.LONG, Types.LONG, Types.LONG);

    private SpeedStream() {}

    /**
     * The events of {@code topic} from the group's committed offsets (the earliest on first use; a restored
     * job takes the offsets of its checkpoint), read committed, decoded by {@link KafkaEventDeserializer};
     * {@code properties} are further Kafka client properties (security).
     */
    public static DataStream<RowData> kafka(StreamExecutionEnvironment env, String bootstrap, String topic,
            String groupId, Properties properties, long latenessMs, long idleTimeoutMs) {
        KafkaSource<RowData> source = KafkaSource.<RowData>builder()
                .setBootstrapServers(bootstrap)
                .setTopics(topic)
                .setGroupId(groupId)
                .setProperties(properties)
                .setProperty("isolation.level", "read_committed")
                .setStartingOffsets(OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST))
                .setDeserializer(new KafkaEventDeserializer())
                .build();
        return env.fromSource(source, EventWatermarks.strategy(latenessMs, idleTimeoutMs), "kafka events")
                .uid("kafka-events-source");
    }

    /** The events of a JSON-lines file (bounded: at its end the watermark closes every session); no partition. */
    public static DataStream<RowData> file(StreamExecutionEnvironment env, String path, long latenessMs) {
        FileSource<String> source = FileSource.forRecordStreamFormat(new TextLineInputFormat(), new Path(path)).build();
        return env.fromSource(source, WatermarkStrategy.noWatermarks(), "file events")
                .flatMap((String line, Collector<RowData> out) -> {
                    try {
                        out.collect(EventDecoder.decode(line.getBytes(StandardCharsets.UTF_8), null, null));
                    } catch (EventDecoder.Undecodable e) {
                        // skipped, as the SQL path's JSON format skips it
                    }
                }, INPUT_TYPE_INFO)
                .assignTimestampsAndWatermarks(EventWatermarks.strategy(latenessMs, 0));
    }

    /**
     * The update rows of the whole job from decoded {@code events}: sessions (open, closed, dropped), live
     * metrics summed over the subtasks per host and minute (kept {@code metricStateMs} of processing time after
     * their last update), and with {@code kafkaMetadata} the partition counters and the late events (those
     * {@link EventClassifier} finds behind the source's watermark and those the session operator finds behind
     * its own). The stateful operators' uids start with {@code uidPrefix} (empty for the job; distinct for
     * pipelines that share one job).
     */
    public static DataStream<Row> updates(DataStream<RowData> events, long timeoutMs, long emitIntervalMs,
            int maxIdsPerSession, int maxUrlsPerSession, long metricStateMs, boolean kafkaMetadata, String uidPrefix) {
        return pipeline(events, timeoutMs, emitIntervalMs, maxIdsPerSession, maxUrlsPerSession, metricStateMs,
                kafkaMetadata, uidPrefix).updates();
    }

    /**
     * The steps of {@link #updates}: {@code accepted} (the events sessionized: valid, on time, their event time
     * in the record timestamp), {@code sessions} (the session operator's rows, {@link SpeedSessions#OUTPUT_NAMES})
     * and {@code updates}; further results of the same events (e.g. live top lists) attach to the first two and
     * are unioned into the third.
     */
    public record Pipeline(DataStream<RowData> accepted, DataStream<RowData> sessions, DataStream<Row> updates) {}

    /** {@link #updates} as its {@link Pipeline}. */
    public static Pipeline pipeline(DataStream<RowData> events, long timeoutMs, long emitIntervalMs,
            int maxIdsPerSession, int maxUrlsPerSession, long metricStateMs, boolean kafkaMetadata, String uidPrefix) {
        SingleOutputStreamOperator<RowData> accepted = events
                .transform("classify", INPUT_TYPE_INFO, new EventClassifier(emitIntervalMs)).uid(uidPrefix + "classify");
        SingleOutputStreamOperator<RowData> sessions = accepted
                .keyBy(SpeedStream::key, Types.STRING)
                .transform("sessions (ip, host)", SESSION_TYPE_INFO, new SessionOperator(
                        new SessionFunction(timeoutMs, emitIntervalMs, maxIdsPerSession, maxUrlsPerSession)))
                .uid(uidPrefix + "sessions");
        DataStream<Row> updates = sessions.map(SpeedStream::sessionUpdate, UPDATE_TYPE_INFO).name("session updates")
                .union(sessions.getSideOutput(SessionFunction.METRICS)
                        .keyBy(row -> row.getString(0).toString() + "|" + row.getLong(1), Types.STRING)
                        .process(new MetricTotals(metricStateMs), UPDATE_TYPE_INFO)
                        .uid(uidPrefix + "metric-totals").name("metric totals"));
        if (!kafkaMetadata) {
            return new Pipeline(accepted, sessions, updates);
        }
        DataStream<Row> counters = accepted.getSideOutput(EventClassifier.COUNTS)
                .keyBy(row -> row.getInt(0), Types.INT)
                .process(new PartitionCountsTotal(), COUNTER_TYPE_INFO).uid(uidPrefix + "partition-totals").name("partition totals")
                .map(SpeedStream::sourceUpdate, UPDATE_TYPE_INFO).name("source updates");
        DataStream<Row> late = accepted.getSideOutput(EventClassifier.LATE)
                .union(sessions.getSideOutput(SessionFunction.LATE))
                .map(SpeedStream::lateUpdate, UPDATE_TYPE_INFO).name("late updates");
        return new Pipeline(accepted, sessions, updates.union(counters, late));
    }

    /**
     * Runs the job that writes {@code updates} through {@code sink} (uid {@code hbase-sessions-sink}, the SQL
     * path's, so either path's checkpoint maps its sink state), with the table environment's configuration
     * (checkpoints, parallelism, jars); returns the running job's client.
     */
    public static JobClient execute(StreamTableEnvironment tEnv, DataStream<Row> updates, Sink<Row> sink, String name)
            throws Exception {
        updates.sinkTo(sink).name("HBase sessions, metrics, late events").uid("hbase-sessions-sink");
        StreamExecutionEnvironment env = ((AbstractStreamTableEnvironmentImpl) tEnv).execEnv();
        env.configure(tEnv.getConfig().getConfiguration(), Thread.currentThread().getContextClassLoader());
        return env.executeAsync(name);
    }

    private static String key(RowData row) {
        return row.getString(0) + "|" + row.getString(1);
    }

    private static String text(RowData row, int pos) {
        return row.isNullAt(pos) ? null : row.getString(pos).toString();
    }

    private static Row update(String kind) {
        Row row = Row.withPositions(RowKind.INSERT, UPDATE_NAMES.length);
        row.setField(1, kind);
        return row;
    }

    /** A session row of {@link SpeedSessions#OUTPUT_NAMES} as an update row ({@code ukey} is left NULL: the
     * HBase sink keys rows itself). */
    static Row sessionUpdate(RowData s) {
        Row row = update(text(s, 0));
        row.setField(2, text(s, 1));
        row.setField(3, text(s, 2));
        row.setField(4, text(s, 3));
        row.setField(5, text(s, 4));
        if (!s.isNullAt(5)) {
            row.setField(7, s.getLong(5));
            row.setField(8, s.getLong(6));
            row.setField(9, s.getLong(7));
        }
        for (int i = 8; i < 13; i++) {
            row.setField(i + 3, text(s, i));
        }
        return row;
    }

    static Row sourceUpdate(RowData c) {
        Row row = update("source");
        row.setField(5, text(c, 5));
        row.setField(16, c.getInt(0));
        row.setField(17, c.getLong(1));
        row.setField(18, c.getLong(2));
        row.setField(19, c.getLong(3));
        row.setField(20, c.getLong(4));
        return row;
    }

    static Row lateUpdate(RowData l) {
        Row row = update("late");
        row.setField(16, l.isNullAt(0) ? null : l.getInt(0));
        row.setField(19, l.isNullAt(1) ? null : l.getLong(1));
        row.setField(2, text(l, 2));
        row.setField(3, text(l, 3));
        row.setField(4, text(l, 4));
        return row;
    }

    /** Per host and minute, the sum of the subtasks' pre-aggregated metrics, emitted on each as a metric row. */
    static final class MetricTotals extends KeyedProcessFunction<String, RowData, Row> {
        private static final long serialVersionUID = 1L;
        private final long stateMs;
        private transient ValueState<long[]> totals;

        MetricTotals(long stateMs) {
            this.stateMs = stateMs;
        }

        @Override
        public void open(OpenContext context) {
            ValueStateDescriptor<long[]> descriptor =
                    new ValueStateDescriptor<>("totals", PrimitiveArrayTypeInfo.LONG_PRIMITIVE_ARRAY_TYPE_INFO);
            descriptor.enableTimeToLive(StateTtlConfig.newBuilder(java.time.Duration.ofMillis(stateMs)).build());
            totals = getRuntimeContext().getState(descriptor);
        }

        @Override
        public void processElement(RowData m, Context ctx, Collector<Row> out) throws Exception {
            long[] sum = totals.value();
            if (sum == null) {
                sum = new long[3];
            }
            sum[0] += m.getLong(2);
            sum[1] += m.getLong(3);
            sum[2] += m.getLong(4);
            totals.update(sum);
            Row row = update("metric");
            row.setField(2, m.getString(0).toString());
            row.setField(6, m.getLong(1));
            row.setField(7, sum[0]);
            row.setField(9, sum[2]);
            row.setField(10, sum[1]);
            out.collect(row);
        }
    }
}
