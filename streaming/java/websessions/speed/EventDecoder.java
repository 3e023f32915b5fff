package websessions.speed;

import java.io.IOException;
import java.time.DateTimeException;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;

/**
 * One web event's JSON into the operator's input row ({@link SpeedSessions#INPUT_COLUMNS}) with Jackson's
 * streaming parser (Flink's shaded copy: no jar of our own, no clash): one pass over the bytes, no tree, the
 * unknown fields skipped. It decodes what the SQL path's JSON format ({@code json.ignore-parse-errors},
 * missing fields NULL) decodes, with the same values: a string field takes a JSON string as is, a number or
 * boolean as its text and an object or array as its JSON; {@code status} takes an integer, a number in the
 * int range (truncated) or a string holding an int, anything else is NULL (the format's
 * {@code ignore-parse-errors}). A record that is not one JSON object is undecodable ({@link Undecodable},
 * with the reason).
 *
 * <p>{@code rowtime} is {@code event_time} read as the canonical UTC text ({@code yyyy-MM-ddTHH:mm:ss.SSSZ},
 * 24 characters); the epoch when it is missing or not in that form (such a row is invalid, see
 * {@link EventClassifier#isValid}, and never moves a watermark).
 */
public final class EventDecoder {
    private static final JsonFactory JSON = new JsonFactory();
    private static final ObjectMapper TREES = new ObjectMapper();
    static final int ROWTIME = 9;
    static final int PARTITION = SpeedSessions.PARTITION;
    static final int OFFSET = SpeedSessions.OFFSET;

    /** Why a record could not be decoded (the message is the reason recorded with it). */
    public static final class Undecodable extends Exception {
        private static final long serialVersionUID = 1L;

        Undecodable(String reason) {
            super(reason, null, false, false);
        }
    }

    private EventDecoder() {}

    /** The row of one record ({@code partition} and {@code offset} may be NULL: a source without them). */
    public static GenericRowData decode(byte[] value, Integer partition, Long offset) throws Undecodable {
        if (value == null || value.length == 0) {
            throw new Undecodable("empty record");
        }
        GenericRowData row = new GenericRowData(SpeedSessions.INPUT_COLUMNS.length);
        try (JsonParser p = JSON.createParser(value)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new Undecodable("not a JSON object");
            }
            JsonToken token;
            while ((token = p.nextToken()) == JsonToken.FIELD_NAME) {
                int pos = position(p.currentName());
                JsonToken v = p.nextToken();
                if (pos < 0) {
                    p.skipChildren();
                } else if (pos == 7) {
                    row.setField(7, status(p, v));
                } else {
                    row.setField(pos, text(p, v));
                }
            }
            if (token != JsonToken.END_OBJECT) {
                throw new Undecodable("not a JSON object");
            }
        } catch (IOException e) {
            throw new Undecodable("not JSON: " + e.getMessage());
        }
        StringData time = (StringData) row.getField(3);
        row.setField(ROWTIME, TimestampData.fromEpochMillis(time == null ? 0L : parseTimeMs(time.toString())));
        row.setField(PARTITION, partition);
        row.setField(OFFSET, offset);
        return row;
    }

    private static int position(String name) {
        return switch (name) {
            case "ip" -> 0;
            case "host" -> 1;
            case "event_id" -> 2;
            case "event_time" -> 3;
            case "url" -> 4;
            case "referrer" -> 5;
            case "user_agent" -> 6;
            case "status" -> 7;
            case "geo" -> 8;
            default -> -1;
        };
    }

    private static StringData text(JsonParser p, JsonToken v) throws IOException {
        return switch (v) {
            case VALUE_NULL -> null;
            case VALUE_STRING, VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT, VALUE_TRUE, VALUE_FALSE ->
                    StringData.fromString(p.getText());
            default -> StringData.fromString(TREES.readTree(p).toString()); // an object or array: its JSON
        };
    }

    /** The status as the SQL JSON format reads an INT with {@code ignore-parse-errors}: NULL when it is not one. */
    private static Integer status(JsonParser p, JsonToken v) throws IOException {
        switch (v) {
            case VALUE_NUMBER_INT:
            case VALUE_NUMBER_FLOAT:
                double d = p.getDoubleValue();
                if (d < Integer.MIN_VALUE || d > Integer.MAX_VALUE) {
                    return null;
                }
                return v == JsonToken.VALUE_NUMBER_INT ? p.getIntValue() : (int) d;
            case VALUE_STRING:
                try {
                    return Integer.parseInt(p.getText().trim());
                } catch (NumberFormatException e) {
                    return null;
                }
            case START_OBJECT:
            case START_ARRAY:
                p.skipChildren();
                return null;
            default:
                return null;
        }
    }

    /** Epoch ms of a canonical UTC time ({@code 2026-12-07T14:48:11.123Z}), or 0 (the epoch) for any other text. */
    static long parseTimeMs(String t) {
        if (t.length() != 24 || t.charAt(4) != '-' || t.charAt(7) != '-' || t.charAt(10) != 'T' || t.charAt(13) != ':'
                || t.charAt(16) != ':' || t.charAt(19) != '.' || t.charAt(23) != 'Z') {
            return 0L;
        }
        int year = digits(t, 0, 4);
        int month = digits(t, 5, 7);
        int day = digits(t, 8, 10);
        int hour = digits(t, 11, 13);
        int minute = digits(t, 14, 16);
        int second = digits(t, 17, 19);
        int millis = digits(t, 20, 23);
        if ((year | month | day | hour | minute | second | millis) < 0) {
            return 0L;
        }
        try {
            return LocalDateTime.of(year, month, day, hour, minute, second).toEpochSecond(ZoneOffset.UTC) * 1000L
                    + millis;
        } catch (DateTimeException e) {
            return 0L;
        }
    }

    private static int digits(String t, int from, int to) {
        int n = 0;
        for (int i = from; i < to; i++) {
            char c = t.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            n = n * 10 + (c - '0');
        }
        return n;
    }

    /** The row's event time (epoch ms; 0 when it has none). */
    static long timeMs(RowData row) {
        return row.getTimestamp(ROWTIME, 3).getMillisecond();
    }
}
