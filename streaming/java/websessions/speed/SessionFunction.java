package websessions.speed;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.TreeMap;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.streaming.api.TimeDomain;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * Sessions of one (ip, host) key in event time, the rule of {@code websessions.sessions}: an event
 * joins every session it touches ({@code start - timeout <= t <= end + timeout}; a gap of exactly the
 * timeout continues a session), touching sessions merge, and an event is a copy (dropped; the first copy
 * to arrive wins) when a counted event of the key's open sessions has its id and is at most the timeout
 * away from it ({@code websessions.sessions.is_copy}). A session closes once the watermark is past
 * {@code end + timeout}.
 *
 * <p>State per key is bounded: each session keeps at most {@code maxIdsPerSession} counted event times
 * and {@code maxUrlsPerSession} urls ({@link SessionAggregate} says what stays exact beyond them), and a
 * key's sessions and drops are bounded by the lateness (the subtask's metrics by the minutes the watermark has
 * not passed yet, times hosts).
 *
 * <p>Output rows ({@link SpeedSessions#OUTPUT_NAMES}), each about one session start:
 * {@code open} (the live record so far), {@code session} (closed, final) and {@code drop} (an open row
 * whose session merged into another or moved its start). Open rows are emitted at most once per key
 * and {@code emitIntervalMs} of processing time (every event when it is 0).
 *
 * <p>Live metrics, on the side output {@link #METRICS}: pre-aggregated per subtask, host and minute of event
 * time ({@link HostMinute}: the events the sessions count, so a copy does not count; distinct ips; errors), and
 * emitted by {@link SessionOperator} once the watermark has passed the minute: one row (host, minute, events,
 * users, errors) per subtask, host and minute, with no per-key timers or rows. A key (ip, host) lives in one
 * subtask, so summing a host's rows per minute gives its events, active users (distinct ips) and errors.
 *
 * <p>Late events ({@code docs/sessions.md}): an event whose time is before this operator's current watermark
 * ({@code t < watermark}) is not sessionized: it goes to the side output {@link #LATE} (partition, offset,
 * host, ip, time: the job counts and records it as it does the events its lateness check flags upstream)
 * and changes no state. The check is needed here, not only upstream: after every partition was idle, the
 * first to resume moves this operator's watermark alone, past events the other partitions still hold,
 * which no upstream check sees as late. It keeps an emitted session final: a session is closed once
 * {@code end + timeout < watermark}, and an event can touch it, or be a copy of one of its events, only
 * at {@code t <= end + timeout}; an event with {@code t >= watermark} can therefore do neither, and the
 * watermark never goes back. ({@code t <= watermark} would also hold it, but would turn away an event
 * at the watermark that the rule, the reference and the upstream check accept.)
 */
public final class SessionFunction extends KeyedProcessFunction<String, RowData, RowData> {
    private static final long serialVersionUID = 1L;
    private static final long NO_TIMER = Long.MIN_VALUE;
    private static final long MINUTE_MS = 60_000L;
    public static final OutputTag<RowData> METRICS =
            new OutputTag<>("minute-metrics", SpeedSessions.METRICS_TYPE_INFO) {};
    /** Events behind the watermark, rows of {@link SpeedSessions#LATE_NAMES}. */
    public static final OutputTag<RowData> LATE = new OutputTag<>("late-events", SpeedSessions.LATE_TYPE_INFO) {};

    private final long timeoutMs;
    private final long emitIntervalMs;
    private final int maxIds;
    private final int maxUrls;
    private transient ValueState<KeySessions> state;
    /** This subtask's live metrics by minute and host, until the watermark passes the minute. */
    private transient TreeMap<Long, HashMap<String, HostMinute>> minutes;

    public SessionFunction(long timeoutMs, long emitIntervalMs, int maxIdsPerSession, int maxUrlsPerSession) {
        if (timeoutMs <= 0 || emitIntervalMs < 0) {
            throw new IllegalArgumentException("the timeout must be positive and the emit interval not negative");
        }
        if (maxIdsPerSession < 1 || maxUrlsPerSession < 1) {
            throw new IllegalArgumentException("a session must be allowed to keep at least one id and one url");
        }
        this.timeoutMs = timeoutMs;
        this.emitIntervalMs = emitIntervalMs;
        this.maxIds = maxIdsPerSession;
        this.maxUrls = maxUrlsPerSession;
    }

    @Override
    public void open(OpenContext context) {
        state = getRuntimeContext()
                .getState(new ValueStateDescriptor<>("sessions", TypeInformation.of(KeySessions.class)));
    }

    @Override
    public void processElement(RowData row, Context ctx, Collector<RowData> out) throws Exception {
        if (ctx.timestamp() < ctx.timerService().currentWatermark()) {
            ctx.output(LATE, late(row)); // before the dedupe rule: a late copy counts as late (docs/sessions.md)
            return;
        }
        Event e = new Event(row, ctx.timestamp());
        KeySessions ks = state.value();
        if (ks == null) {
            ks = new KeySessions();
            ks.ip = e.ip;
            ks.host = e.host;
        }
        ArrayList<SessionAggregate> sessions = ks.sessions;
        for (SessionAggregate s : sessions) {
            if (s.hasCopyOf(e.id, e.timeMs, timeoutMs)) {
                return; // a copy of a counted event: the state is unchanged
            }
        }
        long minute = Math.floorDiv(e.timeMs, MINUTE_MS);
        HashMap<String, HostMinute> hosts = minutes().computeIfAbsent(minute, m -> new HashMap<>());
        HostMinute metrics = hosts.get(e.host);
        if (metrics == null) {
            metrics = new HostMinute(e.host, minute);
            hosts.put(e.host, metrics);
        }
        metrics.add(e.ip, e.isError());
        SessionAggregate target = null;
        Iterator<SessionAggregate> it = sessions.iterator();
        while (it.hasNext()) {
            SessionAggregate s = it.next();
            if (s.startMs - timeoutMs <= e.timeMs && e.timeMs <= s.endMs + timeoutMs) {
                if (target == null) {
                    target = s;
                    target.add(e, maxIds, maxUrls);
                } else {
                    target.merge(s, maxIds, maxUrls);
                    if (s.emittedStartTime != null) {
                        ks.drops.add(s.emittedStartTime);
                    }
                    it.remove();
                }
            }
        }
        if (target == null) {
            target = SessionAggregate.of(e, maxIds, maxUrls);
            int at = 0;
            while (at < sessions.size() && sessions.get(at).startMs < target.startMs) {
                at++;
            }
            sessions.add(at, target);
        }
        target.dirty = true;
        long deadline = target.endMs + timeoutMs + 1; // closes once the watermark is past end + timeout
        if (ks.closeTimer == NO_TIMER || deadline < ks.closeTimer) {
            ctx.timerService().registerEventTimeTimer(deadline);
            ks.closeTimer = deadline;
        }
        if (emitIntervalMs == 0) {
            emitOpen(ks, out);
        } else if (!ks.emitPending) {
            ctx.timerService().registerProcessingTimeTimer(ctx.timerService().currentProcessingTime() + emitIntervalMs);
            ks.emitPending = true;
        }
        state.update(ks);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<RowData> out) throws Exception {
        KeySessions ks = state.value();
        if (ks == null) {
            return;
        }
        if (ctx.timeDomain() == TimeDomain.PROCESSING_TIME) {
            ks.emitPending = false;
            emitOpen(ks, out);
        } else {
            if (timestamp == ks.closeTimer) {
                ks.closeTimer = NO_TIMER;
            }
            long watermark = ctx.timerService().currentWatermark();
            close(ks, watermark, out);
            long next = Long.MAX_VALUE;
            for (SessionAggregate s : ks.sessions) {
                next = Math.min(next, s.endMs + timeoutMs + 1);
            }
            if (!ks.sessions.isEmpty() && (ks.closeTimer == NO_TIMER || next < ks.closeTimer)) {
                ctx.timerService().registerEventTimeTimer(next);
                ks.closeTimer = next;
            }
        }
        if (ks.sessions.isEmpty() && ks.drops.isEmpty() && !ks.emitPending) {
            state.clear();
        } else {
            state.update(ks);
        }
    }

    private TreeMap<Long, HashMap<String, HostMinute>> minutes() {
        if (minutes == null) {
            minutes = new TreeMap<>();
        }
        return minutes;
    }

    /** Emit (row, its event time: the minute's last millisecond) and forget the minutes the watermark has passed. */
    void passMinutes(long watermark, BiConsumer<RowData, Long> out) {
        TreeMap<Long, HashMap<String, HostMinute>> all = minutes();
        while (!all.isEmpty() && (all.firstKey() + 1) * MINUTE_MS - 1 <= watermark) {
            long minute = all.firstKey();
            for (HostMinute m : all.remove(minute).values()) {
                out.accept(GenericRowData.of(StringData.fromString(m.host), minute, m.events, (long) m.ips.size(),
                        m.errors), (minute + 1) * MINUTE_MS - 1);
            }
        }
    }

    void forEachMinute(Consumer<HostMinute> consumer) {
        minutes().values().forEach(hosts -> hosts.values().forEach(consumer));
    }

    void restoreMinute(HostMinute restored) {
        HashMap<String, HostMinute> hosts = minutes().computeIfAbsent(restored.minute, m -> new HashMap<>());
        HostMinute present = hosts.putIfAbsent(restored.host, restored);
        if (present != null) {
            present.merge(restored);
        }
    }

    private void close(KeySessions ks, long watermark, Collector<RowData> out) {
        Iterator<SessionAggregate> it = ks.sessions.iterator();
        boolean closed = false;
        while (it.hasNext()) {
            SessionAggregate s = it.next();
            if (s.endMs + timeoutMs < watermark) {
                if (s.emittedStartTime != null && !s.emittedStartTime.equals(s.startTime)) {
                    out.collect(drop(ks, s.emittedStartTime));
                }
                out.collect(record("session", ks, s));
                it.remove();
                closed = true;
            }
        }
        if (closed) {
            emitDrops(ks, out);
        }
    }

    private void emitOpen(KeySessions ks, Collector<RowData> out) {
        emitDrops(ks, out);
        for (SessionAggregate s : ks.sessions) {
            if (!s.dirty) {
                continue;
            }
            if (s.emittedStartTime != null && !s.emittedStartTime.equals(s.startTime)) {
                out.collect(drop(ks, s.emittedStartTime));
            }
            out.collect(record("open", ks, s));
            s.emittedStartTime = s.startTime;
            s.dirty = false;
        }
    }

    private static void emitDrops(KeySessions ks, Collector<RowData> out) {
        for (String start : ks.drops) {
            out.collect(drop(ks, start));
        }
        ks.drops.clear();
    }

    private static RowData record(String kind, KeySessions ks, SessionAggregate s) {
        return GenericRowData.of(str(kind), str(ks.host), str(ks.ip), str(s.startTime), str(s.endTime),
                s.events, (long) s.urls.size(), s.errors, str(s.firstUrl), str(s.lastUrl),
                str(s.firstReferrer), str(s.firstUserAgent), str(s.firstGeo));
    }

    /** A late event's row; its strings are copied (the input row is reused once this call returns). */
    private static RowData late(RowData row) {
        Integer partition = row.isNullAt(SpeedSessions.PARTITION) ? null : row.getInt(SpeedSessions.PARTITION);
        Long offset = row.isNullAt(SpeedSessions.OFFSET) ? null : row.getLong(SpeedSessions.OFFSET);
        return GenericRowData.of(partition, offset, str(Event.string(row, 1)), str(Event.string(row, 0)),
                str(Event.string(row, 3)));
    }

    private static RowData drop(KeySessions ks, String startTime) {
        return GenericRowData.of(str("drop"), str(ks.host), str(ks.ip), str(startTime), null, null, null, null, null,
                null, null, null, null);
    }

    private static StringData str(String value) {
        return value == null ? null : StringData.fromString(value);
    }
}
