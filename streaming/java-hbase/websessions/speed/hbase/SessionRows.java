package websessions.speed.hbase;

import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.Locale;
import org.apache.flink.types.Row;

/**
 * The HBase row layout of {@code websessions/stores/hbase_sessions.py}, written from the job's update rows
 * (the columns of {@code streaming.sessions_job.UPDATE_COLUMNS}, as external rows): row keys, the session record's JSON
 * ({@code Session.to_dict}, compact, non-ASCII as UTF-8 like orjson), the metric and late-event cells.
 * Everything here is a pure function of one update row, so a replayed update rewrites the same cells.
 */
final class SessionRows {
    // Positions in UPDATE_COLUMNS.
    static final int KIND = 1;
    static final int HOST = 2;
    static final int IP = 3;
    static final int T_START = 4;
    static final int T_END = 5;
    static final int BUCKET = 6;
    static final int EVENTS = 7;
    static final int PAGES = 8;
    static final int ERRORS = 9;
    static final int USERS = 10;
    static final int FIRST_URL = 11;
    static final int LAST_URL = 12;
    static final int REFERRER = 13;
    static final int USER_AGENT = 14;
    static final int GEO = 15;
    static final int PART = 16;
    static final int RECORDS = 17;
    static final int INVALID = 18;
    static final int OFFSET_MIN = 19;
    static final int OFFSET_MAX = 20;
    static final String[] UPDATE_COLUMNS = {
        "ukey", "kind", "host", "ip", "t_start", "t_end", "bucket", "events", "pages", "errors", "users", "first_url",
        "last_url", "referrer", "user_agent", "geo", "part", "records", "invalid", "offset_min", "offset_max"
    };

    static final long LONG_MAX = Long.MAX_VALUE;
    private static final char[] HEX = "0123456789abcdef".toCharArray();
    private static final int SESSION_ID_HEX = 20;

    private SessionRows() {}

    static String text(Row row, int pos) {
        Object value = row.getField(pos);
        return value == null ? null : value.toString();
    }

    static long number(Row row, int pos) {
        Object value = row.getField(pos);
        return value == null ? 0L : ((Number) value).longValue();
    }

    /** Epoch ms of canonical event time text ({@code 2026-11-20T10:15:30.123Z}). */
    static long epochMs(String time) {
        return Instant.parse(time).toEpochMilli();
    }

    /** {@code <host>|<ip>|<Long.MAX_VALUE - start_ms, 19 digits>}: a user's sessions newest first. */
    static byte[] rowKey(String host, String ip, long startMs) {
        return (host + "|" + ip + "|" + String.format(Locale.ROOT, "%019d", LONG_MAX - startMs))
                .getBytes(StandardCharsets.UTF_8);
    }

    /** {@code <host>|<YYYY-MM-DDTHH:MM>} of a minute since the epoch. */
    static byte[] metricKey(String host, long minute) {
        return (host + "|" + Instant.ofEpochMilli(minute * 60_000L).toString().substring(0, 16))
                .getBytes(StandardCharsets.UTF_8);
    }

    /** {@code <dt>|<host>|<ip>|<time ms, 13 digits>|<partition>|<offset>}: one late event. */
    static byte[] lateKey(String host, String ip, String time, long timeMs, String part, String offset) {
        return String.join("|", time.substring(0, 10), host, ip, String.format(Locale.ROOT, "%013d", timeMs),
                part, offset).getBytes(StandardCharsets.UTF_8);
    }

    /** {@code websessions.sessions.session_id}: sha1 of {@code host|ip|start_ms}, first 20 hex digits. */
    static String sessionId(String host, String ip, long startMs) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-1")
                    .digest((host + "|" + ip + "|" + startMs).getBytes(StandardCharsets.UTF_8));
            char[] out = new char[SESSION_ID_HEX];
            for (int i = 0; i < SESSION_ID_HEX / 2; i++) {
                out[2 * i] = HEX[(digest[i] >> 4) & 0xf];
                out[2 * i + 1] = HEX[digest[i] & 0xf];
            }
            return new String(out);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-1 is part of every JDK", e);
        }
    }

    /** Seconds with Python's float repr for a whole number of milliseconds ({@code 12.5}, {@code 300.0}). */
    static String durationSeconds(long ms) {
        String s = BigDecimal.valueOf(ms, 3).stripTrailingZeros().toPlainString();
        return s.indexOf('.') < 0 ? s + ".0" : s;
    }

    /** The record of {@code Session.to_dict()} for an {@code open} or {@code session} (closed) update row. */
    static byte[] recordJson(Row row, String host, String ip, String start, long startMs, String status) {
        String end = text(row, T_END);
        long endMs = epochMs(end);
        StringBuilder b = new StringBuilder(512);
        b.append('{');
        field(b, "session_id").append('"').append(sessionId(host, ip, startMs)).append('"');
        b.append(',');
        string(field(b, "host"), host).append(',');
        string(field(b, "ip"), ip).append(',');
        string(field(b, "start"), start).append(',');
        string(field(b, "end"), end).append(',');
        field(b, "duration_s").append(durationSeconds(endMs - startMs)).append(',');
        field(b, "events").append(number(row, EVENTS)).append(',');
        field(b, "pages").append(number(row, PAGES)).append(',');
        string(field(b, "first_url"), text(row, FIRST_URL)).append(',');
        string(field(b, "last_url"), text(row, LAST_URL)).append(',');
        string(field(b, "referrer"), text(row, REFERRER)).append(',');
        string(field(b, "user_agent"), text(row, USER_AGENT)).append(',');
        field(b, "errors").append(number(row, ERRORS)).append(',');
        String geo = text(row, GEO); // already a JSON object (the event's geo as text)
        field(b, "geo").append(geo == null || geo.isEmpty() ? "null" : geo).append(',');
        string(field(b, "status"), status).append(',');
        string(field(b, "dt"), start.substring(0, 10));
        b.append('}');
        return b.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static StringBuilder field(StringBuilder b, String name) {
        return b.append('"').append(name).append("\":");
    }

    /** A JSON string as orjson writes it: {@code "} and {@code \} escaped, control characters as escapes. */
    static StringBuilder string(StringBuilder b, String value) {
        if (value == null) {
            return b.append("null");
        }
        b.append('"');
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                case '\b' -> b.append("\\b");
                case '\f' -> b.append("\\f");
                default -> {
                    if (c < 0x20) {
                        b.append("\\u00").append(HEX[c >> 4]).append(HEX[c & 0xf]);
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"');
    }

    /** {@code MinuteMetrics.error_rate} as the Python writer formats it ({@code f"{rate:.6f}"}). */
    static String errorRate(long errors, long events) {
        return String.format(Locale.ROOT, "%.6f", events == 0 ? 0.0 : (double) errors / events);
    }
}
