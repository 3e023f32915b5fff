package websessions.speed;

import java.time.Duration;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.table.data.RowData;

/**
 * The source's watermarks, per Kafka partition (the SQL path's {@code WATERMARK FOR rowtime AS
 * LEAST(rowtime, LOCALTIMESTAMP) - lateness}): the latest event time seen, but never past the wall clock,
 * minus the allowed lateness. A row without a readable time has the epoch and never moves it; a partition
 * without records for {@code idleTimeoutMs} is idle (it holds no one back).
 */
final class EventWatermarks implements WatermarkGenerator<RowData> {
    private final long latenessMs;
    private long latest = Long.MIN_VALUE;

    private EventWatermarks(long latenessMs) {
        this.latenessMs = latenessMs;
    }

    static WatermarkStrategy<RowData> strategy(long latenessMs, long idleTimeoutMs) {
        WatermarkStrategy<RowData> strategy = WatermarkStrategy.<RowData>forGenerator(c -> new EventWatermarks(latenessMs))
                .withTimestampAssigner((row, recordTimestamp) -> EventDecoder.timeMs(row));
        return idleTimeoutMs > 0 ? strategy.withIdleness(Duration.ofMillis(idleTimeoutMs)) : strategy;
    }

    @Override
    public void onEvent(RowData row, long timestamp, WatermarkOutput output) {
        latest = Math.max(latest, Math.min(timestamp, System.currentTimeMillis()));
    }

    @Override
    public void onPeriodicEmit(WatermarkOutput output) {
        if (latest != Long.MIN_VALUE) {
            output.emitWatermark(new Watermark(latest - latenessMs));
        }
    }
}
