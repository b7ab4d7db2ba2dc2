package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.AbstractQueuedSynchronizer;
import java.util.concurrent.locks.LockSupport;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link Workqueue#flush()}, the kernel's {@code flush_workqueue()}: it waits for every item queued
 * before the call and for none queued after, many flushers may wait at once (each released as soon
 * as its own items are done, also when more flushers wait than there are flush colors), inactive
 * items and items on every CPU's pool count, and a flush that must deadlock throws at once.
 *
 * <p>The sampling monitor is off unless a test says otherwise: items that block do so inside the
 * explicit blocking hook, so the pools' concurrency is deterministic. A flusher runs in its own
 * thread; "it is waiting" is read from {@link LockSupport#getBlocker}: a flusher parks with its
 * workqueue as blocker only after it has moved the queue to its flush color.
 */
@Timeout(60)
class FlushTest {

    private static Workqueues engine(int cpus) {
        return Workqueues.builder().cpus(cpus).monitorInterval(Duration.ZERO).name("flush").build();
    }

    /** True once {@code t} is parked inside {@code wq.flush()}, past its color switch. */
    private static boolean flushing(Thread t, Workqueue wq) {
        return LockSupport.getBlocker(t) == wq;
    }

    /** A call run in a daemon thread of its own, so a call that hangs fails the test instead of hanging it. */
    static final class Async<T> {
        final Thread thread;
        private final AtomicReference<T> result = new AtomicReference<>();
        private final AtomicReference<Throwable> failure = new AtomicReference<>();
        private final CountDownLatch done = new CountDownLatch(1);

        Async(String name, Callable<T> call) {
            thread = Thread.ofPlatform().name(name).daemon(true).unstarted(() -> {
                try {
                    result.set(call.call());
                } catch (Throwable t) {
                    failure.set(t);
                } finally {
                    done.countDown();
                }
            });
            thread.start();
        }

        boolean isDone() {
            return done.getCount() == 0;
        }

        /** Waits up to {@code seconds} for the call to return; true if it did. */
        boolean awaitDone(long seconds) {
            try {
                return done.await(seconds, SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }

        /** The result; fails if the call did not return within 30 s or threw. */
        T get() {
            try {
                if (!done.await(30, SECONDS)) {
                    throw new AssertionError(thread.getName() + " did not return within 30 s (hung); stack: "
                            + List.of(thread.getStackTrace()));
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
            if (failure.get() != null) {
                throw new AssertionError(thread.getName() + " threw " + failure.get(), failure.get());
            }
            return result.get();
        }
    }

    /** A blocking item: it waits for {@link #release} inside the blocking hook and then records it is done. */
    static final class Blocker {
        final CountDownLatch started = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final CountDownLatch finished = new CountDownLatch(1);
        final AtomicBoolean done = new AtomicBoolean();
        final Work work;

        Blocker(String name) {
            work = new Work(name, () -> {
                started.countDown();
                hookWait(release);
                done.set(true);
                finished.countDown();
            });
        }

        boolean isDone() {
            return done.get();
        }
    }

    // ---- return value -----------------------------------------------------------------------

    @Test
    void flushOfAnIdleQueueReturnsFalse() {
        try (Workqueues e = engine(2)) {
            Workqueue wq = e.alloc("idle", 0);
            assertThat(wq.flush()).as("never used").isFalse();

            CountDownLatch ran = new CountDownLatch(1);
            assertThat(wq.queue(new Work("quick", ran::countDown))).isTrue();
            await(ran);
            // completion is accounted under the pool lock after the function returned
            await().until(() -> wq.stats().inFlight() == 0 && wq.stats().completed() == 1);
            assertThat(wq.flush()).as("everything already finished").isFalse();
            assertThat(wq.flush()).isFalse();

            Workqueue ordered = e.allocOrdered("idle-ordered");
            assertThat(ordered.flush()).isFalse();
        }
    }

    @Test
    void flushReturnsTrueAfterWaitingForAnItemInFlight() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("busy", 0);
            Blocker a = new Blocker("a");
            assertThat(wq.queue(a.work)).isTrue();
            await(a.started);

            Async<Boolean> flusher = new Async<>("flusher", () -> {
                boolean r = wq.flush();
                assertThat(a.isDone()).as("a finished before flush returned").isTrue();
                return r;
            });
            await().until(() -> flushing(flusher.thread, wq));
            assertThat(flusher.isDone()).isFalse();

            a.release.countDown();
            assertThat(flusher.get()).as("flush waited").isTrue();
            assertThat(wq.flush()).isFalse();
        }
    }

    // ---- before and after the call ----------------------------------------------------------

    @Test
    void flushReturnsOnceEarlierItemsAreDoneWhileALaterItemStillRuns() {
        try (Workqueues e = engine(2)) {
            Workqueue wq = e.alloc("before-after", 0);
            Blocker a = new Blocker("A");
            Blocker b = new Blocker("B");
            assertThat(wq.queueOn(0, a.work)).isTrue();
            await(a.started);
            Async<Boolean> flusher = new Async<>("flusher", () -> {
                boolean r = wq.flush();
                assertThat(a.isDone()).as("A (queued before) finished when flush returned").isTrue();
                return r;
            });
            await().until(() -> flushing(flusher.thread, wq));
            // B is queued after flush() began, on both the same pool and the same pwq as A
            assertThat(wq.queueOn(0, b.work)).isTrue();
            await(b.started);

            a.release.countDown();
            assertThat(flusher.get()).isTrue();
            assertThat(b.isDone()).as("flush did not wait for B, queued after the call").isFalse();
            assertThat(b.work.busy()).isEqualTo(Work.BUSY_RUNNING);

            b.release.countDown();
            await(b.finished);
        }
    }

    @Test
    void finishingALaterItemDoesNotReleaseTheFlush() {
        try (Workqueues e = engine(2)) {
            Workqueue wq = e.alloc("after-first", 0);
            Blocker a = new Blocker("A");
            Blocker b = new Blocker("B");
            assertThat(wq.queueOn(1, a.work)).isTrue();
            await(a.started);
            Async<Boolean> flusher = new Async<>("flusher", () -> {
                boolean r = wq.flush();
                assertThat(a.isDone()).as("A (queued before) finished when flush returned").isTrue();
                return r;
            });
            await().until(() -> flushing(flusher.thread, wq));
            assertThat(wq.queueOn(1, b.work)).isTrue();
            await(b.started);

            b.release.countDown();
            await(b.finished);
            await().until(() -> wq.stats().completed() == 1); // B's completion fully accounted
            assertThat(flusher.isDone()).as("B finishing must not release a flush that waits for A").isFalse();
            assertThat(flusher.thread.isAlive()).isTrue();

            a.release.countDown();
            assertThat(flusher.get()).isTrue();
        }
    }

    // ---- many flushers ----------------------------------------------------------------------

    /**
     * 20 flushers interleaved with the queueing of blocked items on two CPUs (max_active 3 per CPU,
     * so most items wait inactive). At most 9 flushers wait at a time and the 16 colors wrap around.
     * Items are released step by step in queueing order: each flusher must return as soon as the
     * items queued before its call are done, while later items are still blocked, and never
     * before.
     */
    @Test
    void eachOfManyFlushersIsReleasedAsSoonAsItsOwnItemsAreDone() {
        int steps = 20;
        int perStep = 3;
        int window = 8;
        try (Workqueues e = engine(2)) {
            Workqueue wq = e.alloc("many-flushers", 3);
            List<Blocker> items = new ArrayList<>();
            List<Async<Boolean>> flushers = new ArrayList<>();
            ConcurrentLinkedQueue<String> violations = new ConcurrentLinkedQueue<>();

            for (int s = 0; s < steps; s++) {
                for (int k = 0; k < perStep; k++) {
                    Blocker b = new Blocker("item-" + items.size());
                    assertThat(wq.queueOn(items.size() % 2, b.work)).isTrue();
                    items.add(b);
                }
                List<Blocker> before = List.copyOf(items);
                int id = s;
                Async<Boolean> f = new Async<>("flusher-" + s, () -> {
                    boolean r = wq.flush();
                    for (Blocker b : before) {
                        if (!b.isDone()) {
                            violations.add("flusher-" + id + " returned while " + b.work.name() + " (queued before) was unfinished");
                        }
                    }
                    return r;
                });
                flushers.add(f);
                await().until(() -> flushing(f.thread, wq));
                if (s == window) {
                    assertThat(wq.stats().inactive()).as("items beyond max_active wait inactive").isPositive();
                }
                if (s >= window) {
                    releaseStep(s - window, perStep, items, flushers);
                }
            }
            for (int r = steps - window; r < steps; r++) {
                releaseStep(r, perStep, items, flushers);
            }
            assertThat(violations).isEmpty();
            assertThat(wq.stats().inFlight()).isZero();
            assertThat(wq.flush()).isFalse();
        }
    }

    /** Releases the items of step {@code r}; then flusher r must return and flusher r+1 must not. */
    private static void releaseStep(int r, int perStep, List<Blocker> items, List<Async<Boolean>> flushers) {
        Async<Boolean> f = flushers.get(r);
        assertThat(f.isDone()).as("flusher-%d returned before its own items were released", r).isFalse();
        for (int i = r * perStep; i < (r + 1) * perStep; i++) {
            items.get(i).release.countDown();
            await(items.get(i).finished);
        }
        assertThat(f.get()).as("flusher-%d waited", r).isTrue();
        if (r + 1 < flushers.size()) {
            assertThat(flushers.get(r + 1).isDone()).as("flusher-%d returned before its own items were released", r + 1)
                    .isFalse();
        }
    }

    /**
     * More flushers at once than there are flush colors (16): the extra ones wait for a color to
     * free up, and every flusher still returns only after every item queued before its call, and
     * does return. Items are released in a shuffled order.
     */
    @Test
    void moreFlushersThanColorsAllCompleteCorrectly() {
        int n = 20;
        try (Workqueues e = engine(2)) {
            Workqueue wq = e.alloc("color-ring", 4);
            List<Blocker> items = new ArrayList<>();
            List<Async<Boolean>> flushers = new ArrayList<>();
            ConcurrentLinkedQueue<String> violations = new ConcurrentLinkedQueue<>();
            for (int i = 0; i < n; i++) {
                Blocker b = new Blocker("item-" + i);
                assertThat(wq.queueOn(i % 2, b.work)).isTrue();
                items.add(b);
                List<Blocker> before = List.copyOf(items);
                int id = i;
                Async<Boolean> f = new Async<>("flusher-" + i, () -> {
                    boolean r = wq.flush();
                    for (Blocker x : before) {
                        if (!x.isDone()) {
                            violations.add("flusher-" + id + " returned while " + x.work.name() + " (queued before) was unfinished");
                        }
                    }
                    return r;
                });
                flushers.add(f);
                // waiting: either on its color, or for a color to free up (ring full)
                await().until(() -> {
                    Object blocker = LockSupport.getBlocker(f.thread);
                    return blocker == wq || blocker instanceof AbstractQueuedSynchronizer.ConditionObject;
                });
            }
            assertThat(flushers).noneMatch(Async::isDone);

            List<Blocker> order = new ArrayList<>(items);
            Collections.shuffle(order, new Random(42));
            // item-0 last: until then no flusher may return
            order.remove(items.get(0));
            for (Blocker b : order) {
                b.release.countDown();
            }
            for (Blocker b : order) {
                await(b.finished);
            }
            await().until(() -> wq.stats().completed() == n - 1);
            assertThat(flushers).as("every flusher waits for item-0").noneMatch(Async::isDone);
            items.get(0).release.countDown();
            for (Async<Boolean> f : flushers) {
                f.get();
            }
            for (Async<Boolean> f : flushers.subList(0, 15)) {
                assertThat(f.get()).as("%s waited", f.thread.getName()).isTrue();
            }
            assertThat(violations).isEmpty();

            // the color machinery is sound afterwards
            Blocker after = new Blocker("after");
            assertThat(wq.queue(after.work)).isTrue();
            Async<Boolean> f = new Async<>("flusher-after", wq::flush);
            await().until(() -> flushing(f.thread, wq));
            after.release.countDown();
            assertThat(f.get()).isTrue();
            assertThat(after.isDone()).isTrue();
            assertThat(wq.flush()).isFalse();
        }
    }

    /**
     * A flusher that finds all colors taken waits for the oldest flush to finish, i.e. for items
     * queued before its call: it waited, so it returns true (the contract: "true if there was
     * something to wait for"), even if nothing of its own color is left once it gets one.
     */
    @Test
    void aFlusherThatWaitedForAFreeColorReturnsTrue() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("ring-full", 0);
            Blocker a = new Blocker("a");
            assertThat(wq.queue(a.work)).isTrue();
            await(a.started);
            List<Async<Boolean>> flushers = new ArrayList<>();
            for (int i = 0; i < 15; i++) { // 15 flushes in progress: every color taken
                Async<Boolean> f = new Async<>("flusher-" + i, wq::flush);
                flushers.add(f);
                await().until(() -> flushing(f.thread, wq));
            }
            Async<Boolean> extra = new Async<>("flusher-extra", () -> {
                boolean r = wq.flush();
                assertThat(a.isDone()).as("a finished when the extra flusher returned").isTrue();
                return r;
            });
            await().until(() -> LockSupport.getBlocker(extra.thread) != null);
            assertThat(extra.isDone()).isFalse();

            a.release.countDown();
            for (Async<Boolean> f : flushers) {
                assertThat(f.get()).as(f.thread.getName()).isTrue();
            }
            assertThat(extra.get()).as("the 16th flusher waited for a (queued before its call), so it returns true").isTrue();
        }
    }

    // ---- what counts as in flight -----------------------------------------------------------

    @Test
    void flushWaitsForInactiveItemsAndItemsOnEveryCpu() {
        try (Workqueues e = engine(2)) {
            Workqueue wq = e.alloc("inactive-and-cpus", 1); // max_active 1 per CPU
            Blocker a0 = new Blocker("a0");
            Blocker b0 = new Blocker("b0");
            Blocker a1 = new Blocker("a1");
            Blocker b1 = new Blocker("b1");
            assertThat(wq.queueOn(0, a0.work)).isTrue();
            assertThat(wq.queueOn(0, b0.work)).isTrue();
            assertThat(wq.queueOn(1, a1.work)).isTrue();
            assertThat(wq.queueOn(1, b1.work)).isTrue();
            await(a0.started);
            await(a1.started);
            WorkqueueStats s = wq.stats();
            assertThat(s.active()).isEqualTo(2);
            assertThat(s.inactive()).as("b0 and b1 wait beyond max_active").isEqualTo(2);

            List<Blocker> all = List.of(a0, b0, a1, b1);
            Async<Boolean> flusher = new Async<>("flusher", () -> {
                boolean r = wq.flush();
                assertThat(all).as("all four finished when flush returned").allMatch(Blocker::isDone);
                return r;
            });
            await().until(() -> flushing(flusher.thread, wq));

            a0.release.countDown();
            await(b0.started); // activated from the inactive list
            a1.release.countDown();
            await(b1.started);
            b0.release.countDown();
            await(b0.finished);
            await().until(() -> wq.stats().completed() == 3);
            assertThat(flusher.isDone()).as("b1 on CPU 1 is still running").isFalse();

            b1.release.countDown();
            assertThat(flusher.get()).isTrue();
            assertThat(wq.stats().inFlight()).isZero();
        }
    }

    // ---- deadlocks --------------------------------------------------------------------------

    @Test
    void flushFromOneOfTheQueuesOwnItemsThrowsAtOnce() {
        try (Workqueues e = engine(1)) {
            for (Workqueue wq : List.of(e.alloc("self-flush", 0), e.allocOrdered("self-flush-ordered"),
                    e.alloc("self-flush-unbound", 4, WqFlag.UNBOUND))) {
                AtomicReference<Throwable> caught = new AtomicReference<>();
                AtomicBoolean returned = new AtomicBoolean();
                CountDownLatch done = new CountDownLatch(1);
                assertThat(wq.queue(new Work("flusher-item", () -> {
                    try {
                        wq.flush();
                        returned.set(true);
                    } catch (Throwable t) {
                        caught.set(t);
                    } finally {
                        done.countDown();
                    }
                }))).isTrue();
                await(done);
                assertThat(returned).as(wq.name()).isFalse();
                assertThat(caught.get()).as(wq.name()).isInstanceOf(IllegalStateException.class);
                assertThat(caught.get().getMessage()).contains("deadlock").contains(wq.name()).contains("flusher-item");
                // the queue is unharmed
                await().until(() -> wq.stats().inFlight() == 0);
                assertThat(wq.flush()).isFalse();
            }
        }
    }

    /**
     * With the sampling monitor on (the default), an item of Y may flush X: the waiting worker is
     * seen sleeping, so X's item runs and the flush returns with it done. Whether the flush still
     * had anything to wait for is up to timing: for the ordered queue, X's item goes to an unbound
     * pool and may run at once; for the bound one, Y's item may be seen asleep while it waits for a
     * lock on the way into the flush (a mutex in the kernel too), and X's item may run then. So the
     * flush's answer may be true or false; what must hold is that it returns (no deadlock, no
     * error) with X's item done.
     */
    @Test
    void anItemOfOneQueueMayFlushAnotherQueue() {
        try (Workqueues e = Workqueues.builder().cpus(1).name("flush-xy").build()) {
            Workqueue x = e.alloc("x", 0);
            Workqueue y = e.alloc("y", 0);
            Workqueue xOrdered = e.allocOrdered("x-ordered");
            for (Workqueue target : List.of(x, xOrdered)) {
                AtomicBoolean xiDone = new AtomicBoolean();
                AtomicReference<Object> outcome = new AtomicReference<>();
                AtomicBoolean xiDoneAtReturn = new AtomicBoolean();
                CountDownLatch done = new CountDownLatch(1);
                Work xi = new Work("xi", () -> xiDone.set(true));
                assertThat(y.queue(new Work("yi", () -> {
                    try {
                        // for x, xi lands on the same per-CPU pool, behind this running item
                        assertThat(target.queue(xi)).isTrue();
                        outcome.set(target.flush());
                        xiDoneAtReturn.set(xiDone.get());
                    } catch (Throwable t) {
                        outcome.set(t);
                    } finally {
                        done.countDown();
                    }
                }))).isTrue();
                await(done);
                assertThat(outcome.get()).as("flush of %s from an item of y", target.name()).isInstanceOf(Boolean.class);
                assertThat(xiDoneAtReturn).as("xi done when the flush of %s returned", target.name()).isTrue();
            }
        }
    }

    /**
     * A worker that waits in {@code flush()} of another queue sleeps, and the engine knows it: it
     * is the engine's own wait. Like the kernel (where the flusher's schedule() calls
     * {@code wq_worker_sleeping()}), the pool must start the item waited for even when the
     * sampling monitor is off and only the explicit hooks tell the pool about sleeping workers.
     */
    @Test
    void flushFromAWorkerMarksItSleepingEvenWithoutTheMonitor() {
        try (Workqueues e = engine(1)) {
            Workqueue x = e.alloc("x", 0);
            Workqueue y = e.alloc("y", 0);
            AtomicBoolean xiDone = new AtomicBoolean();
            AtomicReference<Object> outcome = new AtomicReference<>();
            CountDownLatch done = new CountDownLatch(1);
            Work xi = new Work("xi", () -> xiDone.set(true));
            assertThat(y.queue(new Work("yi", () -> {
                try {
                    assertThat(x.queue(xi)).isTrue(); // behind this item on CPU 0's pool
                    outcome.set(x.flush());
                } catch (Throwable t) {
                    outcome.set(t);
                } finally {
                    done.countDown();
                }
            }))).isTrue();
            boolean finished;
            try {
                finished = done.await(5, SECONDS);
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                throw new AssertionError(ie);
            }
            if (!finished) {
                unstick(e); // so that the engine can shut down; the test fails below
                await(done);
            }
            assertThat(finished).as("x.flush() from an item of y returned: the pool started xi behind the flushing worker")
                    .isTrue();
            // What flush() returns depends on timing: it marks the worker asleep before it looks,
            // so the woken worker may finish xi first (then there was nothing left to wait for).
            assertThat(outcome.get()).as("flush() returned normally").isInstanceOf(Boolean.class);
            assertThat(xiDone).as("xi ran").isTrue();
        }
    }

    /** Marks every busy per-CPU worker sleeping, as the sampling monitor would, to break a test's deadlock. */
    static void unstick(Workqueues e) {
        for (WorkerPool p : e.cpuPools) {
            p.lock.lock();
            try {
                for (Worker w : p.workers) {
                    if (w.currentWork() != null) {
                        w.sleepingLocked(Worker.SLEEP_SAMPLED);
                    }
                }
            } finally {
                p.lock.unlock();
            }
        }
    }
}
