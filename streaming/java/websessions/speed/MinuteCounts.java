package websessions.speed;

/**
 * One key's events in one minute of event time (an event id counts once, as in its session) and how
 * many of them are errors.
 */
public final class MinuteCounts {
    public long events;
    public long errors;

    public MinuteCounts() {}
}
