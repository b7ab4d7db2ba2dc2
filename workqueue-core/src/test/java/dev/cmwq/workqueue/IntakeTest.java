package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The lock-free intake ({@link WorkerPool}'s class comment): queueing pushes the item without the
 * pool lock, and a push that races a teardown, a shutdown or the release of its pool workqueue
 * must still end in exactly one of two ways: {@code queue()} returns true and the item runs once,
 * or {@code queue()} throws and the item never runs. Nothing is dropped silently. These are stress
 * tests: each round races several producers against the event, many rounds over.
 */
@Timeout(120)
class IntakeTest {

    /** One queueing of a fresh item: whether it was accepted, and how often it ran. */
    static final class Tracked extends Work {
        final AtomicInteger runs = new AtomicInteger();
        /** The runs of all items of the producer that made this one (for its window). */
        private final AtomicInteger producerRuns;
        volatile boolean accepted;
        volatile boolean refused;

        Tracked(int i) {
            this(i, new AtomicInteger());
        }

        Tracked(int i, AtomicInteger producerRuns) {
            super("tracked-" + i);
            this.producerRuns = producerRuns;
        }

        @Override
        protected void run() {
            runs.incrementAndGet();
            producerRuns.incrementAndGet();
        }
    }

    /** Runs each task on a fresh daemon thread (never the common pool, which has one thread on two CPUs). */
    static final java.util.concurrent.Executor THREAD = r -> {
        Thread th = new Thread(r, "intake-test");
        th.setDaemon(true);
        th.start();
    };

    /** Items a producer may have accepted and not yet run (so that a slow round can't fill the heap). */
    private static final int WINDOW = 256;

    /**
     * Producers queue fresh items on {@code wq} until {@code stop} or until they are refused;
     * every attempt is recorded. Returns once every producer stopped.
     */
    private static List<Tracked> produce(Workqueue wq, int producers, AtomicBoolean stop, Runnable whileProducing)
            throws Exception {
        return produce(wq, producers, stop, new AtomicInteger(), whileProducing);
    }

    /**
     * Like {@link #produce}, for an event after which the queue refuses everything: the producers
     * go on until each one was refused.
     */
    private static List<Tracked> produceUntilRefused(Workqueue wq, int producers, Runnable event) throws Exception {
        AtomicInteger refusals = new AtomicInteger();
        return produce(wq, producers, new AtomicBoolean(), refusals, () -> {
            event.run();
            await().until(() -> refusals.get() == producers);
        });
    }

    private static List<Tracked> produce(Workqueue wq, int producers, AtomicBoolean stop, AtomicInteger refusals,
                                         Runnable whileProducing) throws Exception {
        ConcurrentLinkedQueue<Tracked> all = new ConcurrentLinkedQueue<>();
        CyclicBarrier start = new CyclicBarrier(producers + 1);
        AtomicInteger counter = new AtomicInteger();
        List<CompletableFuture<Void>> running = new ArrayList<>();
        for (int p = 0; p < producers; p++) {
            running.add(CompletableFuture.runAsync(() -> {
                try {
                    start.await(30, SECONDS);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
                AtomicInteger ran = new AtomicInteger();
                int accepted = 0;
                while (!stop.get()) {
                    if (accepted - ran.get() >= WINDOW) {
                        Thread.yield();
                        continue;
                    }
                    Tracked t = new Tracked(counter.incrementAndGet(), ran);
                    all.add(t);
                    try {
                        t.accepted = wq.queue(t);
                        accepted++;
                    } catch (IllegalStateException refused) {
                        t.refused = true;
                        refusals.incrementAndGet();
                        return; // the queue (or engine) refuses from now on
                    }
                }
            }, THREAD));
        }
        start.await(30, SECONDS);
        whileProducing.run();
        stop.set(true);
        for (CompletableFuture<Void> f : running) {
            f.get(60, SECONDS);
        }
        return new ArrayList<>(all);
    }

    /** Every attempt either was accepted and ran exactly once, or was refused and never ran nor stays pending. */
    private static void assertNothingLost(List<Tracked> all) {
        await().untilAsserted(() -> {
            for (Tracked t : all) {
                assertThat(t.accepted || t.refused).as(t.name() + " was decided").isTrue();
                if (t.accepted) {
                    assertThat(t.runs.get()).as(t.name() + " (accepted) runs").isEqualTo(1);
                } else {
                    assertThat(t.runs.get()).as(t.name() + " (refused) runs").isZero();
                    assertThat(t.isPending()).as(t.name() + " (refused) pending").isFalse();
                    assertThat(t.flush()).as("flush of " + t.name() + " (refused) has nothing to wait for").isFalse();
                }
            }
        });
    }

    /**
     * Producers queue on a queue while it is destroyed. destroy() publishes that the queue drains
     * before it looks at the pools under their locks; a producer that pushed before seeing it has
     * its item found by the drain, and one that sees it takes the item back and is refused.
     */
    @Test
    void queueingThatRacesDestroyEitherRunsOrIsRefused() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(2).name("intake").build()) {
            for (int round = 0; round < 30; round++) {
                for (Set<WqFlag> flags : List.of(Set.<WqFlag>of(), Set.of(WqFlag.UNBOUND))) {
                    Workqueue wq = e.alloc("racing-destroy-" + round, flags, 0);
                    List<Tracked> all = produceUntilRefused(wq, 3, () -> {
                        await().until(() -> wq.stats().completed() > 200);
                        wq.destroy();
                    });
                    assertNothingLost(all);
                }
            }
        }
    }

    /**
     * Producers queue on an unbound queue while its attributes change back and forth: each change
     * retires the pool workqueue (and pool) the producers push to, and releases it once drained.
     * A push that lands on a pool workqueue as it is released is either taken in by it (which then
     * lives on) or bounced and queued again on the new one; every item runs exactly once.
     */
    @Test
    void queueingThatRacesTheReleaseOfItsPoolWorkqueueLosesNothing() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(2).name("intake").build()) {
            Workqueue wq = e.alloc("racing-attrs", 0, WqFlag.UNBOUND);
            AtomicBoolean stop = new AtomicBoolean();
            List<Tracked> all = produce(wq, 3, stop, () -> {
                for (int i = 0; i < 60; i++) {
                    wq.applyAttrs(WorkqueueAttrs.defaults().withNice(i % 2 == 0 ? 5 : 0));
                    long before = wq.stats().completed();
                    await().until(() -> wq.stats().completed() > before + 50);
                }
            });
            assertThat(all.stream().noneMatch(t -> t.refused)).as("nothing refused").isTrue();
            assertNothingLost(all);
            assertThat(wq.flush()).isNotNull();
            assertThat(wq.stats().inFlight()).isZero();
            assertThat(wq.stats().completed()).isEqualTo(all.stream().filter(t -> t.accepted).count());
            wq.destroy();
        }
    }

    /**
     * Outsiders queue while the engine shuts down: those accepted run (shutdown waits for them),
     * the rest are refused, and the engine ends with nothing unfinished.
     */
    @Test
    void queueingThatRacesShutdownEitherRunsOrIsRefused() throws Exception {
        for (int round = 0; round < 15; round++) {
            Workqueues e = Workqueues.builder().cpus(2).name("intake-shutdown").build();
            Workqueue bound = e.alloc("bound", 0);
            Workqueue unbound = e.alloc("unbound", 0, WqFlag.UNBOUND);
            AtomicBoolean stop = new AtomicBoolean();
            List<Tracked> onBound = produce(bound, 2, stop, () -> await().until(() -> bound.stats().completed() > 200));
            assertNothingLost(onBound);
            List<Tracked> onUnbound = produceUntilRefused(unbound, 2, () -> {
                await().until(() -> unbound.stats().completed() > 200);
                assertThat(e.shutdown(Duration.ofSeconds(30))).as("shutdown finished everything").isTrue();
            });
            assertNothingLost(onUnbound);
        }
    }

    /**
     * While a queue drains, outsiders are refused, even those already past the check at the top
     * of queue(): their push is taken back. The drain returns with nothing in flight, and the queue
     * accepts items again afterwards.
     */
    @Test
    void queueingThatRacesDrainEitherRunsOrIsRefused() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(2).name("intake").build()) {
            for (int round = 0; round < 30; round++) {
                Workqueue wq = e.alloc("racing-drain-" + round, round % 2 == 0 ? Set.of() : Set.of(WqFlag.UNBOUND), 0);
                AtomicBoolean stop = new AtomicBoolean();
                AtomicInteger refusals = new AtomicInteger();
                // The drain needs something in flight to wait for, so that the producers meet it.
                CountDownLatch release = new CountDownLatch(1);
                Work slow = new Work("slow", () -> plainWait(release));
                List<Tracked> all = produce(wq, 3, stop, refusals, () -> {
                    await().until(() -> wq.stats().completed() > 200);
                    wq.queue(slow);
                    CompletableFuture<Void> drain = CompletableFuture.runAsync(wq::drain, THREAD);
                    await().until(() -> refusals.get() == 3); // every producer was refused
                    release.countDown();
                    drain.join();
                    assertThat(wq.stats().inFlight()).as("in flight after drain").isZero();
                });
                assertNothingLost(all);
                Tracked after = new Tracked(-1);
                assertThat(wq.queue(after)).isTrue();
                await().until(() -> after.runs.get() == 1);
                wq.destroy();
            }
        }
    }

    // ---- the windows held open (TestHooks) -------------------------------------------------

    /**
     * Queues {@code t} on another thread, held between its lock-free checks and its push until
     * {@code event} ran; returns the queueing's outcome: true/false, or the refusal.
     */
    private static Object queueHeldBeforePush(Workqueue wq, Tracked t, Runnable event) throws Exception {
        CountDownLatch held = new CountDownLatch(1);
        CountDownLatch go = new CountDownLatch(1);
        TestHooks.beforeIntakePush = w -> {
            if (w == t) {
                held.countDown();
                plainWait(go);
            }
        };
        TestHooks.forceIntake = true; // not the locked insert that a free pool lock allows
        try {
            CompletableFuture<Object> queued = CompletableFuture.supplyAsync(() -> {
                try {
                    return wq.queue(t);
                } catch (IllegalStateException refused) {
                    return refused;
                }
            }, THREAD);
            await(held);
            event.run();
            go.countDown();
            return queued.get(30, SECONDS);
        } finally {
            TestHooks.beforeIntakePush = null;
            TestHooks.forceIntake = false;
        }
    }

    private static void assertRefusedAndNeverRuns(Object outcome, Tracked t, String refusal) {
        assertThat(outcome).as("queue() of an item pushed after the event").isInstanceOf(IllegalStateException.class);
        assertThat(((Exception) outcome).getMessage()).contains(refusal);
        assertThat(t.isPending()).as("pending").isFalse();
        assertThat(t.flush()).as("flush has nothing to wait for").isFalse();
        assertThat(t.runs.get()).as("runs").isZero();
    }

    /**
     * The producer passed the checks while the queue was alive, then the queue was destroyed
     * (nothing was in flight, so destroy() did not wait) and only then the push landed: the
     * producer sees the queue destroyed after its push, takes the item back and is refused.
     */
    @Test
    void aPushThatLandsAfterDestroyIsTakenBackAndRefused() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(2).name("intake").build()) {
            for (Set<WqFlag> flags : List.of(Set.<WqFlag>of(), Set.of(WqFlag.UNBOUND))) {
                Workqueue wq = e.alloc("destroyed-" + flags, flags, 0);
                Tracked t = new Tracked(1);
                Object outcome = queueHeldBeforePush(wq, t, wq::destroy);
                assertRefusedAndNeverRuns(outcome, t, "is destroyed");
                Tracked probe = new Tracked(2);
                assertThat(e.systemWq().queue(probe)).isTrue();
                await().until(() -> probe.runs.get() == 1);
                assertThat(t.runs.get()).as("runs, after the pools ran more").isZero();
            }
        }
    }

    /**
     * As above while the queue drains: the outsider's push is taken back and refused, unless a
     * worker started the item before its producer looked again; then the drain waits for it.
     */
    @Test
    void aPushThatLandsWhileTheQueueDrainsIsTakenBackAndRefused() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(2).name("intake").build()) {
            for (Set<WqFlag> flags : List.of(Set.<WqFlag>of(), Set.of(WqFlag.UNBOUND))) {
                Workqueue wq = e.alloc("draining-" + flags, flags, 0);
                CountDownLatch release = new CountDownLatch(1);
                CountDownLatch slowStarted = new CountDownLatch(1);
                wq.queue(new Work("slow", () -> {
                    slowStarted.countDown();
                    plainWait(release);
                }));
                await(slowStarted);
                Tracked t = new Tracked(1);
                CompletableFuture<Void> drain = new CompletableFuture<>();
                Object outcome = queueHeldBeforePush(wq, t, () -> {
                    CompletableFuture.runAsync(wq::drain, THREAD).whenComplete((v, x) -> drain.complete(null));
                    await().until(() -> {
                        try {
                            return !wq.queue(new Work("probe", () -> { }));
                        } catch (IllegalStateException draining) {
                            return true; // refused: the drain has begun
                        }
                    });
                });
                release.countDown();
                drain.get(30, SECONDS);
                if (outcome instanceof Boolean accepted) {
                    // a worker took the item in and started it before its producer looked again:
                    // then it counts as queued before the drain, which waited for it
                    assertThat(accepted).isTrue();
                    assertThat(t.runs.get()).as("runs, when drain() returned").isEqualTo(1);
                } else {
                    assertRefusedAndNeverRuns(outcome, t, "is draining");
                }
                wq.destroy();
            }
        }
    }

    /** As above while the engine shuts down: the push is taken back and refused, nothing is left behind. */
    @Test
    void aPushThatLandsAfterShutdownIsTakenBackAndRefused() throws Exception {
        for (Set<WqFlag> flags : List.of(Set.<WqFlag>of(), Set.of(WqFlag.UNBOUND))) {
            Workqueues e = Workqueues.builder().cpus(2).name("intake").build();
            Workqueue wq = e.alloc("shut", flags, 0);
            Tracked t = new Tracked(1);
            Object outcome = queueHeldBeforePush(wq, t,
                    () -> assertThat(e.shutdown(Duration.ofSeconds(30))).as("shutdown finished everything").isTrue());
            assertRefusedAndNeverRuns(outcome, t, "shut down");
        }
    }

    /**
     * The producer picked the queue's pool workqueue, then the attributes changed, the pool
     * workqueue retired and, empty, was released; only then the push landed. The drain bounces the
     * item (its pool workqueue is dead), the producer sees that and queues it again on the new
     * pool workqueue: it runs once, and queue() returns true.
     */
    @Test
    void aPushOnAReleasedPoolWorkqueueIsQueuedAgainOnTheNewOne() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(2).name("intake").build()) {
            Workqueue wq = e.alloc("moved", 0, WqFlag.UNBOUND);
            PoolWorkqueue old = wq.pwqs().get(0);
            Tracked t = new Tracked(1);
            Object outcome = queueHeldBeforePush(wq, t, () -> {
                wq.applyAttrs(WorkqueueAttrs.defaults().withNice(5));
                await().until(() -> old.dead);
            });
            assertThat(outcome).isEqualTo(Boolean.TRUE);
            await().until(() -> t.runs.get() == 1);
            assertThat(wq.pwqs()).doesNotContain(old);
            assertThat(t.isPending()).isFalse();
            assertThat(wq.flush()).isNotNull();
            assertThat(t.runs.get()).isEqualTo(1);
        }
    }

    /**
     * A cancel that runs right after another thread's queue() finds the item even if it is still
     * on the intake: taking the pool lock moves it to its list first.
     */
    @Test
    void cancelRightAfterQueueingFindsTheItem() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(2).name("intake").build()) {
            Workqueue wq = e.alloc("cancel", 1, WqFlag.UNBOUND);
            CountDownLatch release = new CountDownLatch(1);
            CountDownLatch blockerStarted = new CountDownLatch(1);
            wq.queue(new Work("blocker", () -> {
                blockerStarted.countDown();
                plainWait(release);
            }));
            await(blockerStarted);
            try {
                for (int i = 0; i < 2_000; i++) {
                    Tracked t = new Tracked(i);
                    CyclicBarrier both = new CyclicBarrier(2);
                    CompletableFuture<Boolean> queued = CompletableFuture.supplyAsync(() -> {
                        awaitBarrier(both);
                        return wq.queue(t);
                    }, THREAD);
                    awaitBarrier(both);
                    while (!t.isPending()) { // cancel as soon as the queueing took PENDING, push or no push
                        Thread.onSpinWait();
                    }
                    assertThat(t.cancel()).as("item %d (max_active 1 is taken: it can only wait) was cancelled", i).isTrue();
                    assertThat(queued.get(30, SECONDS)).isTrue();
                    assertThat(t.isPending()).isFalse();
                }
            } finally {
                release.countDown();
            }
            await().until(() -> wq.stats().inFlight() == 0);
        }
    }

    private static void awaitBarrier(CyclicBarrier b) {
        try {
            b.await(30, SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * A stream of no-op items on an unbound queue from four producers: a worker on its way back
     * from an item counts as looking for the next one, so the pool does not wake (and, with none
     * idle, create) a worker for each item that finds the others busy. Without that rule the pool
     * had 175 workers after these four million items on two CPUs (and 257, max_active + 1, in the
     * benchmark); with it, 9 to 17.
     */
    @Test
    void aStreamOfShortItemsOnAnUnboundQueueNeedsFewWorkers() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(2).name("intake").build()) {
            Workqueue wq = e.alloc("stream", 0, WqFlag.UNBOUND);
            int perProducer = 1_000_000;
            int producers = 4;
            AtomicInteger done = new AtomicInteger();
            List<CompletableFuture<Void>> all = new ArrayList<>();
            for (int p = 0; p < producers; p++) {
                all.add(CompletableFuture.runAsync(() -> {
                    AtomicInteger ran = new AtomicInteger();
                    for (int i = 0; i < perProducer; i++) {
                        while (i - ran.get() >= 1_024) { // a window, as the benchmark keeps
                            Thread.yield();
                        }
                        wq.queue(new Work("noop", () -> {
                            ran.incrementAndGet();
                            done.incrementAndGet();
                        }));
                    }
                }, THREAD));
            }
            for (CompletableFuture<Void> f : all) {
                f.get(60, SECONDS);
            }
            await().until(() -> done.get() == perProducer * producers);
            int workers = e.pools().stream().filter(p -> p.kind().equals("unbound")).mapToInt(PoolStats::workers).sum();
            assertThat(workers).as("unbound workers after %d no-op items", perProducer * producers).isLessThan(64);
        }
    }

    /**
     * "Who drains": a producer that pushes onto an empty intake of an unbound pool leaves the drain
     * to a worker only if one is looking. Each round queues an item that blocks and, right behind
     * it, a second item, so the pool's worker often starts the first item just as the second is
     * pushed (the window the Dekker pair of the class comment covers). The second item must start
     * while the first still blocks: it may not wait on the intake for the blocked worker to come
     * back. Fails if the producer trusts a busy worker that is executing (a stall of up to 30 s).
     */
    @Test
    void anItemPushedBehindABlockingOneStartsWhileItBlocks() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(2).name("intake").build()) {
            Workqueue wq = e.alloc("behind", 0, WqFlag.UNBOUND);
            for (int round = 0; round < 300; round++) {
                CountDownLatch release = new CountDownLatch(1);
                CountDownLatch secondStarted = new CountDownLatch(1);
                CountDownLatch bothDone = new CountDownLatch(2);
                Work first = new Work("blocking-" + round, () -> {
                    plainWait(release);
                    bothDone.countDown();
                });
                Work second = new Work("behind-" + round, () -> {
                    secondStarted.countDown();
                    bothDone.countDown();
                });
                if (round % 2 == 1) { // let the first one start before the second is pushed
                    CountDownLatch firstStarted = new CountDownLatch(1);
                    first = new Work("blocking-" + round, () -> {
                        firstStarted.countDown();
                        plainWait(release);
                        bothDone.countDown();
                    });
                    assertThat(wq.queue(first)).isTrue();
                    await(firstStarted);
                } else {
                    assertThat(wq.queue(first)).isTrue();
                }
                assertThat(wq.queue(second)).isTrue();
                assertThat(secondStarted.await(30, SECONDS))
                        .as("round %d: the item behind a blocking one started while it blocked", round).isTrue();
                release.countDown();
                await(bothDone);
            }
        }
    }

    /** The drain waits (awaitFrozenIdle, drain, destroy) park with the pool lock released and stay interruptible. */
    @Test
    void aWaitForFrozenQueuesIsInterruptible() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(1).name("intake").build()) {
            Workqueue fz = e.alloc("fz", Set.of(WqFlag.FREEZABLE), 0);
            CountDownLatch release = new CountDownLatch(1);
            CountDownLatch started = new CountDownLatch(1);
            fz.queue(new Work("running", () -> {
                started.countDown();
                plainWait(release);
            }));
            await(started);
            e.freeze();
            AtomicBoolean interrupted = new AtomicBoolean();
            CountDownLatch waiting = new CountDownLatch(1);
            Thread waiter = new Thread(() -> {
                waiting.countDown();
                try {
                    e.awaitFrozenIdle(LONG);
                } catch (InterruptedException ex) {
                    interrupted.set(true);
                }
            });
            waiter.start();
            await(waiting);
            await().until(() -> waiter.getState() == Thread.State.TIMED_WAITING);
            waiter.interrupt();
            waiter.join(30_000);
            assertThat(interrupted).as("the wait threw InterruptedException").isTrue();
            release.countDown();
            assertThat(e.awaitFrozenIdle(LONG)).isTrue();
            e.thaw();
        }
    }
}
