package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The freezer ({@code freeze_workqueues_begin}, {@code freeze_workqueues_busy},
 * {@code thaw_workqueues}): FREEZABLE queues start nothing new while frozen, keep what is queued in
 * order, let running items finish, and resume on thaw; other queues are untouched. The sampling
 * monitor is off: every outcome is deterministic.
 */
@Timeout(60)
class FreezeTest {
    private static final Duration LONG = Duration.ofSeconds(30);

    private static void daemon(Runnable r) {
        Thread t = new Thread(r, "freezer");
        t.setDaemon(true);
        t.start();
    }

    private static Workqueues engine(String name) {
        return Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).name(name).build();
    }

    /** Queues an item on {@code wq} and waits for it to have run. */
    private static void probe(Workqueue wq) {
        CountDownLatch ran = new CountDownLatch(1);
        assertThat(wq.queue(new Work("probe-" + wq.name(), ran::countDown))).isTrue();
        awaitLatch(ran);
    }

    /** Items that append their name to {@code log} when they run. */
    private static List<Work> recorders(String prefix, int n, List<String> log, CountDownLatch done) {
        List<Work> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String name = prefix + i;
            out.add(new Work(name, () -> {
                log.add(name);
                done.countDown();
            }));
        }
        return out;
    }

    private static List<String> names(String prefix, int n) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(prefix + i);
        }
        return out;
    }

    private static List<String> only(List<String> log, String prefix) {
        return log.stream().filter(s -> s.startsWith(prefix)).toList();
    }

    @Test
    void freezeHoldsNewItemsLetsTheRunningOneFinishAndLeavesOtherQueuesAlone() throws Exception {
        try (Workqueues e = engine("frz")) {
            Workqueue fz = e.alloc("fz", EnumSet.of(WqFlag.FREEZABLE), 0);
            Workqueue sysFz = e.systemFreezableWq();
            assertThat(e.isFrozen()).isFalse();

            CountDownLatch runningIn = new CountDownLatch(1);
            CountDownLatch releaseRunning = new CountDownLatch(1);
            AtomicBoolean runningDone = new AtomicBoolean();
            fz.queue(new Work("running-at-freeze", () -> {
                runningIn.countDown();
                hookWait(releaseRunning); // the pool may start other items meanwhile
                runningDone.set(true);
            }));
            awaitLatch(runningIn);

            e.freeze();
            assertThat(e.isFrozen()).isTrue();
            List<String> log = new CopyOnWriteArrayList<>();
            CountDownLatch frozenDone = new CountDownLatch(8);
            recorders("x", 5, log, frozenDone).forEach(fz::queue);
            recorders("y", 3, log, frozenDone).forEach(sysFz::queue);

            WorkqueueStats s = fz.stats();
            assertThat(s.inactive()).isEqualTo(5);
            assertThat(s.pending()).isEqualTo(5);
            assertThat(s.inFlight()).isEqualTo(6);
            assertThat(s.started()).isEqualTo(1);
            assertThat(sysFz.stats().inactive()).isEqualTo(3);
            assertThat(sysFz.stats().pending()).isEqualTo(3);

            // a running item of a freezable queue keeps the freezer waiting
            assertThat(e.awaitFrozenIdle(Duration.ofMillis(200))).isFalse();
            assertThat(runningDone).isFalse();

            // non-freezable queues work while frozen, on the same pool, after the frozen items were queued
            probe(e.systemWq());
            probe(e.systemUnboundWq());
            Workqueue other = e.alloc("not-freezable", Set.of(), 0);
            probe(other);
            assertThat(log).as("freezable items run while frozen").isEmpty();

            CompletableFuture<Boolean> freezer = CompletableFuture.supplyAsync(() -> {
                try {
                    return e.awaitFrozenIdle(LONG);
                } catch (InterruptedException ex) {
                    throw new IllegalStateException(ex);
                }
            }, FreezeTest::daemon);
            Awaitility.await().during(Duration.ofMillis(300)).atMost(LONG).until(() -> !freezer.isDone());
            releaseRunning.countDown();
            assertThat(freezer.get(30, SECONDS)).as("frozen queues idle").isTrue();
            assertThat(runningDone).as("the running item finished before the freezer was told idle").isTrue();
            assertThat(e.awaitFrozenIdle(Duration.ofMillis(1))).isTrue();

            // still frozen: nothing started, even with the pool free
            probe(e.systemWq());
            assertThat(log).isEmpty();
            assertThat(fz.stats().inactive()).isEqualTo(5);
            assertThat(e.isFrozen()).isTrue();

            e.thaw();
            assertThat(e.isFrozen()).isFalse();
            awaitLatch(frozenDone);
            assertThat(only(log, "x")).containsExactlyElementsOf(names("x", 5));
            assertThat(only(log, "y")).containsExactlyElementsOf(names("y", 3));
            await().until(() -> fz.stats().inFlight() == 0 && sysFz.stats().inFlight() == 0);
            assertThat(fz.stats().completed()).isEqualTo(6);
        }
    }

    @Test
    void thawRunsTheWaitingItemsInQueueingOrder() {
        int n = 30;
        try (Workqueues e = engine("thaw")) {
            Workqueue ordered = e.allocOrdered("ofz", WqFlag.FREEZABLE);
            Workqueue bound = e.alloc("bfz", EnumSet.of(WqFlag.FREEZABLE), 0);
            Workqueue unbound = e.alloc("ufz", EnumSet.of(WqFlag.FREEZABLE, WqFlag.UNBOUND), 1);
            e.freeze();
            List<String> log = new CopyOnWriteArrayList<>();
            CountDownLatch done = new CountDownLatch(3 * n);
            AtomicInteger orderedRunning = new AtomicInteger();
            AtomicInteger orderedMax = new AtomicInteger();
            for (int i = 0; i < n; i++) {
                String name = "o" + i;
                ordered.queue(new Work(name, () -> {
                    orderedMax.accumulateAndGet(orderedRunning.incrementAndGet(), Math::max);
                    log.add(name);
                    orderedRunning.decrementAndGet();
                    done.countDown();
                }));
                bound.queue(recorders("b" + i, 1, log, done).get(0));
                unbound.queue(recorders("u" + i, 1, log, done).get(0));
            }
            assertThat(ordered.stats().inactive()).isEqualTo(n);
            assertThat(bound.stats().inactive()).isEqualTo(n);
            assertThat(unbound.stats().inactive()).isEqualTo(n);
            probe(e.systemWq());
            probe(e.systemUnboundWq());
            assertThat(log).isEmpty();

            e.thaw();
            awaitLatch(done);
            assertThat(only(log, "o")).containsExactlyElementsOf(names("o", n));
            assertThat(only(log, "u")).containsExactlyElementsOf(names("u", n).stream().map(s -> s + "0").toList());
            assertThat(only(log, "b")).containsExactlyElementsOf(names("b", n).stream().map(s -> s + "0").toList());
            assertThat(orderedMax).hasValue(1);
        }
    }

    @Test
    void aFreezableQueueAllocatedWhileFrozenIsFrozen() {
        try (Workqueues e = engine("late")) {
            e.freeze();
            Workqueue late = e.alloc("late-fz", EnumSet.of(WqFlag.FREEZABLE), 0);
            Workqueue lateUnbound = e.alloc("late-ufz", EnumSet.of(WqFlag.FREEZABLE, WqFlag.UNBOUND), 0);
            Workqueue lateOther = e.alloc("late-plain", Set.of(), 0);
            List<String> log = new CopyOnWriteArrayList<>();
            CountDownLatch done = new CountDownLatch(2);
            late.queue(recorders("late", 1, log, done).get(0));
            lateUnbound.queue(recorders("ulate", 1, log, done).get(0));
            probe(lateOther);
            probe(e.systemUnboundWq());
            assertThat(log).isEmpty();
            assertThat(late.stats().inactive()).isEqualTo(1);
            assertThat(lateUnbound.stats().inactive()).isEqualTo(1);

            e.thaw();
            awaitLatch(done);
            assertThat(log).containsExactlyInAnyOrder("late0", "ulate0");
            // and a queue allocated after the thaw is not frozen
            probe(e.alloc("after-thaw", EnumSet.of(WqFlag.FREEZABLE), 0));
        }
    }

    @Test
    void delayedItemsFiringWhileFrozenWaitForTheThaw() {
        try (Workqueues e = engine("dfrz")) {
            Workqueue fz = e.alloc("dfz", EnumSet.of(WqFlag.FREEZABLE), 0);
            e.freeze();
            AtomicInteger runs = new AtomicInteger();
            CountDownLatch ran = new CountDownLatch(1);
            DelayedWork dw = new DelayedWork("delayed-frozen", () -> {
                runs.incrementAndGet();
                ran.countDown();
            });
            long armedAt = System.nanoTime();
            assertThat(fz.queueDelayed(dw, Duration.ofMillis(50))).isTrue();
            // the timer fires: the item is queued and waits as inactive
            await().until(() -> fz.stats().inactive() == 1);
            assertThat(System.nanoTime() - armedAt).isGreaterThanOrEqualTo(Duration.ofMillis(50).toNanos());
            probe(e.systemWq()); // the pool is free and working
            assertThat(runs).hasValue(0);
            assertThat(dw.isPending()).isTrue();

            e.thaw();
            awaitLatch(ran);
            await().until(() -> fz.stats().inFlight() == 0);
            assertThat(runs).hasValue(1);
        }
    }

    @Test
    void shutdownWhileFrozenStillRunsTheWaitingItems() {
        Workqueues e = engine("sfrz");
        try (e) {
            Workqueue fz = e.alloc("sfz", EnumSet.of(WqFlag.FREEZABLE), 0);
            Workqueue ordered = e.allocOrdered("sofz", WqFlag.FREEZABLE);
            e.freeze();
            List<String> log = new CopyOnWriteArrayList<>();
            CountDownLatch done = new CountDownLatch(11);
            recorders("f", 5, log, done).forEach(fz::queue);
            recorders("o", 5, log, done).forEach(ordered::queue);
            recorders("sys", 1, log, done).forEach(e.systemFreezableWq()::queue);
            DelayedWork late = new DelayedWork("delayed-far", () -> log.add("delayed"));
            fz.queueDelayed(late, Duration.ofSeconds(20));
            assertThat(fz.stats().inactive()).isEqualTo(5);

            assertThat(e.shutdown(LONG)).as("shutdown of a frozen engine").isTrue();
            assertThat(done.getCount()).isZero();
            assertThat(only(log, "f")).containsExactlyElementsOf(names("f", 5));
            assertThat(only(log, "o")).containsExactlyElementsOf(names("o", 5));
            assertThat(log).contains("sys0", "delayed").hasSize(12);
            assertThat(e.isFrozen()).isFalse();
        }
    }

    /**
     * awaitFrozenIdle waits for the active items of frozen queues to go. An active item that is
     * cancelled before it starts is gone as much as one that finished: the waiting freezer must be
     * told at once, not when its timeout expires.
     */
    @Test
    void cancellingTheLastActiveFrozenItemWakesTheFreezer() throws Exception {
        try (Workqueues e = engine("cfrz")) {
            Workqueue fz = e.alloc("cfz", EnumSet.of(WqFlag.FREEZABLE), 0);
            CountDownLatch blockerIn = new CountDownLatch(1);
            CountDownLatch releaseBlocker = new CountDownLatch(1);
            // blocks without the hook: the pool's only running worker, so nothing else starts
            e.systemWq().queue(new Work("blocker", () -> {
                blockerIn.countDown();
                plainWait(releaseBlocker);
            }));
            awaitLatch(blockerIn);
            AtomicInteger activeRuns = new AtomicInteger();
            Work active = new Work("active-at-freeze", activeRuns::incrementAndGet);
            fz.queue(active); // active: on the pool's worklist behind the blocker
            e.freeze();
            CountDownLatch laterRan = new CountDownLatch(1);
            fz.queue(new Work("queued-while-frozen", laterRan::countDown));
            assertThat(fz.stats().active()).isEqualTo(1);
            assertThat(fz.stats().inactive()).isEqualTo(1);
            try {
                long t0 = System.nanoTime();
                CompletableFuture<Boolean> freezer = CompletableFuture.supplyAsync(() -> {
                    try {
                        return e.awaitFrozenIdle(Duration.ofSeconds(25));
                    } catch (InterruptedException ex) {
                        throw new IllegalStateException(ex);
                    }
                }, FreezeTest::daemon);
                Awaitility.await().during(Duration.ofMillis(300)).atMost(LONG).until(() -> !freezer.isDone());

                assertThat(active.cancel()).isTrue();
                assertThat(fz.stats().active()).isZero();
                Awaitility.await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(5))
                        .alias("awaitFrozenIdle returns once the last active item was cancelled")
                        .until(freezer::isDone);
                assertThat(freezer.get()).isTrue();
                assertThat(System.nanoTime() - t0).isLessThan(Duration.ofSeconds(20).toNanos());
            } finally {
                releaseBlocker.countDown();
                e.thaw();
            }
            awaitLatch(laterRan);
            assertThat(activeRuns).hasValue(0);
        }
    }
}
