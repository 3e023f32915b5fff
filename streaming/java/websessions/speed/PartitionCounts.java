package websessions.speed;

import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;

/**
 * Counters of one Kafka partition: rows decoded, invalid ones, the offset range, the latest valid
 * event time (canonical text, so the greatest string is the latest). Public fields for Flink's POJO
 * serializer.
 */
public final class PartitionCounts {
    public int part;
    public long records;
    public long invalid;
    public long offsetMin = Long.MAX_VALUE;
    public long offsetMax = Long.MIN_VALUE;
    public String tEnd;

    public PartitionCounts() {}

    PartitionCounts(int part) {
        this.part = part;
    }

    void add(long offset, boolean valid, String eventTime) {
        records++;
        offsetMin = Math.min(offsetMin, offset);
        offsetMax = Math.max(offsetMax, offset);
        if (!valid) {
            invalid++;
        } else if (eventTime != null && (tEnd == null || eventTime.compareTo(tEnd) > 0)) {
            tEnd = eventTime;
        }
    }

    void merge(PartitionCounts other) {
        records += other.records;
        invalid += other.invalid;
        offsetMin = Math.min(offsetMin, other.offsetMin);
        offsetMax = Math.max(offsetMax, other.offsetMax);
        if (other.tEnd != null && (tEnd == null || other.tEnd.compareTo(tEnd) > 0)) {
            tEnd = other.tEnd;
        }
    }

    /** The row of {@link SpeedSessions#COUNTER_NAMES}. */
    RowData toRow() {
        return GenericRowData.of(part, records, invalid, offsetMin, offsetMax,
                tEnd == null ? null : StringData.fromString(tEnd));
    }

    static PartitionCounts fromRow(RowData row) {
        PartitionCounts c = new PartitionCounts(row.getInt(0));
        c.records = row.getLong(1);
        c.invalid = row.getLong(2);
        c.offsetMin = row.getLong(3);
        c.offsetMax = row.getLong(4);
        c.tEnd = row.isNullAt(5) ? null : row.getString(5).toString();
        return c;
    }
}
