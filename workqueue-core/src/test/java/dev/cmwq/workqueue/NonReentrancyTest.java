package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * PENDING and non-reentrancy: an item queued while pending is absorbed; queued while running it runs
 * once more after, never on two workers at once, even when queued for another CPU.
 */
@Timeout(60)
class NonReentrancyTest {

    @Test
    void queuedWhileRunningRunsOnceMoreAfterNeverConcurrently() throws Exception {
        // Monitor on: the first run blocks, so the pool may well start other workers; the second run
        // must still wait for the first, even though it was queued for the other CPU.
        try (Workqueues e = Workqueues.builder().cpus(2).build()) {
            Workqueue wq = e.alloc("nr", 0);
            AtomicInteger runs = new AtomicInteger();
            AtomicBoolean running = new AtomicBoolean();
            AtomicInteger violations = new AtomicInteger();
            List<String> threadNames = new ArrayList<>();
            CountDownLatch firstStarted = new CountDownLatch(1);
            CountDownLatch releaseFirst = new CountDownLatch(1);
            CountDownLatch twoRuns = new CountDownLatch(2);
            Work w = new Work("reentrant", () -> {
                if (!running.compareAndSet(false, true)) {
                    violations.incrementAndGet();
                }
                synchronized (threadNames) {
                    threadNames.add(Thread.currentThread().getName());
                }
                if (runs.incrementAndGet() == 1) {
                    firstStarted.countDown();
                    TestWaits.plainWait(releaseFirst);
                }
                running.set(false);
                twoRuns.countDown();
            });
            try {
                assertThat(wq.queueOn(0, w)).isTrue();
                await(firstStarted);
                assertThat(w.isPending()).as("PENDING while running").isFalse();
                assertThat(w.busy()).isEqualTo(Work.BUSY_RUNNING);

                assertThat(wq.queueOn(1, w)).as("queued while running").isTrue();
                assertThat(w.isPending()).isTrue();
                assertThat(w.busy()).isEqualTo(Work.BUSY_PENDING | Work.BUSY_RUNNING);
                assertThat(wq.queueOn(1, w)).as("queued again while pending").isFalse();
                assertThat(wq.queueOn(0, w)).as("queued again while pending").isFalse();
                assertThat(runs.get()).isEqualTo(1);
            } finally {
                releaseFirst.countDown();
            }
            await(twoRuns);
            await().until(() -> wq.stats().inFlight() == 0);
            assertThat(runs.get()).isEqualTo(2);
            assertThat(violations.get()).as("concurrent executions").isZero();
            assertThat(w.isPending()).isFalse();
            assertThat(w.busy()).isZero();
            synchronized (threadNames) {
                // The second run stays on the pool where the first ran (CPU 0), not the requested CPU 1.
                assertThat(threadNames).hasSize(2).allSatisfy(n -> assertThat(n).startsWith("kworker/0:"));
            }
            assertThat(wq.stats().started()).isEqualTo(2);
        }
    }

    @Test
    void queuedWhilePendingIsAbsorbed() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).build()) {
            Workqueue wq = e.alloc("nr", 0);
            Workqueue other = e.alloc("nr-other", 0);
            CountDownLatch blockerStarted = new CountDownLatch(1);
            CountDownLatch releaseBlocker = new CountDownLatch(1);
            AtomicInteger runs = new AtomicInteger();
            Work w = new Work("absorbed", runs::incrementAndGet);
            try {
                // A running item (not sleeping, as far as the pool knows) keeps 'w' pending.
                wq.queue(new Work("blocker", () -> {
                    blockerStarted.countDown();
                    TestWaits.plainWait(releaseBlocker);
                }));
                await(blockerStarted);
                assertThat(w.isPending()).isFalse();
                assertThat(wq.queue(w)).isTrue();
                assertThat(w.isPending()).isTrue();
                assertThat(w.busy()).isEqualTo(Work.BUSY_PENDING);
                assertThat(wq.queue(w)).isFalse();
                assertThat(wq.queueOn(0, w)).isFalse();
                assertThat(other.queue(w)).as("PENDING belongs to the item, whatever the queue").isFalse();
                assertThat(e.systemWq().queue(w)).isFalse();
                assertThat(wq.stats().inFlight()).isEqualTo(2);
                assertThat(other.stats().inFlight()).isZero();
            } finally {
                releaseBlocker.countDown();
            }
            await().until(() -> wq.stats().inFlight() == 0);
            assertThat(runs.get()).isEqualTo(1);
            assertThat(w.isPending()).isFalse();
            assertThat(wq.stats().started()).isEqualTo(2);
            assertThat(other.stats().started()).isZero();
        }
    }

    @Test
    void pendingIsClearedBeforeTheFunctionRuns() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(1).build()) {
            Workqueue wq = e.alloc("nr", 0);
            Workqueue unbound = e.alloc("nr-unbound", 0, WqFlag.UNBOUND);
            for (Workqueue q : List.of(wq, unbound)) {
                AtomicInteger runs = new AtomicInteger();
                AtomicReference<Boolean> pendingInside = new AtomicReference<>();
                AtomicReference<Boolean> requeued = new AtomicReference<>();
                AtomicReference<Boolean> requeuedAgain = new AtomicReference<>();
                CountDownLatch twoRuns = new CountDownLatch(2);
                Work w = Work.of("self-requeue", self -> {
                    if (runs.incrementAndGet() == 1) {
                        pendingInside.set(self.isPending());
                        requeued.set(q.queue(self));
                        requeuedAgain.set(q.queue(self));
                    }
                    twoRuns.countDown();
                });
                assertThat(q.queue(w)).isTrue();
                await(twoRuns);
                await().until(() -> q.stats().inFlight() == 0);
                assertThat(pendingInside.get()).as("isPending() inside the function (%s)", q.name()).isFalse();
                assertThat(requeued.get()).as("queueing itself from its function (%s)", q.name()).isTrue();
                assertThat(requeuedAgain.get()).as("second self-queueing, still pending (%s)", q.name()).isFalse();
                assertThat(runs.get()).isEqualTo(2);
            }
        }
    }

    @Test
    void stressManyProducersQueueTheSameItemsOnRandomCpus() throws Exception {
        int nItems = 16;
        int producers = 8;
        int iterations = 150_000;
        try (Workqueues e = Workqueues.builder().cpus(2).build()) {
            Workqueue wq = e.alloc("stress", 0);
            AtomicLong seq = new AtomicLong();
            AtomicBoolean[] running = new AtomicBoolean[nItems];
            AtomicIntegerArray runs = new AtomicIntegerArray(nItems);
            AtomicIntegerArray queued = new AtomicIntegerArray(nItems);     // successful queue calls
            AtomicLongArray lastQueuedSeq = new AtomicLongArray(nItems);    // seq taken just before the last successful queue
            AtomicLongArray lastRunStartSeq = new AtomicLongArray(nItems);  // seq taken at the start of the last run
            AtomicInteger violations = new AtomicInteger();
            AtomicInteger selfRequeues = new AtomicInteger();
            Work[] items = new Work[nItems];
            for (int i = 0; i < nItems; i++) {
                int idx = i;
                running[i] = new AtomicBoolean();
                items[i] = Work.of("stress-" + i, self -> {
                    if (!running[idx].compareAndSet(false, true)) {
                        violations.incrementAndGet();
                    }
                    lastRunStartSeq.accumulateAndGet(idx, seq.incrementAndGet(), Math::max);
                    int r = runs.incrementAndGet(idx);
                    if (r % 16 == 0) {
                        // queue itself for the other CPU while running: must stay on this pool
                        int cpu = 1 - Worker.CURRENT.get().pool.cpu;
                        long s = seq.incrementAndGet();
                        if (wq.queueOn(cpu, self)) {
                            queued.incrementAndGet(idx);
                            lastQueuedSeq.accumulateAndGet(idx, s, Math::max);
                            selfRequeues.incrementAndGet();
                        }
                    }
                    if (r % 8 == 0) {
                        // sleep (told to the pool): other workers of the pool start, some with this item
                        Workqueues.blocking(() -> LockSupport.parkNanos(50_000));
                    } else {
                        for (int k = 0; k < 200; k++) {
                            Thread.onSpinWait();
                        }
                    }
                    running[idx].set(false);
                });
            }

            CyclicBarrier start = new CyclicBarrier(producers);
            AtomicReference<Throwable> failure = new AtomicReference<>();
            List<Thread> threads = new ArrayList<>();
            for (int p = 0; p < producers; p++) {
                threads.add(Thread.ofPlatform().name("producer-" + p).start(() -> {
                    ThreadLocalRandom rnd = ThreadLocalRandom.current();
                    try {
                        start.await(30, SECONDS);
                        for (int it = 0; it < iterations; it++) {
                            int idx = rnd.nextInt(nItems);
                            long s = seq.incrementAndGet();
                            if (wq.queueOn(rnd.nextInt(2), items[idx])) {
                                queued.incrementAndGet(idx);
                                lastQueuedSeq.accumulateAndGet(idx, s, Math::max);
                            }
                            if ((it & 63) == 0) {
                                Thread.yield();
                            }
                        }
                    } catch (Throwable t) {
                        failure.compareAndSet(null, t);
                    }
                }));
            }
            for (Thread t : threads) {
                t.join(40_000);
                assertThat(t.isAlive()).as("%s finished", t.getName()).isFalse();
            }
            assertThat(failure.get()).isNull();
            await().until(() -> wq.stats().inFlight() == 0);

            assertThat(violations.get()).as("concurrent executions of one item").isZero();
            long totalQueued = 0;
            for (int i = 0; i < nItems; i++) {
                assertThat(items[i].isPending()).as("item %d pending after quiescence", i).isFalse();
                assertThat(runs.get(i)).as("runs of item %d", i).isPositive();
                // every successful queueing ran exactly once
                assertThat(runs.get(i)).as("runs of item %d vs successful queue calls", i).isEqualTo(queued.get(i));
                // the last successful queueing was followed by a run
                assertThat(lastRunStartSeq.get(i)).as("last run start of item %d after its last queueing", i)
                        .isGreaterThan(lastQueuedSeq.get(i));
                totalQueued += queued.get(i);
            }
            WorkqueueStats stats = wq.stats();
            assertThat(stats.started()).isEqualTo(totalQueued);
            assertThat(stats.completed()).isEqualTo(totalQueued);
            assertThat(selfRequeues.get()).as("self-requeues while running happened").isPositive();
            assertThat(totalQueued).as("successful queue calls").isGreaterThan(1_000L);
        }
    }
}
