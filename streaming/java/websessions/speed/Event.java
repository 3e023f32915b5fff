package websessions.speed;

import org.apache.flink.table.data.RowData;

/**
 * One accepted event as the operator reads it (the columns of {@link SpeedSessions#INPUT_COLUMNS}).
 * The fields only a session's first event contributes are decoded on demand, while the row is valid
 * (during {@code processElement}).
 */
final class Event {
    private final RowData row;
    final String ip;
    final String host;
    final String id;
    final String time;
    final long timeMs;
    final String url;
    final Integer status;

    Event(RowData row, long timeMs) {
        this.row = row;
        ip = string(row, 0);
        host = string(row, 1);
        id = string(row, 2);
        time = string(row, 3);
        url = string(row, 4);
        status = row.isNullAt(7) ? null : row.getInt(7);
        this.timeMs = timeMs;
    }

    String referrer() {
        return string(row, 5);
    }

    String userAgent() {
        return string(row, 6);
    }

    String geo() {
        return string(row, 8);
    }

    static String string(RowData row, int pos) {
        return row.isNullAt(pos) ? null : row.getString(pos).toString();
    }

    boolean isError() {
        return status != null && status >= 400;
    }

    /**
     * The events' order: by time, ties by event id in code point order (the reference's Python string
     * order; Java's {@code compareTo} orders UTF-16 units, which differs above the BMP).
     */
    static int compare(long aMs, String aId, long bMs, String bId) {
        if (aMs != bMs) {
            return Long.compare(aMs, bMs);
        }
        int n = Math.min(aId.length(), bId.length());
        for (int i = 0; i < n; i++) {
            char a = aId.charAt(i);
            char b = bId.charAt(i);
            if (a != b) {
                if (Character.isSurrogate(a) || Character.isSurrogate(b)) {
                    return Integer.compare(aId.codePointAt(i), bId.codePointAt(i));
                }
                return Character.compare(a, b);
            }
        }
        return Integer.compare(aId.length(), bId.length());
    }
}
