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
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link Workqueue#drain()} ({@code drain_workqueue()}) and {@link Workqueue#destroy()}
 * ({@code destroy_workqueue()}): draining waits until the queue is empty, chained work and armed
 * delayed items included, and refuses outsiders meanwhile; destroying drains, frees the name and
 * the unbound pool, and refuses queueing afterwards.
 */
@Timeout(60)
class DrainDestroyTest {

    private static Workqueues engine(int cpus) {
        return Workqueues.builder().cpus(cpus).monitorInterval(Duration.ZERO).name("drain").build();
    }

    private static PoolStats poolById(Workqueues e, int id) {
        return e.pools().stream().filter(p -> p.id() == id).findFirst().orElse(null);
    }

    // ---- drain ------------------------------------------------------------------------------

    /**
     * An item queues a follow-up on its own queue, five levels deep, on alternating CPUs; the
     * first level waits until the drain has begun. drain() returns only after all six ran, and
     * every chained queue() was accepted.
     */
    @Test
    void drainWaitsForChainedWorkSeveralLevelsDeep() {
        try (Workqueues e = engine(2)) {
            Workqueue wq = e.alloc("chain", 0);
            int depth = 6;
            List<Integer> ran = new CopyOnWriteArrayList<>();
            List<Object> chainedQueueResults = new CopyOnWriteArrayList<>();
            CountDownLatch gate = new CountDownLatch(1);
            CountDownLatch firstStarted = new CountDownLatch(1);
            Work[] chain = new Work[depth];
            for (int i = depth - 1; i >= 0; i--) {
                int level = i;
                chain[i] = new Work("chain-" + i, () -> {
                    if (level == 0) {
                        firstStarted.countDown();
                        TestWaits.hookWait(gate);
                    }
                    ran.add(level);
                    if (level + 1 < depth) {
                        try {
                            chainedQueueResults.add(wq.queueOn((level + 1) % 2, chain[level + 1]));
                        } catch (Throwable t) {
                            chainedQueueResults.add(t);
                        }
                    }
                });
            }
            assertThat(wq.queueOn(0, chain[0])).isTrue();
            await(firstStarted);

            Async<List<Integer>> drainer = new Async<>("drainer", () -> {
                wq.drain();
                return List.copyOf(ran);
            });
            await().until(() -> wq.draining);
            assertThat(drainer.isDone()).isFalse();

            gate.countDown();
            assertThat(drainer.get()).as("every chained item ran before drain returned").containsExactly(0, 1, 2, 3, 4, 5);
            assertThat(chainedQueueResults).as("the queue's own items may queue while it drains")
                    .containsExactly(true, true, true, true, true);
            assertThat(wq.draining).isFalse();
            WorkqueueStats s = wq.stats();
            assertThat(s.inFlight()).isZero();
            assertThat(s.completed()).isEqualTo(depth);
        }
    }

    @Test
    void drainOfAnIdleQueueReturnsAtOnce() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("idle-drain", 0);
            Async<Boolean> drainer = new Async<>("drainer", () -> {
                wq.drain();
                return true;
            });
            assertThat(drainer.get()).isTrue();
            assertThat(wq.queue(new Work("after", () -> { }))).isTrue();
        }
    }

    /**
     * While the queue drains, anyone but its own items is refused with an IllegalStateException
     * naming the queue and saying it drains; nothing changes. Afterwards queueing works again.
     */
    @Test
    void outsidersAreRefusedWhileDrainingAndAcceptedAfterwards() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("drained-q", 0);
            Workqueue other = e.alloc("other-q", 0);
            Blocker holder = new Blocker("holder");
            assertThat(wq.queue(holder.work)).isTrue();
            await(holder.started);
            Async<Boolean> drainer = new Async<>("drainer", () -> {
                wq.drain();
                return true;
            });
            await().until(() -> wq.draining);

            AtomicInteger runs = new AtomicInteger();
            Work outsider = new Work("outsider", runs::incrementAndGet);
            assertThatThrownBy(() -> wq.queue(outsider))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("drained-q")
                    .hasMessageContaining("draining")
                    .hasMessageContaining("outsider");
            assertThatThrownBy(() -> wq.queueOn(0, outsider)).isInstanceOf(IllegalStateException.class);
            DelayedWork delayedOutsider = new DelayedWork("delayed-outsider", runs::incrementAndGet);
            assertThatThrownBy(() -> wq.queueDelayed(delayedOutsider, Duration.ofHours(1)))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("draining");
            assertThat(outsider.isPending()).isFalse();
            assertThat(outsider.busy()).isZero();
            assertThat(delayedOutsider.isPending()).isFalse();
            assertThat(outsider.flush()).as("a refused item has nothing to flush").isFalse();

            // an item of another queue is an outsider too
            AtomicReference<Throwable> fromOtherQueue = new AtomicReference<>();
            CountDownLatch otherDone = new CountDownLatch(1);
            assertThat(other.queue(new Work("other-item", () -> {
                try {
                    wq.queue(outsider);
                } catch (Throwable t) {
                    fromOtherQueue.set(t);
                } finally {
                    otherDone.countDown();
                }
            }))).isTrue();
            await(otherDone);
            assertThat(fromOtherQueue.get()).isInstanceOf(IllegalStateException.class).hasMessageContaining("draining");

            assertThat(wq.stats().inFlight()).as("only the holder is in flight").isEqualTo(1);
            assertThat(drainer.isDone()).isFalse();

            holder.release.countDown();
            assertThat(drainer.get()).isTrue();
            assertThat(runs).hasValue(0);

            CountDownLatch ran = new CountDownLatch(1);
            Work later = new Work("later", ran::countDown);
            assertThat(wq.queue(later)).as("accepted again after the drain").isTrue();
            await(ran);
            assertThat(wq.queue(outsider)).isTrue();
            await().until(() -> runs.get() == 1);
        }
    }

    /** Armed delayed items of the queue fire at once when it drains (an hour early). */
    @Test
    void drainFiresArmedDelayedItemsAtOnce() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("delayed-drain", 0);
            AtomicInteger runs = new AtomicInteger();
            DelayedWork dw = new DelayedWork("in-an-hour", runs::incrementAndGet);
            assertThat(wq.queueDelayed(dw, Duration.ofHours(1))).isTrue();
            assertThat(dw.isPending()).isTrue();

            Async<Integer> drainer = new Async<>("drainer", () -> {
                wq.drain();
                return runs.get();
            });
            assertThat(drainer.get()).as("the armed item ran before drain returned").isEqualTo(1);
            assertThat(dw.isPending()).isFalse();
            assertThat(dw.busy()).isZero();
            assertThat(dw.flush()).isFalse();
            assertThat(wq.stats().completed()).isEqualTo(1);
        }
    }

    /** drain() from one of the queue's own items would wait for itself: it throws at once. */
    @Test
    void drainFromOwnItemThrows() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("self-drain", 0);
            AtomicReference<Throwable> caught = new AtomicReference<>();
            CountDownLatch done = new CountDownLatch(1);
            assertThat(wq.queue(new Work("drainer-item", () -> {
                try {
                    wq.drain();
                } catch (Throwable t) {
                    caught.set(t);
                } finally {
                    done.countDown();
                }
            }))).isTrue();
            await(done);
            assertThat(caught.get()).isInstanceOf(IllegalStateException.class);
            assertThat(caught.get().getMessage()).contains("deadlock").contains("self-drain");
            assertThat(wq.draining).isFalse();
        }
    }

    // ---- destroy ----------------------------------------------------------------------------

    @Test
    void afterDestroyQueueingThrowsAndTheNameIsFreeAgain() {
        try (Workqueues e = engine(2)) {
            Workqueue wq = e.alloc("short-lived", 0);
            CountDownLatch ran = new CountDownLatch(1);
            assertThat(wq.queue(new Work("before", ran::countDown))).isTrue();
            wq.destroy();
            assertThat(ran.getCount()).as("destroy drained the queued item").isZero();

            Work w = new Work("too-late", () -> { });
            assertThatThrownBy(() -> wq.queue(w)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("short-lived").hasMessageContaining("destroyed");
            assertThat(w.isPending()).isFalse();
            DelayedWork dw = new DelayedWork("too-late-delayed", () -> { });
            assertThatThrownBy(() -> wq.queueDelayed(dw, Duration.ofMinutes(1))).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("destroyed");
            assertThat(dw.isPending()).isFalse();
            assertThatThrownBy(wq::destroy).isInstanceOf(IllegalStateException.class).hasMessageContaining("already destroyed");
            assertThat(e.workqueue("short-lived")).isEmpty();

            Workqueue again = e.alloc("short-lived", 0);
            assertThat(again).isNotSameAs(wq);
            assertThat(e.workqueue("short-lived")).containsSame(again);
            CountDownLatch ranAgain = new CountDownLatch(1);
            assertThat(again.queue(new Work("new", ranAgain::countDown))).isTrue();
            await(ranAgain);
        }
    }

    @Test
    void destroyFiresArmedDelayedItemsAndWaitsForThem() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("destroy-delayed", 0);
            AtomicInteger runs = new AtomicInteger();
            DelayedWork dw = new DelayedWork("in-an-hour", runs::incrementAndGet);
            assertThat(wq.queueDelayed(dw, Duration.ofHours(1))).isTrue();
            Async<Integer> destroyer = new Async<>("destroyer", () -> {
                wq.destroy();
                return runs.get();
            });
            assertThat(destroyer.get()).isEqualTo(1);
            assertThat(dw.isPending()).isFalse();
        }
    }

    /** The unbound pool of a queue's attributes goes away with its last user, and its workers exit. */
    @Test
    void destroyReleasesTheUnboundPoolWithItsLastUser() {
        try (Workqueues e = engine(2)) {
            WorkqueueAttrs attrs = new WorkqueueAttrs(7, null);
            Workqueue a = e.alloc("nice7-a", EnumSet.of(WqFlag.UNBOUND), 0, attrs);
            Workqueue b = e.alloc("nice7-b", EnumSet.of(WqFlag.UNBOUND), 0, attrs);
            WorkerPool pool = a.unboundPwq().pool;
            assertThat(b.unboundPwq().pool).isSameAs(pool);
            List<Thread> threads = new ArrayList<>();
            for (Worker w : pool.workers) {
                threads.add(w.thread);
            }
            assertThat(threads).isNotEmpty();

            a.destroy();
            assertThat(poolById(e, pool.id)).as("still used by nice7-b").isNotNull();
            CountDownLatch ran = new CountDownLatch(1);
            assertThat(b.queue(new Work("still-served", ran::countDown))).isTrue();
            await(ran);

            b.destroy();
            assertThat(poolById(e, pool.id)).as("released with its last queue").isNull();
            await().until(() -> threads.stream().noneMatch(Thread::isAlive));

            // the bound pools and the system queues are untouched
            CountDownLatch sys = new CountDownLatch(2);
            e.systemWq().queue(new Work("sys", sys::countDown));
            e.systemUnboundWq().queue(new Work("sys-unbound", sys::countDown));
            await(sys);
        }
    }

    @Test
    void destroyFromOwnItemThrowsAndLeavesTheQueueAlive() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("self-destroy", 0);
            AtomicReference<Throwable> caught = new AtomicReference<>();
            CountDownLatch done = new CountDownLatch(1);
            assertThat(wq.queue(new Work("destroyer-item", () -> {
                try {
                    wq.destroy();
                } catch (Throwable t) {
                    caught.set(t);
                } finally {
                    done.countDown();
                }
            }))).isTrue();
            await(done);
            assertThat(caught.get()).isInstanceOf(IllegalStateException.class);
            assertThat(caught.get().getMessage()).contains("deadlock").contains("self-destroy");
            CountDownLatch ran = new CountDownLatch(1);
            assertThat(wq.queue(new Work("after", ran::countDown))).isTrue();
            await(ran);
            assertThat(e.workqueue("self-destroy")).containsSame(wq);
        }
    }

    /**
     * destroy(timeout) that times out throws naming the item still in flight, and leaves the queue
     * alive and usable (not draining, nothing lost); a later destroy succeeds.
     */
    @Test
    void destroyThatTimesOutNamesTheItemAndLeavesTheQueueUsable() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.alloc("stubborn", 0);
            Blocker stuck = new Blocker("stuck-item");
            assertThat(wq.queue(stuck.work)).isTrue();
            await(stuck.started);

            assertThatThrownBy(() -> wq.destroy(Duration.ofMillis(100)))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("stubborn")
                    .hasMessageContaining("stuck-item");
            assertThat(wq.draining).isFalse();
            assertThat(e.workqueue("stubborn")).containsSame(wq);

            CountDownLatch ran = new CountDownLatch(1);
            Work next = new Work("next", ran::countDown);
            assertThat(wq.queue(next)).as("outsiders are accepted again").isTrue();
            await(ran);
            assertThat(stuck.work.busy()).isEqualTo(Work.BUSY_RUNNING);

            stuck.release.countDown();
            await(stuck.finished);
            wq.destroy(Duration.ofSeconds(30));
            assertThat(e.workqueue("stubborn")).isEmpty();
            assertThat(wq.stats().completed()).isEqualTo(2);
        }
    }

    /**
     * Two threads destroy the same queue at once (while it drains an item): exactly one succeeds,
     * the other is told it is (being) destroyed. The queue shares the default unbound pool with
     * system_unbound_wq, whose reference must be dropped only once: system_unbound_wq keeps
     * working.
     */
    @Test
    void concurrentDestroysOfOneQueueReleaseItsPoolOnce() {
        try (Workqueues e = engine(2)) {
            Workqueue wq = e.alloc("twice", 0, WqFlag.UNBOUND); // default attributes: system_unbound_wq's pool
            assertThat(wq.unboundPwq().pool).isSameAs(e.systemUnboundWq().unboundPwq().pool);
            Blocker holder = new Blocker("holder");
            assertThat(wq.queue(holder.work)).isTrue();
            await(holder.started);

            Async<String> first = new Async<>("destroyer-1", () -> destroyOutcome(wq));
            await().until(() -> wq.draining);
            Async<String> second = new Async<>("destroyer-2", () -> destroyOutcome(wq));
            await().until(() -> second.isDone() || second.thread.getState() != Thread.State.RUNNABLE);
            holder.release.countDown();
            List<String> outcomes = List.of(first.get(), second.get());

            CountDownLatch sys = new CountDownLatch(1);
            Work probe = new Work("system-unbound-still-served", sys::countDown);
            assertThat(e.systemUnboundWq().queue(probe)).isTrue();
            boolean served;
            try {
                served = sys.await(5, SECONDS);
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                throw new AssertionError(ie);
            }
            if (!served) {
                probe.cancel(); // nobody will run it: don't let the engine's shutdown wait for it
            }
            assertThat(served).as("system_unbound_wq still runs items (its pool was released by the double destroy: %s)",
                    outcomes).isTrue();
            assertThat(outcomes).as("exactly one destroy succeeds").containsOnlyOnce("destroyed");
        }
    }

    private static String destroyOutcome(Workqueue wq) {
        try {
            wq.destroy();
            return "destroyed";
        } catch (IllegalStateException ex) {
            return "refused: " + ex.getMessage();
        }
    }
}
