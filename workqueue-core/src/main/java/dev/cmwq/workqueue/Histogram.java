package dev.cmwq.workqueue;

/**
 * A log-linear histogram of non-negative nanosecond values, cheap enough to record on every item:
 * values below 8 have a bucket each, above that every power of two is split into 4 buckets, so a
 * value's bucket is found with one leading-zero count and the relative error is at most 25%.
 * 248 buckets cover the whole {@code long} range.
 *
 * <p>A value can stand for several items ({@link #record(long, int)}): a pool workqueue with a
 * backlog of short items times one in {@code PoolWorkqueue.TIMING_SAMPLE} of them, and each timed
 * one counts for the untimed ones around it. {@code count} and {@code sum} are then estimates;
 * {@code samples} is the number of values actually measured.
 *
 * <p>The buckets (2 KB) are allocated with the first value: a bound queue has a pool workqueue per
 * CPU, and on a machine with many CPUs most of them never run an item of a given queue.
 *
 * <p>Not thread-safe: each instance belongs to one pool workqueue and is guarded by its pool's lock
 * (or, for a snapshot's sums, by its maker).
 */
final class Histogram {
    static final int BUCKETS = 248;

    /** The count per bucket; null until a value is recorded or added. */
    long[] counts;
    long count;
    long samples;
    long sum;
    long max;

    void record(long v) {
        record(v, 1);
    }

    /** Records {@code v} for {@code items} items (one measured, the others sampled around it). */
    void record(long v, int items) {
        if (v < 0) {
            v = 0;
        }
        long[] c = counts;
        if (c == null) {
            c = counts = new long[BUCKETS];
        }
        c[index(v)] += items;
        count += items;
        samples++;
        sum += v * items;
        if (v > max) {
            max = v;
        }
    }

    static int index(long v) {
        if (v < 8) {
            return (int) v;
        }
        int msb = 63 - Long.numberOfLeadingZeros(v);
        int sub = (int) (v >>> (msb - 2)) & 3;
        return (msb - 1) * 4 + sub;
    }

    /** The largest value that falls into bucket {@code i}. */
    static long upperBound(int i) {
        if (i < 8) {
            return i;
        }
        int msb = i / 4 + 1;
        int sub = i % 4;
        long lower = (4L + sub) << (msb - 2);
        return lower + (1L << (msb - 2)) - 1;
    }

    /** Adds {@code other} into this one (for snapshots). */
    void add(Histogram other) {
        long[] o = other.counts;
        if (o != null) {
            if (counts == null) {
                counts = new long[BUCKETS];
            }
            for (int i = 0; i < BUCKETS; i++) {
                counts[i] += o[i];
            }
        }
        count += other.count;
        samples += other.samples;
        sum += other.sum;
        max = Math.max(max, other.max);
    }

    LatencySnapshot snapshot() {
        return new LatencySnapshot(count, sum, max, percentile(0.50), percentile(0.90), percentile(0.99));
    }

    private long percentile(double p) {
        if (count == 0) {
            return 0; // (counts may be null only then)
        }
        long rank = (long) Math.ceil(p * count);
        long seen = 0;
        for (int i = 0; i < BUCKETS; i++) {
            seen += counts[i];
            if (seen >= rank) {
                return Math.min(upperBound(i), max);
            }
        }
        return max;
    }
}
