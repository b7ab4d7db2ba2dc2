package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The workqueue watchdog ({@code wq_watchdog_timer_fn}): a pool with pending items and no start
 * for longer than the threshold is reported once per stall in the kernel's words, with a dump of
 * its busy workers, their items and Java stacks, and its pending items; listeners get each stall
 * and recovery. Plus {@code show_all_workqueues()} on demand. The sampling monitor is off, so a
 * worker blocked without the hook keeps its pool stalled.
 */
@Timeout(60)
class WatchdogTest {
    private static final Duration LONG = Duration.ofSeconds(30);
    private static final Duration THRESHOLD = Duration.ofMillis(500);
    private static final String FIRST_LINE_START = "BUG: workqueue lockup - pool ";

    /** Blocks without the hook; named so that the dumped stack can be recognised. */
    static void holdUntilReleased(CountDownLatch l) {
        try {
            if (!l.await(60, SECONDS)) {
                throw new IllegalStateException("never released");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    static final class Recorder implements WatchdogListener {
        final List<PoolStall> stalls = new CopyOnWriteArrayList<>();
        final List<PoolStall> recoveries = new CopyOnWriteArrayList<>();

        @Override
        public void stalled(PoolStall stall) {
            stalls.add(stall);
        }

        @Override
        public void recovered(PoolStall stall) {
            recoveries.add(stall);
        }
    }

    private static Workqueues.Builder builder(String name) {
        return Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).watchdogThreshold(THRESHOLD).name(name);
    }

    private static List<Thread> liveThreadsNamed(String name) {
        List<Thread> out = new ArrayList<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.isAlive() && t.getName().equals(name)) {
                out.add(t);
            }
        }
        return out;
    }

    private static String firstLine(String s) {
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    // ---- stalls -----------------------------------------------------------------------------------

    @Test
    void aStalledBoundPoolIsReportedOnceWithItsDumpAndItsRecovery() {
        try (WorkerLifecycleTest.LogCapture log = new WorkerLifecycleTest.LogCapture(Watchdog.class, null);
             Workqueues e = builder("wd-stall").build()) {
            assertThat(e.watchdogThreshold()).isEqualTo(THRESHOLD);
            Recorder rec = new Recorder();
            AtomicBoolean throwingCalled = new AtomicBoolean();
            e.addWatchdogListener(s -> { // a failing listener does not keep the others from hearing
                throwingCalled.set(true);
                throw new IllegalStateException("listener bug");
            });
            e.addWatchdogListener(rec);
            Workqueue q = e.alloc("stallq", Set.of(), 0);

            CountDownLatch aIn = new CountDownLatch(1);
            CountDownLatch releaseA = new CountDownLatch(1);
            q.queue(new Work("stuck-item-A", () -> {
                aIn.countDown();
                holdUntilReleased(releaseA);
            }));
            awaitLatch(aIn);
            CountDownLatch bRan = new CountDownLatch(1);
            long bQueued = System.nanoTime();
            q.queue(new Work("pending-item-B", bRan::countDown));

            await().until(() -> !rec.stalls.isEmpty());
            long detected = System.nanoTime();
            assertThat(detected - bQueued).as("not reported before the threshold").isGreaterThanOrEqualTo(THRESHOLD.toNanos());
            assertThat(bRan.getCount()).isEqualTo(1);
            assertThat(throwingCalled).isTrue();

            PoolStall stall = rec.stalls.get(0);
            int poolId = e.pools().stream().filter(p -> p.kind().equals("cpu") && p.cpu() == 0).findFirst().orElseThrow().id();
            assertThat(stall.poolId()).isEqualTo(poolId);
            assertThat(stall.pool()).isEqualTo("cpus=0 flags=0x0 nice=0");
            assertThat(stall.pending()).isEqualTo(1);
            assertThat(stall.stuckFor()).isGreaterThan(THRESHOLD);

            String report = stall.report();
            assertThat(firstLine(report)).startsWith(FIRST_LINE_START + "cpus=0 flags=0x0 nice=0 stuck for ")
                    .endsWith("s!")
                    .matches("BUG: workqueue lockup - pool cpus=0 flags=0x0 nice=0 stuck for \\d+s!");
            String dump = report.substring(report.indexOf('\n') + 1);
            assertThat(dump).contains("stuck-item-A (stallq)")
                    .contains("in-flight: kworker/0:")
                    .contains("holdUntilReleased")
                    .contains("CountDownLatch.await")
                    .contains("pending: pending-item-B (stallq)");
            // the pending item is listed as pending, not as in flight
            assertThat(dump).doesNotContain("in-flight: kworker/0:0-stallq: pending-item-B")
                    .doesNotContain("in-flight: kworker/0:1-stallq: pending-item-B");

            List<String> errors = log.messages(Level.ERROR);
            assertThat(errors).hasSize(1);
            assertThat(errors.get(0)).isEqualTo(report);
            assertThat(log.events().stream().filter(ev -> ev.getLevel() == Level.ERROR).findFirst().orElseThrow().getLoggerName())
                    .isEqualTo("dev.cmwq.workqueue.Watchdog");
            assertThat(e.stalledPools()).containsExactly(poolId);

            // no repeats while the stall lasts, though the watchdog keeps checking
            long checks = e.watchdog.checks;
            Awaitility.await().during(Duration.ofMillis(1500)).atMost(LONG).pollInterval(Duration.ofMillis(20))
                    .until(() -> rec.stalls.size() == 1 && log.messages(Level.ERROR).size() == 1
                            && e.stalledPools().equals(List.of(poolId)) && rec.recoveries.isEmpty());
            assertThat(e.watchdog.checks - checks).as("watchdog checks while stalled").isGreaterThanOrEqualTo(3);

            releaseA.countDown();
            awaitLatch(bRan);
            await().until(() -> rec.recoveries.size() == 1);
            PoolStall recovery = rec.recoveries.get(0);
            assertThat(recovery.poolId()).isEqualTo(poolId);
            assertThat(recovery.pool()).isEqualTo("cpus=0 flags=0x0 nice=0");
            assertThat(recovery.stuckFor()).isGreaterThanOrEqualTo(THRESHOLD);
            assertThat(e.stalledPools()).isEmpty();
            assertThat(log.messages(Level.WARN)).anyMatch(m -> m.startsWith("workqueue: pool cpus=0 flags=0x0 nice=0 recovered after "));
            Awaitility.await().during(Duration.ofMillis(700)).atMost(LONG).pollInterval(Duration.ofMillis(20))
                    .until(() -> rec.stalls.size() == 1 && rec.recoveries.size() == 1);

            // a new stall is a new report
            CountDownLatch a2In = new CountDownLatch(1);
            CountDownLatch releaseA2 = new CountDownLatch(1);
            q.queue(new Work("stuck-item-A2", () -> {
                a2In.countDown();
                holdUntilReleased(releaseA2);
            }));
            awaitLatch(a2In);
            CountDownLatch cRan = new CountDownLatch(1);
            q.queue(new Work("pending-item-C", cRan::countDown));
            await().until(() -> rec.stalls.size() == 2);
            assertThat(rec.stalls.get(1).report()).contains("stuck-item-A2 (stallq)").contains("pending: pending-item-C (stallq)");
            releaseA2.countDown();
            awaitLatch(cRan);
            await().until(() -> rec.recoveries.size() == 2 && e.stalledPools().isEmpty());
            assertThat(log.messages(Level.ERROR)).hasSize(2);
        }
    }

    @Test
    void aStalledUnboundPoolPrintsFlags0x4AndItsCpuList() {
        AtomicBoolean failing = new AtomicBoolean();
        WorkerThreadFactory platform = WorkerThreadFactory.platform(true);
        WorkerThreadFactory factory = (name, body) -> {
            if (failing.get()) {
                throw new OutOfMemoryError("unable to create native thread: possibly out of memory or process/resource limits reached");
            }
            return platform.newThread(name, body);
        };
        try (WorkerLifecycleTest.LogCapture log = new WorkerLifecycleTest.LogCapture(Watchdog.class, null);
             Workqueues e = builder("wd-unbound").cpus(4).threadFactory(factory).build()) {
            Recorder rec = new Recorder();
            e.addWatchdogListener(rec);
            Workqueue uq = e.alloc("uq", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(0, CpuMask.of(0, 2, 3)));
            // the pool's only worker needs a reserve before it starts anything: with creation failing, nothing starts
            failing.set(true);
            CountDownLatch ran = new CountDownLatch(1);
            uq.queue(new Work("unbound-waiter", ran::countDown));

            await().until(() -> !rec.stalls.isEmpty());
            PoolStall stall = rec.stalls.get(0);
            PoolStats pool = e.pools().stream().filter(p -> p.id() == stall.poolId()).findFirst().orElseThrow();
            assertThat(pool.kind()).isEqualTo("unbound");
            assertThat(pool.cpumask().toList()).isEqualTo("0,2-3");
            assertThat(stall.pool()).isEqualTo("cpus=0,2-3 flags=0x4 nice=0");
            assertThat(firstLine(stall.report()))
                    .matches("BUG: workqueue lockup - pool cpus=0,2-3 flags=0x4 nice=0 stuck for \\d+s!");
            assertThat(stall.report()).contains("pending: unbound-waiter (uq)");
            assertThat(log.messages(Level.ERROR)).hasSize(1);
            assertThat(e.stalledPools()).containsExactly(stall.poolId());
            assertThat(ran.getCount()).isEqualTo(1);

            failing.set(false);
            awaitLatch(ran);
            await().until(() -> rec.recoveries.size() == 1 && e.stalledPools().isEmpty());
            assertThat(rec.recoveries.get(0).pool()).isEqualTo("cpus=0,2-3 flags=0x4 nice=0");
            assertThat(rec.stalls).hasSize(1);
        }
    }

    @Test
    void idlePoolsAndBusyPoolsThatKeepStartingItemsAreNeverReported() {
        try (WorkerLifecycleTest.LogCapture log = new WorkerLifecycleTest.LogCapture(Watchdog.class, null);
             Workqueues e = builder("wd-busy").build()) {
            Recorder rec = new Recorder();
            e.addWatchdogListener(rec);

            // idle: a few watchdog periods with nothing to do
            long checks0 = e.watchdog.checks;
            await().until(() -> e.watchdog.checks - checks0 >= 6);
            assertThat(rec.stalls).isEmpty();

            // busy: a stream of 15 ms items, one after the other, for more than 2 s; always some pending
            int n = 150;
            Workqueue q = e.alloc("streamq", Set.of(), 0);
            CountDownLatch done = new CountDownLatch(n);
            for (int i = 0; i < n; i++) {
                q.queue(new Work("short-" + i, () -> {
                    LockSupport.parkNanos(15_000_000L);
                    done.countDown();
                }));
            }
            assertThat(q.stats().pending()).isGreaterThan(n / 2);
            long start = System.nanoTime();
            long checks1 = e.watchdog.checks;
            await().pollInterval(Duration.ofMillis(20)).until(() -> {
                assertThat(e.stalledPools()).isEmpty();
                return done.getCount() == 0;
            });
            assertThat(System.nanoTime() - start).isGreaterThanOrEqualTo(Duration.ofMillis(1500).toNanos());
            assertThat(e.watchdog.checks - checks1).as("watchdog checks while busy").isGreaterThanOrEqualTo(8);
            assertThat(rec.stalls).isEmpty();
            assertThat(rec.recoveries).isEmpty();
            assertThat(log.messages(Level.ERROR)).isEmpty();
            // the latch counts down inside the items; the last completion is counted just after
            await().until(() -> q.stats().completed() == n);
        }
    }

    /**
     * Items queued behind others on a queue whose last item ran short are timed one in 16 (see
     * {@link PoolWorkqueue}); the untimed ones start without a clock read, so they cannot touch the
     * pool's timestamp. Here 15 untimed items of 60 ms each run back to back (900 ms, above the
     * 500 ms threshold): the watchdog still sees them start and reports nothing.
     */
    @Test
    void untimedItemsThatKeepStartingAreProgressToo() {
        try (Workqueues e = builder("wd-untimed").build()) {
            Recorder rec = new Recorder();
            e.addWatchdogListener(rec);
            Workqueue q = e.alloc("untimedq", Set.of(), 0);
            PoolWorkqueue pwq = StatsTest.warmUntilShort(q);
            long warm = q.stats().started();

            int n = 2 * PoolWorkqueue.TIMING_SAMPLE + 1; // timed: the first, the 17th and the 33rd
            CountDownLatch done = new CountDownLatch(n);
            for (int i = 0; i < n; i++) {
                q.queueOn(0, new Work("untimed-" + i, () -> {
                    LockSupport.parkNanos(60_000_000L);
                    done.countDown();
                }));
            }
            long checks = e.watchdog.checks;
            await().pollInterval(Duration.ofMillis(20)).until(() -> {
                assertThat(e.stalledPools()).isEmpty();
                return done.getCount() == 0;
            });
            await().until(() -> q.stats().completed() == warm + n);
            assertThat(e.watchdog.checks - checks).as("watchdog checks while busy").isGreaterThanOrEqualTo(8);
            assertThat(StatsTest.samples(pwq)).as("timed: the warm-up and 3 of the %d", n).containsExactly(warm + 3, warm + 3);
            assertThat(q.stats().queueLatency().count()).isEqualTo(warm + n);
            assertThat(rec.stalls).isEmpty();
        }
    }

    // ---- dump on demand -------------------------------------------------------------------------

    @Test
    void dumpShowsBusyWorkqueuesAndPoolsWithItemsAndStacks() {
        try (Workqueues e = Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).name("wd-dump").build()) {
            Workqueue q = e.alloc("dumpq", Set.of(), 2);
            String idle = e.dump();
            assertThat(idle).startsWith("Showing busy workqueues and worker pools:").doesNotContain("workqueue ").doesNotContain("pool ");

            CountDownLatch aIn = new CountDownLatch(1);
            CountDownLatch releaseA = new CountDownLatch(1);
            java.util.concurrent.atomic.AtomicReference<Thread> aThread = new java.util.concurrent.atomic.AtomicReference<>();
            q.queue(new Work("dump-A", () -> {
                aThread.set(Thread.currentThread());
                aIn.countDown();
                holdUntilReleased(releaseA);
            }));
            awaitLatch(aIn);
            // A counted down but may not be inside holdUntilReleased yet: its stack is asserted below
            await().until(() -> aThread.get().getState() == Thread.State.TIMED_WAITING);
            CountDownLatch rest = new CountDownLatch(3);
            for (String name : List.of("dump-B", "dump-C", "dump-D")) {
                q.queue(new Work(name, rest::countDown));
            }
            try {
                String dump = e.dump();
                assertThat(dump).startsWith("Showing busy workqueues and worker pools:\n")
                        .contains("workqueue dumpq")
                        .contains("pwq 0: cpus=0 flags=0x0 nice=0 active=2/2 inactive=2 in-flight=4")
                        .contains("pool 0: cpus=0 flags=0x0 nice=0 hung=")
                        .contains("in-flight: kworker/0:")
                        .contains(": dump-A (dumpq)")
                        .contains("stack of kworker/0:")
                        .contains("holdUntilReleased")
                        .contains("CountDownLatch.await")
                        .contains("pending: dump-B (dumpq)")
                        .doesNotContain("workqueue events_unbound")
                        .doesNotContain("workqueue events:");
                // C and D wait beyond max_active: counted as inactive, not listed as pending on the pool
                assertThat(dump).doesNotContain("dump-C (dumpq)");
                assertThat(dump.indexOf("workqueue dumpq")).isLessThan(dump.indexOf("pool 0:"));
            } finally {
                releaseA.countDown();
            }
            awaitLatch(rest);
            await().until(() -> q.stats().inFlight() == 0);
            await().until(() -> !e.dump().contains("pool 0:"));
            assertThat(e.dump()).doesNotContain("workqueue dumpq");
        }
    }

    // ---- switching it off -----------------------------------------------------------------------

    @Test
    void aZeroThresholdMeansNoWatchdogThread() {
        try (Workqueues on = Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).name("wd-default").build()) {
            assertThat(on.watchdogThreshold()).isEqualTo(Duration.ofSeconds(30));
            assertThat(liveThreadsNamed("wd-default-watchdog")).hasSize(1);
        }
        await().until(() -> liveThreadsNamed("wd-default-watchdog").isEmpty());

        try (Workqueues off = Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).name("wd-off")
                .watchdogThreshold(Duration.ZERO).build()) {
            assertThat(off.watchdogThreshold()).isEqualTo(Duration.ZERO);
            assertThat(liveThreadsNamed("wd-off-watchdog")).isEmpty();
            assertThat(Thread.getAllStackTraces().keySet()).noneMatch(t -> t.getName().startsWith("wd-off") && t.getName().endsWith("watchdog"));
            probe(off);
            assertThat(off.stalledPools()).isEmpty();
            assertThat(liveThreadsNamed("wd-off-watchdog")).isEmpty();
        }
    }

    private static void probe(Workqueues e) {
        CountDownLatch ran = new CountDownLatch(1);
        e.systemWq().queue(new Work("probe", ran::countDown));
        awaitLatch(ran);
    }
}
