package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.slf4j.LoggerFactory;

/**
 * {@link Workqueue#stats()}: the columns of the kernel's {@code wq_monitor.py} (total, CPUtime,
 * infl) plus completed, failed, active/inactive/pending and the queue-to-start latency and run
 * time histograms; and the {@link Histogram} behind the latter.
 */
@Timeout(60)
class StatsTest {
    private static final ThreadMXBean MX = ManagementFactory.getThreadMXBean();
    private static final long MS = 1_000_000L;

    private static volatile long sink;

    /** Burns {@code nanos} of the calling thread's CPU time. */
    private static void burn(long nanos) {
        long end = MX.getCurrentThreadCpuTime() + nanos;
        while (MX.getCurrentThreadCpuTime() < end) {
            long x = sink;
            for (int i = 0; i < 2_000; i++) {
                x = x * 6364136223846793005L + 1442695040888963407L;
            }
            sink = x;
        }
    }

    /** Sleeps at least {@code nanos} by System.nanoTime (inside work items only). */
    private static void sleepAtLeast(long nanos) {
        long end = System.nanoTime() + nanos;
        long left;
        while ((left = end - System.nanoTime()) > 0) {
            try {
                TimeUnit.NANOSECONDS.sleep(left);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private static void hookAwait(CountDownLatch l) {
        try {
            Workqueues.blocking(() -> {
                if (!l.await(30, SECONDS)) {
                    throw new IllegalStateException("never released");
                }
            });
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    // ---- counts and CPU time ----------------------------------------------------------------

    @Test
    void startedCompletedFailedAndCpuTime() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(1).name("stats").build()) {
            Workqueue wq = e.alloc("counted", 0);
            WorkqueueStats empty = wq.stats();
            assertThat(empty.started()).isZero();
            assertThat(empty.cpuTimeNanos()).isZero();
            assertThat(empty.queueLatency()).isEqualTo(LatencySnapshot.EMPTY);
            assertThat(empty.runTime()).isEqualTo(LatencySnapshot.EMPTY);

            for (int i = 0; i < 5; i++) {
                wq.queueOn(0, new Work("burn-" + i, () -> burn(20 * MS)));
            }
            ch.qos.logback.classic.Logger workerLog = (ch.qos.logback.classic.Logger) LoggerFactory.getLogger(Worker.class);
            ListAppender<ILoggingEvent> failures = new ListAppender<>();
            failures.start();
            workerLog.addAppender(failures);
            workerLog.setAdditive(false); // the expected failures stay out of the build log
            try {
                for (int i = 0; i < 3; i++) {
                    wq.queueOn(0, new Work("fail-" + i, () -> {
                        throw new IllegalStateException("expected failure (test)");
                    }));
                }
                await().until(() -> wq.stats().completed() + wq.stats().failed() == 8);
            } finally {
                workerLog.setAdditive(true);
                workerLog.detachAppender(failures);
            }
            synchronized (failures) {
                assertThat(failures.list).hasSize(3);
            }
            WorkqueueStats s = wq.stats();
            assertThat(s.started()).isEqualTo(8);
            assertThat(s.completed()).isEqualTo(5);
            assertThat(s.failed()).isEqualTo(3);
            assertThat(s.cpuTimeNanos()).as("CPUtime of 5 x 20 ms of CPU").isGreaterThanOrEqualTo(100 * MS);
            assertThat(s.inFlight()).isZero();
            assertThat(s.pending()).isZero();
            assertThat(s.queueLatency().count()).isEqualTo(8);
            assertThat(s.runTime().count()).isEqualTo(8);
        }
    }

    @Test
    void cpuAccountingOffReportsNoCpuTime() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(1).name("nocpu").cpuAccounting(false).build()) {
            Workqueue wq = e.alloc("uncounted", 0);
            CountDownLatch done = new CountDownLatch(3);
            for (int i = 0; i < 3; i++) {
                wq.queueOn(0, new Work("burn-" + i, () -> {
                    burn(20 * MS);
                    done.countDown();
                }));
            }
            await(done);
            await().until(() -> wq.stats().completed() == 3);
            assertThat(wq.stats().cpuTimeNanos()).isZero();
            assertThat(wq.stats().started()).isEqualTo(3);
        }
    }

    // ---- latency and run time ---------------------------------------------------------------

    /**
     * On an ordered queue, five items wait behind a blocker that runs for at least 100 ms after
     * they were queued: each of them waited at least 100 ms from queueing to start. Each sleeps
     * 30 ms, so at least 4 of the 6 run times are 30 ms or more.
     */
    @Test
    void queueLatencyAndRunTime() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(1).name("latency").build()) {
            Workqueue wq = e.allocOrdered("ordered-latency");
            CountDownLatch blockerStarted = new CountDownLatch(1);
            CountDownLatch queued = new CountDownLatch(1);
            wq.queue(new Work("blocker", () -> {
                blockerStarted.countDown();
                try {
                    queued.await(30, SECONDS);
                } catch (InterruptedException ex) {
                    Thread.currentThread().interrupt();
                }
                sleepAtLeast(100 * MS);
            }));
            await(blockerStarted);
            for (int i = 0; i < 5; i++) {
                wq.queue(new Work("behind-" + i, () -> sleepAtLeast(30 * MS)));
            }
            queued.countDown();
            await().until(() -> wq.stats().completed() == 6);
            WorkqueueStats s = wq.stats();
            LatencySnapshot lat = s.queueLatency();
            assertThat(lat.count()).isEqualTo(s.started()).isEqualTo(6);
            assertThat(lat.p50Nanos()).as("queue-to-start p50").isGreaterThanOrEqualTo(100 * MS);
            assertThat(lat.maxNanos()).isGreaterThanOrEqualTo(100 * MS);
            assertOrdered(lat);

            LatencySnapshot run = s.runTime();
            assertThat(run.count()).isEqualTo(6);
            assertThat(run.p50Nanos()).as("run time p50").isGreaterThanOrEqualTo(30 * MS);
            assertThat(run.maxNanos()).as("the blocker's run").isGreaterThanOrEqualTo(100 * MS);
            assertThat(run.totalNanos()).isGreaterThanOrEqualTo(100 * MS + 5 * 30 * MS);
            assertThat(run.meanNanos()).isGreaterThanOrEqualTo(30 * MS);
            assertOrdered(run);
        }
    }

    private static void assertOrdered(LatencySnapshot l) {
        assertThat(l.p50Nanos()).isLessThanOrEqualTo(l.p90Nanos());
        assertThat(l.p90Nanos()).isLessThanOrEqualTo(l.p99Nanos());
        assertThat(l.p99Nanos()).isLessThanOrEqualTo(l.maxNanos());
        assertThat(l.meanNanos()).isLessThanOrEqualTo(l.maxNanos());
        assertThat(l.meanNanos()).isEqualTo(l.totalNanos() / l.count());
    }

    // ---- sampled timing ---------------------------------------------------------------------

    /**
     * Queues no-op items on CPU 0 one at a time (each alone in flight, so each is timed) until the
     * pool workqueue's last timed run is short: items queued behind others are then sampled.
     */
    static PoolWorkqueue warmUntilShort(Workqueue wq) {
        PoolWorkqueue pwq = wq.cpuPwqs[0];
        for (int i = 0; i < 100_000; i++) {
            wq.queueOn(0, new Work("warm-" + i, () -> { }));
            wq.flush();
            pwq.pool.lock.lock();
            try {
                if (pwq.lastRunNanos < PoolWorkqueue.SHORT_RUN_NANOS) {
                    return pwq;
                }
            } finally {
                pwq.pool.lock.unlock();
            }
        }
        throw new AssertionError("a no-op item never ran under " + PoolWorkqueue.SHORT_RUN_NANOS + " ns");
    }

    /** Queues an item on CPU 0 that blocks (without the hook) until the returned latch is released. */
    private static CountDownLatch blockCpu0(Workqueue wq) {
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch blocked = new CountDownLatch(1);
        wq.queueOn(0, new Work("blocker", () -> {
            blocked.countDown();
            plainWait(release);
        }));
        await(blocked);
        return release;
    }

    /** {@code [queue-latency samples, run-time samples]} of {@code pwq}, under its pool lock. */
    static long[] samples(PoolWorkqueue pwq) {
        pwq.pool.lock.lock();
        try {
            return new long[] {pwq.queueLatency.samples, pwq.runTime.samples};
        } finally {
            pwq.pool.lock.unlock();
        }
    }

    /**
     * A backlog of short items: queued behind a blocked one, 160 no-op items are timed one in 16,
     * and each timed one counts for 16, so the histograms still count every item (and the worker
     * read the clock for 10 of them, not 160).
     */
    @Test
    void aBacklogOfShortItemsIsTimedOneInSixteenAndEachTimedOneCountsForSixteen() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(1).name("sampled").monitorInterval(Duration.ZERO).build()) {
            Workqueue wq = e.alloc("sampled", 0);
            PoolWorkqueue pwq = warmUntilShort(wq);
            long warm = wq.stats().started();
            assertThat(samples(pwq)).as("the warm-up items, one at a time, are all timed").containsExactly(warm, warm);

            CountDownLatch release = blockCpu0(wq);
            int backlog = 10 * PoolWorkqueue.TIMING_SAMPLE;
            for (int i = 0; i < backlog; i++) {
                wq.queueOn(0, new Work("short-" + i, () -> { }));
            }
            release.countDown();
            await().until(() -> wq.stats().completed() == warm + 1 + backlog);

            WorkqueueStats s = wq.stats();
            assertThat(s.queueLatency().count()).as("every item counted").isEqualTo(s.started()).isEqualTo(warm + 1 + backlog);
            assertThat(s.runTime().count()).isEqualTo(warm + 1 + backlog);
            assertThat(samples(pwq)).as("timed: the warm-up, the blocker and one in 16 of the backlog")
                    .containsExactly(warm + 1 + 10, warm + 1 + 10);
            assertThat(s.runTime().totalNanos()).as("the blocker's run is in the total").isPositive();
        }
    }

    /**
     * Items that take time are timed one by one even behind others: after an item that ran 2 ms,
     * 40 items queued behind a blocked one are all timed, each counting once.
     */
    @Test
    void itemsBehindOthersAreTimedOneByOneWhenTheirQueueRunsLongItems() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(1).name("timed").monitorInterval(Duration.ZERO).build()) {
            Workqueue wq = e.alloc("timed", 0);
            PoolWorkqueue pwq = warmUntilShort(wq);
            wq.queueOn(0, new Work("long", () -> sleepAtLeast(2 * MS)));
            wq.flush();
            long before = wq.stats().started();

            CountDownLatch release = blockCpu0(wq);
            for (int i = 0; i < 40; i++) {
                wq.queueOn(0, new Work("behind-" + i, () -> { }));
            }
            release.countDown();
            await().until(() -> wq.stats().completed() == before + 41);

            WorkqueueStats s = wq.stats();
            assertThat(s.queueLatency().count()).isEqualTo(before + 41);
            assertThat(samples(pwq)).as("every item timed").containsExactly(before + 41, before + 41);
        }
    }

    // ---- in flight, active, inactive, pending -----------------------------------------------

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void inFlightActiveInactivePendingAreConsistent(boolean unbound) throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(1).name("infl").monitorInterval(Duration.ZERO).build()) {
            Workqueue wq = unbound ? e.alloc("infl", 2, WqFlag.UNBOUND) : e.alloc("infl", 2);
            CountDownLatch release = new CountDownLatch(1);
            CountDownLatch twoRunning = new CountDownLatch(2);
            for (int i = 0; i < 5; i++) {
                wq.queueOn(0, new Work("blocked-" + i, () -> {
                    twoRunning.countDown();
                    hookAwait(release); // sleeping in the hook: the pool may start the next active item
                }));
            }
            await(twoRunning);
            WorkqueueStats s = wq.stats();
            assertThat(s.inFlight()).as("infl").isEqualTo(5);
            assertThat(s.active()).as("active").isEqualTo(2);
            assertThat(s.inactive()).as("inactive").isEqualTo(3);
            assertThat(s.pending()).as("pending (in flight, not running)").isEqualTo(3);
            assertThat(s.started()).isEqualTo(2);
            assertThat(s.queueLatency().count()).isEqualTo(2);
            release.countDown();
            await().until(() -> wq.stats().completed() == 5);
            s = wq.stats();
            assertThat(s.inFlight()).isZero();
            assertThat(s.active()).isZero();
            assertThat(s.inactive()).isZero();
            assertThat(s.pending()).isZero();
            assertThat(s.started()).isEqualTo(5);
        }
    }

    // ---- Histogram --------------------------------------------------------------------------

    /** Values around every power of two, and a few random ones. */
    private static long[] probeValues() {
        List<Long> vs = new ArrayList<>();
        for (long v = 0; v < 64; v++) {
            vs.add(v);
        }
        for (int b = 2; b < 63; b++) {
            long p = 1L << b;
            for (long d = -2; d <= 2; d++) {
                vs.add(p + d);
            }
            vs.add(p + p / 4);
            vs.add(p + p / 2);
            vs.add(p + 3 * (p / 4));
        }
        vs.add(Long.MAX_VALUE);
        vs.add(Long.MAX_VALUE - 1);
        Random r = new Random(42);
        for (int i = 0; i < 10_000; i++) {
            vs.add(r.nextLong() >>> r.nextInt(64));
        }
        return vs.stream().mapToLong(Long::longValue).filter(v -> v >= 0).sorted().distinct().toArray();
    }

    @Test
    void histogramBucketsCoverTheLongRangeMonotonically() {
        // the buckets tile 0..Long.MAX_VALUE: each begins right after the previous one ends
        assertThat(Histogram.upperBound(0)).isZero();
        for (int i = 1; i < Histogram.BUCKETS; i++) {
            assertThat(Histogram.upperBound(i)).as("upperBound(%d)", i).isGreaterThan(Histogram.upperBound(i - 1));
            long first = Histogram.upperBound(i - 1) + 1;
            assertThat(Histogram.index(first)).as("index of the first value of bucket %d", i).isEqualTo(i);
            assertThat(Histogram.index(Histogram.upperBound(i))).as("index(upperBound(%d))", i).isEqualTo(i);
        }
        assertThat(Histogram.upperBound(Histogram.BUCKETS - 1)).isEqualTo(Long.MAX_VALUE);
        assertThat(Histogram.index(Long.MAX_VALUE)).isEqualTo(Histogram.BUCKETS - 1);

        long[] vs = probeValues();
        int prev = -1;
        for (long v : vs) {
            int i = Histogram.index(v);
            assertThat(i).as("index(%d)", v).isBetween(0, Histogram.BUCKETS - 1).isGreaterThanOrEqualTo(prev);
            prev = i;
            long ub = Histogram.upperBound(i);
            assertThat(ub).as("upperBound(index(%d))", v).isGreaterThanOrEqualTo(v);
            if (v >= 8) {
                // ub <= 1.25 v + 1, in integers (no overflow near Long.MAX_VALUE)
                assertThat(ub - v).as("bucket error at %d", v).isLessThanOrEqualTo((v >> 2) + 1);
            } else {
                assertThat(ub).as("exact below 8").isEqualTo(v);
            }
        }
    }

    @Test
    void histogramPercentilesOf1To1000() {
        Histogram h = new Histogram();
        for (long v = 1; v <= 1000; v++) {
            h.record(v);
        }
        LatencySnapshot s = h.snapshot();
        assertThat(s.count()).isEqualTo(1000);
        assertThat(s.totalNanos()).isEqualTo(500_500);
        assertThat(s.maxNanos()).isEqualTo(1000);
        assertThat(s.meanNanos()).isEqualTo(500);
        assertWithin(s.p50Nanos(), 500, 1000);
        assertWithin(s.p90Nanos(), 900, 1000);
        assertWithin(s.p99Nanos(), 990, 1000);
    }

    @Test
    void histogramAllocatesItsBucketsWithTheFirstValueAndSumsAcrossEmptyOnes() {
        Histogram empty = new Histogram();
        assertThat(empty.counts).as("no buckets before a value").isNull();
        assertThat(empty.snapshot()).isEqualTo(LatencySnapshot.EMPTY);

        Histogram h = new Histogram();
        for (long v = 1; v <= 1000; v++) {
            h.record(v);
        }
        assertThat(h.counts).hasSize(Histogram.BUCKETS);

        // a snapshot's sum: empty pool workqueues (most CPUs of a bound queue) before and after one with values
        Histogram sum = new Histogram();
        sum.add(empty);
        assertThat(sum.counts).as("adding an empty histogram allocates nothing").isNull();
        sum.add(h);
        sum.add(new Histogram());
        assertThat(sum.snapshot()).isEqualTo(h.snapshot());
        sum.add(h);
        LatencySnapshot twice = sum.snapshot();
        assertThat(twice.count()).isEqualTo(2000);
        assertThat(twice.p50Nanos()).isEqualTo(h.snapshot().p50Nanos());
        assertThat(twice.p99Nanos()).isEqualTo(h.snapshot().p99Nanos());
    }

    private static void assertWithin(long reported, long truth, long max) {
        assertThat(reported).as("percentile of true value %d", truth).isGreaterThanOrEqualTo(truth)
                .isLessThanOrEqualTo(Math.min(max, truth + truth / 4 + 1));
    }

    @Test
    void histogramPercentilesOfRandomDistributionsAreAtMost25PercentHighAndNeverAboveMax() {
        Random r = new Random(7);
        for (int round = 0; round < 200; round++) {
            int n = 1 + r.nextInt(round < 100 ? 50 : 5_000);
            long[] vs = new long[n];
            Histogram h = new Histogram();
            for (int i = 0; i < n; i++) {
                // log-uniform from 1 ns to ~1 h, with occasional zeros and negatives (taken as 0)
                long v = r.nextInt(20) == 0 ? -r.nextInt(1000) : (long) Math.exp(r.nextDouble() * Math.log(3.6e12));
                h.record(v);
                vs[i] = Math.max(0, v);
            }
            Arrays.sort(vs);
            LatencySnapshot s = h.snapshot();
            long max = vs[n - 1];
            assertThat(s.maxNanos()).isEqualTo(max);
            assertThat(s.count()).isEqualTo(n);
            assertThat(s.totalNanos()).isEqualTo(Arrays.stream(vs).sum());
            assertWithin(s.p50Nanos(), truePercentile(vs, 0.50), max);
            assertWithin(s.p90Nanos(), truePercentile(vs, 0.90), max);
            assertWithin(s.p99Nanos(), truePercentile(vs, 0.99), max);
        }
    }

    /** The value at rank ceil(p * n) (nearest-rank definition). */
    private static long truePercentile(long[] sorted, double p) {
        int num = (int) Math.round(p * 100);
        int rank = (int) ((sorted.length * (long) num + 99) / 100);
        return sorted[Math.max(1, rank) - 1];
    }

    @Test
    void histogramAddMergesAndEmptyIsZero() {
        assertThat(new Histogram().snapshot()).isEqualTo(LatencySnapshot.EMPTY);
        Histogram a = new Histogram();
        Histogram b = new Histogram();
        for (long v = 1; v <= 500; v++) {
            a.record(v);
        }
        for (long v = 501; v <= 1000; v++) {
            b.record(v);
        }
        Histogram sum = new Histogram();
        sum.add(a);
        sum.add(b);
        Histogram all = new Histogram();
        for (long v = 1; v <= 1000; v++) {
            all.record(v);
        }
        assertThat(sum.snapshot()).isEqualTo(all.snapshot());
    }
}
