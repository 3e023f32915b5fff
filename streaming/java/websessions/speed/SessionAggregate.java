package websessions.speed;

import java.util.HashSet;

/**
 * The aggregates of one session of one key while it may still grow: the record's fields plus the
 * event ids (duplicates count once) and the distinct urls. Public fields and a no-argument
 * constructor, so Flink snapshots it with its POJO serializer.
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
    public HashSet<String> ids = new HashSet<>();
    public HashSet<String> urls = new HashSet<>();
    public long errors;
    /** Start of the open row last written for this session ({@code null}: none yet). */
    public String emittedStartTime;
    public boolean dirty;

    public SessionAggregate() {}

    static SessionAggregate of(Event e) {
        SessionAggregate s = new SessionAggregate();
        s.startMs = s.endMs = e.timeMs;
        s.startTime = s.endTime = e.time;
        s.firstId = s.lastId = e.id;
        s.firstUrl = s.lastUrl = e.url;
        s.firstReferrer = e.referrer();
        s.firstUserAgent = e.userAgent();
        s.firstGeo = e.geo();
        s.ids.add(e.id);
        s.urls.add(e.url);
        s.errors = e.isError() ? 1 : 0;
        return s;
    }

    /** Add an event of this key whose id is new to the key's sessions. */
    void add(Event e) {
        ids.add(e.id);
        urls.add(e.url);
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

    /** Absorb {@code other} (same key, disjoint ids): an out-of-order event bridged the two. */
    void merge(SessionAggregate other) {
        ids.addAll(other.ids);
        urls.addAll(other.urls);
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
