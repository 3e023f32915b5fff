package websessions.speed;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.util.OutputTag;

/**
 * The source's classification, chained to it (the SQL path's {@code classify}, {@code accepted},
 * {@code late_events} and the partition counters' pre-aggregation in one operator): a decoded row is valid
 * when it has an event id, ip, host and url and a canonical {@code event_time} after the epoch; a valid row
 * older than the watermark is late ({@link #LATE}: counted, never sessionized); every row is counted per
 * Kafka partition ({@link #COUNTS}, rows of {@link SpeedSessions#COUNTER_NAMES}, passed on every
 * {@code emitIntervalMs} and before each checkpoint barrier); the valid rows on time go on to the sessions.
 *
 * <p>Watermark floors, in Flink's state. Flink does not checkpoint watermarks: after a restore the watermark
 * starts from nothing, and the events replayed from the checkpoint would all be on time. So each checkpoint
 * keeps, per partition this subtask reads, its watermark at the barrier (union state, so a partition's
 * floor follows it to whichever subtask reads it after a restore); a restored job judges a partition's events
 * against the greater of its watermark and that floor. Every replayed event came after the barrier and was
 * judged against a watermark at least as high, so an event late after the restore was late before it.
 */
public final class EventClassifier extends FlushingOperator<RowData>
        implements OneInputStreamOperator<RowData, RowData> {
    private static final long serialVersionUID = 1L;
    /** Valid events behind the watermark, rows of {@link SpeedSessions#LATE_NAMES}. */
    public static final OutputTag<RowData> LATE = new OutputTag<>("late-at-source", SpeedSessions.LATE_TYPE_INFO) {};
    /** Per-partition counts since the last emission, rows of {@link SpeedSessions#COUNTER_NAMES}. */
    public static final OutputTag<RowData> COUNTS = new OutputTag<>("partition-counts", SpeedStream.COUNTER_TYPE_INFO) {};

    private transient long watermark;
    /** Partition -> its watermark floor: restored, then raised at each checkpoint for the partitions read here. */
    private transient Map<Integer, Long> floors;
    private transient Set<Integer> reading;
    private transient ListState<long[]> floorState;
    private final Map<Integer, PartitionCounts> pending = new HashMap<>();

    public EventClassifier(long emitIntervalMs) {
        super(emitIntervalMs);
    }

    /** The SQL path's {@code is_valid} (a time after the epoch is only read from canonical 24-character text). */
    static boolean isValid(RowData row) {
        return !row.isNullAt(2) && !row.isNullAt(0) && !row.isNullAt(1) && !row.isNullAt(4) && EventDecoder.timeMs(row) > 0;
    }

    @Override
    public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context);
        watermark = Long.MIN_VALUE;
        floors = new HashMap<>();
        reading = new HashSet<>();
        floorState = context.getOperatorStateStore()
                .getUnionListState(new ListStateDescriptor<>(
                        "watermark-floors", PrimitiveArrayTypeInfo.LONG_PRIMITIVE_ARRAY_TYPE_INFO));
        for (long[] floor : floorState.get()) {
            floors.merge((int) floor[0], floor[1], Math::max);
        }
    }

    @Override
    public void processElement(StreamRecord<RowData> element) {
        RowData row = element.getValue();
        int part = row.isNullAt(EventDecoder.PARTITION) ? -1 : row.getInt(EventDecoder.PARTITION);
        long offset = row.isNullAt(EventDecoder.OFFSET) ? -1 : row.getLong(EventDecoder.OFFSET);
        boolean valid = isValid(row);
        pending.computeIfAbsent(part, PartitionCounts::new).add(offset, valid, valid ? row.getString(3).toString() : null);
        reading.add(part);
        if (!valid) {
            return;
        }
        if (element.getTimestamp() < Math.max(watermark, floors.getOrDefault(part, Long.MIN_VALUE))) {
            output.collect(LATE, new StreamRecord<>(GenericRowData.of(
                    row.isNullAt(EventDecoder.PARTITION) ? null : part,
                    row.isNullAt(EventDecoder.OFFSET) ? null : offset,
                    copy(row, 1), copy(row, 0), copy(row, 3)), element.getTimestamp()));
            return;
        }
        output.collect(element);
    }

    private static StringData copy(RowData row, int pos) {
        return row.isNullAt(pos) ? null : StringData.fromString(row.getString(pos).toString());
    }

    @Override
    public void processWatermark(Watermark mark) throws Exception {
        watermark = Math.max(watermark, mark.getTimestamp());
        super.processWatermark(mark);
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        List<long[]> all = new ArrayList<>();
        if (watermark != Long.MIN_VALUE) {
            for (int part : reading) {
                floors.merge(part, watermark, Math::max);
            }
        }
        floors.forEach((part, floor) -> all.add(new long[] {part, floor}));
        floorState.update(all);
    }

    @Override
    void flush() {
        for (PartitionCounts counts : pending.values()) {
            output.collect(COUNTS, new StreamRecord<>(counts.toRow()));
        }
        pending.clear();
    }
}
