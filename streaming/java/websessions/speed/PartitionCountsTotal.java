package websessions.speed;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.table.data.RowData;
import org.apache.flink.util.Collector;

/** Per Kafka partition, the running totals of {@link PartitionCountsPreAggregate}'s counts, emitted on each. */
public final class PartitionCountsTotal extends KeyedProcessFunction<Integer, RowData, RowData> {
    private static final long serialVersionUID = 1L;

    private transient ValueState<PartitionCounts> state;

    @Override
    public void open(OpenContext context) {
        state = getRuntimeContext()
                .getState(new ValueStateDescriptor<>("counts", TypeInformation.of(PartitionCounts.class)));
    }

    @Override
    public void processElement(RowData row, Context ctx, Collector<RowData> out) throws Exception {
        PartitionCounts delta = PartitionCounts.fromRow(row);
        PartitionCounts total = state.value();
        if (total == null) {
            total = delta;
        } else {
            total.merge(delta);
        }
        state.update(total);
        out.collect(total.toRow());
    }
}
