package websessions.speed;

import org.apache.flink.streaming.api.operators.AbstractStreamOperator;

/**
 * An operator that pre-aggregates and passes its aggregates on with {@link #flush()}: every
 * {@code intervalMs} of processing time (a timer in the task's mailbox, so it never races the records),
 * before each checkpoint barrier (each aggregate belongs to the checkpoint epoch of its records, so it needs no
 * state) and at the end of a bounded input.
 */
abstract class FlushingOperator<OUT> extends AbstractStreamOperator<OUT> {
    private static final long serialVersionUID = 1L;
    private final long intervalMs;

    FlushingOperator(long intervalMs) {
        this.intervalMs = Math.max(intervalMs, 1);
    }

    /** Pass the pending aggregates on and forget them. */
    abstract void flush();

    @Override
    public void open() throws Exception {
        super.open();
        schedule();
    }

    private void schedule() {
        long now = getProcessingTimeService().getCurrentProcessingTime();
        getProcessingTimeService().registerTimer(now + intervalMs, time -> {
            flush();
            schedule();
        });
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
}
