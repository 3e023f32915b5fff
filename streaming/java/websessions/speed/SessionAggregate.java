package websessions.speed;

import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;

/**
 * The aggregates of one session of one key while it may still grow: the record's fields plus, for the
 * dedupe rule, the event times of each counted event id, and the distinct urls. Public fields and a
 * no-argument constructor, so Flink snapshots it with its POJO serializer.
 *
 * <p>Bounded state: at most {@code maxIds} counted event times and {@code maxUrls} urls are kept per
 * session (the caps of {@link SessionFunction}). Beyond them {@link #events} still counts every counted
 * event exactly, but a copy of an event whose id was not kept is no longer recognised (it counts again),
 * and {@link #urls} stops growing, so {@code pages} is {@code min(distinct urls, maxUrls)}.
 */
public final class SessionAggregate {
    public long startMs;
    public String startTime;
    public String firstId;
    public String firstUrl;
    public String firstReferrer;
    public String firstUserAgent;
    public String firstGeo;
    public long endMs;
    public String endTime;
    public String lastId;
    public String lastUrl;
    /** Event id -> the event times of its counted copies (more than one only when they are > timeout apart). */
    public HashMap<String, long[]> counted = new HashMap<>();
    /** How many event times {@link #counted} holds (its size in times, what the id cap bounds). */
    public int countedTimes;
    public HashSet<String> urls = new HashSet<>();
    /** The counted events (every one, also beyond the id cap). */
    public long events;
    public long errors;
    /** Start of the open row last written for this session ({@code null}: none yet). */
    public String emittedStartTime;
    public boolean dirty;

    public SessionAggregate() {}

    static SessionAggregate of(Event e, int maxIds, int maxUrls) {
        SessionAggregate s = new SessionAggregate();
        s.startMs = s.endMs = e.timeMs;
        s.startTime = s.endTime = e.time;
        s.firstId = s.lastId = e.id;
        s.firstUrl = s.lastUrl = e.url;
        s.firstReferrer = e.referrer();
        s.firstUserAgent = e.userAgent();
        s.firstGeo = e.geo();
        s.keep(e.id, e.timeMs, maxIds);
        if (maxUrls > 0) {
            s.urls.add(e.url);
        }
        s.events = 1;
        s.errors = e.isError() ? 1 : 0;
        return s;
    }

    /**
     * The dedupe rule ({@code websessions.sessions.is_copy}): a counted copy of {@code id} of this session
     * is at most {@code timeoutMs} away from {@code timeMs}.
     */
    boolean hasCopyOf(String id, long timeMs, long timeoutMs) {
        long[] times = counted.get(id);
        if (times == null) {
            return false;
        }
        for (long t : times) {
            if (Math.abs(timeMs - t) <= timeoutMs) {
                return true;
            }
        }
        return false;
    }

    private void keep(String id, long timeMs, int maxIds) {
        if (countedTimes >= maxIds) {
            return;
        }
        long[] times = counted.get(id);
        counted.put(id, times == null ? new long[] {timeMs} : append(times, timeMs));
        countedTimes++;
    }

    private static long[] append(long[] times, long t) {
        long[] more = Arrays.copyOf(times, times.length + 1);
        more[times.length] = t;
        return more;
    }

    /** Add an event of this key that is not a copy of a counted one (the caller checks {@link #hasCopyOf}). */
    void add(Event e, int maxIds, int maxUrls) {
        keep(e.id, e.timeMs, maxIds);
        if (urls.size() < maxUrls) {
            urls.add(e.url);
        }
        events++;
        if (e.isError()) {
            errors++;
        }
        if (Event.compare(e.timeMs, e.id, startMs, firstId) < 0) {
            startMs = e.timeMs;
            startTime = e.time;
            firstId = e.id;
            firstUrl = e.url;
            firstReferrer = e.referrer();
            firstUserAgent = e.userAgent();
            firstGeo = e.geo();
        }
        if (Event.compare(e.timeMs, e.id, endMs, lastId) > 0) {
            endMs = e.timeMs;
            endTime = e.time;
            lastId = e.id;
            lastUrl = e.url;
        }
    }

    /** Absorb {@code other} (same key): an out-of-order event bridged the two. */
    void merge(SessionAggregate other, int maxIds, int maxUrls) {
        for (Map.Entry<String, long[]> entry : other.counted.entrySet()) {
            for (long t : entry.getValue()) {
                keep(entry.getKey(), t, maxIds);
            }
        }
        for (String url : other.urls) {
            if (urls.size() >= maxUrls) {
                break;
            }
            urls.add(url);
        }
        events += other.events;
        errors += other.errors;
        if (Event.compare(other.startMs, other.firstId, startMs, firstId) < 0) {
            startMs = other.startMs;
            startTime = other.startTime;
            firstId = other.firstId;
            firstUrl = other.firstUrl;
            firstReferrer = other.firstReferrer;
            firstUserAgent = other.firstUserAgent;
            firstGeo = other.firstGeo;
        }
        if (Event.compare(other.endMs, other.lastId, endMs, lastId) > 0) {
            endMs = other.endMs;
            endTime = other.endTime;
            lastId = other.lastId;
            lastUrl = other.lastUrl;
        }
    }
}
