package websessions.speed;

import java.util.HashSet;

/** One key's events in one minute of event time: its distinct event ids and how many are errors. */
public final class MinuteCounts {
    public HashSet<String> ids = new HashSet<>();
    public long errors;

    public MinuteCounts() {}
}
