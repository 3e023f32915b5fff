package websessions.speed;

import java.time.Instant;
import java.util.HashMap;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.TypeHint;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.table.data.RowData;
import org.apache.flink.util.Collector;

/**
 * The referrers of sessions, counted once per session, from the session operator's rows
 * ({@link SpeedSessions#OUTPUT_NAMES}) of one key (ip, host): the first {@code open} or {@code session} row of
 * a start counts its referrer host ({@link TopItems#referrerHost}) +1 in the minute of the start; a {@code drop}
 * of a counted start (its session merged into another or moved its start) takes it back (-1); a counted start
 * whose first event changed its referrer moves its count. Output: {@link TopItems#DELTA_NAMES} rows, list
 * {@link TopItems#REFERRER}. State per key: its counted starts until their session closes.
 */
public final class SessionReferrers extends KeyedProcessFunction<String, RowData, RowData> {
    private static final long serialVersionUID = 1L;
    private static final int KIND = 0;
    private static final int HOST = 1;
    private static final int T_START = 3;
    private static final int REFERRER = 10;

    /** Session start (canonical text) -> the referrer host it was counted with. */
    private transient ValueState<HashMap<String, String>> counted;

    @Override
    public void open(OpenContext context) {
        counted = getRuntimeContext().getState(new ValueStateDescriptor<>("counted-referrers",
                TypeInformation.of(new TypeHint<HashMap<String, String>>() {})));
    }

    @Override
    public void processElement(RowData row, Context ctx, Collector<RowData> out) throws Exception {
        String kind = row.getString(KIND).toString();
        String host = row.getString(HOST).toString();
        String start = row.getString(T_START).toString();
        HashMap<String, String> starts = counted.value();
        String before = starts == null ? null : starts.get(start);
        if (kind.equals("drop")) {
            if (before != null) {
                starts.remove(start);
                out.collect(TopItems.row(TopItems.REFERRER, host, minute(start), before, -1));
                update(starts);
            }
            return;
        }
        String now = TopItems.referrerHost(row.isNullAt(REFERRER) ? null : row.getString(REFERRER).toString());
        if (!now.equals(before)) {
            long minute = minute(start);
            if (before != null) {
                out.collect(TopItems.row(TopItems.REFERRER, host, minute, before, -1));
            }
            out.collect(TopItems.row(TopItems.REFERRER, host, minute, now, 1));
        }
        if (kind.equals("session")) { // closed: final, no later row of this start
            if (starts != null && starts.remove(start) != null) {
                update(starts);
            }
        } else if (!now.equals(before)) {
            if (starts == null) {
                starts = new HashMap<>();
            }
            starts.put(start, now);
            update(starts);
        }
    }

    private void update(HashMap<String, String> starts) throws Exception {
        if (starts.isEmpty()) {
            counted.clear();
        } else {
            counted.update(starts);
        }
    }

    private static long minute(String start) {
        return Math.floorDiv(Instant.parse(start).toEpochMilli(), TopItems.MINUTE_MS);
    }
}
