package websessions.speed;

import java.util.HashMap;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeHint;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.table.data.RowData;
import org.apache.flink.util.Collector;

/**
 * Per (host, minute of event time), the running counts of the top lists' items, summed from the count changes
 * of {@link PageCountsPreAggregate} and {@link SessionReferrers}; each change emits the item's new total (a
 * {@link TopItems#TOTAL_NAMES} row), so the stored counts are at most one emission interval behind.
 *
 * <p>Bounded: a (host, minute, list) counts at most {@code maxItems} distinct items exactly; the items beyond
 * are summed into {@link TopItems#OTHER} (a top 10 is exact while fewer than {@code maxItems} items share
 * a minute). A minute's counts are kept until the watermark is {@code retainMs} past its end, then
 * forgotten; a change that arrives for a forgotten minute is ignored (the read model looks back an hour, so
 * {@code retainMs} covers that hour plus the session timeout: a referrer is counted when its session's
 * first row arrives).
 */
public final class TopCountsTotal extends KeyedProcessFunction<String, RowData, RowData> {
    private static final long serialVersionUID = 1L;

    private final int maxItems;
    private final long retainMs;
    /** list -> item -> count. */
    private transient ValueState<HashMap<String, HashMap<String, Long>>> state;

    public TopCountsTotal(int maxItems, long retainMs) {
        if (maxItems < 1 || retainMs < 0) {
            throw new IllegalArgumentException("a top list keeps at least one item per minute, for a time >= 0");
        }
        this.maxItems = maxItems;
        this.retainMs = retainMs;
    }

    @Override
    public void open(OpenContext context) {
        state = getRuntimeContext().getState(new ValueStateDescriptor<>("top-counts",
                TypeInformation.of(new TypeHint<HashMap<String, HashMap<String, Long>>>() {})));
    }

    @Override
    public void processElement(RowData row, Context ctx, Collector<RowData> out) throws Exception {
        String list = row.getString(0).toString();
        String host = row.getString(1).toString();
        long minute = row.getLong(2);
        String item = row.getString(3).toString();
        long delta = row.getLong(4);
        long forgetAt = (minute + 1) * TopItems.MINUTE_MS - 1 + retainMs;
        if (forgetAt < ctx.timerService().currentWatermark()) {
            return; // the minute was forgotten: older than the read model's hour
        }
        HashMap<String, HashMap<String, Long>> lists = state.value();
        if (lists == null) {
            lists = new HashMap<>();
            ctx.timerService().registerEventTimeTimer(forgetAt);
        }
        HashMap<String, Long> counts = lists.computeIfAbsent(list, l -> new HashMap<>());
        if (!counts.containsKey(item) && counts.size() >= maxItems) {
            item = TopItems.OTHER;
        }
        long total = counts.getOrDefault(item, 0L) + delta;
        counts.put(item, total);
        state.update(lists);
        out.collect(TopItems.row(list, host, minute, item, total));
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<RowData> out) {
        state.clear();
    }
}
