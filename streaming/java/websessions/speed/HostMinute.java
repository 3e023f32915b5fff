package websessions.speed;

import java.util.HashSet;

/**
 * The live metrics of one host in one minute of event time, over the keys of one subtask: events counted
 * as the sessions count them, their distinct ips, errors (status >= 400). Public fields for Flink's POJO
 * serializer (operator state of {@link SessionOperator}).
 */
public final class HostMinute {
    public String host;
    public long minute;
    public long events;
    public long errors;
    public HashSet<String> ips = new HashSet<>();

    public HostMinute() {}

    HostMinute(String host, long minute) {
        this.host = host;
        this.minute = minute;
    }

    void add(String ip, boolean error) {
        events++;
        if (error) {
            errors++;
        }
        ips.add(ip);
    }

    void merge(HostMinute other) {
        events += other.events;
        errors += other.errors;
        ips.addAll(other.ips);
    }
}
