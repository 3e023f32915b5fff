package websessions.speed;

import java.util.HashMap;
import java.util.Map;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.table.data.RowData;

/**
 * Counts the rows of each Kafka partition a source subtask reads, and passes the counts on every
 * {@code emitIntervalMs} and before every checkpoint barrier (so it keeps no state of its own: each
 * count belongs to the checkpoint epoch of its rows). Input: (partition, offset, is_valid, event_time).
 */
public final class PartitionCountsPreAggregate extends AbstractStreamOperator<RowData>
        implements OneInputStreamOperator<RowData, RowData> {
    private static final long serialVersionUID = 1L;

    private final long emitIntervalMs;
    private transient Map<Integer, PartitionCounts> pending;

    public PartitionCountsPreAggregate(long emitIntervalMs) {
        this.emitIntervalMs = Math.max(emitIntervalMs, 1);
    }

    @Override
    public void open() throws Exception {
        super.open();
        pending = new HashMap<>();
        schedule();
    }

    private void schedule() {
        long now = getProcessingTimeService().getCurrentProcessingTime();
        getProcessingTimeService().registerTimer(now + emitIntervalMs, time -> {
            flush();
            schedule();
        });
    }

    @Override
    public void processElement(StreamRecord<RowData> element) {
        RowData row = element.getValue();
        int part = row.isNullAt(0) ? -1 : row.getInt(0);
        PartitionCounts counts = pending.get(part);
        if (counts == null) {
            counts = new PartitionCounts(part);
            pending.put(part, counts);
        }
        boolean valid = !row.isNullAt(2) && row.getBoolean(2);
        counts.add(row.getLong(1), valid, row.isNullAt(3) ? null : row.getString(3).toString());
    }

    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) {
        flush();
    }

    @Override
    public void finish() throws Exception {
        flush();
        super.finish();
    }

    private void flush() {
        for (PartitionCounts counts : pending.values()) {
            output.collect(new StreamRecord<>(counts.toRow()));
        }
        pending.clear();
    }
}
