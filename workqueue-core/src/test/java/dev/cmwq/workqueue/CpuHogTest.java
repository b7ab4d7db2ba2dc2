package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.LoggerFactory;

/**
 * The kernel's CPU-intensive detection ({@code wq_worker_tick}, {@code cpu_intensive_thresh_us}):
 * an item of a per-CPU pool that keeps its CPU longer than the threshold without sleeping stops
 * counting toward concurrency (so the pool starts the items behind it), is counted in CPUitsv and
 * reported per function with the kernel's back-off (4, 5, 7, 11, ...).
 *
 * <p>Every amount of CPU here is measured in the burning thread's own CPU time, so a noisy machine
 * only makes the tests slower, never wrong. Items that must be flagged keep burning until they see
 * the flag (with a generous give-up), so no test depends on when the monitor gets to run.
 */
@Timeout(60)
class CpuHogTest {
    private static final ThreadMXBean MX = ManagementFactory.getThreadMXBean();
    /** A hog that is not flagged after this much of its own CPU time never will be. */
    private static final long GIVE_UP_CPU = TimeUnit.SECONDS.toNanos(2);
    private static final long GIVE_UP_WALL = TimeUnit.SECONDS.toNanos(20);

    private static volatile long sink;

    static long cpuNow() {
        return MX.getCurrentThreadCpuTime();
    }

    /** Burns {@code nanos} of the calling thread's CPU time, never sleeping. */
    static void burn(long nanos) {
        long end = cpuNow() + nanos;
        while (cpuNow() < end) {
            spin();
        }
    }

    /**
     * Burns at least {@code minNanos} of CPU time and then on until {@code done} holds, giving up
     * after {@link #GIVE_UP_CPU} of CPU or {@link #GIVE_UP_WALL} of wall time.
     *
     * @return true if {@code done} held
     */
    static boolean burnUntil(long minNanos, BooleanSupplier done) {
        long start = cpuNow();
        long wallStart = System.nanoTime();
        for (;;) {
            spin();
            long used = cpuNow() - start;
            if (used >= minNanos && done.getAsBoolean()) {
                return true;
            }
            if (used >= Math.max(minNanos, GIVE_UP_CPU) || System.nanoTime() - wallStart > GIVE_UP_WALL) {
                return done.getAsBoolean();
            }
        }
    }

    private static void spin() {
        long x = sink;
        for (int i = 0; i < 2_000; i++) {
            x = x * 6364136223846793005L + 1442695040888963407L;
        }
        sink = x;
    }

    /**
     * Called first thing in a work function: makes sure the monitor samples this execution. The
     * engine pokes the monitor when an item starts, but before the execution is visible to it (see
     * {@link #noHogIsMissedWhenItStartsAsTheMonitorParks()}); from inside the function the
     * execution is visible, so this poke cannot be lost. Tests about something else use it so as
     * not to depend on that race.
     */
    private static void sampleMe(Workqueues e) {
        e.monitor.poke();
    }

    private static Workqueues.Builder oneCpu() {
        return Workqueues.builder().cpus(1).name("hog").watchdogThreshold(Duration.ZERO);
    }

    /** Captures one logger's events until closed. */
    static final class LogCapture implements AutoCloseable {
        private final Logger logger;
        private final ListAppender<ILoggingEvent> appender = new ListAppender<>();

        LogCapture(Class<?> source) {
            logger = (Logger) LoggerFactory.getLogger(source);
            appender.start();
            logger.addAppender(appender);
        }

        List<String> messages(Level level) {
            List<ILoggingEvent> copy;
            synchronized (appender) {
                copy = new ArrayList<>(appender.list);
            }
            return copy.stream().filter(e -> e.getLevel() == level).map(ILoggingEvent::getFormattedMessage).toList();
        }

        @Override
        public void close() {
            logger.detachAppender(appender);
            appender.stop();
        }
    }

    // ---- detection lets the pool go on ------------------------------------------------------

    @Test
    void cpuHogIsDetectedAndTheItemBehindItStartsWhileItStillBurns() throws Exception {
        try (Workqueues e = oneCpu().build()) {
            Workqueue wq = e.alloc("hogq", 0);
            CountDownLatch aStarted = new CountDownLatch(1);
            CountDownLatch bStarted = new CountDownLatch(1);
            CountDownLatch aDone = new CountDownLatch(1);
            AtomicBoolean aSawB = new AtomicBoolean();
            AtomicLong aCpu = new AtomicLong();
            wq.queueOn(0, new Work("hog-A", () -> {
                aStarted.countDown();
                long c0 = cpuNow();
                // 200 ms of CPU at least, and on until B started (A never sleeps: only the hog
                // detection can let B start)
                aSawB.set(burnUntil(TimeUnit.MILLISECONDS.toNanos(200), () -> bStarted.getCount() == 0));
                aCpu.set(cpuNow() - c0);
                aDone.countDown();
            }));
            await(aStarted);
            wq.queueOn(0, new Work("B", bStarted::countDown));
            await(aDone);
            assertThat(aSawB).as("B started while the hog A was still burning CPU").isTrue();
            assertThat(aCpu.get()).isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(200));
            await().until(() -> wq.stats().completed() == 2);
            WorkqueueStats s = wq.stats();
            assertThat(s.cpuIntensive()).as("CPUitsv: A once, B never").isEqualTo(1);
            assertThat(s.cmWakeups()).as("the hog's release woke an idle worker").isGreaterThanOrEqualTo(1);
            // the monitor counts the hog per function after it flagged it (and released the pool lock)
            await().untilAsserted(() -> assertThat(e.cpuHogs()).containsExactlyEntriesOf(java.util.Map.of("hog-A", 1L)));
        }
    }

    // ---- the report, with the kernel's back-off ---------------------------------------------

    @Test
    void sameFunctionHogging11TimesIsReportedAt4_5_7_11() throws Exception {
        try (LogCapture log = new LogCapture(SleepMonitor.class); Workqueues e = oneCpu().build()) {
            Workqueue wq = e.alloc("hogq", 0);
            List<String> notFlagged = new ArrayList<>();
            for (int i = 1; i <= 11; i++) {
                CountDownLatch done = new CountDownLatch(1);
                AtomicBoolean flagged = new AtomicBoolean();
                // a fresh item each time, one function name: the report counts per function
                wq.queueOn(0, new Work("hogfn", () -> {
                    sampleMe(e);
                    long before = wq.stats().cpuIntensive();
                    flagged.set(burnUntil(TimeUnit.MILLISECONDS.toNanos(25), () -> wq.stats().cpuIntensive() > before));
                    done.countDown();
                }));
                await(done);
                if (!flagged.get()) {
                    notFlagged.add("run " + i);
                }
            }
            assertThat(notFlagged).as("hogs never flagged while they burned").isEmpty();
            await().until(() -> log.messages(Level.WARN).size() >= 4 && e.cpuHogs().getOrDefault("hogfn", 0L) == 11L);
            assertThat(e.cpuHogs()).containsExactlyEntriesOf(java.util.Map.of("hogfn", 11L));
            assertThat(wq.stats().cpuIntensive()).isEqualTo(11);
            String fmt = "workqueue: hogfn hogged CPU for >10000us %d times, consider switching to WQ_UNBOUND";
            assertThat(log.messages(Level.WARN)).containsExactly(fmt.formatted(4), fmt.formatted(5), fmt.formatted(7),
                    fmt.formatted(11));
        }
    }

    // ---- what is not a hog ------------------------------------------------------------------

    @Test
    void shortCpuItemsAreNeverFlagged() throws Exception {
        try (Workqueues e = oneCpu().build()) {
            Workqueue wq = e.alloc("shortq", 0);
            int n = 60;
            CountDownLatch done = new CountDownLatch(n);
            for (int i = 0; i < n; i++) {
                wq.queueOn(0, new Work("short", () -> {
                    burn(TimeUnit.MICROSECONDS.toNanos(1500));
                    done.countDown();
                }));
            }
            await(done);
            await().until(() -> wq.stats().completed() == n);
            assertThat(wq.stats().cpuIntensive()).isZero();
            assertThat(e.cpuHogs()).isEmpty();
            // the monitor did sample them: rounds were taken while they ran
            assertThat(e.monitor.rounds).isGreaterThan(0);
        }
    }

    /**
     * The kernel restarts an item's CPU clock at every wakeup ({@code current_at} in
     * {@code wq_worker_running}). 24 ms + a sleep + 24 ms is 48 ms of CPU, more than the 30 ms
     * threshold, but neither stretch alone reaches it.
     */
    @Test
    void burnBlockBurnIsNotAHogWhenBlockingThroughTheHook() throws Exception {
        assertBurnBlockBurnNotFlagged(true);
    }

    /** As above, with a plain Thread.sleep the monitor has to notice by itself. */
    @Test
    void burnSleepBurnIsNotAHogWithAPlainSleep() throws Exception {
        assertBurnBlockBurnNotFlagged(false);
    }

    private static void assertBurnBlockBurnNotFlagged(boolean hook) throws Exception {
        try (Workqueues e = oneCpu().cpuIntensiveThreshold(Duration.ofMillis(30)).build()) {
            Workqueue wq = e.alloc("bbq", 0);
            CountDownLatch done = new CountDownLatch(1);
            AtomicBoolean failed = new AtomicBoolean();
            AtomicBoolean sampledWhileAsleep = new AtomicBoolean();
            wq.queueOn(0, new Work("burn-block-burn", () -> {
                sampleMe(e);
                try {
                    burn(TimeUnit.MILLISECONDS.toNanos(24));
                    if (hook) {
                        Workqueues.blocking(() -> Thread.sleep(50));
                        sampledWhileAsleep.set(true); // the hook tells the pool itself
                    } else {
                        // sleep until the monitor has taken a few rounds (sampling this worker)
                        long rounds = e.monitor.rounds;
                        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
                        while (e.monitor.rounds - rounds < 5 && System.nanoTime() < deadline) {
                            Thread.sleep(20);
                        }
                        sampledWhileAsleep.set(e.monitor.rounds - rounds >= 5);
                    }
                    burn(TimeUnit.MILLISECONDS.toNanos(24));
                } catch (InterruptedException ex) {
                    failed.set(true);
                } finally {
                    done.countDown();
                }
            }));
            await(done);
            assertThat(failed).isFalse();
            assertThat(sampledWhileAsleep).as("the monitor sampled the item while it slept").isTrue();
            await().until(() -> wq.stats().completed() == 1);
            assertThat(wq.stats().cpuIntensive()).as("CPUitsv").isZero();
            assertThat(e.cpuHogs()).isEmpty();
        }
    }

    /**
     * An item that blocks once through the hook and then burns CPU without end is a hog like any
     * other: the kernel measures from the wakeup. Here nothing else is queued, so only the hog
     * detection itself can notice it; the monitor is seen parked (WAITING) while the item blocks.
     */
    @Test
    void hogAfterAHookedBlockIsStillDetected() throws Exception {
        try (Workqueues e = oneCpu().build()) {
            Workqueue wq = e.alloc("afterblock", 0);
            CountDownLatch blocked = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            CountDownLatch done = new CountDownLatch(1);
            AtomicBoolean flagged = new AtomicBoolean();
            wq.queueOn(0, new Work("late-hog", () -> {
                sampleMe(e);
                try {
                    Workqueues.blocking(() -> {
                        blocked.countDown();
                        release.await(30, SECONDS);
                    });
                } catch (InterruptedException ex) {
                    Thread.currentThread().interrupt();
                }
                flagged.set(burnUntil(TimeUnit.MILLISECONDS.toNanos(200), () -> wq.stats().cpuIntensive() >= 1));
                done.countDown();
            }));
            await(blocked);
            // the worker sleeps in the hook: nothing for the monitor to watch, it parks
            await().until(() -> e.monitor.thread().getState() == Thread.State.WAITING);
            release.countDown();
            await(done);
            assertThat(flagged).as("the item burning CPU after its wakeup was flagged as a hog").isTrue();
            // counted per function by the monitor just after the flag the item saw
            await().untilAsserted(() -> assertThat(e.cpuHogs()).containsEntry("late-hog", 1L));
        }
    }

    /**
     * Every hog is seen, however its start falls against the monitor's decision to park. Many
     * short hogs run one after the other (alternating between two queues, so each start also
     * renames the worker thread); each burns until flagged. A hog that runs while the monitor
     * stays parked without a timeout (WAITING) has been lost: nothing will wake the monitor for it.
     */
    @Test
    void noHogIsMissedWhenItStartsAsTheMonitorParks() throws Exception {
        try (Workqueues e = oneCpu().cpuIntensiveThreshold(Duration.ofMillis(2)).build()) {
            Workqueue[] qs = {e.alloc("race-a", 0), e.alloc("race-b", 0)};
            int n = 150;
            List<String> lost = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                Workqueue q = qs[i % 2];
                long expect = q.stats().cpuIntensive() + 1;
                CountDownLatch done = new CountDownLatch(1);
                AtomicBoolean monitorParkedForGood = new AtomicBoolean();
                AtomicBoolean flagged = new AtomicBoolean();
                q.queueOn(0, new Work("racer", () -> {
                    int waitingSeen = 0;
                    long c0 = cpuNow();
                    for (;;) {
                        if (q.stats().cpuIntensive() >= expect) {
                            flagged.set(true);
                            break;
                        }
                        burn(TimeUnit.MICROSECONDS.toNanos(500));
                        // 40 samples in a row over 20 ms of CPU: not a passing lock wait
                        waitingSeen = e.monitor.thread().getState() == Thread.State.WAITING ? waitingSeen + 1 : 0;
                        if (waitingSeen > 40) {
                            monitorParkedForGood.set(true);
                            break;
                        }
                        if (cpuNow() - c0 > GIVE_UP_CPU) {
                            break;
                        }
                    }
                    done.countDown();
                }));
                await(done);
                if (!flagged.get()) {
                    lost.add("hog " + i + (monitorParkedForGood.get() ? " (monitor parked without timeout)" : ""));
                }
            }
            assertThat(lost).as("hogs never flagged, of %d", n).isEmpty();
            // the last hog is counted per function by the monitor just after the flag it saw
            await().untilAsserted(() -> assertThat(e.cpuHogs()).containsExactlyEntriesOf(java.util.Map.of("racer", (long) n)));
        }
    }

    /**
     * A worker pokes the monitor only at the first item after its pool's running count rose; the
     * items after it in the same run rely on the monitor not parking for good while the pool has a
     * running worker. So a hog late in a run must be seen too. Each round, a starter item queues
     * a few no-ops and then a hog behind itself, and the worker runs them all in the starter's
     * run. A test hook holds the worker between taking the hog and starting it, with nothing
     * pending and nothing executing, until the monitor parks for good (without a timeout, and not
     * poked since) or 500 ms pass: a monitor that parked for good there would never be told of the
     * hog.
     *
     * <p>A round counts as late only if the held worker has no poke to give after the hook: when
     * the monitor took the starter's wait for the pool lock as a sleep, another worker may take
     * the hog as the first item after its count rose, and such a worker tells the monitor right
     * after the hook, so a monitor parked for good then is by the protocol, not lost.
     */
    @Test
    void aHogLateInARunOfItemsIsDetected() throws Exception {
        try (Workqueues e = oneCpu().cpuIntensiveThreshold(Duration.ofMillis(2)).build()) {
            Workqueue q = e.alloc("late-hog", 0);
            int n = 8;
            List<String> lost = new ArrayList<>();
            AtomicBoolean monitorParkedForGood = new AtomicBoolean();
            List<String> parkedWhile = new java.util.concurrent.CopyOnWriteArrayList<>();
            AtomicInteger late = new AtomicInteger();
            try {
                for (int i = 0; i < n; i++) {
                    int round = i;
                    long expect = q.stats().cpuIntensive() + 1;
                    CountDownLatch done = new CountDownLatch(1);
                    AtomicBoolean flagged = new AtomicBoolean();
                    Work hog = new Work("late-hog", () -> {
                        flagged.set(burnUntil(TimeUnit.MILLISECONDS.toNanos(4), () -> q.stats().cpuIntensive() >= expect));
                        done.countDown();
                    });
                    TestHooks.beforeExecute = (w, pokes) -> {
                        if (w != hog || pokes) {
                            return; // not the hog, or a hog its worker tells the monitor of
                        }
                        late.incrementAndGet();
                        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(500);
                        while (System.nanoTime() < deadline) { // polls the monitor's state: the window held open
                            if (parkedForGood(e.monitor)) {
                                monitorParkedForGood.set(true);
                                parkedWhile.add("round " + round + ": " + poolState(Worker.CURRENT.get()));
                                return;
                            }
                            LockSupport.parkNanos(TimeUnit.MICROSECONDS.toNanos(200));
                        }
                    };
                    q.queueOn(0, new Work("starter", () -> {
                        for (int k = 0; k < 5; k++) {
                            q.queueOn(0, new Work("no-op", () -> { }));
                        }
                        q.queueOn(0, hog);
                    }));
                    await(done);
                    if (!flagged.get()) {
                        lost.add("hog " + i + (monitorParkedForGood.get() ? " (the monitor had parked without timeout)" : ""));
                    }
                }
            } finally {
                TestHooks.beforeExecute = null;
            }
            assertThat(lost).as("hogs late in a run never flagged, of %d", n).isEmpty();
            assertThat(monitorParkedForGood).as("the monitor parked for good while a worker of its pool was running: %s", parkedWhile).isFalse();
            // the window under test was held open: most hogs came late in their worker's run
            assertThat(late.get()).as("rounds whose hog came late in its worker's run, of %d", n).isGreaterThanOrEqualTo(n / 2);
            await().untilAsserted(() -> assertThat(e.cpuHogs()).containsEntry("late-hog", (long) n));
            assertThat(e.cpuHogs()).doesNotContainKeys("starter", "no-op");
        }
    }

    /**
     * The monitor is parked without a timeout and nobody poked it since it parked: one and the same
     * park (its {@code parkSeq} unchanged) is without a timeout, still not poked ({@code parked})
     * before and after the thread reads {@code WAITING}. (The state alone is not enough: a poked
     * monitor reads {@code WAITING} until it runs, and by the next read of {@code parked} it may
     * already be in its next, timed, park.)
     */
    private static boolean parkedForGood(SleepMonitor m) {
        long seq = m.parkSeq;
        boolean forGood = m.parkForGood;
        boolean before = m.parked;
        Thread.State state = m.thread().getState();
        boolean after = m.parked;
        return forGood && before && state == Thread.State.WAITING && after && m.parkSeq == seq;
    }

    /** The held worker's pool as the monitor would see it, for a failure message (racy reads). */
    private static String poolState(Worker held) {
        WorkerPool pool = held.pool;
        StringBuilder sb = new StringBuilder("pool nrRunning=" + pool.nrRunning + " nrPending=" + pool.nrPending
                + "; held " + held.thread.getName() + " flags=" + held.flags + " sleeping=" + held.sleeping
                + " execSeq=" + held.execSeq + "; workers:");
        for (Worker w : pool.workers) {
            sb.append(' ').append(w.thread.getName()).append("[flags=").append(w.flags).append(" sleeping=")
                    .append(w.sleeping).append(" execSeq=").append(w.execSeq).append(" state=")
                    .append(w.thread.getState()).append(']');
        }
        return sb.toString();
    }

    @Test
    void cpuIntensiveAndUnboundItemsAreNeverCountedAsHogs() throws Exception {
        try (Workqueues e = oneCpu().build()) {
            Workqueue ci = e.alloc("ci", 0, WqFlag.CPU_INTENSIVE);
            Workqueue unbound = e.alloc("ub", 0, WqFlag.UNBOUND);
            Workqueue bound = e.alloc("bound", 0);
            CountDownLatch done = new CountDownLatch(4);
            AtomicBoolean ciSawOther = new AtomicBoolean();
            CountDownLatch ci2Started = new CountDownLatch(1);
            // two CPU_INTENSIVE items: the first never counts toward concurrency, so the second
            // starts while the first burns
            ci.queueOn(0, new Work("ci-1", () -> {
                ciSawOther.set(burnUntil(TimeUnit.MILLISECONDS.toNanos(100), () -> ci2Started.getCount() == 0));
                done.countDown();
            }));
            ci.queueOn(0, new Work("ci-2", () -> {
                ci2Started.countDown();
                burn(TimeUnit.MILLISECONDS.toNanos(100));
                done.countDown();
            }));
            unbound.queue(new Work("ub-1", () -> {
                burn(TimeUnit.MILLISECONDS.toNanos(100));
                done.countDown();
            }));
            // control: a bound hog in the same engine is flagged, so detection is on
            AtomicBoolean controlFlagged = new AtomicBoolean();
            bound.queueOn(0, new Work("control", () -> {
                sampleMe(e);
                controlFlagged.set(burnUntil(TimeUnit.MILLISECONDS.toNanos(50), () -> bound.stats().cpuIntensive() >= 1));
                done.countDown();
            }));
            await(done);
            assertThat(ciSawOther).as("the second CPU_INTENSIVE item started while the first burned").isTrue();
            assertThat(controlFlagged).isTrue();
            await().until(() -> ci.stats().completed() == 2 && unbound.stats().completed() == 1 && bound.stats().completed() == 1);
            assertThat(ci.stats().cpuIntensive()).as("CPU_INTENSIVE queue: CPUitsv").isZero();
            assertThat(unbound.stats().cpuIntensive()).as("unbound queue: CPUitsv").isZero();
            assertThat(bound.stats().cpuIntensive()).isEqualTo(1);
            // counted per function by the monitor just after the flag the control item saw
            await().untilAsserted(() -> assertThat(e.cpuHogs()).containsExactlyEntriesOf(java.util.Map.of("control", 1L)));
        }
    }

    // ---- switched off, and parking ----------------------------------------------------------

    @Test
    void zeroThresholdTurnsDetectionOff() throws Exception {
        try (Workqueues e = oneCpu().cpuIntensiveThreshold(Duration.ZERO).build()) {
            assertThat(e.monitor.watchesHogs()).isFalse();
            Workqueue wq = e.alloc("nohog", 0);
            CountDownLatch aStarted = new CountDownLatch(1);
            CountDownLatch bStarted = new CountDownLatch(1);
            CountDownLatch done = new CountDownLatch(2);
            AtomicBoolean bStartedEarly = new AtomicBoolean();
            wq.queueOn(0, new Work("A", () -> {
                aStarted.countDown();
                burn(TimeUnit.MILLISECONDS.toNanos(150));
                // never sleeping and not a hog: A keeps the CPU, B waits behind it
                bStartedEarly.set(bStarted.getCount() == 0);
                done.countDown();
            }));
            await(aStarted);
            wq.queueOn(0, new Work("B", () -> {
                bStarted.countDown();
                done.countDown();
            }));
            await(done);
            assertThat(bStartedEarly).as("B started before the CPU-bound A returned").isFalse();
            await().until(() -> wq.stats().completed() == 2);
            assertThat(wq.stats().cpuIntensive()).isZero();
            assertThat(e.cpuHogs()).isEmpty();
        }
    }

    /**
     * While a counted item runs with nothing behind it, hog detection needs a sample every
     * {@code max(interval, threshold / 4)} (2.5 ms here), not a busy loop: over a 200 ms item the
     * monitor takes at most a few hundred rounds (two per millisecond plus slack; a starved
     * monitor only takes fewer).
     */
    @Test
    void monitorDoesNotSpinWhileACountedItemRuns() throws Exception {
        try (Workqueues e = oneCpu().build()) {
            Workqueue wq = e.alloc("nospin", 0);
            CountDownLatch done = new CountDownLatch(1);
            AtomicLong rounds = new AtomicLong();
            AtomicLong millis = new AtomicLong();
            AtomicLong monitorCpu = new AtomicLong();
            Thread monitor = e.monitor.thread();
            wq.queueOn(0, new Work("sleeper", () -> {
                sampleMe(e);
                try {
                    long r0 = e.monitor.rounds;
                    long c0 = MX.getThreadCpuTime(monitor.threadId());
                    long t0 = System.nanoTime();
                    Thread.sleep(200);
                    millis.set(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
                    monitorCpu.set(MX.getThreadCpuTime(monitor.threadId()) - c0);
                    rounds.set(e.monitor.rounds - r0);
                } catch (InterruptedException ex) {
                    Thread.currentThread().interrupt();
                } finally {
                    done.countDown();
                }
            }));
            await(done);
            assertThat(rounds.get())
                    .as("monitor rounds during a %d ms item (monitor CPU %d ms)", millis.get(), monitorCpu.get() / 1_000_000)
                    .isLessThanOrEqualTo(2 * millis.get() + 50);
        }
    }

    @Test
    void idleEngineMonitorParksWithHogDetectionOn() throws Exception {
        try (Workqueues e = oneCpu().build()) {
            assertThat(e.monitor.watchesHogs()).isTrue();
            Workqueue wq = e.alloc("park", 0);
            CountDownLatch done = new CountDownLatch(1);
            wq.queueOn(0, new Work("hog", () -> {
                sampleMe(e);
                burnUntil(TimeUnit.MILLISECONDS.toNanos(30), () -> wq.stats().cpuIntensive() >= 1);
                done.countDown();
            }));
            await(done);
            await().until(() -> wq.stats().completed() == 1);
            assertThat(wq.stats().cpuIntensive()).isEqualTo(1);
            Thread monitor = e.monitor.thread();
            await().until(() -> monitor.getState() == Thread.State.WAITING);
            // and it stays parked: (almost) no rounds while nothing runs, where sampling every
            // millisecond would take about a hundred
            long rounds = e.monitor.rounds;
            long t0 = System.nanoTime();
            await().until(() -> System.nanoTime() - t0 > TimeUnit.MILLISECONDS.toNanos(100));
            assertThat(e.monitor.rounds - rounds).as("monitor rounds while idle").isLessThanOrEqualTo(2);
            assertThat(monitor.getState()).isEqualTo(Thread.State.WAITING);
        }
    }
}
