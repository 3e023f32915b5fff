package websessions.speed;

import static org.apache.flink.table.api.Expressions.$;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.typeutils.RowTypeInfo;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.DataStreamUtils;
import org.apache.flink.streaming.api.datastream.KeyedStream;
import org.apache.flink.table.api.Table;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.table.data.RowData;
import org.apache.flink.types.Row;
import org.apache.flink.types.RowKind;

/**
 * The live top lists (pages and referrers per host and minute of event time, {@link TopItems}): page views
 * pre-aggregated in each subtask of the accepted events ({@link PageCountsPreAggregate}), session referrers
 * from the session operator's rows ({@link SessionReferrers}), both summed per (host, minute) in
 * {@link TopCountsTotal}. {@link #withTopLists} attaches them to the DataStream job ({@code SpeedStream.Pipeline});
 * {@link #topLists} to the SQL path ({@code streaming.sessions_job.top_lists}).
 */
public final class SpeedTopLists {
    private static final int INPUT_HOST = 1; // SpeedSessions.INPUT_COLUMNS
    private static final int INPUT_URL = 4;

    private SpeedTopLists() {}

    /**
     * Rows of {@link TopItems#TOTAL_NAMES}: the new count of an item of list {@code top_page} or
     * {@code top_referrer} of (host, bucket = minute since the epoch), once per change (a running total: each
     * row replaces the previous one of its item). {@code accepted}: the sessionized events (valid, on time), rows
     * of {@link SpeedSessions#INPUT_COLUMNS} with their event time in the record timestamp; {@code sessions}: the
     * session operator's rows ({@link SpeedSessions#OUTPUT_NAMES}) as it emits them (keyed by (ip, host): see
     * the private overload). The stateful operators' uids start with {@code uidPrefix}.
     */
    public static DataStream<RowData> totals(DataStream<RowData> accepted, DataStream<RowData> sessions,
            long emitIntervalMs, int maxItemsPerMinute, long retainMs, String uidPrefix) {
        return totals(accepted, INPUT_HOST, INPUT_URL, sessions, true, emitIntervalMs, maxItemsPerMinute, retainMs,
                uidPrefix);
    }

    /**
     * {@code sessionsKeyed}: {@code sessions} come straight from the session operator, so each row is in the
     * subtask of its key (ip, host) already: {@link SessionReferrers} is chained to the operator (no shuffle of
     * the session rows, about one per event in a backlog); else they are shuffled by that key.
     */
    private static DataStream<RowData> totals(DataStream<RowData> accepted, int hostPos, int urlPos,
            DataStream<RowData> sessions, boolean sessionsKeyed, long emitIntervalMs, int maxItemsPerMinute,
            long retainMs, String uidPrefix) {
        DataStream<RowData> pages = accepted.transform("page views (host, minute)", TopItems.DELTA_TYPE,
                new PageCountsPreAggregate(emitIntervalMs, hostPos, urlPos));
        KeySelector<RowData, String> key = row -> row.getString(2).toString() + "|" + row.getString(1).toString();
        KeyedStream<RowData, String> byKey = sessionsKeyed
                ? DataStreamUtils.reinterpretAsKeyedStream(sessions, key, Types.STRING)
                : sessions.keyBy(key, Types.STRING);
        DataStream<RowData> referrers = byKey
                .process(new SessionReferrers(), TopItems.DELTA_TYPE)
                .uid(uidPrefix + "session-referrers").name("session referrers");
        return pages.union(referrers)
                .keyBy(row -> row.getString(1).toString() + "|" + row.getLong(2), Types.STRING)
                .process(new TopCountsTotal(maxItemsPerMinute, retainMs), TopItems.TOTAL_TYPE)
                .uid(uidPrefix + "top-list-totals").name("top list counts (host, minute)");
    }

    /**
     * The job's update rows {@code updates} (the columns of {@code streaming.sessions_job.UPDATE_COLUMNS}, e.g.
     * {@code SpeedStream.Pipeline#updates}) and, unioned in, {@link #totals} as such rows: kind, host, bucket,
     * first_url = the item, events = its count.
     */
    public static DataStream<Row> withTopLists(DataStream<Row> updates, DataStream<RowData> accepted,
            DataStream<RowData> sessions, long emitIntervalMs, int maxItemsPerMinute, long retainMs,
            String uidPrefix) {
        TypeInformation<Row> updateType = updates.getType();
        RowTypeInfo type = (RowTypeInfo) updateType;
        int[] at = {type.getFieldIndex("kind"), type.getFieldIndex("host"), type.getFieldIndex("bucket"),
            type.getFieldIndex("first_url"), type.getFieldIndex("events")};
        int width = type.getArity();
        return updates.union(totals(accepted, sessions, emitIntervalMs, maxItemsPerMinute, retainMs, uidPrefix)
                .map(total -> {
                    Row row = Row.withPositions(RowKind.INSERT, width);
                    row.setField(at[0], total.getString(0).toString());
                    row.setField(at[1], total.getString(1).toString());
                    row.setField(at[2], total.getLong(2));
                    row.setField(at[3], total.getString(3).toString());
                    row.setField(at[4], total.getLong(4));
                    return row;
                }, updateType).name("top list updates"));
    }

    /** {@link #totals} on the SQL path: {@code accepted} and {@code sessions} as tables (the first table of
     * {@link SpeedSessions#sessionize}); the rows of {@link TopItems#TOTAL_NAMES}. */
    public static Table topLists(StreamTableEnvironment tEnv, Table accepted, Table sessions, long emitIntervalMs,
            int maxItemsPerMinute, long retainMs) {
        // rowtime, the event-time attribute, puts each event's time into its record's timestamp.
        Table pageInput = accepted.select($("host"), $("url"), $("rowtime"));
        DataStream<RowData> events = tEnv.toDataStream(
                pageInput, pageInput.getResolvedSchema().toPhysicalRowDataType().bridgedTo(RowData.class));
        DataStream<RowData> sessionRows = tEnv.toDataStream(
                sessions, sessions.getResolvedSchema().toPhysicalRowDataType().bridgedTo(RowData.class));
        return tEnv.fromDataStream(
                totals(events, 0, 1, sessionRows, false, emitIntervalMs, maxItemsPerMinute, retainMs, "sql-"));
    }
}
