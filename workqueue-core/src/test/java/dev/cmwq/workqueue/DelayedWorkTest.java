package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;

import static java.util.concurrent.TimeUnit.MILLISECONDS;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Delayed work ({@code delayed_work}): {@code queue_delayed_work}, {@code mod_delayed_work} (debounce),
 * cancel, cancel_sync and flush of armed items, the self re-arming periodic idiom and its race-free
 * stop, the engine's single timer under hundreds of thousands of armed items, and shutdown.
 *
 * <p>Timing assertions are lower bounds only ("not before the delay elapsed", measured from before
 * the call). Checks that an item is still armed are made only inside a window that provably ends
 * before its timer could fire; a window broken by a machine stall retries the scenario.
 */
@Timeout(60)
class DelayedWorkTest {
    private static final Duration MS300 = Duration.ofMillis(300);
    private static final Duration HOUR = Duration.ofHours(1);

    private static Workqueues engine(String name) {
        return Workqueues.builder().cpus(2).name(name).build();
    }

    /** Runs a call that could hang (if the engine is broken) on a helper thread, waiting at most 30 s. */
    static <T> T within30s(String what, Callable<T> call) throws Exception {
        FutureTask<T> f = new FutureTask<>(call);
        Thread t = new Thread(f, "test-" + what);
        t.setDaemon(true);
        t.start();
        try {
            return f.get(30, SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Exception ex) {
                throw ex;
            }
            throw e;
        } catch (java.util.concurrent.TimeoutException e) {
            throw new AssertionError(what + " did not return within 30 s", e);
        }
    }

    private static long millisSince(long nanos) {
        return (System.nanoTime() - nanos) / 1_000_000;
    }

    // ---- queue_delayed_work -----------------------------------------------------------------

    @Test
    void queueDelayedArmsRunsNotBeforeTheDelayAndAbsorbsWhileArmed() throws Exception {
        try (Workqueues e = engine("dw-basic")) {
            Workqueue wq = e.alloc("dw", 0);

            // An item armed for an hour: pending, not running, absorbed, nothing on the queue.
            AtomicInteger hourRuns = new AtomicInteger();
            DelayedWork hour = new DelayedWork("hour", hourRuns::incrementAndGet);
            assertThat(wq.queueDelayed(hour, HOUR)).isTrue();
            assertThat(hour.isPending()).isTrue();
            assertThat(hour.busy()).isEqualTo(Work.BUSY_PENDING);
            assertThat(wq.queueDelayed(hour, HOUR)).as("queue_delayed_work while armed").isFalse();
            assertThat(wq.queueDelayed(hour, Duration.ZERO)).as("even with delay zero").isFalse();
            assertThat(wq.queue(hour)).as("queue_work while armed").isFalse();
            assertThat(wq.stats().inFlight()).as("an armed item is not on the queue yet").isZero();
            assertThat(e.timer().size()).isEqualTo(1);

            // A 300 ms item: runs once, not before 300 ms after the call.
            for (int attempt = 1; ; attempt++) {
                AtomicInteger runs = new AtomicInteger();
                AtomicLong ranAt = new AtomicLong();
                CountDownLatch ran = new CountDownLatch(1);
                DelayedWork dw = new DelayedWork("300ms", () -> {
                    ranAt.set(System.nanoTime());
                    runs.incrementAndGet();
                    ran.countDown();
                });
                long before = System.nanoTime();
                assertThat(wq.queueDelayed(dw, MS300)).isTrue();
                boolean pending = dw.isPending();
                int busy = dw.busy();
                boolean again = wq.queueDelayed(dw, MS300);
                boolean againNow = wq.queueDelayed(dw, Duration.ZERO);
                boolean inWindow = millisSince(before) < 290; // the timer cannot have fired yet
                awaitLatch(ran);
                assertThat(ranAt.get() - before).as("ran not before 300 ms after the call")
                        .isGreaterThanOrEqualTo(MS300.toNanos());
                await().until(() -> dw.busy() == 0);
                if (!inWindow) {
                    assertThat(attempt).as("a 290 ms window without a machine stall").isLessThan(5);
                    continue;
                }
                assertThat(pending).as("pending while armed").isTrue();
                assertThat(busy).isEqualTo(Work.BUSY_PENDING);
                assertThat(again).as("queueDelayed while armed").isFalse();
                assertThat(againNow).isFalse();
                assertThat(runs.get()).isEqualTo(1);
                assertThat(dw.isPending()).isFalse();
                break;
            }
            assertThat(hour.cancel()).isTrue();
            assertThat(hourRuns.get()).isZero();
        }
    }

    @Test
    void zeroAndNegativeDelaysQueueAtOnce() throws Exception {
        try (Workqueues e = engine("dw-zero")) {
            Workqueue ordered = e.allocOrdered("dw-zero-ordered");
            CountDownLatch blockerStarted = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            List<String> order = new CopyOnWriteArrayList<>();
            assertThat(ordered.queue(new Work("blocker", () -> {
                blockerStarted.countDown();
                TestWaits.plainWait(release);
                order.add("blocker");
            }))).isTrue();
            awaitLatch(blockerStarted);
            DelayedWork zero = new DelayedWork("zero", () -> order.add("zero"));
            DelayedWork negative = new DelayedWork("negative", () -> order.add("negative"));
            try {
                assertThat(ordered.queueDelayed(zero, Duration.ZERO)).isTrue();
                assertThat(ordered.queueDelayed(negative, Duration.ofMillis(-500))).isTrue();
                // Queued on the workqueue at once (behind the blocker), not armed on the timer.
                assertThat(e.timer().size()).isZero();
                assertThat(ordered.stats().inFlight()).isEqualTo(3);
                assertThat(zero.isPending()).isTrue();
                assertThat(negative.busy()).isEqualTo(Work.BUSY_PENDING);
                assertThat(ordered.queueDelayed(zero, Duration.ZERO)).as("absorbed while queued").isFalse();
            } finally {
                release.countDown();
            }
            // A workqueue flush waits only for items on the queue: both are, so both have run after it.
            within30s("flush", ordered::flush);
            assertThat(order).containsExactly("blocker", "zero", "negative");
            assertThat(zero.busy()).isZero();
            assertThat(negative.busy()).isZero();
        }
    }

    @Test
    void queueDelayedOnRunsOnThatCpusPool() throws Exception {
        try (Workqueues e = engine("dw-on")) {
            Workqueue wq = e.alloc("dw-on", 0);
            Workqueue high = e.alloc("dw-on-high", 0, WqFlag.HIGHPRI);
            for (int round = 0; round < 3; round++) {
                for (int cpu = 0; cpu < 2; cpu++) {
                    for (Workqueue q : List.of(wq, high)) {
                        AtomicReference<String> thread = new AtomicReference<>();
                        CountDownLatch ran = new CountDownLatch(1);
                        DelayedWork dw = new DelayedWork("on" + cpu, () -> {
                            thread.set(Thread.currentThread().getName());
                            ran.countDown();
                        });
                        assertThat(q.queueDelayedOn(cpu, dw, Duration.ofMillis(20 + 10 * round))).isTrue();
                        awaitLatch(ran);
                        String prefix = "kworker/" + cpu + ":";
                        assertThat(thread.get()).startsWith(prefix);
                        if (q == high) {
                            assertThat(thread.get()).matches("kworker/" + cpu + ":\\d+H-dw-on-high");
                        } else {
                            assertThat(thread.get()).matches("kworker/" + cpu + ":\\d+-dw-on");
                        }
                    }
                }
            }
            DelayedWork bad = new DelayedWork("bad", () -> { });
            assertThatThrownBy(() -> wq.queueDelayedOn(2, bad, Duration.ofMillis(1)))
                    .isInstanceOf(IllegalArgumentException.class);
            assertThat(bad.isPending()).isFalse();
        }
    }

    // ---- mod_delayed_work -------------------------------------------------------------------

    @Test
    void modDelayedDebouncesManyCallsIntoOneExecutionAfterTheLast() throws Exception {
        try (Workqueues e = engine("dw-debounce")) {
            Workqueue wq = e.alloc("dw-debounce", 0, WqFlag.UNBOUND);
            for (int attempt = 1; ; attempt++) {
                AtomicInteger runs = new AtomicInteger();
                AtomicLong ranAt = new AtomicLong();
                DelayedWork dw = new DelayedWork("debounced", () -> {
                    ranAt.set(System.nanoTime());
                    runs.incrementAndGet();
                });
                long first = System.nanoTime();
                assertThat(wq.modDelayed(dw, MS300)).as("idle: not pending, now armed").isFalse();
                assertThat(dw.isPending()).isTrue();
                int trues = 0;
                long lastCall = 0;
                for (int i = 0; i < 1000; i++) {
                    lastCall = System.nanoTime();
                    if (wq.modDelayed(dw, MS300)) {
                        trues++;
                    }
                }
                // No timer of this run could fire before first + 300 ms.
                boolean inWindow = millisSince(first) < 290;
                long lastCallStart = lastCall;
                int calledWhileIdle = 1000 - trues;
                await().until(() -> runs.get() >= 1 + calledWhileIdle);
                assertThat(ranAt.get() - lastCallStart).as("ran not before 300 ms after the last call")
                        .isGreaterThanOrEqualTo(MS300.toNanos());
                await().during(Duration.ofMillis(400)).atMost(Duration.ofSeconds(30))
                        .until(() -> runs.get() == 1 + calledWhileIdle && dw.busy() == 0);
                assertThat(e.timer().size()).isZero();
                if (!inWindow) {
                    assertThat(attempt).as("1000 calls within 290 ms, without a machine stall").isLessThan(5);
                    continue;
                }
                assertThat(trues).as("every later call found it pending and moved the timer").isEqualTo(1000);
                assertThat(runs.get()).as("exactly one execution").isEqualTo(1);
                break;
            }
        }
    }

    @Test
    void modDelayedPacedEvery50msRunsOnceNotBefore300msAfterTheLastCall() throws Exception {
        try (Workqueues e = engine("dw-paced")) {
            Workqueue wq = e.alloc("dw-paced", 0);
            for (int attempt = 1; ; attempt++) {
                AtomicInteger runs = new AtomicInteger();
                AtomicLong ranAt = new AtomicLong();
                DelayedWork dw = new DelayedWork("paced", () -> {
                    ranAt.set(System.nanoTime());
                    runs.incrementAndGet();
                });
                List<Boolean> results = new ArrayList<>();
                boolean stalled = false;
                long prevCallStart = 0;
                long lastCallStart = 0;
                for (int i = 0; i < 8; i++) {
                    if (i > 0) {
                        LockSupport.parkNanos(MILLISECONDS.toNanos(50)); // load driver only
                    }
                    lastCallStart = System.nanoTime();
                    results.add(wq.modDelayed(dw, MS300));
                    // The previous timer could not have fired before prevCallStart + 300 ms.
                    if (i > 0 && System.nanoTime() - prevCallStart >= MILLISECONDS.toNanos(290)) {
                        stalled = true;
                    }
                    prevCallStart = lastCallStart;
                }
                long last = lastCallStart;
                await().until(() -> runs.get() >= 1);
                assertThat(ranAt.get() - last).as("ran not before 300 ms after the last call")
                        .isGreaterThanOrEqualTo(MS300.toNanos());
                await().during(Duration.ofMillis(400)).atMost(Duration.ofSeconds(30)).until(() -> dw.busy() == 0);
                if (stalled) {
                    assertThat(attempt).as("a run of 8 calls without a 290 ms stall").isLessThan(5);
                    continue;
                }
                assertThat(results.get(0)).as("first call: idle").isFalse();
                assertThat(results.subList(1, results.size())).as("later calls: pending, timer moved").containsOnly(true);
                assertThat(runs.get()).isEqualTo(1);
                break;
            }
        }
    }

    @Test
    void modDelayedPullsAQueuedItemBackOntoTheTimer() throws Exception {
        try (Workqueues e = engine("dw-mod-queued")) {
            Workqueue ordered = e.allocOrdered("dw-mod-ordered");
            CountDownLatch blockerStarted = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            AtomicInteger runs = new AtomicInteger();
            DelayedWork dw = new DelayedWork("requeued", runs::incrementAndGet);
            ordered.queue(new Work("blocker", () -> {
                blockerStarted.countDown();
                TestWaits.plainWait(release);
            }));
            awaitLatch(blockerStarted);
            try {
                assertThat(ordered.queueDelayed(dw, Duration.ZERO)).isTrue();
                assertThat(ordered.stats().inFlight()).isEqualTo(2);
                assertThat(ordered.modDelayed(dw, HOUR)).as("it was pending (queued)").isTrue();
                assertThat(dw.isPending()).isTrue();
                assertThat(ordered.stats().inFlight()).as("off the queue, onto the timer").isEqualTo(1);
                assertThat(e.timer().size()).isEqualTo(1);
                assertThat(ordered.modDelayed(dw, HOUR)).as("it was pending (armed)").isTrue();
                assertThat(e.timer().size()).isEqualTo(1);
            } finally {
                release.countDown();
            }
            within30s("flush", ordered::flush); // the blocker is done; the armed item is not waited for
            assertThat(runs.get()).isZero();
            assertThat(dw.isPending()).isTrue();
            assertThat(dw.cancel()).isTrue();
            assertThat(dw.cancel()).isFalse();
            assertThat(e.timer().size()).isZero();
            assertThat(runs.get()).isZero();
        }
    }

    @Test
    void modDelayedOnADisabledItemDoesNotQueueIt() throws Exception {
        try (Workqueues e = engine("dw-mod-disabled")) {
            Workqueue wq = e.alloc("dw-mod-disabled", 0);
            AtomicInteger runs = new AtomicInteger();
            DelayedWork dw = new DelayedWork("disabled", runs::incrementAndGet);

            assertThat(dw.disable()).as("was idle").isFalse();
            assertThat(wq.modDelayed(dw, Duration.ofMillis(10))).isFalse();
            assertThat(wq.modDelayed(dw, Duration.ZERO)).isFalse();
            assertThat(wq.queueDelayed(dw, Duration.ofMillis(10))).isFalse();
            assertThat(dw.isPending()).isFalse();
            assertThat(e.timer().size()).isZero();
            assertThat(wq.stats().inFlight()).isZero();
            assertThat(dw.enable()).isTrue();

            // Disabled while armed: disable cancels (true), then mod neither re-arms nor queues.
            assertThat(wq.queueDelayed(dw, HOUR)).isTrue();
            assertThat(dw.disable()).as("was pending (armed)").isTrue();
            assertThat(dw.isPending()).isFalse();
            assertThat(wq.modDelayed(dw, Duration.ofMillis(1))).isFalse();
            assertThat(dw.isPending()).isFalse();
            assertThat(e.timer().size()).isZero();
            await().during(Duration.ofMillis(200)).atMost(Duration.ofSeconds(30)).until(() -> runs.get() == 0);
            assertThat(dw.enable()).isTrue();

            // Enabled again: mod of an idle item queues it (false), and it runs.
            assertThat(wq.modDelayed(dw, Duration.ofMillis(1))).isFalse();
            await().until(() -> runs.get() == 1);
        }
    }

    // ---- cancel, cancel_sync, flush of armed items --------------------------------------------

    @Test
    void cancelOfAnArmedItemReturnsTrueAndItNeverRuns() throws Exception {
        try (Workqueues e = engine("dw-cancel")) {
            Workqueue wq = e.alloc("dw-cancel", 0);
            AtomicInteger runs = new AtomicInteger();
            DelayedWork dw = new DelayedWork("cancelled", runs::incrementAndGet);
            DelayedWork idle = new DelayedWork("idle", runs::incrementAndGet);
            assertThat(idle.cancel()).isFalse();
            assertThat(idle.cancelSync()).isFalse();

            assertThat(wq.queueDelayed(dw, Duration.ofMillis(200))).isTrue();
            boolean cancelled = dw.cancel();
            assertThat(dw.isPending()).isFalse();
            assertThat(dw.busy()).isZero();
            assertThat(dw.cancel()).as("nothing left to cancel").isFalse();
            await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(30)).until(() -> runs.get() == (cancelled ? 0 : 1));
            assertThat(cancelled).as("cancel_delayed_work of an armed item (200 ms delay)").isTrue();
            assertThat(e.timer().size()).isZero();

            // The item is reusable afterwards.
            assertThat(wq.queueDelayed(dw, Duration.ofMillis(1))).isTrue();
            await().until(() -> runs.get() == 1 && dw.busy() == 0);
        }
    }

    @Test
    void cancelSyncOfAnArmedItem() throws Exception {
        try (Workqueues e = engine("dw-cancel-sync")) {
            Workqueue wq = e.alloc("dw-cancel-sync", 0, WqFlag.UNBOUND);
            AtomicInteger runs = new AtomicInteger();
            DelayedWork dw = new DelayedWork("cancelled-sync", runs::incrementAndGet);
            assertThat(wq.queueDelayed(dw, HOUR)).isTrue();
            assertThat(within30s("cancelSync", dw::cancelSync)).as("it was pending (armed)").isTrue();
            assertThat(dw.isPending()).isFalse();
            assertThat(dw.busy()).isZero();
            assertThat(dw.isDisabled()).as("cancelSync re-enables").isFalse();
            assertThat(e.timer().size()).isZero();
            assertThat(dw.cancelSync()).isFalse();

            assertThat(wq.queueDelayed(dw, Duration.ofMillis(5))).isTrue();
            await().until(() -> runs.get() == 1 && dw.busy() == 0);
            assertThat(dw.cancelSync()).isFalse();
            await().during(Duration.ofMillis(100)).atMost(Duration.ofSeconds(30)).until(() -> runs.get() == 1);
        }
    }

    @Test
    void flushOfAnArmedItemFiresItNowAndWaits() throws Exception {
        try (Workqueues e = engine("dw-flush")) {
            Workqueue wq = e.alloc("dw-flush", 0);
            AtomicInteger runs = new AtomicInteger();
            AtomicReference<String> thread = new AtomicReference<>();
            DelayedWork dw = new DelayedWork("flushed", () -> {
                thread.set(Thread.currentThread().getName());
                runs.incrementAndGet();
            });
            assertThat(dw.flush()).as("flush of an idle, never queued item").isFalse();

            assertThat(wq.queueDelayedOn(1, dw, HOUR)).isTrue();
            assertThat(within30s("flush", dw::flush)).as("flush_delayed_work of an armed item waited").isTrue();
            assertThat(runs.get()).as("it ran (an hour early) before flush returned").isEqualTo(1);
            assertThat(thread.get()).as("on the CPU it was armed for").startsWith("kworker/1:");
            assertThat(dw.isPending()).isFalse();
            assertThat(e.timer().size()).isZero();
            assertThat(dw.flush()).as("nothing left to wait for").isFalse();
            assertThat(runs.get()).isEqualTo(1);
        }
    }

    // ---- periodic self re-arming -------------------------------------------------------------

    @Test
    @Timeout(120)
    void periodicSelfRearmingItemStopsWithCancelSyncWithoutARace() throws Exception {
        try (Workqueues e = engine("dw-periodic")) {
            Workqueue bound = e.alloc("dw-periodic", 0);
            Workqueue unbound = e.alloc("dw-periodic-u", 0, WqFlag.UNBOUND);
            for (Workqueue wq : List.of(bound, unbound)) {
                AtomicInteger count = new AtomicInteger();
                AtomicBoolean stopped = new AtomicBoolean(true);
                AtomicBoolean running = new AtomicBoolean();
                AtomicInteger afterStop = new AtomicInteger();
                AtomicInteger concurrent = new AtomicInteger();
                DelayedWork dw = DelayedWork.create("periodic", self -> {
                    if (!running.compareAndSet(false, true)) {
                        concurrent.incrementAndGet();
                    }
                    if (stopped.get()) {
                        afterStop.incrementAndGet();
                    }
                    count.incrementAndGet();
                    running.set(false);
                    wq.queueDelayed(self, Duration.ofMillis(1));
                });
                int last = 0;
                for (int cycle = 0; cycle < 200; cycle++) {
                    assertThat(count.get()).as("no run between cancelSync and the next start").isEqualTo(last);
                    stopped.set(false);
                    assertThat(wq.queueDelayed(dw, Duration.ofMillis(1))).isTrue();
                    int start = last;
                    await().until(() -> count.get() >= start + 3); // it keeps re-arming itself
                    dw.cancelSync();
                    stopped.set(true);
                    assertThat(dw.isPending()).as("not pending after cancelSync").isFalse();
                    assertThat(dw.busy()).as("idle after cancelSync").isZero();
                    assertThat(dw.isDisabled()).isFalse();
                    last = count.get();
                }
                int fin = last;
                await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(30))
                        .until(() -> count.get() == fin && dw.busy() == 0);
                assertThat(afterStop.get()).as("executions after cancelSync returned").isZero();
                assertThat(concurrent.get()).as("concurrent executions").isZero();
            }
            assertThat(e.timer().size()).isZero();
        }
    }

    @Test
    void rearmingWhileCancelSyncWaitsReturnsFalse() throws Exception {
        try (Workqueues e = engine("dw-rearm-false")) {
            Workqueue wq = e.alloc("dw-rearm-false", 0);
            AtomicInteger runs = new AtomicInteger();
            CountDownLatch third = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            AtomicReference<Boolean> rearm = new AtomicReference<>();
            DelayedWork dw = DelayedWork.create("periodic", self -> {
                if (runs.incrementAndGet() == 3) {
                    third.countDown();
                    TestWaits.plainWait(release);
                    rearm.set(wq.queueDelayed(self, Duration.ofMillis(1)));
                    return;
                }
                wq.queueDelayed(self, Duration.ofMillis(1));
            });
            assertThat(wq.queueDelayed(dw, Duration.ofMillis(1))).isTrue();
            awaitLatch(third);
            FutureTask<Boolean> cancel = new FutureTask<>(dw::cancelSync);
            Thread canceller = new Thread(cancel, "test-cancelSync");
            canceller.setDaemon(true);
            try {
                canceller.start();
                await().until(dw::isDisabled);
                assertThat(cancel.isDone()).as("cancelSync waits for the running execution").isFalse();
                assertThat(dw.busy()).isEqualTo(Work.BUSY_RUNNING);
            } finally {
                release.countDown();
            }
            assertThat(cancel.get(30, SECONDS)).as("it was running, not pending").isFalse();
            assertThat(rearm.get()).as("re-arm from the function while cancelSync waits").isFalse();
            assertThat(dw.busy()).isZero();
            assertThat(dw.isDisabled()).isFalse();
            await().during(Duration.ofMillis(200)).atMost(Duration.ofSeconds(30)).until(() -> runs.get() == 3);
            assertThat(e.timer().size()).isZero();
        }
    }

    // ---- one timer, many items ---------------------------------------------------------------

    @Test
    void oneTimerThreadForTheWholeEngine() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(2).name("x").build()) {
            List<Workqueue> queues = new ArrayList<>();
            for (int i = 0; i < 10; i++) {
                queues.add(e.alloc("one-timer-b" + i, 0));
                queues.add(e.alloc("one-timer-u" + i, 0, WqFlag.UNBOUND));
            }
            queues.add(e.allocOrdered("one-timer-o"));
            queues.add(e.systemWq());
            List<DelayedWork> items = new ArrayList<>();
            AtomicInteger runs = new AtomicInteger();
            for (int i = 0; i < 10_000; i++) {
                DelayedWork dw = new DelayedWork("armed-" + i, runs::incrementAndGet);
                items.add(dw);
                assertThat(queues.get(i % queues.size()).queueDelayed(dw, HOUR.plusMillis(i))).isTrue();
            }
            assertThat(e.timer().size()).isEqualTo(10_000);
            List<String> names = Thread.getAllStackTraces().keySet().stream().map(Thread::getName).toList();
            assertThat(names).filteredOn(n -> n.equals("x-timer")).hasSize(1);
            assertThat(names).filteredOn(n -> n.startsWith("x-")).as("engine threads besides workers")
                    .containsExactlyInAnyOrder("x-timer", "x-sysmon", "x-watchdog");
            for (DelayedWork dw : items) {
                assertThat(dw.cancel()).isTrue();
            }
            assertThat(e.timer().size()).isZero();
            assertThat(runs.get()).isZero();
        }
    }

    @Test
    @Timeout(120)
    void twoHundredThousandArmedItemsEachRunExactlyOnce() throws Exception {
        int n = 200_000;
        try (Workqueues e = engine("dw-200k")) {
            List<Workqueue> queues = List.of(e.alloc("dw-200k-b", 0), e.alloc("dw-200k-b2", 2),
                    e.alloc("dw-200k-u", 0, WqFlag.UNBOUND), e.systemWq());
            AtomicIntegerArray runs = new AtomicIntegerArray(n);
            AtomicInteger total = new AtomicInteger();
            AtomicLong early = new AtomicLong();
            long[] deadline = new long[n];
            DelayedWork[] items = new DelayedWork[n];
            SplittableRandom rnd = new SplittableRandom(42);
            for (int i = 0; i < n; i++) {
                int idx = i;
                items[i] = new DelayedWork("i" + i, () -> {
                    if (System.nanoTime() - deadline[idx] < 0) {
                        early.incrementAndGet();
                    }
                    runs.incrementAndGet(idx);
                    total.incrementAndGet();
                });
            }
            for (int i = 0; i < n; i++) {
                long delayMs = 1 + rnd.nextInt(500);
                deadline[i] = System.nanoTime() + MILLISECONDS.toNanos(delayMs);
                assertThat(queues.get(i & 3).queueDelayed(items[i], Duration.ofMillis(delayMs))).isTrue();
            }
            await().until(() -> total.get() >= n);
            for (Workqueue q : queues) {
                await().until(() -> q.stats().inFlight() == 0);
            }
            assertThat(total.get()).isEqualTo(n);
            for (int i = 0; i < n; i++) {
                if (runs.get(i) != 1) {
                    throw new AssertionError("item " + i + " ran " + runs.get(i) + " times");
                }
                if (items[i].isPending()) {
                    throw new AssertionError("item " + i + " still pending");
                }
            }
            assertThat(early.get()).as("items that ran before their delay").isZero();
            assertThat(e.timer().size()).isZero();
        }
    }

    @Test
    @Timeout(120)
    void halfOfTwoHundredThousandArmedItemsCancelledTheOtherHalfRun() throws Exception {
        int n = 200_000;
        try (Workqueues e = engine("dw-200k-half")) {
            List<Workqueue> queues = List.of(e.alloc("dw-half-b", 0), e.alloc("dw-half-u", 0, WqFlag.UNBOUND),
                    e.systemWq());
            AtomicIntegerArray runs = new AtomicIntegerArray(n);
            AtomicInteger total = new AtomicInteger();
            DelayedWork[] items = new DelayedWork[n];
            SplittableRandom rnd = new SplittableRandom(7);
            for (int i = 0; i < n; i++) {
                int idx = i;
                items[i] = new DelayedWork("h" + i, () -> {
                    runs.incrementAndGet(idx);
                    total.incrementAndGet();
                });
            }
            // Odd items are cancelled; they get 5 s more so that the cancels surely come first, but
            // they sit in the same heap, interleaved with the even ones that fire meanwhile.
            for (int i = 0; i < n; i++) {
                long delayMs = 1 + rnd.nextInt(500) + ((i & 1) == 1 ? 5_000 : 0);
                assertThat(queues.get(i % 3).queueDelayed(items[i], Duration.ofMillis(delayMs))).isTrue();
            }
            int cancelled = 0;
            for (int i = 1; i < n; i += 2) {
                if (items[i].cancel()) {
                    cancelled++;
                }
            }
            assertThat(cancelled).isEqualTo(n / 2);
            await().until(() -> total.get() >= n / 2);
            for (Workqueue q : queues) {
                await().until(() -> q.stats().inFlight() == 0);
            }
            // Nothing is armed any more: no cancelled item can fire later.
            assertThat(e.timer().size()).isZero();
            assertThat(total.get()).isEqualTo(n / 2);
            for (int i = 0; i < n; i++) {
                int expected = (i & 1) == 0 ? 1 : 0;
                if (runs.get(i) != expected) {
                    throw new AssertionError("item " + i + " ran " + runs.get(i) + " times, expected " + expected);
                }
                if (items[i].isPending()) {
                    throw new AssertionError("item " + i + " still pending");
                }
            }
        }
    }

    // ---- shutdown ----------------------------------------------------------------------------

    @Test
    void armedItemsAreFiredAndRunDuringShutdown() throws Exception {
        Workqueues e = engine("dw-shutdown");
        AtomicInteger runs = new AtomicInteger();
        List<DelayedWork> items = new ArrayList<>();
        try {
            Workqueue user = e.alloc("dw-shutdown-user", 0);
            Workqueue unbound = e.alloc("dw-shutdown-unbound", 0, WqFlag.UNBOUND);
            for (Workqueue q : List.of(user, unbound, e.systemWq())) {
                for (int i = 0; i < 5; i++) {
                    DelayedWork dw = new DelayedWork("armed-at-shutdown", runs::incrementAndGet);
                    items.add(dw);
                    assertThat(q.queueDelayed(dw, HOUR)).isTrue();
                }
            }
        } finally {
            assertThat(within30s("shutdown", () -> e.shutdown(Duration.ofSeconds(20)))).isTrue();
        }
        assertThat(runs.get()).as("armed items fired and ran during shutdown").isEqualTo(items.size());
        assertThat(items).allSatisfy(dw -> assertThat(dw.isPending()).isFalse());
    }

    @Test
    void delayedQueueingAfterShutdownThrows() throws Exception {
        Workqueues e = engine("dw-after-shutdown");
        Workqueue wq = e.alloc("dw-after", 0);
        assertThat(e.shutdown(Duration.ofSeconds(20))).isTrue();
        DelayedWork dw = new DelayedWork("late", () -> { });
        assertThatThrownBy(() -> wq.queueDelayed(dw, Duration.ofMillis(10))).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("shut down");
        assertThatThrownBy(() -> wq.queueDelayed(dw, Duration.ZERO)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> wq.queueDelayedOn(1, dw, HOUR)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> wq.modDelayed(dw, Duration.ofMillis(10))).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> e.systemWq().queueDelayed(dw, HOUR)).isInstanceOf(IllegalStateException.class);
        assertThat(dw.isPending()).as("a refused item is not left pending").isFalse();
        assertThat(e.timer().size()).isZero();
    }
}
