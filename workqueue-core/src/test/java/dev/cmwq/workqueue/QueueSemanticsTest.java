package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The kernel's return values and item states: {@code queue_work()} true/false, {@code work_pending()},
 * {@code work_busy()}, the self-requeue idiom, subclassed items, default names.
 */
@Timeout(60)
class QueueSemanticsTest {
    private static final Duration LONG = Duration.ofSeconds(30);

    /** A 1-CPU engine without the sampling monitor: a worker blocked without hooks keeps its pool busy. */
    private static Workqueues engine() {
        return Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).name("qsem").build();
    }

    /** Queues an item that occupies the CPU-0 pool's only running slot until {@code release}. */
    private static void occupy(Workqueue wq, CountDownLatch release) {
        CountDownLatch started = new CountDownLatch(1);
        wq.queue(new Work("occupier", () -> {
            started.countDown();
            awaitLatch(release);
        }));
        awaitLatch(started);
    }

    /** Runs a marker item on an ordered queue and waits for it: everything queued before has run. */
    private static void barrier(Workqueue ordered) {
        CountDownLatch done = new CountDownLatch(1);
        assertThat(ordered.queue(new Work("barrier", done::countDown))).isTrue();
        awaitLatch(done);
    }

    @Test
    void queueReturnsFalseWhilePendingAndTheFunctionRunsOnce() {
        try (Workqueues e = engine()) {
            Workqueue wq = e.systemWq();
            CountDownLatch release = new CountDownLatch(1);
            occupy(wq, release);

            AtomicInteger runs = new AtomicInteger();
            CountDownLatch ran = new CountDownLatch(1);
            Work w = new Work("counted", () -> {
                runs.incrementAndGet();
                ran.countDown();
            });
            assertThat(w.isPending()).isFalse();
            assertThat(w.busy()).isZero();

            assertThat(wq.queue(w)).as("first queue").isTrue();
            assertThat(w.isPending()).isTrue();
            assertThat(w.busy()).isEqualTo(Work.BUSY_PENDING);
            assertThat(wq.queue(w)).as("second queue while pending").isFalse();
            assertThat(wq.queueOn(0, w)).as("queueOn while pending").isFalse();
            assertThat(e.systemLongWq().queue(w)).as("another workqueue while pending").isFalse();
            assertThat(e.systemUnboundWq().queue(w)).as("an unbound workqueue while pending").isFalse();
            assertThat(runs).hasValue(0);

            release.countDown();
            awaitLatch(ran);
            await().atMost(LONG).until(() -> wq.stats().inFlight() == 0 && e.systemLongWq().stats().inFlight() == 0
                    && e.systemUnboundWq().stats().inFlight() == 0);
            assertThat(runs).as("absorbed queueings run the function once").hasValue(1);
            assertThat(e.systemLongWq().stats().started()).isZero();
            assertThat(e.systemUnboundWq().stats().started()).isZero();
            assertThat(wq.stats().started()).isEqualTo(2); // occupier + counted
            assertThat(w.isPending()).isFalse();
            await().atMost(LONG).until(() -> w.busy() == 0);

            // idle again: queueable again
            CountDownLatch ranAgain = new CountDownLatch(1);
            Work w2 = new Work("again", ranAgain::countDown);
            assertThat(wq.queue(w2)).isTrue();
            awaitLatch(ranAgain);
            await().atMost(LONG).until(() -> !w2.isPending() && w2.busy() == 0);
            assertThat(wq.queue(w2)).isTrue();
        }
    }

    @Test
    void pendingIsClearedBeforeTheFunctionRunsAndBusyReportsBothBits() {
        try (Workqueues e = engine()) {
            Workqueue wq = e.systemWq();
            AtomicInteger runs = new AtomicInteger();
            CountDownLatch firstStarted = new CountDownLatch(1);
            CountDownLatch releaseFirst = new CountDownLatch(1);
            CountDownLatch secondDone = new CountDownLatch(1);
            List<Boolean> pendingSeenInside = new CopyOnWriteArrayList<>();
            List<Thread> runners = new CopyOnWriteArrayList<>();
            Work[] self = new Work[1];
            Work w = new Work("busy-bits", () -> {
                pendingSeenInside.add(self[0].isPending());
                runners.add(Thread.currentThread());
                if (runs.incrementAndGet() == 1) {
                    firstStarted.countDown();
                    awaitLatch(releaseFirst);
                } else {
                    secondDone.countDown();
                }
            });
            self[0] = w;

            assertThat(wq.queue(w)).isTrue();
            awaitLatch(firstStarted);
            assertThat(w.isPending()).as("pending while running").isFalse();
            assertThat(w.busy()).isEqualTo(Work.BUSY_RUNNING);

            assertThat(wq.queue(w)).as("a running item may be queued again").isTrue();
            assertThat(w.isPending()).isTrue();
            assertThat(w.busy()).isEqualTo(Work.BUSY_PENDING | Work.BUSY_RUNNING);
            assertThat(wq.queue(w)).as("but only once").isFalse();

            releaseFirst.countDown();
            awaitLatch(secondDone);
            await().atMost(LONG).until(() -> w.busy() == 0 && wq.stats().inFlight() == 0);
            assertThat(runs).hasValue(2);
            assertThat(pendingSeenInside).containsExactly(false, false);
            assertThat(wq.stats().started()).isEqualTo(2);
            assertThat(wq.stats().completed()).isEqualTo(2);
        }
    }

    @Test
    void pendingOnAnUnboundQueueBehindMaxActive() {
        try (Workqueues e = engine()) {
            Workqueue ordered = e.allocOrdered("sem-ordered");
            CountDownLatch release = new CountDownLatch(1);
            CountDownLatch blockerStarted = new CountDownLatch(1);
            ordered.queue(new Work("blocker", () -> {
                blockerStarted.countDown();
                awaitLatch(release);
            }));
            awaitLatch(blockerStarted);
            AtomicInteger runs = new AtomicInteger();
            Work w = new Work("inactive", runs::incrementAndGet);
            assertThat(ordered.queue(w)).isTrue();
            assertThat(ordered.stats().inactive()).isEqualTo(1);
            assertThat(w.isPending()).isTrue();
            assertThat(w.busy()).isEqualTo(Work.BUSY_PENDING);
            assertThat(ordered.queue(w)).isFalse();
            release.countDown();
            barrier(ordered);
            assertThat(runs).hasValue(1);
            assertThat(w.isPending()).isFalse();
        }
    }

    @Test
    void selfRequeueingItemRunsAFixedNumberOfTimes() {
        try (Workqueues e = engine()) {
            Workqueue ordered = e.allocOrdered("sem-self");
            int times = 5;
            AtomicInteger runs = new AtomicInteger();
            List<Boolean> requeueResults = new CopyOnWriteArrayList<>();
            List<Boolean> pendingAtStart = new CopyOnWriteArrayList<>();
            CountDownLatch last = new CountDownLatch(1);
            Work w = Work.of("self-requeue", self -> {
                pendingAtStart.add(self.isPending());
                if (runs.incrementAndGet() < times) {
                    requeueResults.add(ordered.queue(self));
                } else {
                    last.countDown();
                }
            });
            assertThat(w.name()).isEqualTo("self-requeue");
            assertThat(ordered.queue(w)).isTrue();
            awaitLatch(last);
            barrier(ordered);
            assertThat(runs).hasValue(times);
            assertThat(requeueResults).hasSize(times - 1).containsOnly(true);
            assertThat(pendingAtStart).hasSize(times).containsOnly(false);
            assertThat(ordered.stats().started()).isEqualTo(times + 1L); // + barrier
        }
    }

    @Test
    void selfRequeueOnABoundQueue() {
        try (Workqueues e = engine()) {
            Workqueue wq = e.systemWq();
            AtomicInteger runs = new AtomicInteger();
            CountDownLatch last = new CountDownLatch(1);
            Work w = Work.of("bound-self", self -> {
                if (runs.incrementAndGet() < 3) {
                    wq.queue(self);
                } else {
                    last.countDown();
                }
            });
            wq.queue(w);
            awaitLatch(last);
            await().atMost(LONG).until(() -> wq.stats().inFlight() == 0);
            assertThat(runs).hasValue(3);
            assertThat(wq.stats().completed()).isEqualTo(3);
        }
    }

    static final class Embedded extends Work {
        final AtomicInteger payload = new AtomicInteger();
        final CountDownLatch done = new CountDownLatch(1);
        volatile String seenName;

        Embedded() {
            super("embedded-work");
        }

        @Override
        protected void run() {
            payload.incrementAndGet();
            seenName = name();
            done.countDown();
        }
    }

    @Test
    void subclassOverridingRunIsExecuted() {
        try (Workqueues e = engine()) {
            Embedded w = new Embedded();
            assertThat(w.name()).isEqualTo("embedded-work");
            assertThat(w).hasToString("embedded-work");
            assertThat(e.systemWq().queue(w)).isTrue();
            awaitLatch(w.done);
            assertThat(w.payload).hasValue(1);
            assertThat(w.seenName).isEqualTo("embedded-work");
        }
    }

    static void staticTarget() {
    }

    static final class NamedTask implements Runnable {
        @Override
        public void run() {
        }
    }

    @Test
    void defaultNamesComeFromTheFunctionsClass() {
        String lambdaName = QueueSemanticsTest.class.getName() + "$$Lambda";
        assertThat(new Work(() -> { }).name()).isEqualTo(lambdaName);
        assertThat(new Work(QueueSemanticsTest::staticTarget).name()).isEqualTo(lambdaName);
        assertThat(new Work(new NamedTask()).name()).isEqualTo(NamedTask.class.getName());
        assertThat(new Work("explicit", () -> { }).name()).isEqualTo("explicit");
        assertThat(new Work(() -> { })).hasToString(lambdaName);
        CountDownLatch latch = new CountDownLatch(1);
        assertThat(new Work(latch::countDown).name()).as("a bound method reference").isEqualTo(lambdaName);
    }
}
