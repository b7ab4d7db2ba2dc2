package dev.cmwq.workqueue;

/**
 * A distribution of durations in nanoseconds: queue-to-start latency or run time of a workqueue's
 * items. Percentiles come from a log-linear histogram (at most 25% above the true value, never
 * above the maximum).
 */
public record LatencySnapshot(long count, long totalNanos, long maxNanos, long p50Nanos, long p90Nanos, long p99Nanos) {
    public static final LatencySnapshot EMPTY = new LatencySnapshot(0, 0, 0, 0, 0, 0);

    public long meanNanos() {
        return count == 0 ? 0 : totalNanos / count;
    }
}
