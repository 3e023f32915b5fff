package websessions.speed;

import static org.apache.flink.table.api.Expressions.$;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.Expressions;
import org.apache.flink.table.api.Schema;
import org.apache.flink.table.api.Table;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.table.catalog.Column;
import org.apache.flink.table.expressions.Expression;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.BigIntType;
import org.apache.flink.table.types.logical.IntType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.table.types.logical.TimestampType;
import org.apache.flink.table.types.logical.VarCharType;
import org.apache.flink.table.types.utils.TypeConversions;

/**
 * The speed layer's JVM operators as {@code Table -> Table} functions, called from the PyFlink job
 * ({@code streaming/sessions_job.py}): {@link #asStream} (one source for every branch),
 * {@link #sessionize} (sessions, per-subtask minute metrics and the events behind its watermark) and
 * {@link #partitionCounters}. The per-event work of these runs here, in the JVM; Python only declares
 * the pipeline.
 */
public final class SpeedSessions {
    /**
     * The input columns, in the order {@link Event} reads them; {@code rowtime} carries event time, and the
     * Kafka {@code partition} and {@code offset} (NULL from sources without them) name a late event.
     */
    public static final String[] INPUT_COLUMNS = {
        "ip", "host", "event_id", "event_time", "url", "referrer", "user_agent", "status", "geo", "rowtime",
        "partition", "offset"
    };
    static final int PARTITION = 10;
    static final int OFFSET = 11;

    public static final String[] OUTPUT_NAMES = {
        "kind", "host", "ip", "t_start", "t_end", "events", "pages", "errors",
        "first_url", "last_url", "referrer", "user_agent", "geo"
    };

    public static final String[] METRIC_NAMES = {"host", "bucket", "events", "users", "errors"};
    static final InternalTypeInfo<RowData> METRICS_TYPE_INFO = InternalTypeInfo.of(RowType.of(
            new LogicalType[] {VarCharType.STRING_TYPE, new BigIntType(), new BigIntType(), new BigIntType(),
                new BigIntType()}, METRIC_NAMES));

    /** The late events the operator turned away, the job's {@code late} rows (one event each). */
    public static final String[] LATE_NAMES = {"part", "offset_min", "host", "ip", "t_start"};
    static final InternalTypeInfo<RowData> LATE_TYPE_INFO = InternalTypeInfo.of(RowType.of(
            new LogicalType[] {new IntType(), new BigIntType(), VarCharType.STRING_TYPE, VarCharType.STRING_TYPE,
                VarCharType.STRING_TYPE}, LATE_NAMES));

    public static final String[] COUNTER_NAMES = {"part", "records", "invalid", "offset_min", "offset_max", "t_end"};

    private static final LogicalType TEXT = VarCharType.STRING_TYPE;
    private static final LogicalType COUNT = new BigIntType();
    private static final RowType OUTPUT_TYPE = RowType.of(
            new LogicalType[] {TEXT, TEXT, TEXT, TEXT, TEXT, COUNT, COUNT, COUNT, TEXT, TEXT, TEXT, TEXT, TEXT},
            OUTPUT_NAMES);
    private static final RowType COUNTER_TYPE = RowType.of(
            new LogicalType[] {new IntType(), COUNT, COUNT, COUNT, COUNT, TEXT}, COUNTER_NAMES);

    private SpeedSessions() {}

    /**
     * {@code table} passed through one DataStream and back, its {@code rowtime} column still the
     * event-time attribute with the upstream watermarks. The planner translates every conversion to a
     * DataStream on its own, source included: branches that all read the returned table (the SQL
     * results and {@link #sessionize}) share one source, so each Kafka record is read and decoded once.
     */
    public static Table asStream(StreamTableEnvironment tEnv, Table table) {
        Schema.Builder schema = Schema.newBuilder();
        List<DataTypes.Field> fields = new ArrayList<>();
        for (Column column : table.getResolvedSchema().getColumns()) {
            LogicalType type = column.getDataType().getLogicalType();
            if (type instanceof TimestampType) { // a time attribute becomes a plain timestamp in the stream
                type = new TimestampType(type.isNullable(), ((TimestampType) type).getPrecision());
            }
            DataType dataType = TypeConversions.fromLogicalToDataType(type);
            fields.add(DataTypes.FIELD(column.getName(), dataType));
            schema.column(column.getName(), dataType);
        }
        DataType rowType = DataTypes.ROW(fields.toArray(new DataTypes.Field[0])).bridgedTo(RowData.class);
        DataStream<RowData> rows = tEnv.toDataStream(table, rowType);
        return tEnv.fromDataStream(rows, schema.watermark("rowtime", "SOURCE_WATERMARK()").build());
    }

    /**
     * The sessions of {@code events}, keyed by (ip, host), as rows of {@link #OUTPUT_NAMES}; the
     * per-subtask (host, minute) metrics of {@link SessionFunction#METRICS} as rows of {@link #METRIC_NAMES}, with
     * their event time in {@code rowtime} (the minute's last millisecond) and the stream's watermarks;
     * and the events behind the operator's watermark ({@link SessionFunction#LATE}) as rows of
     * {@link #LATE_NAMES}. Each session keeps at most {@code maxIdsPerSession} event times and
     * {@code maxUrlsPerSession} urls (see {@link SessionAggregate}).
     */
    public static Table[] sessionize(StreamTableEnvironment tEnv, Table events, long timeoutMs, long emitIntervalMs,
            int maxIdsPerSession, int maxUrlsPerSession) {
        Expression[] columns = Arrays.stream(INPUT_COLUMNS).map(Expressions::$).toArray(Expression[]::new);
        if (events.getResolvedSchema().getColumn("partition").isEmpty()) { // a source without Kafka metadata
            columns[PARTITION] = Expressions.nullOf(DataTypes.INT()).as("partition");
            columns[OFFSET] = Expressions.nullOf(DataTypes.BIGINT()).as("offset");
        }
        Table input = events.select(columns);
        // Internal rows in and out: no conversion to external objects, the planner's own serializers.
        DataStream<RowData> rows = tEnv.toDataStream(
                input, input.getResolvedSchema().toPhysicalRowDataType().bridgedTo(RowData.class));
        SingleOutputStreamOperator<RowData> sessions = rows
                .keyBy(SpeedSessions::key, Types.STRING)
                .transform("sessions (ip, host)", InternalTypeInfo.of(OUTPUT_TYPE), new SessionOperator(
                        new SessionFunction(timeoutMs, emitIntervalMs, maxIdsPerSession, maxUrlsPerSession)));
        Table metrics = tEnv.fromDataStream(sessions.getSideOutput(SessionFunction.METRICS), Schema.newBuilder()
                .columnByMetadata("rowtime", "TIMESTAMP_LTZ(3)")
                .watermark("rowtime", "SOURCE_WATERMARK()")
                .build());
        Table late = tEnv.fromDataStream(sessions.getSideOutput(SessionFunction.LATE));
        return new Table[] {tEnv.fromDataStream(sessions), metrics, late};
    }

    /**
     * Per Kafka partition, since the job's state began: rows decoded, invalid, offset range, latest
     * valid event time ({@link #COUNTER_NAMES}). Pre-aggregated in each source subtask, so only a few
     * rows per emission interval cross the network; the totals update at most once per interval.
     */
    public static Table partitionCounters(StreamTableEnvironment tEnv, Table classified, long emitIntervalMs) {
        Table input = classified.select($("partition"), $("offset"), $("is_valid"), $("event_time"));
        DataStream<RowData> rows = tEnv.toDataStream(
                input, input.getResolvedSchema().toPhysicalRowDataType().bridgedTo(RowData.class));
        DataStream<RowData> totals = rows
                .transform("partition counts", InternalTypeInfo.of(COUNTER_TYPE),
                        new PartitionCountsPreAggregate(emitIntervalMs))
                .keyBy(row -> row.getInt(0), Types.INT)
                .process(new PartitionCountsTotal(), InternalTypeInfo.of(COUNTER_TYPE))
                .name("partition totals");
        return tEnv.fromDataStream(totals);
    }

    private static String key(RowData row) {
        return row.getString(0) + "|" + row.getString(1);
    }
}
