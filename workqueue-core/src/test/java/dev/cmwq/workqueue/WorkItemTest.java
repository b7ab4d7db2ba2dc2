package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cmwq.workqueue.FlushTest.Async;
import dev.cmwq.workqueue.FlushTest.Blocker;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Per-item operations with the kernel's return values: {@link Work#flush()} ({@code flush_work}),
 * {@link Work#cancel()} ({@code cancel_work}), {@link Work#cancelSync()}
 * ({@code cancel_work_sync}), {@link Work#disable()} / {@link Work#enable()} /
 * {@link Work#disableSync()}, and {@link Work#busy()} ({@code work_busy}).
 *
 * <p>"Pending and unable to start" is made with an ordered queue whose first item blocks, or with
 * a max_active limit. The sampling monitor is off unless a test says otherwise.
 */
@Timeout(60)
class WorkItemTest {

    private static Workqueues engine(int cpus) {
        return Workqueues.builder().cpus(cpus).monitorInterval(Duration.ZERO).name("items").build();
    }

    /** True once {@code t} waits inside a per-item flush, cancelSync or disableSync. */
    private static boolean waitingForItem(Thread t) {
        Thread.State s = t.getState();
        if (s != Thread.State.WAITING && s != Thread.State.TIMED_WAITING) {
            return false;
        }
        for (StackTraceElement f : t.getStackTrace()) {
            if (f.getClassName().equals(Work.class.getName()) && f.getMethodName().equals("awaitGeneration")) {
                return true;
            }
        }
        return false;
    }

    /** An item whose n-th run (from 0) waits for {@code release[n]} in the blocking hook. */
    private static final class MultiRun {
        final int maxRuns;
        final CountDownLatch[] started;
        final CountDownLatch[] release;
        final CountDownLatch[] finished;
        final AtomicInteger runs = new AtomicInteger();
        final Work work;

        MultiRun(String name, int maxRuns) {
            this.maxRuns = maxRuns;
            started = latches(maxRuns);
            release = latches(maxRuns);
            finished = latches(maxRuns);
            work = new Work(name, () -> {
                int n = runs.getAndIncrement();
                started[n].countDown();
                TestWaits.hookWait(release[n]);
                finished[n].countDown();
            });
        }

        private static CountDownLatch[] latches(int n) {
            CountDownLatch[] l = new CountDownLatch[n];
            for (int i = 0; i < n; i++) {
                l[i] = new CountDownLatch(1);
            }
            return l;
        }
    }

    /** On which list a pending item sits (read under its pool's lock), or null. */
    private static WorkList.Kind listKind(Work w, WorkerPool pool) {
        pool.lock.lock();
        try {
            return w.list == null ? null : w.list.kind;
        } finally {
            pool.lock.unlock();
        }
    }

    // ---- Work.flush() -----------------------------------------------------------------------

    @Test
    void flushOfAnItemWithNothingToWaitForReturnsFalse() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("q", 0);
            CountDownLatch ran = new CountDownLatch(1);
            Work w = new Work("w", ran::countDown);
            assertThat(w.flush()).as("never queued").isFalse();
            assertThat(wq.queue(w)).isTrue();
            await(ran);
            await().until(() -> wq.stats().completed() == 1);
            assertThat(w.flush()).as("its last queueing finished").isFalse();

            // a cancelled queueing counts as finished
            Workqueue ordered = e.allocOrdered("ordered");
            Blocker holder = new Blocker("holder");
            assertThat(ordered.queue(holder.work)).isTrue();
            await(holder.started);
            Work cancelled = new Work("cancelled", () -> { });
            assertThat(ordered.queue(cancelled)).isTrue();
            assertThat(cancelled.cancel()).isTrue();
            Async<Boolean> f = new Async<>("flusher", cancelled::flush);
            assertThat(f.get()).isFalse();
            holder.release.countDown();
        }
    }

    @Test
    void flushOfAPendingItemWaitsUntilItRan() {
        try (Workqueues e = engine(1)) {
            Workqueue ordered = e.allocOrdered("ordered");
            Blocker holder = new Blocker("holder");
            assertThat(ordered.queue(holder.work)).isTrue();
            await(holder.started);
            AtomicBoolean ran = new AtomicBoolean();
            Work w = new Work("w", () -> ran.set(true));
            assertThat(ordered.queue(w)).isTrue();

            Async<Boolean> flusher = new Async<>("flusher", () -> {
                boolean r = w.flush();
                assertThat(ran).as("w ran before flush returned").isTrue();
                return r;
            });
            await().until(() -> waitingForItem(flusher.thread));
            assertThat(flusher.isDone()).isFalse();
            assertThat(ran).isFalse();

            holder.release.countDown();
            assertThat(flusher.get()).isTrue();
            assertThat(w.busy()).isZero();
        }
    }

    @Test
    void flushOfARunningItemWaitsForThatRun() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("q", 0);
            Blocker b = new Blocker("b");
            assertThat(wq.queue(b.work)).isTrue();
            await(b.started);
            Async<Boolean> flusher = new Async<>("flusher", () -> {
                boolean r = b.work.flush();
                assertThat(b.isDone()).as("the run finished before flush returned").isTrue();
                return r;
            });
            await().until(() -> waitingForItem(flusher.thread));
            assertThat(flusher.isDone()).isFalse();
            b.release.countDown();
            assertThat(flusher.get()).isTrue();
        }
    }

    /** Queued again while running (pending and running): flush waits for the second run. */
    @Test
    void flushOfAnItemPendingWhileRunningWaitsForTheSecondRun() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("q", 0);
            MultiRun m = new MultiRun("m", 2);
            assertThat(wq.queue(m.work)).isTrue();
            await(m.started[0]);
            assertThat(wq.queue(m.work)).as("a running item may be queued again").isTrue();
            assertThat(wq.queue(m.work)).as("absorbed while pending").isFalse();
            assertThat(m.work.busy()).isEqualTo(Work.BUSY_PENDING | Work.BUSY_RUNNING);

            Async<Integer> flusher = new Async<>("flusher", () -> {
                boolean r = m.work.flush();
                assertThat(r).isTrue();
                return m.finished[1].getCount() == 0 ? 2 : 1;
            });
            await().until(() -> waitingForItem(flusher.thread));

            m.release[0].countDown();
            await(m.started[1]);
            assertThat(flusher.isDone()).as("the first run is over but the second runs").isFalse();
            m.release[1].countDown();
            assertThat(flusher.get()).as("flush returned after the second run").isEqualTo(2);
            assertThat(m.runs).hasValue(2);
        }
    }

    /**
     * The generations are ints compared modulo 2^32: an item queued more than Integer.MAX_VALUE
     * times still flushes right. Here the generations start just below the wrap, so the running
     * execution is generation MAX_VALUE and the queueing made while it runs is MIN_VALUE; a plain
     * {@code >=} would take the first run's end for the second's and let the flusher go early.
     */
    @Test
    void flushAndCancelAcrossTheGenerationWrap() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("q", 0);
            MultiRun m = new MultiRun("m", 2);
            setGenerations(m.work, Integer.MAX_VALUE - 1);
            assertThat(m.work.flush()).as("nothing to wait for").isFalse();

            assertThat(wq.queue(m.work)).isTrue();
            await(m.started[0]);
            assertThat(m.work.startedGen).isEqualTo(Integer.MAX_VALUE);
            assertThat(wq.queue(m.work)).as("queued again while it runs").isTrue();
            assertThat(m.work.queuedGen).as("the generation wrapped").isEqualTo(Integer.MIN_VALUE);

            Async<Integer> flusher = new Async<>("flusher", () -> {
                assertThat(m.work.flush()).isTrue();
                return m.finished[1].getCount() == 0 ? 2 : 1; // which runs had ended when it returned
            });
            await().until(() -> waitingForItem(flusher.thread));
            m.release[0].countDown();
            await(m.started[1]);
            assertThat(m.work.doneGen).isEqualTo(Integer.MAX_VALUE);
            m.release[1].countDown();
            assertThat(flusher.get()).as("flush returned after the second run").isEqualTo(2);
            assertThat(m.work.flush()).isFalse();

            // A queueing cancelled across the wrap counts as finished.
            Workqueue ordered = e.allocOrdered("ordered");
            Blocker holder = new Blocker("holder");
            assertThat(ordered.queue(holder.work)).isTrue();
            await(holder.started);
            Work cancelled = new Work("cancelled", () -> { });
            setGenerations(cancelled, Integer.MAX_VALUE);
            assertThat(ordered.queue(cancelled)).isTrue();
            assertThat(cancelled.queuedGen).isEqualTo(Integer.MIN_VALUE);
            assertThat(cancelled.cancel()).isTrue();
            assertThat(new Async<>("flusher", cancelled::flush).get()).isFalse();
            holder.release.countDown();
        }
    }

    /** As if the item had been queued and run {@code gen} times. */
    private static void setGenerations(Work w, int gen) {
        w.queuedGen = gen;
        w.startedGen = gen;
        w.doneGen = gen;
        w.cancelledGen = gen;
    }

    /** flush, cancelSync and disableSync of an item from its own function would wait for themselves. */
    @Test
    void waitingForAnItemFromItsOwnFunctionThrows() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("q", 0);
            List<Throwable> caught = new CopyOnWriteArrayList<>();
            CountDownLatch done = new CountDownLatch(1);
            Work self = Work.of("self", w -> {
                try {
                    w.flush();
                } catch (Throwable t) {
                    caught.add(t);
                }
                try {
                    w.cancelSync();
                } catch (Throwable t) {
                    caught.add(t);
                }
                try {
                    w.disableSync();
                } catch (Throwable t) {
                    caught.add(t);
                }
                done.countDown();
            });
            assertThat(wq.queue(self)).isTrue();
            await(done);
            assertThat(caught).hasSize(3).allSatisfy(t -> assertThat(t)
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("deadlock")
                    .hasMessageContaining("self"));
            assertThat(self.isDisabled()).as("the refused calls changed nothing").isFalse();
            await().until(() -> self.busy() == 0);
            CountDownLatch again = new CountDownLatch(1);
            Work other = new Work("again", again::countDown);
            assertThat(wq.queue(other)).isTrue();
            await(again);
        }
    }

    /** On an ordered (or max_active 1) queue an item pending behind the caller can't start before it returns. */
    @Test
    void flushOfAnItemPendingBehindTheCallerOnAnOrderedOrMaxActive1QueueThrows() {
        try (Workqueues e = engine(1)) {
            for (Workqueue wq : List.of(e.allocOrdered("ordered"), e.alloc("max-active-1", 1))) {
                AtomicInteger behindRuns = new AtomicInteger();
                Work behind = new Work("behind", behindRuns::incrementAndGet);
                AtomicReference<Object> outcome = new AtomicReference<>();
                CountDownLatch done = new CountDownLatch(1);
                assertThat(wq.queue(new Work("caller", () -> {
                    try {
                        assertThat(wq.queue(behind)).isTrue();
                        outcome.set(behind.flush());
                    } catch (Throwable t) {
                        outcome.set(t);
                    } finally {
                        done.countDown();
                    }
                }))).isTrue();
                await(done);
                assertThat(outcome.get()).as(wq.name()).isInstanceOf(IllegalStateException.class);
                assertThat(((Throwable) outcome.get()).getMessage())
                        .contains("deadlock").contains("behind").contains(wq.name())
                        .contains(wq.isOrdered() ? "ordered" : "max_active 1");
                await().until(() -> behindRuns.get() == 1); // it still runs after the caller
            }
        }
    }

    /**
     * On a bound queue with max_active above 1 the item behind the caller can start on another
     * worker once the caller sleeps (seen by the sampling monitor, on by default): flush works.
     */
    @Test
    void flushOfAnItemPendingBehindTheCallerOnABoundQueueWorks() {
        try (Workqueues e = Workqueues.builder().cpus(1).name("items-monitor").build()) {
            Workqueue wq = e.alloc("bound", 0);
            AtomicBoolean behindRan = new AtomicBoolean();
            Work behind = new Work("behind", () -> behindRan.set(true));
            AtomicReference<Object> outcome = new AtomicReference<>();
            AtomicBoolean ranAtReturn = new AtomicBoolean();
            CountDownLatch done = new CountDownLatch(1);
            assertThat(wq.queue(new Work("caller", () -> {
                try {
                    assertThat(wq.queue(behind)).isTrue();
                    outcome.set(behind.flush());
                    ranAtReturn.set(behindRan.get());
                } catch (Throwable t) {
                    outcome.set(t);
                } finally {
                    done.countDown();
                }
            }))).isTrue();
            await(done);
            assertThat(outcome.get()).isEqualTo(Boolean.TRUE);
            assertThat(ranAtReturn).isTrue();
        }
    }

    /**
     * The same with the sampling monitor off: waiting in {@code work.flush()} is the engine's own
     * wait, so it must mark the worker sleeping (as the explicit hook does), like the kernel's
     * flush_work sleeping in schedule(). Otherwise the item behind the caller never starts.
     */
    @Test
    void workFlushFromAWorkerMarksItSleepingEvenWithoutTheMonitor() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("bound", 0);
            Work behind = new Work("behind", () -> { });
            AtomicReference<Object> outcome = new AtomicReference<>();
            CountDownLatch done = new CountDownLatch(1);
            assertThat(wq.queue(new Work("caller", () -> {
                try {
                    assertThat(wq.queue(behind)).isTrue();
                    outcome.set(behind.flush());
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
                FlushTest.unstick(e); // let the engine shut down; the test fails below
                await(done);
            }
            assertThat(finished).as("behind.flush() from the caller returned: the pool started 'behind'").isTrue();
            assertThat(outcome.get()).isEqualTo(Boolean.TRUE);
        }
    }

    /**
     * The kernel lets one item run on two workqueues at once (non-reentrancy holds per queue).
     * Once both runs are over, flush has nothing to wait for, whichever run finished first.
     */
    @Test
    void flushAfterOverlappingRunsOnTwoQueuesReturnsFalse() {
        try (Workqueues e = engine(1)) {
            Workqueue qa = e.alloc("qa", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(1, null));
            Workqueue qb = e.alloc("qb", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(2, null));
            MultiRun m = new MultiRun("shared", 2);
            assertThat(qa.queue(m.work)).isTrue();
            await(m.started[0]);
            assertThat(qb.queue(m.work)).isTrue();
            await(m.started[1]); // runs on qb's pool while the first run goes on
            m.release[1].countDown();
            await(m.finished[1]);
            await().until(() -> qb.stats().completed() == 1);
            m.release[0].countDown();
            await(m.finished[0]);
            await().until(() -> qa.stats().completed() == 1);
            assertThat(m.work.isPending()).isFalse();

            Async<Boolean> flusher = new Async<>("flusher", m.work::flush);
            assertThat(flusher.awaitDone(5)).as("flush of an item whose runs are all over returned").isTrue();
            assertThat(flusher.get()).isFalse();
        }
    }

    // ---- cancel() ---------------------------------------------------------------------------

    @Test
    void cancelOfAPendingItemReturnsTrueAndItNeverRuns() {
        try (Workqueues e = engine(1)) {
            Workqueue ordered = e.allocOrdered("ordered");
            Blocker holder = new Blocker("holder");
            assertThat(ordered.queue(holder.work)).isTrue();
            await(holder.started);
            AtomicInteger runs = new AtomicInteger();
            Work w = new Work("w", runs::incrementAndGet);
            CountDownLatch sentinelRan = new CountDownLatch(1);
            assertThat(ordered.queue(w)).isTrue();
            assertThat(ordered.queue(new Work("sentinel", sentinelRan::countDown))).isTrue();

            assertThat(w.cancel()).isTrue();
            assertThat(w.isPending()).isFalse();
            assertThat(w.busy()).isZero();
            assertThat(w.cancel()).as("nothing left to cancel").isFalse();
            assertThat(ordered.stats().inFlight()).isEqualTo(2);

            holder.release.countDown();
            await(sentinelRan); // queued after w on an ordered queue: w would have run first
            await().until(() -> ordered.stats().inFlight() == 0);
            assertThat(runs).hasValue(0);
            assertThat(ordered.stats().completed()).isEqualTo(2);
        }
    }

    @Test
    void cancelOfAnIdleItemReturnsFalse() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("q", 0);
            CountDownLatch ran = new CountDownLatch(1);
            Work w = new Work("w", ran::countDown);
            assertThat(w.cancel()).as("never queued").isFalse();
            assertThat(w.isPending()).isFalse();
            assertThat(wq.queue(w)).as("cancel of an idle item leaves it queueable").isTrue();
            await(ran);
            await().until(() -> w.busy() == 0);
            assertThat(w.cancel()).isFalse();
        }
    }

    @Test
    void cancelOfARunningItemReturnsFalseAndTheRunCompletes() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("q", 0);
            Blocker b = new Blocker("b");
            assertThat(wq.queue(b.work)).isTrue();
            await(b.started);
            assertThat(b.work.cancel()).isFalse();
            assertThat(b.work.busy()).isEqualTo(Work.BUSY_RUNNING);
            b.release.countDown();
            await(b.finished);
            await().until(() -> wq.stats().completed() == 1 && wq.stats().inFlight() == 0);
        }
    }

    /**
     * max_active 2: A runs, B is active on the worklist, C and D wait inactive. Cancelling B
     * activates C; cancelling D (inactive) leaves nothing inactive; a new item E waits inactive;
     * the accounting stays right and exactly A, C, E run, in that order.
     */
    @Test
    void cancelOfActiveAndInactiveItemsKeepsMaxActiveAccountingRight() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("limited", 2);
            WorkerPool pool = e.cpuPool(0, false);
            List<String> ran = new CopyOnWriteArrayList<>();
            CountDownLatch gate = new CountDownLatch(1);
            CountDownLatch aStarted = new CountDownLatch(1);
            Work a = new Work("A", () -> {
                ran.add("A");
                aStarted.countDown();
                plainWait(gate); // counts as running: nothing else starts on this CPU
            });
            Work b = new Work("B", () -> ran.add("B"));
            Work c = new Work("C", () -> ran.add("C"));
            Work d = new Work("D", () -> ran.add("D"));
            Work eItem = new Work("E", () -> ran.add("E"));
            assertThat(wq.queue(a)).isTrue();
            await(aStarted);
            assertThat(wq.queue(b)).isTrue();
            assertThat(wq.queue(c)).isTrue();
            assertThat(wq.queue(d)).isTrue();
            assertThat(listKind(b, pool)).isEqualTo(WorkList.Kind.WORKLIST);
            assertThat(listKind(c, pool)).isEqualTo(WorkList.Kind.INACTIVE);
            WorkqueueStats s = wq.stats();
            assertThat(s.active()).isEqualTo(2);
            assertThat(s.inactive()).isEqualTo(2);
            assertThat(s.inFlight()).isEqualTo(4);

            assertThat(b.cancel()).as("B was pending (active)").isTrue();
            assertThat(listKind(c, pool)).as("C activated in B's place").isEqualTo(WorkList.Kind.WORKLIST);
            s = wq.stats();
            assertThat(s.active()).isEqualTo(2);
            assertThat(s.inactive()).isEqualTo(1);
            assertThat(s.inFlight()).isEqualTo(3);

            assertThat(d.cancel()).as("D was pending (inactive)").isTrue();
            s = wq.stats();
            assertThat(s.active()).isEqualTo(2);
            assertThat(s.inactive()).isZero();
            assertThat(s.inFlight()).isEqualTo(2);

            assertThat(wq.queue(eItem)).isTrue();
            assertThat(listKind(eItem, pool)).as("max_active reached: E waits").isEqualTo(WorkList.Kind.INACTIVE);
            assertThat(wq.stats().inactive()).isEqualTo(1);

            gate.countDown();
            await().until(() -> wq.stats().inFlight() == 0);
            assertThat(ran).containsExactly("A", "C", "E");
            s = wq.stats();
            assertThat(s.active()).isZero();
            assertThat(s.inactive()).isZero();
            assertThat(s.completed()).isEqualTo(3);
            assertThat(List.of(b, d)).allMatch(w -> w.busy() == 0);
        }
    }

    /**
     * Queued again while it runs, the item waits on the running worker's scheduled list (another
     * worker found it executing). Cancel takes it off there: true, and it runs only once.
     */
    @Test
    void cancelOfAnItemQueuedWhileItRunsFromTheScheduledList() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("q", 0);
            WorkerPool pool = e.cpuPool(0, false);
            MultiRun m = new MultiRun("m", 2);
            assertThat(wq.queue(m.work)).isTrue();
            await(m.started[0]);
            assertThat(wq.queue(m.work)).isTrue();
            // the runner sleeps in the hook, so an idle worker takes the item and hands it to the runner
            await().until(() -> listKind(m.work, pool) == WorkList.Kind.SCHEDULED);
            assertThat(wq.stats().active()).isEqualTo(2);

            assertThat(m.work.cancel()).isTrue();
            assertThat(m.work.busy()).isEqualTo(Work.BUSY_RUNNING);
            assertThat(wq.stats().active()).isEqualTo(1);
            assertThat(wq.stats().inFlight()).isEqualTo(1);

            m.release[0].countDown();
            await().until(() -> wq.stats().inFlight() == 0);
            assertThat(m.runs).as("ran once").hasValue(1);
            assertThat(wq.stats().completed()).isEqualTo(1);

            assertThat(wq.queue(m.work)).as("queueable again").isTrue();
            m.release[1].countDown();
            await(m.finished[1]);
            assertThat(m.runs).hasValue(2);
        }
    }

    /** The same when the runner counts as running: the item stays on the pool's worklist. */
    @Test
    void cancelOfAnItemQueuedWhileItRunsFromTheWorklist() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("q", 0);
            WorkerPool pool = e.cpuPool(0, false);
            AtomicInteger runs = new AtomicInteger();
            CountDownLatch started = new CountDownLatch(1);
            CountDownLatch gate = new CountDownLatch(1);
            Work w = new Work("w", () -> {
                runs.incrementAndGet();
                started.countDown();
                plainWait(gate);
            });
            assertThat(wq.queue(w)).isTrue();
            await(started);
            assertThat(wq.queue(w)).isTrue();
            assertThat(listKind(w, pool)).isEqualTo(WorkList.Kind.WORKLIST);
            assertThat(w.busy()).isEqualTo(Work.BUSY_PENDING | Work.BUSY_RUNNING);
            assertThat(w.cancel()).isTrue();
            assertThat(w.busy()).isEqualTo(Work.BUSY_RUNNING);
            gate.countDown();
            await().until(() -> wq.stats().inFlight() == 0);
            assertThat(runs).hasValue(1);
        }
    }

    /**
     * O(1) cancel, checked for correctness at scale: 100,000 items wait on an ordered queue behind
     * a blocked first item; every second one is cancelled; exactly the others run, in order.
     */
    @Test
    void cancellingHalfOfAHundredThousandPendingItems() {
        int n = 100_000;
        try (Workqueues e = engine(1)) {
            Workqueue ordered = e.allocOrdered("big");
            Blocker holder = new Blocker("holder");
            assertThat(ordered.queue(holder.work)).isTrue();
            await(holder.started);
            int[] order = new int[n];
            AtomicInteger next = new AtomicInteger();
            List<Work> items = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                int id = i;
                Work w = new Work("i", () -> order[next.getAndIncrement()] = id);
                assertThat(ordered.queue(w)).isTrue();
                items.add(w);
            }
            assertThat(ordered.stats().inactive()).isEqualTo(n);
            for (int i = 1; i < n; i += 2) {
                if (!items.get(i).cancel()) {
                    throw new AssertionError("cancel of pending item " + i + " returned false");
                }
            }
            assertThat(ordered.stats().inactive()).isEqualTo(n / 2);
            assertThat(items.get(1).isPending()).isFalse();
            assertThat(items.get(2).isPending()).isTrue();

            holder.release.countDown();
            await().until(() -> ordered.stats().inFlight() == 0);
            assertThat(next).hasValue(n / 2);
            for (int k = 0; k < n / 2; k++) {
                if (order[k] != 2 * k) {
                    throw new AssertionError("run " + k + " was item " + order[k] + ", expected " + 2 * k);
                }
            }
            assertThat(ordered.stats().completed()).isEqualTo(n / 2 + 1);
        }
    }

    // ---- cancelSync() -----------------------------------------------------------------------

    @Test
    void cancelSyncOfAPendingItemReturnsTrueAndOfAnIdleOneFalse() {
        try (Workqueues e = engine(1)) {
            Workqueue ordered = e.allocOrdered("ordered");
            Blocker holder = new Blocker("holder");
            assertThat(ordered.queue(holder.work)).isTrue();
            await(holder.started);
            AtomicInteger runs = new AtomicInteger();
            Work w = new Work("w", runs::incrementAndGet);
            assertThat(w.cancelSync()).as("never queued").isFalse();
            assertThat(ordered.queue(w)).isTrue();
            assertThat(w.cancelSync()).as("was pending").isTrue();
            assertThat(w.isPending()).isFalse();
            assertThat(w.isDisabled()).isFalse();
            assertThat(w.cancelSync()).isFalse();
            holder.release.countDown();
            await().until(() -> ordered.stats().inFlight() == 0);
            assertThat(runs).hasValue(0);
            assertThat(ordered.queue(w)).as("queueable again").isTrue();
            await().until(() -> runs.get() == 1);
        }
    }

    /**
     * cancelSync of a running item blocks until the run ends; meanwhile queueing the item returns
     * false; afterwards the item is idle and can be queued again.
     */
    @Test
    void cancelSyncWaitsForTheRunningExecution() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("q", 0);
            MultiRun m = new MultiRun("m", 2);
            assertThat(wq.queue(m.work)).isTrue();
            await(m.started[0]);

            Async<Boolean> canceller = new Async<>("canceller", () -> {
                boolean r = m.work.cancelSync();
                assertThat(m.finished[0].getCount()).as("the run was over when cancelSync returned").isZero();
                assertThat(m.work.busy()).as("idle when cancelSync returned").isZero();
                return r;
            });
            await().until(() -> waitingForItem(canceller.thread));
            assertThat(canceller.isDone()).isFalse();
            assertThat(canceller.thread.isAlive()).isTrue();
            assertThat(wq.queue(m.work)).as("queueing is refused while cancelSync waits").isFalse();
            assertThat(m.work.isPending()).isFalse();
            assertThat(m.work.busy()).isEqualTo(Work.BUSY_RUNNING);

            m.release[0].countDown();
            assertThat(canceller.get()).as("it was not pending").isFalse();
            assertThat(m.work.busy()).isZero();
            assertThat(m.work.isDisabled()).isFalse();
            assertThat(m.runs).hasValue(1);

            assertThat(wq.queue(m.work)).isTrue();
            m.release[1].countDown();
            await(m.finished[1]);
            assertThat(m.runs).hasValue(2);
        }
    }

    @Test
    void cancelSyncOfAnItemPendingWhileRunningReturnsTrueAndItRunsOnce() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("q", 0);
            MultiRun m = new MultiRun("m", 2);
            assertThat(wq.queue(m.work)).isTrue();
            await(m.started[0]);
            assertThat(wq.queue(m.work)).isTrue();
            Async<Boolean> canceller = new Async<>("canceller", m.work::cancelSync);
            await().until(() -> waitingForItem(canceller.thread));
            m.release[0].countDown();
            assertThat(canceller.get()).isTrue();
            assertThat(m.work.busy()).isZero();
            await().until(() -> wq.stats().inFlight() == 0);
            assertThat(m.runs).hasValue(1);
        }
    }

    /** A self-requeueing item stops for good when cancelSync returns. */
    @Test
    void cancelSyncStopsASelfRequeueingItem() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("q", 0);
            AtomicInteger runs = new AtomicInteger();
            CountDownLatch going = new CountDownLatch(3);
            List<Throwable> failures = new CopyOnWriteArrayList<>();
            Work w = Work.of("again-and-again", self -> {
                runs.incrementAndGet();
                going.countDown();
                try {
                    wq.queue(self); // false once cancelSync has disabled it
                } catch (Throwable t) {
                    failures.add(t);
                }
            });
            assertThat(wq.queue(w)).isTrue();
            await(going);
            w.cancelSync();
            assertThat(w.busy()).isZero();
            assertThat(w.isPending()).isFalse();
            int after = runs.get();
            await().until(() -> wq.stats().inFlight() == 0);
            assertThat(runs).as("no run after cancelSync returned").hasValue(after);
            assertThat(failures).isEmpty();
        }
    }

    /**
     * cancelSync of an item pending behind the caller on an ordered queue can't deadlock: it
     * removes the pending item and has no running execution to wait for (the kernel's
     * cancel_work_sync just grabs PENDING). It returns true and the item never runs.
     */
    @Test
    void cancelSyncOfAnItemPendingBehindTheCallerOnAnOrderedQueue() {
        try (Workqueues e = engine(1)) {
            Workqueue ordered = e.allocOrdered("ordered");
            AtomicInteger behindRuns = new AtomicInteger();
            Work behind = new Work("behind", behindRuns::incrementAndGet);
            AtomicReference<Object> outcome = new AtomicReference<>();
            CountDownLatch done = new CountDownLatch(1);
            assertThat(ordered.queue(new Work("caller", () -> {
                try {
                    assertThat(ordered.queue(behind)).isTrue();
                    outcome.set(behind.cancelSync());
                } catch (Throwable t) {
                    outcome.set(t);
                } finally {
                    done.countDown();
                }
            }))).isTrue();
            await(done);
            await().until(() -> ordered.stats().inFlight() == 0);
            assertThat(outcome.get()).as("cancelSync of a pending item from an item of its ordered queue")
                    .isEqualTo(Boolean.TRUE);
            assertThat(behindRuns).hasValue(0);
        }
    }

    // ---- disable() / enable() ---------------------------------------------------------------

    @Test
    void disableNestsAndQueueingReturnsFalseWhileDisabled() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("q", 0);
            AtomicInteger runs = new AtomicInteger();
            Work w = new Work("w", runs::incrementAndGet);
            assertThat(w.disable()).as("was not pending").isFalse();
            assertThat(w.isDisabled()).isTrue();
            assertThat(wq.queue(w)).isFalse();
            assertThat(w.isPending()).isFalse();
            assertThat(w.disable()).isFalse();
            assertThat(w.enable()).as("depth 2 -> 1: still disabled").isFalse();
            assertThat(w.isDisabled()).isTrue();
            assertThat(wq.queue(w)).isFalse();
            assertThat(w.enable()).as("depth 1 -> 0").isTrue();
            assertThat(w.isDisabled()).isFalse();
            assertThat(wq.queue(w)).isTrue();
            await().until(() -> runs.get() == 1);
            assertThatThrownBy(w::enable).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("not disabled").hasMessageContaining("'w'");
        }
    }

    @Test
    void enableOfAnItemNeverDisabledThrows() {
        Work w = new Work("fresh", () -> { });
        assertThatThrownBy(w::enable).isInstanceOf(IllegalStateException.class).hasMessageContaining("not disabled");
        assertThat(w.isDisabled()).isFalse();
    }

    @Test
    void disableOfAPendingItemCancelsIt() {
        try (Workqueues e = engine(1)) {
            Workqueue ordered = e.allocOrdered("ordered");
            Blocker holder = new Blocker("holder");
            assertThat(ordered.queue(holder.work)).isTrue();
            await(holder.started);
            AtomicInteger runs = new AtomicInteger();
            Work w = new Work("w", runs::incrementAndGet);
            assertThat(ordered.queue(w)).isTrue();
            assertThat(w.disable()).as("was pending").isTrue();
            assertThat(w.isPending()).isFalse();
            assertThat(ordered.queue(w)).isFalse();
            CountDownLatch sentinel = new CountDownLatch(1);
            assertThat(ordered.queue(new Work("sentinel", sentinel::countDown))).isTrue();
            holder.release.countDown();
            await(sentinel);
            assertThat(runs).hasValue(0);
            assertThat(w.enable()).isTrue();
            assertThat(ordered.queue(w)).isTrue();
            await().until(() -> runs.get() == 1);
        }
    }

    @Test
    void disableSyncWaitsForTheRunningExecutionAndLeavesTheItemDisabled() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("q", 0);
            MultiRun m = new MultiRun("m", 2);
            assertThat(wq.queue(m.work)).isTrue();
            await(m.started[0]);
            Async<Boolean> disabler = new Async<>("disabler", () -> {
                boolean r = m.work.disableSync();
                assertThat(m.finished[0].getCount()).isZero();
                return r;
            });
            await().until(() -> waitingForItem(disabler.thread));
            assertThat(disabler.isDone()).isFalse();
            m.release[0].countDown();
            assertThat(disabler.get()).isFalse();
            assertThat(m.work.busy()).isZero();
            assertThat(m.work.isDisabled()).isTrue();
            assertThat(wq.queue(m.work)).isFalse();
            assertThat(m.work.enable()).isTrue();
            assertThat(wq.queue(m.work)).isTrue();
            m.release[1].countDown();
            await(m.finished[1]);
        }
    }

    // ---- busy() -----------------------------------------------------------------------------

    @Test
    void busyReportsThePendingAndRunningBits() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("q", 0);
            Workqueue ordered = e.allocOrdered("ordered");
            MultiRun m = new MultiRun("m", 2);
            assertThat(m.work.busy()).isZero();

            Blocker holder = new Blocker("holder");
            assertThat(ordered.queue(holder.work)).isTrue();
            await(holder.started);
            assertThat(ordered.queue(m.work)).isTrue();
            assertThat(m.work.busy()).as("pending").isEqualTo(Work.BUSY_PENDING);
            assertThat(m.work.cancel()).isTrue();
            assertThat(m.work.busy()).isZero();

            assertThat(wq.queue(m.work)).isTrue();
            await(m.started[0]);
            assertThat(m.work.busy()).as("running").isEqualTo(Work.BUSY_RUNNING);
            assertThat(wq.queue(m.work)).isTrue();
            assertThat(m.work.busy()).as("running and pending").isEqualTo(Work.BUSY_RUNNING | Work.BUSY_PENDING);
            m.release[0].countDown();
            await(m.started[1]);
            assertThat(m.work.busy()).isEqualTo(Work.BUSY_RUNNING);
            m.release[1].countDown();
            await(m.finished[1]);
            await().until(() -> wq.stats().inFlight() == 0);
            assertThat(m.work.busy()).isZero();

            DelayedWork dw = new DelayedWork("armed", () -> { });
            assertThat(wq.queueDelayed(dw, Duration.ofHours(1))).isTrue();
            assertThat(dw.busy()).as("armed counts as pending").isEqualTo(Work.BUSY_PENDING);
            assertThat(dw.cancel()).isTrue();
            assertThat(dw.busy()).isZero();
            holder.release.countDown();
        }
    }
}
