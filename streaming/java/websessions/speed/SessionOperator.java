package websessions.speed;

import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.table.data.RowData;

/**
 * {@link SessionFunction} plus the live metrics of its subtask: the function counts each accepted event into
 * its (host, minute) aggregate ({@link HostMinute}); when the watermark passes a minute, before the
 * watermark goes downstream, this operator emits the minute's aggregates on {@link SessionFunction#METRICS}
 * (one row per host and minute per subtask, not one per key) and forgets them. The pending aggregates are
 * operator state, snapshotted with each checkpoint.
 *
 * <p>A key (ip, host) lives in one subtask, so the subtasks' distinct ips of a host add up to the host's
 * distinct ips (after a restore with another parallelism, a key's minute that was pending in the old
 * subtask and gets more events in the new one would count its ip twice).
 */
public final class SessionOperator extends KeyedProcessOperator<String, RowData, RowData> {
    private static final long serialVersionUID = 1L;
    private transient ListState<HostMinute> pending;

    public SessionOperator(SessionFunction function) {
        super(function);
    }

    @Override
    public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context);
        pending = context.getOperatorStateStore()
                .getListState(new ListStateDescriptor<>("minute-metrics", TypeInformation.of(HostMinute.class)));
        for (HostMinute restored : pending.get()) {
            ((SessionFunction) userFunction).restoreMinute(restored);
        }
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        List<HostMinute> all = new ArrayList<>();
        ((SessionFunction) userFunction).forEachMinute(all::add);
        pending.update(all);
    }

    @Override
    public void processWatermark(Watermark mark) throws Exception {
        ((SessionFunction) userFunction).passMinutes(mark.getTimestamp(),
                (row, timestamp) -> output.collect(SessionFunction.METRICS, new StreamRecord<>(row, timestamp)));
        super.processWatermark(mark);
    }
}
