package websessions.speed;

import java.util.HashMap;
import java.util.Map;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.table.data.RowData;

/**
 * Counts the page views of the events one subtask accepts, per host, minute of event time and page
 * ({@link TopItems#page}), and passes the counts on ({@link TopItems#DELTA_NAMES} rows, list
 * {@link TopItems#PAGE}) every {@code emitIntervalMs} and before every checkpoint barrier
 * ({@link FlushingOperator}: no state, each count belongs to the checkpoint epoch of its events). Input: rows
 * with the host and the url at the given positions, the event time in the record's timestamp. One row per
 * (host, minute, page) and interval crosses the network, not one per event.
 */
public final class PageCountsPreAggregate extends FlushingOperator<RowData>
        implements OneInputStreamOperator<RowData, RowData> {
    private static final long serialVersionUID = 1L;

    private final int hostPos;
    private final int urlPos;
    /** host -> minute -> page -> views since the last flush. */
    private final Map<String, Map<Long, Map<String, long[]>>> pending = new HashMap<>();

    public PageCountsPreAggregate(long emitIntervalMs, int hostPos, int urlPos) {
        super(emitIntervalMs);
        this.hostPos = hostPos;
        this.urlPos = urlPos;
    }

    @Override
    public void processElement(StreamRecord<RowData> element) {
        if (!element.hasTimestamp()) {
            throw new IllegalStateException("page views need the event time in the record's timestamp");
        }
        RowData row = element.getValue();
        long minute = Math.floorDiv(element.getTimestamp(), TopItems.MINUTE_MS);
        String host = row.getString(hostPos).toString();
        String page = TopItems.page(row.getString(urlPos).toString());
        pending.computeIfAbsent(host, h -> new HashMap<>())
                .computeIfAbsent(minute, m -> new HashMap<>())
                .computeIfAbsent(page, p -> new long[1])[0]++;
    }

    @Override
    void flush() {
        for (Map.Entry<String, Map<Long, Map<String, long[]>>> host : pending.entrySet()) {
            for (Map.Entry<Long, Map<String, long[]>> minute : host.getValue().entrySet()) {
                for (Map.Entry<String, long[]> page : minute.getValue().entrySet()) {
                    output.collect(new StreamRecord<>(TopItems.row(TopItems.PAGE, host.getKey(), minute.getKey(),
                            page.getKey(), page.getValue()[0])));
                }
            }
        }
        pending.clear();
    }
}
