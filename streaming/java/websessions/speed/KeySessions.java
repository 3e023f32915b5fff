package websessions.speed;

import java.util.ArrayList;

/** The keyed state of one (ip, host): its sessions that may still grow, ordered by start. */
public final class KeySessions {
    public String ip;
    public String host;
    public ArrayList<SessionAggregate> sessions = new ArrayList<>();
    /** Starts of open rows written for sessions since merged into another: to be dropped. */
    public ArrayList<String> drops = new ArrayList<>();
    /** The earliest pending closing timer (event time), {@code Long.MIN_VALUE}: none. */
    public long closeTimer = Long.MIN_VALUE;
    /** A live-view emission timer (processing time) is pending. */
    public boolean emitPending;

    public KeySessions() {}
}
