package websessions.speed;

import java.util.HashMap;
import java.util.Map;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.table.data.RowData;

/**
 * Counts the rows of each Kafka partition a source subtask reads, and passes the counts on every
 * {@code emitIntervalMs} and before every checkpoint barrier (so it keeps no state of its own: each
 * count belongs to the checkpoint epoch of its rows). Input: (partition, offset, is_valid, event_time).
 */
public final class PartitionCountsPreAggregate extends FlushingOperator<RowData>
        implements OneInputStreamOperator<RowData, RowData> {
    private static final long serialVersionUID = 1L;

    private final Map<Integer, PartitionCounts> pending = new HashMap<>();

    public PartitionCountsPreAggregate(long emitIntervalMs) {
        super(emitIntervalMs);
    }

    @Override
    public void processElement(StreamRecord<RowData> element) {
        RowData row = element.getValue();
        int part = row.isNullAt(0) ? -1 : row.getInt(0);
        boolean valid = !row.isNullAt(2) && row.getBoolean(2);
        pending.computeIfAbsent(part, PartitionCounts::new).add(row.getLong(1), valid, row.isNullAt(3) ? null : row.getString(3).toString());
    }

    @Override
    void flush() {
        for (PartitionCounts counts : pending.values()) {
            output.collect(new StreamRecord<>(counts.toRow()));
        }
        pending.clear();
    }
}
