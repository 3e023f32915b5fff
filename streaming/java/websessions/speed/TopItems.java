package websessions.speed;

import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.logical.BigIntType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.table.types.logical.VarCharType;

/**
 * What the live top lists count, defined as the batch layer defines its daily lists
 * ({@code batch/history.py}, reference {@code websessions.analytics.live_top_lists}): a page is a url's
 * path without query string or fragment ({@code /} when empty), counted per event; a referrer is the
 * lower-cased host of a session's first event's referrer url, {@code (direct)} when it has none,
 * counted per session (by the minute of its start). Both per host and minute of event time.
 */
final class TopItems {
    static final long MINUTE_MS = 60_000L;
    static final String PAGE = "top_page";
    static final String REFERRER = "top_referrer";
    static final String DIRECT = "(direct)";
    /** Where a (host, minute, list)'s items beyond its cap are counted. */
    static final String OTHER = "(other)";

    /** A count change: list, host, minute since the epoch, item, delta. */
    static final String[] DELTA_NAMES = {"list", "host", "minute", "item", "delta"};
    /** A running total, the job's {@code top} update rows: kind (= list), host, bucket (= minute), item, events. */
    static final String[] TOTAL_NAMES = {"kind", "host", "bucket", "item", "events"};
    static final InternalTypeInfo<RowData> DELTA_TYPE = rowType(DELTA_NAMES);
    static final InternalTypeInfo<RowData> TOTAL_TYPE = rowType(TOTAL_NAMES);

    private TopItems() {}

    private static InternalTypeInfo<RowData> rowType(String[] names) {
        LogicalType text = VarCharType.STRING_TYPE;
        return InternalTypeInfo.of(RowType.of(
                new LogicalType[] {text, text, new BigIntType(), text, new BigIntType()}, names));
    }

    static RowData row(String list, String host, long minute, String item, long value) {
        return GenericRowData.of(StringData.fromString(list), StringData.fromString(host), minute,
                StringData.fromString(item), value);
    }

    /** The page of a url: everything before the first {@code ?} or {@code #}; {@code /} when that is empty. */
    static String page(String url) {
        int end = url.length();
        for (int i = 0; i < end; i++) {
            char c = url.charAt(i);
            if (c == '?' || c == '#') {
                end = i;
                break;
            }
        }
        return end == 0 ? "/" : url.substring(0, end);
    }

    /**
     * The lower-cased host of a referrer url ({@code ^[A-Za-z][A-Za-z0-9+.-]*://([^/?#:@]+)}), or
     * {@link #DIRECT} when there is no referrer or no host in it.
     */
    static String referrerHost(String referrer) {
        if (referrer == null || referrer.isEmpty() || !isAsciiLetter(referrer.charAt(0))) {
            return DIRECT;
        }
        int i = 1;
        while (i < referrer.length() && isSchemeChar(referrer.charAt(i))) {
            i++;
        }
        if (!referrer.startsWith("://", i)) {
            return DIRECT;
        }
        int start = i + 3;
        int end = start;
        while (end < referrer.length() && "/?#:@".indexOf(referrer.charAt(end)) < 0) {
            end++;
        }
        return end == start ? DIRECT : referrer.substring(start, end).toLowerCase(java.util.Locale.ROOT);
    }

    private static boolean isAsciiLetter(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    }

    private static boolean isSchemeChar(char c) {
        return isAsciiLetter(c) || (c >= '0' && c <= '9') || c == '+' || c == '.' || c == '-';
    }
}
