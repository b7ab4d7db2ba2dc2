package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;

import static java.util.concurrent.TimeUnit.MILLISECONDS;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The race proof: many threads queueing, cancelling, flushing and re-arming the same few items
 * (plain and delayed) on a bound queue with max_active 2 and an unbound queue, for many iterations,
 * asserting the invariants:
 * <ol type="a">
 *   <li>an item never runs twice at once (a CAS flag in its function);</li>
 *   <li>an item queued and not cancelled runs: every successful queueing (a {@code true} return,
 *       or a {@code modDelayed} that found the item idle) opens one "instance" that ends either
 *       with exactly one execution or with exactly one cancel returning {@code true}, so after
 *       the threads stop and every item is flushed, executions = instances - cancels, per item;</li>
 *   <li>a workqueue flush returns only after every item queued (true) on it before the call has
 *       finished, and an item flush only after its last queueing has finished (unless a cancel
 *       took that queueing away);</li>
 *   <li>cancelSync returns with the item idle: an item that only re-queues itself, stopped by
 *       one thread with cancelSync, is neither pending nor running when cancelSync returns.</li>
 * </ol>
 *
 * <p>Events are ordered by one global ticket counter ({@link #clock}). A queueing records the
 * ticket taken before the call; the execution that serves it clears PENDING after it was set, so
 * its own start ticket is larger. A flush is correct for that queueing if, when it returns, an
 * execution with a larger start ticket has finished (or a cancel of the item ended after it).
 */
@Timeout(120)
class WorkRaceTest {
    private static final int RACE_THREADS = 8;
    private static final long RACE_NANOS = SECONDS.toNanos(10);

    private final AtomicLong clock = new AtomicLong();
    private final AtomicInteger concurrentRuns = new AtomicInteger();
    private final Queue<String> violations = new ConcurrentLinkedQueue<>();
    private final AtomicInteger violationCount = new AtomicInteger();

    private long tick() {
        return clock.incrementAndGet();
    }

    private void violation(String what) {
        if (violationCount.incrementAndGet() <= 20) {
            violations.add(what);
        }
    }

    private static void max(AtomicLong a, long v) {
        a.accumulateAndGet(v, Math::max);
    }

    /** One raced item and its ledger. */
    private final class Item {
        final String name;
        final Workqueue q;
        final Work w;
        final DelayedWork dw;
        /** Delayed group A: modDelayed but no cancelSync (so never disabled, and a mod always queues). */
        final boolean mod;
        final AtomicBoolean running = new AtomicBoolean();
        /** Instances opened: true returns of queue*, queueDelayed; modDelayed returning false. */
        final AtomicLong instances = new AtomicLong();
        /** Instances closed by a cancel/cancelSync returning true. */
        final AtomicLong cancelled = new AtomicLong();
        final AtomicLong executions = new AtomicLong();
        /** Ticket before the last immediate queueing (on the workqueue, not armed) that returned. */
        final AtomicLong lastImmediate = new AtomicLong();
        /** Ticket before the last queueing of any kind (immediate or armed) that returned. */
        final AtomicLong lastAny = new AtomicLong();
        /** Ticket after the last cancel/cancelSync that returned true. */
        final AtomicLong lastCancelEnd = new AtomicLong();
        /** Ticket after the last modDelayed that returned true (it took the item off its queue or timer). */
        final AtomicLong lastModTrueEnd = new AtomicLong();
        /** Start ticket of the last execution that finished. */
        final AtomicLong lastFinishedStart = new AtomicLong();
        /**
         * Cancels and mods in progress: one may already have taken a queueing away (releasing a
         * flush) without having published its ticket yet. Raised before the call, lowered after
         * the ticket is published; a check reads it before the tickets.
         */
        final AtomicInteger removers = new AtomicInteger();

        Item(String name, Workqueue q, int kind) {
            this.name = name;
            this.q = q;
            this.mod = kind == 1;
            if (kind == 0) {
                this.w = new Work(name, this::body);
                this.dw = null;
            } else {
                this.dw = new DelayedWork(name, this::body);
                this.w = dw;
            }
        }

        void body() {
            long ts = tick();
            if (!running.compareAndSet(false, true)) {
                concurrentRuns.incrementAndGet();
                violation("(a) " + name + " ran twice at once");
            }
            executions.incrementAndGet();
            int r = ThreadLocalRandom.current().nextInt(32);
            if (r == 0) {
                LockSupport.parkNanos(200_000); // sleeps: the pool may start another worker
            } else if (r == 1) {
                Workqueues.blocking(() -> LockSupport.parkNanos(100_000));
            }
            running.set(false);
            max(lastFinishedStart, ts);
        }

        /** True if the queueing whose pre-call ticket was {@code s} is accounted for. */
        boolean served(long s, boolean modConcurrentOnly, long flushStart) {
            if (removers.get() > 0) {
                return true; // a cancel or mod in progress may have taken it away
            }
            if (lastFinishedStart.get() > s || lastCancelEnd.get() > s) {
                return true;
            }
            long modEnd = lastModTrueEnd.get();
            return modConcurrentOnly ? modEnd > flushStart : modEnd > s;
        }

        @Override
        public String toString() {
            return name + "[instances=" + instances + ", cancelled=" + cancelled + ", executions=" + executions
                    + ", pending=" + w.isPending() + ", busy=" + w.busy() + "]";
        }
    }

    private final LongAdder ops = new LongAdder();
    private final LongAdder wqFlushes = new LongAdder();
    private final LongAdder itemFlushes = new LongAdder();

    private void raceOnce(ThreadLocalRandom rnd, List<Item> items, List<Workqueue> queues) {
        Item it = items.get(rnd.nextInt(items.size()));
        int op = rnd.nextInt(100);
        ops.increment();
        if (it.dw != null && op >= 70) {
            Duration d = rnd.nextInt(3) == 0 ? Duration.ZERO : Duration.ofNanos(rnd.nextLong(MILLISECONDS.toNanos(2)) + 1);
            long t0 = tick();
            if (it.mod && op >= 85) {
                it.removers.incrementAndGet();
                try {
                    boolean wasPending = it.q.modDelayed(it.dw, d);
                    if (wasPending) {
                        max(it.lastModTrueEnd, tick());
                    } else {
                        it.instances.incrementAndGet();
                    }
                    max(it.lastAny, t0);
                    if (d.isZero()) {
                        max(it.lastImmediate, t0);
                    }
                } finally {
                    it.removers.decrementAndGet();
                }
            } else if (it.q.queueDelayed(it.dw, d)) {
                it.instances.incrementAndGet();
                max(it.lastAny, t0);
                if (d.isZero()) {
                    max(it.lastImmediate, t0);
                }
            }
            return;
        }
        if (op < 30) {
            long t0 = tick();
            if (it.q.queue(it.w)) {
                it.instances.incrementAndGet();
                max(it.lastImmediate, t0);
                max(it.lastAny, t0);
            }
        } else if (op < 45) {
            long t0 = tick();
            if (it.q.queueOn(rnd.nextInt(2), it.w)) {
                it.instances.incrementAndGet();
                max(it.lastImmediate, t0);
                max(it.lastAny, t0);
            }
        } else if (op < 60) {
            boolean sync = op >= 55 && !it.mod;
            it.removers.incrementAndGet();
            try {
                if (sync ? it.w.cancelSync() : it.w.cancel()) {
                    it.cancelled.incrementAndGet();
                    max(it.lastCancelEnd, tick());
                }
            } finally {
                it.removers.decrementAndGet();
            }
        } else if (op < 66) {
            long s = it.lastAny.get();
            long f = tick();
            it.w.flush();
            itemFlushes.increment();
            if (s != 0 && !it.served(s, true, f)) {
                violation("(c) " + it.name + ".flush() returned before its queueing at ticket " + s + " finished: " + it);
            }
        } else if (op < 70) {
            Workqueue q = queues.get(rnd.nextInt(queues.size()));
            List<Item> mine = items.stream().filter(i -> i.q == q).toList();
            long[] s = new long[mine.size()];
            for (int i = 0; i < s.length; i++) {
                s[i] = mine.get(i).lastImmediate.get();
            }
            long f = tick();
            q.flush();
            wqFlushes.increment();
            for (int i = 0; i < s.length; i++) {
                Item m = mine.get(i);
                if (s[i] != 0 && !m.served(s[i], false, f)) {
                    violation("(c) " + q.name() + ".flush() returned before " + m.name + " queued at ticket " + s[i]
                            + " finished: " + m);
                }
            }
        }
    }

    /** A reserved item that only re-queues itself; one thread starts it and stops it with cancelSync. */
    private final class Reserved {
        final String name;
        final Work w;
        final AtomicBoolean running = new AtomicBoolean();
        final AtomicBoolean stopped = new AtomicBoolean(true);
        final AtomicLong count = new AtomicLong();
        final Workqueue q;
        final boolean delayed;
        int cycles;

        Reserved(String name, Workqueue q, boolean delayed) {
            this.name = name;
            this.q = q;
            this.delayed = delayed;
            if (delayed) {
                this.w = DelayedWork.create(name, self -> {
                    body();
                    q.queueDelayed(self, ThreadLocalRandom.current().nextBoolean() ? Duration.ZERO : Duration.ofMillis(1));
                });
            } else {
                this.w = Work.of(name, self -> {
                    body();
                    q.queue(self);
                });
            }
        }

        void body() {
            if (!running.compareAndSet(false, true)) {
                concurrentRuns.incrementAndGet();
                violation("(a) reserved " + name + " ran twice at once");
            }
            if (stopped.get()) {
                violation("(d) reserved " + name + " ran after cancelSync returned");
            }
            count.incrementAndGet();
            running.set(false);
        }

        void loop(long end) {
            while (System.nanoTime() - end < 0) {
                cycles++;
                stopped.set(false);
                long c0 = count.get();
                boolean queued = delayed ? q.queueDelayed((DelayedWork) w, Duration.ofNanos(1)) : q.queue(w);
                if (!queued) {
                    violation("(d) reserved " + name + ": queueing after cancelSync returned false (not idle)");
                }
                long deadline = System.nanoTime() + SECONDS.toNanos(20);
                while (count.get() < c0 + 2 + ThreadLocalRandom.current().nextInt(3)) {
                    if (System.nanoTime() - deadline > 0) {
                        violation("(d) reserved " + name + " stopped re-queueing itself: busy=" + w.busy());
                        return;
                    }
                    Thread.yield();
                }
                w.cancelSync();
                stopped.set(true);
                int busy = w.busy();
                if (busy != 0) {
                    violation("(d) reserved " + name + " busy=" + busy + " right after cancelSync returned");
                }
                if (w.isDisabled()) {
                    violation("(d) reserved " + name + " still disabled after cancelSync");
                }
            }
        }
    }

    /** Stacks of the test's and the engine's threads, and every item's ledger, for a stuck thread. */
    private String dumpStuck(List<Item> items, Workqueues e) {
        StringBuilder b = new StringBuilder("stuck; items:\n");
        for (Item it : items) {
            b.append("  ").append(it).append(" lastAny=").append(it.lastAny).append(" lastFinishedStart=")
                    .append(it.lastFinishedStart).append(" queuedGen=").append(it.w.queuedGen).append(" startedGen=")
                    .append(it.w.startedGen).append(" doneGen=").append(it.w.doneGen).append(" cancelledGen=")
                    .append(it.w.cancelledGen).append('\n');
        }
        b.append("pools: ").append(e.pools()).append('\n');
        Thread.getAllStackTraces().forEach((t, st) -> {
            boolean idleWorker = st.length > 0 && List.of(st).stream().anyMatch(el -> el.getMethodName().equals("idleLocked"));
            if ((t.getName().startsWith("test-") || t.getName().startsWith("kworker") || t.getName().startsWith("race"))
                    && !idleWorker && t.isAlive()) {
                b.append(t.getName()).append(' ').append(t.getState()).append('\n');
                for (StackTraceElement el : st) {
                    b.append("    at ").append(el).append('\n');
                }
            }
        });
        return b.toString();
    }

    @Test
    void manyThreadsQueueCancelFlushAndRearmTheSameItems() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(2).name("race").build()) {
            Workqueue bound = e.alloc("race-bound", 2);
            Workqueue unbound = e.alloc("race-unbound", 0, WqFlag.UNBOUND);
            List<Workqueue> queues = List.of(bound, unbound);
            List<Item> items = new ArrayList<>();
            for (Workqueue q : queues) {
                String p = q == bound ? "b" : "u";
                for (int i = 0; i < 3; i++) {
                    items.add(new Item(p + "-work" + i, q, 0));
                }
                for (int i = 0; i < 2; i++) {
                    items.add(new Item(p + "-dmod" + i, q, 1));
                    items.add(new Item(p + "-dsync" + i, q, 2));
                }
            }
            Reserved selfRequeue = new Reserved("self-requeue", bound, false);
            Reserved selfRearm = new Reserved("self-rearm", unbound, true);

            long end = System.nanoTime() + RACE_NANOS;
            CountDownLatch go = new CountDownLatch(1);
            List<Thread> threads = new ArrayList<>();
            AtomicReference<Throwable> crash = new AtomicReference<>();
            for (int t = 0; t < RACE_THREADS; t++) {
                threads.add(new Thread(() -> {
                    ThreadLocalRandom rnd = ThreadLocalRandom.current();
                    try {
                        go.await();
                        while (System.nanoTime() - end < 0) {
                            raceOnce(rnd, items, queues);
                        }
                    } catch (Throwable x) {
                        crash.compareAndSet(null, x);
                    }
                }, "test-racer-" + t));
            }
            for (Reserved r : List.of(selfRequeue, selfRearm)) {
                threads.add(new Thread(() -> {
                    try {
                        go.await();
                        r.loop(end);
                    } catch (Throwable x) {
                        crash.compareAndSet(null, x);
                    }
                }, "test-reserved-" + r.name));
            }
            threads.forEach(th -> {
                th.setDaemon(true);
                th.start();
            });
            go.countDown();
            for (Thread th : threads) {
                th.join(Math.max(1, SECONDS.toMillis(20) + (end - System.nanoTime()) / 1_000_000));
                if (th.isAlive()) {
                    String dump = dumpStuck(items, e);
                    System.out.println(dump);
                    assertThat(th.isAlive()).as("%s finished (not stuck in a flush or cancel)%n%s", th.getName(), dump).isFalse();
                }
            }
            assertThat(crash.get()).as("exception in a racing thread").isNull();

            // Quiesce: fire what is armed and wait for every item to finish.
            for (Item it : items) {
                DelayedWorkTest.within30s("flush " + it.name, it.w::flush);
            }
            await().until(() -> items.stream().allMatch(it -> it.w.busy() == 0));
            await().until(() -> bound.stats().inFlight() == 0 && unbound.stats().inFlight() == 0);
            assertThat(selfRequeue.w.busy()).isZero();
            assertThat(selfRearm.w.busy()).isZero();
            assertThat(e.timer().size()).as("nothing left armed").isZero();

            System.out.printf("WorkRaceTest: %d ops, %d workqueue flushes, %d item flushes, %d + %d reserved cycles%n",
                    ops.sum(), wqFlushes.sum(), itemFlushes.sum(), selfRequeue.cycles, selfRearm.cycles);
            for (Item it : items) {
                System.out.println("  " + it);
            }
            assertThat(violations).as("invariant violations (%d in all)", violationCount.get()).isEmpty();
            assertThat(concurrentRuns.get()).as("(a) concurrent executions").isZero();
            for (Item it : items) {
                assertThat(it.executions.get()).as("(b) %s: executions = instances - cancels", it)
                        .isEqualTo(it.instances.get() - it.cancelled.get());
            }
            assertThat(items).allSatisfy(it -> assertThat(it.executions.get()).as(it.name + " ran").isPositive());
            assertThat(selfRequeue.cycles).isGreaterThan(10);
            assertThat(selfRearm.cycles).isGreaterThan(10);
        }
    }

    /**
     * The deterministic core of a hang the race test finds: an item queued again while it runs,
     * after a workqueue flush moved the queue to the next flush color. When the first execution
     * ends, the flush (which waits for that execution's color) must return. The kernel's
     * process_one_work() saves the item's color before running it and decrements that color's
     * in-flight count afterwards, whatever the item was re-queued with meanwhile.
     */
    @Test
    @Timeout(60)
    void flushReturnsWhenAnItemRequeuedWhileRunningFinishes() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(2).name("race-color").build()) {
            for (Workqueue q : List.of(e.alloc("race-color-bound", 0), e.alloc("race-color-unbound", 0, WqFlag.UNBOUND))) {
                AtomicInteger runs = new AtomicInteger();
                CountDownLatch firstStarted = new CountDownLatch(1);
                CountDownLatch releaseFirst = new CountDownLatch(1);
                Work w = new Work("requeued-while-running", () -> {
                    if (runs.incrementAndGet() == 1) {
                        firstStarted.countDown();
                        Workqueues.blocking(() -> TestWaits.plainWait(releaseFirst));
                    }
                });
                assertThat(q.queueOn(0, w)).isTrue();
                assertThat(firstStarted.await(30, SECONDS)).isTrue();
                java.util.concurrent.FutureTask<Boolean> flush = new java.util.concurrent.FutureTask<>(q::flush);
                Thread flusher = new Thread(flush, "test-flusher");
                flusher.setDaemon(true);
                try {
                    flusher.start();
                    // The flusher has switched the queue to the next color once it parks.
                    await().until(() -> flusher.getState() == Thread.State.WAITING);
                    assertThat(q.queueOn(0, w)).as("queued again while running (next color)").isTrue();
                } finally {
                    releaseFirst.countDown();
                }
                await().until(() -> runs.get() == 2 && w.busy() == 0);
                Boolean waited;
                try {
                    waited = flush.get(10, SECONDS);
                } catch (java.util.concurrent.TimeoutException stuck) {
                    throw new AssertionError(q.name() + ": flush() still waiting 10 s after the item it waits for finished "
                            + "(and the re-queued execution too); in flight now: " + q.stats().inFlight(), stuck);
                }
                assertThat(waited).as("flush waited for the running item").isTrue();
                // Later flushes work too (the color counts are intact).
                assertThat(DelayedWorkTest.within30s("flush", q::flush)).isFalse();
            }
        }
    }

    /**
     * One thread keeps moving a delayed item's timer (modDelayed with 0 to 2 ms) while another
     * cancelSyncs it and queues it again: never two executions at once, and nothing is left
     * pending (or armed) at the end.
     */
    @Test
    void modDelayedAgainstCancelSyncAndRequeue() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(2).name("race-mod").build()) {
            for (Workqueue q : List.of(e.alloc("race-mod-bound", 2), e.alloc("race-mod-unbound", 0, WqFlag.UNBOUND))) {
                AtomicBoolean running = new AtomicBoolean();
                AtomicLong runs = new AtomicLong();
                DelayedWork dw = new DelayedWork("focused", () -> {
                    if (!running.compareAndSet(false, true)) {
                        concurrentRuns.incrementAndGet();
                    }
                    runs.incrementAndGet();
                    if (ThreadLocalRandom.current().nextInt(16) == 0) {
                        LockSupport.parkNanos(100_000);
                    }
                    running.set(false);
                });
                long end = System.nanoTime() + MILLISECONDS.toNanos(2_500);
                AtomicReference<Throwable> crash = new AtomicReference<>();
                LongAdder mods = new LongAdder();
                LongAdder cancels = new LongAdder();
                Thread modder = new Thread(() -> {
                    ThreadLocalRandom rnd = ThreadLocalRandom.current();
                    try {
                        while (System.nanoTime() - end < 0) {
                            long nanos = rnd.nextInt(4) == 0 ? 0 : rnd.nextLong(MILLISECONDS.toNanos(2)) + 1;
                            q.modDelayed(dw, Duration.ofNanos(nanos));
                            mods.increment();
                        }
                    } catch (Throwable x) {
                        crash.compareAndSet(null, x);
                    }
                }, "test-modder");
                Thread canceller = new Thread(() -> {
                    ThreadLocalRandom rnd = ThreadLocalRandom.current();
                    try {
                        while (System.nanoTime() - end < 0) {
                            dw.cancelSync();
                            cancels.increment();
                            switch (rnd.nextInt(3)) {
                                case 0 -> q.queue(dw);
                                case 1 -> q.queueDelayed(dw, Duration.ofNanos(rnd.nextLong(MILLISECONDS.toNanos(1)) + 1));
                                default -> q.queueDelayed(dw, Duration.ZERO);
                            }
                        }
                    } catch (Throwable x) {
                        crash.compareAndSet(null, x);
                    }
                }, "test-canceller");
                for (Thread th : List.of(modder, canceller)) {
                    th.setDaemon(true);
                    th.start();
                }
                for (Thread th : List.of(modder, canceller)) {
                    th.join(SECONDS.toMillis(40));
                    assertThat(th.isAlive()).as("%s finished", th.getName()).isFalse();
                }
                assertThat(crash.get()).isNull();
                DelayedWorkTest.within30s("flush", dw::flush);
                await().until(() -> dw.busy() == 0);
                assertThat(dw.isPending()).as("no PENDING left stuck").isFalse();
                assertThat(dw.isDisabled()).isFalse();
                assertThat(e.timer().size()).isZero();
                await().until(() -> q.stats().inFlight() == 0);
                System.out.printf("WorkRaceTest focused (%s): %d mods, %d cancelSyncs, %d runs%n", q.name(), mods.sum(),
                        cancels.sum(), runs.get());
                assertThat(concurrentRuns.get()).as("(a) concurrent executions").isZero();
                assertThat(mods.sum()).isPositive();
                assertThat(cancels.sum()).isPositive();

                // Still a working item afterwards.
                long before = runs.get();
                assertThat(q.queue(dw)).isTrue();
                await().until(() -> runs.get() == before + 1 && dw.busy() == 0);
            }
        }
    }
}
