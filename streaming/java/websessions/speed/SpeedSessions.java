package websessions.speed;

import static org.apache.flink.table.api.Expressions.$;

import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.table.api.Table;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.logical.BigIntType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.table.types.logical.VarCharType;

/**
 * The speed layer's sessionizer as a {@code Table -> Table} function, called from the PyFlink job
 * ({@code streaming/sessions_job.py}): the accepted events (with their event-time attribute) in,
 * {@link SessionFunction}'s rows out. Everything per event runs here, in the JVM.
 */
public final class SpeedSessions {
    /** The input columns, in the order {@link Event} reads them; {@code rowtime} carries event time. */
    public static final String[] INPUT_COLUMNS = {
        "ip", "host", "event_id", "event_time", "url", "referrer", "user_agent", "status", "geo", "rowtime"
    };

    public static final String[] OUTPUT_NAMES = {
        "kind", "host", "ip", "t_start", "t_end", "events", "pages", "errors",
        "first_url", "last_url", "referrer", "user_agent", "geo"
    };

    private static final LogicalType TEXT = VarCharType.STRING_TYPE;
    private static final LogicalType COUNT = new BigIntType();
    private static final RowType OUTPUT_TYPE = RowType.of(
            new LogicalType[] {TEXT, TEXT, TEXT, TEXT, TEXT, COUNT, COUNT, COUNT, TEXT, TEXT, TEXT, TEXT, TEXT},
            OUTPUT_NAMES);

    private SpeedSessions() {}

    /** The sessions of {@code events}, keyed by (ip, host), as rows of {@link #OUTPUT_NAMES}. */
    public static Table sessionize(StreamTableEnvironment tEnv, Table events, long timeoutMs, long emitIntervalMs) {
        Table input = events.select(
                $("ip"), $("host"), $("event_id"), $("event_time"), $("url"), $("referrer"), $("user_agent"),
                $("status"), $("geo"), $("rowtime"));
        // Internal rows in and out: no conversion to external objects, the planner's own serializers.
        DataStream<RowData> rows = tEnv.toDataStream(
                input, input.getResolvedSchema().toPhysicalRowDataType().bridgedTo(RowData.class));
        DataStream<RowData> sessions = rows
                .keyBy(SpeedSessions::key, Types.STRING)
                .process(new SessionFunction(timeoutMs, emitIntervalMs), InternalTypeInfo.of(OUTPUT_TYPE))
                .name("sessions (ip, host)");
        return tEnv.fromDataStream(sessions);
    }

    private static String key(RowData row) {
        return row.getString(0) + "|" + row.getString(1);
    }
}
