package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.FutureTask;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code apply_workqueue_attrs()} and the engine's unbound cpumask: new items go to the new pools
 * at once, items already there finish where they are, retired pools are released once empty, and
 * ordering, flushing, statistics and max_active hold across a move. Refusals change nothing.
 */
@Timeout(120)
class ApplyAttrsTest {
    private static final Pattern UNBOUND_NAME = Pattern.compile("kworker/u(\\d+):\\d+(-.*)?");
    private static final CpuMask CPU0 = CpuMask.of(0);
    private static final CpuMask CPU1 = CpuMask.of(1);
    private static final CpuMask BOTH = CpuMask.of(0, 1);

    private static Workqueues engine(String name) {
        return Workqueues.builder().cpus(2).name(name).placement(ThreadPlacement.unavailable("test"))
                .topology(CpuTopology.flat(2)).monitorInterval(Duration.ZERO).build();
    }

    private static WorkqueueAttrs on(CpuMask m) {
        return WorkqueueAttrs.defaults().withCpumask(m);
    }

    private static Workqueue unbound(Workqueues e, String name, int maxActive, CpuMask m) {
        return e.alloc(name, EnumSet.of(WqFlag.UNBOUND), maxActive, m == null ? null : on(m));
    }

    /** The pool id in an unbound worker's thread name. */
    private static int poolIdOf(String threadName) {
        Matcher m = UNBOUND_NAME.matcher(threadName);
        assertThat(m.matches()).as("unbound worker name: %s", threadName).isTrue();
        return Integer.parseInt(m.group(1));
    }

    /** Runs a probe on {@code wq} and returns the id of the pool that ran it. */
    private static int probePool(Workqueue wq) {
        AtomicReference<String> name = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(1);
        assertThat(wq.queue(new Work("probe", () -> {
            name.set(Thread.currentThread().getName());
            done.countDown();
        }))).isTrue();
        await(done);
        return poolIdOf(name.get());
    }

    private static PoolStats pool(Workqueues e, int id) {
        return e.pools().stream().filter(p -> p.id() == id).findFirst()
                .orElseThrow(() -> new AssertionError("no pool " + id + " in " + e.pools()));
    }

    private static boolean hasPool(Workqueues e, int id) {
        return e.pools().stream().anyMatch(p -> p.id() == id);
    }

    /** The pools of the queue's current pwqs, by id. */
    private static Set<Integer> currentPoolIds(Workqueue wq) {
        return wq.currentPwqs().stream().map(p -> p.pool.id).collect(Collectors.toSet());
    }

    /** What identifies the engine's pools (ids and masks; not the counters, which move). */
    private static List<String> poolShapes(Workqueues e) {
        return e.pools().stream().map(p -> p.id() + ":" + p.kind() + ":" + p.cpumask() + ":" + p.podCpumask() + ":" + p.nice())
                .toList();
    }

    /** Waits until {@code t} is parked or waiting (it blocks), failing if it finishes first. */
    private static void awaitBlocked(Thread t, FutureTask<?> f) {
        await().until(() -> {
            assertThat(f.isDone()).as("returned while it should wait").isFalse();
            Thread.State s = t.getState();
            return s == Thread.State.WAITING || s == Thread.State.TIMED_WAITING;
        });
    }

    // ---- moving -----------------------------------------------------------------------------

    @Test
    void newItemsGoToThePoolOfTheNewAttributes() {
        try (Workqueues e = engine("apply-move")) {
            Workqueue wq = unbound(e, "mover", 0, CPU0);
            int before = probePool(wq);
            assertThat(pool(e, before).cpumask()).isEqualTo(CPU0);
            assertThat(wq.attrs().cpumask()).isEqualTo(CPU0);
            assertThat(wq.effectiveCpumask()).isEqualTo(CPU0);

            wq.applyAttrs(on(CPU1));
            assertThat(wq.attrs()).isEqualTo(new WorkqueueAttrs(0, CPU1, AffinityScope.DEFAULT, false));
            assertThat(wq.effectiveCpumask()).isEqualTo(CPU1);
            for (int i = 0; i < 5; i++) {
                int after = probePool(wq);
                assertThat(after).isNotEqualTo(before);
                PoolStats p = pool(e, after);
                assertThat(p.kind()).isEqualTo("unbound");
                assertThat(p.cpumask()).isEqualTo(CPU1);
                assertThat(p.nice()).isZero();
            }
            assertThat(currentPoolIds(wq)).hasSize(1);
            assertThat(pool(e, currentPoolIds(wq).iterator().next()).cpumask()).isEqualTo(CPU1);
            // the old pool had only this queue: it goes once the retired pwq is released
            await().until(() -> !hasPool(e, before));

            // nice and affinity scope move the queue too
            wq.applyAttrs(new WorkqueueAttrs(4, CPU1, AffinityScope.SYSTEM, false));
            assertThat(wq.attrs().nice()).isEqualTo(4);
            assertThat(wq.attrs().affinityScope()).isEqualTo(AffinityScope.SYSTEM);
            PoolStats p = pool(e, probePool(wq));
            assertThat(p.nice()).isEqualTo(4);
            assertThat(p.cpumask()).isEqualTo(CPU1);
        }
    }

    @Test
    void runningItemFinishesOnItsOldWorkerAndTheOldPoolIsReleased() {
        try (Workqueues e = engine("apply-running")) {
            Workqueue wq = unbound(e, "mover", 0, CPU0);
            CountDownLatch started = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            CountDownLatch finished = new CountDownLatch(1);
            AtomicReference<Thread> startThread = new AtomicReference<>();
            AtomicReference<Thread> endThread = new AtomicReference<>();
            assertThat(wq.queue(new Work("long", () -> {
                startThread.set(Thread.currentThread());
                started.countDown();
                plainWait(release);
                endThread.set(Thread.currentThread());
                finished.countDown();
            }))).isTrue();
            await(started);
            int oldPool = poolIdOf(startThread.get().getName());
            assertThat(pool(e, oldPool).cpumask()).isEqualTo(CPU0);

            try {
                wq.applyAttrs(on(CPU1));

                // later items run on the new pool while the old one still runs its item
                for (int i = 0; i < 3; i++) {
                    int p = probePool(wq);
                    assertThat(p).isNotEqualTo(oldPool);
                    assertThat(pool(e, p).cpumask()).isEqualTo(CPU1);
                }
                assertThat(finished.getCount()).isEqualTo(1);
                assertThat(hasPool(e, oldPool)).as("the old pool stays while its item runs").isTrue();
                assertThat(wq.pwqs()).as("current and retired pwq").hasSize(2);
                await().until(() -> wq.stats().inFlight() == 1); // the probes' completions are recorded just after they return
            } finally {
                release.countDown();
            }
            await(finished);
            assertThat(endThread.get()).isSameAs(startThread.get());
            await().until(() -> !hasPool(e, oldPool));
            await().until(() -> wq.pwqs().size() == 1);
            await().until(() -> wq.stats().completed() == 4); // recorded just after the item returns
        }
    }

    @Test
    void orderedQueueKeepsOrderAndExclusionWhileMovedBackAndForth() throws Exception {
        try (Workqueues e = engine("apply-ordered")) {
            Workqueue wq = e.allocOrdered("ordered-mover");
            int n = 200;
            List<Integer> order = new CopyOnWriteArrayList<>();
            AtomicInteger running = new AtomicInteger();
            AtomicInteger maxRunning = new AtomicInteger();
            AtomicInteger[] runs = new AtomicInteger[n];
            Set<Integer> poolsUsed = ConcurrentHashMap.newKeySet();
            CountDownLatch done = new CountDownLatch(n);
            Semaphore moves = new Semaphore(0);
            AtomicInteger movesDone = new AtomicInteger();
            AtomicReference<Throwable> moverFailure = new AtomicReference<>();
            Thread mover = new Thread(() -> {
                try {
                    for (int i = 0; i < 20; i++) {
                        if (!moves.tryAcquire(30, TimeUnit.SECONDS)) {
                            throw new IllegalStateException("producer stalled");
                        }
                        wq.applyAttrs(on(i % 2 == 0 ? CPU0 : CPU1));
                        movesDone.incrementAndGet();
                    }
                } catch (Throwable t) {
                    moverFailure.set(t);
                }
            }, "attrs-mover");
            mover.start();
            for (int i = 0; i < n; i++) {
                int id = i;
                runs[i] = new AtomicInteger();
                if (i == n / 2) {
                    // the second half surely goes to pwqs created by the moves
                    await().until(() -> movesDone.get() >= 5 || moverFailure.get() != null);
                }
                assertThat(wq.queue(new Work("ordered-" + i, () -> {
                    int r = running.incrementAndGet();
                    maxRunning.accumulateAndGet(r, Math::max);
                    runs[id].incrementAndGet();
                    order.add(id);
                    poolsUsed.add(poolIdOf(Thread.currentThread().getName()));
                    Thread.yield(); // widen the window in which an overlap would show
                    running.decrementAndGet();
                    done.countDown();
                }))).isTrue();
                if (i % 10 == 9) {
                    moves.release(); // one move per ten items, interleaved with the queueing
                }
            }
            // a flush (racing with the last moves) returns only once every item queued before it ran
            wq.flush();
            assertThat(done.getCount()).as("items not run when flush returned").isZero();
            mover.join(TimeUnit.SECONDS.toMillis(30));
            assertThat(mover.isAlive()).isFalse();
            assertThat(moverFailure.get()).isNull();
            await(done);
            assertThat(maxRunning.get()).as("items running at once").isEqualTo(1);
            assertThat(order).containsExactlyElementsOf(IntStream.range(0, n).boxed().toList());
            for (int i = 0; i < n; i++) {
                assertThat(runs[i].get()).as("runs of item %s", i).isEqualTo(1);
            }
            assertThat(wq.attrs().cpumask()).isEqualTo(CPU1); // the 20th move (i = 19)
            assertThat(poolsUsed.size()).as("pools the items ran in").isGreaterThan(1);
            await().until(() -> wq.pwqs().size() == 1);
            await().until(() -> wq.stats().completed() == n); // recorded just after the item returns
            // the queue still works, in order, after the moves
            assertThat(probePool(wq)).isIn(currentPoolIds(wq));
        }
    }

    @Test
    void orderedQueueRequeueOfARunningItemAfterAMoveKeepsQueueingOrder() {
        try (Workqueues e = engine("apply-ordered-requeue")) {
            Workqueue wq = e.allocOrdered("ordered-requeue");
            wq.applyAttrs(on(CPU0));
            List<String> order = new CopyOnWriteArrayList<>();
            CountDownLatch firstStarted = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            CountDownLatch done = new CountDownLatch(3);
            AtomicInteger wRuns = new AtomicInteger();
            Work w = new Work("w", () -> {
                int run = wRuns.incrementAndGet();
                order.add("w" + run);
                if (run == 1) {
                    firstStarted.countDown();
                    plainWait(release);
                }
                done.countDown();
            });
            Work x = new Work("x", () -> {
                order.add("x");
                done.countDown();
            });
            try {
                assertThat(wq.queue(w)).isTrue();
                await(firstStarted);
                wq.applyAttrs(on(CPU1));
                assertThat(wq.queue(x)).isTrue();
                assertThat(wq.queue(w)).as("w queued again while it runs").isTrue();
            } finally {
                release.countDown();
            }
            await(done);
            // the kernel queues items of an ordered queue on the newest pwq, even one still running
            // on an older pool: order (and with it non-reentrancy) comes from the plugging
            assertThat(order).containsExactly("w1", "x", "w2");
        }
    }

    @Test
    void frozenOrderedQueueMovedRunsInOrderAfterThaw() {
        try (Workqueues e = engine("apply-ordered-frozen")) {
            Workqueue wq = e.allocOrdered("ordered-frozen", WqFlag.FREEZABLE);
            wq.applyAttrs(on(CPU0));
            List<Integer> order = new CopyOnWriteArrayList<>();
            CountDownLatch done = new CountDownLatch(9);
            e.freeze();
            try {
                for (int i = 0; i < 9; i++) {
                    int id = i;
                    assertThat(wq.queue(new Work("frozen-" + i, () -> {
                        order.add(id);
                        done.countDown();
                    }))).isTrue();
                    if (i % 3 == 2) {
                        wq.applyAttrs(on(i % 2 == 0 ? CPU1 : CPU0));
                    }
                }
                assertThat(wq.stats().inactive()).isEqualTo(9);
                assertThat(wq.stats().active()).isZero();
            } finally {
                e.thaw();
            }
            await(done);
            assertThat(order).containsExactly(0, 1, 2, 3, 4, 5, 6, 7, 8);
            await().until(() -> wq.pwqs().size() == 1);
        }
    }

    @Test
    void flushAfterAMoveWaitsForTheRetiredPwq() throws Exception {
        try (Workqueues e = engine("apply-flush")) {
            Workqueue wq = unbound(e, "flushed", 0, CPU0);
            CountDownLatch started = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            AtomicBoolean oldDone = new AtomicBoolean();
            assertThat(wq.queue(new Work("old", () -> {
                started.countDown();
                plainWait(release);
                oldDone.set(true);
            }))).isTrue();
            await(started);
            FutureTask<Boolean> flush = new FutureTask<>(wq::flush);
            try {
                wq.applyAttrs(on(CPU1));
                probePool(wq); // the new pwq serves items meanwhile

                Thread flusher = new Thread(flush, "flusher");
                flusher.start();
                awaitBlocked(flusher, flush);
                assertThatThrownBy(() -> flush.get(200, TimeUnit.MILLISECONDS)).isInstanceOf(TimeoutException.class);
                assertThat(oldDone.get()).isFalse();
            } finally {
                release.countDown();
            }
            assertThat(flush.get(30, TimeUnit.SECONDS)).as("flush waited for something").isTrue();
            assertThat(oldDone.get()).isTrue();
        }
    }

    @Test
    void statisticsSurviveMovesAndReleases() throws Exception {
        try (Workqueues e = engine("apply-stats")) {
            Workqueue wq = unbound(e, "counted", 0, CPU0);
            AtomicBoolean sampling = new AtomicBoolean(true);
            AtomicReference<String> decrease = new AtomicReference<>();
            AtomicLong samples = new AtomicLong();
            Thread sampler = new Thread(() -> {
                long last = 0;
                while (sampling.get()) {
                    long c = wq.stats().completed();
                    if (c < last && decrease.get() == null) {
                        decrease.set(last + " -> " + c);
                    }
                    last = c;
                    samples.incrementAndGet();
                    Thread.yield();
                }
            }, "stats-sampler");
            sampler.start();
            int total = 0;
            // nice 1 on both CPUs: a pool of this queue alone (system_unbound_wq has nice 0 on both)
            WorkqueueAttrs[] moves = {on(CPU1), on(CPU0), new WorkqueueAttrs(1, BOTH), on(CPU1)};
            for (int round = 0; round < moves.length; round++) {
                int n = 25;
                CountDownLatch done = new CountDownLatch(n);
                for (int i = 0; i < n; i++) {
                    assertThat(wq.queue(new Work("item-" + round + "-" + i, done::countDown))).isTrue();
                }
                await(done);
                total += n;
                int t = total;
                await().until(() -> wq.stats().completed() == t);
                int oldPool = currentPoolIds(wq).iterator().next();
                wq.applyAttrs(moves[round]);
                await().alias("round " + round + ": pool " + oldPool + " released").until(() -> !hasPool(e, oldPool) && wq.pwqs().size() == 1);
                WorkqueueStats s = wq.stats();
                assertThat(s.completed()).as("completed after releasing round %s's pool", round).isEqualTo(total);
                assertThat(s.started()).isEqualTo(total);
                assertThat(s.inFlight()).isZero();
            }
            await().until(() -> samples.get() > 10);
            sampling.set(false);
            sampler.join(TimeUnit.SECONDS.toMillis(30));
            assertThat(decrease.get()).as("completed count went down").isNull();
            assertThat(wq.stats().completed()).isEqualTo(total);
        }
    }

    @Test
    void maxActiveHoldsAcrossAMove() throws InterruptedException {
        try (Workqueues e = engine("apply-maxactive")) {
            Workqueue wq = unbound(e, "limited", 2, CPU0);
            AtomicInteger running = new AtomicInteger();
            AtomicInteger maxRunning = new AtomicInteger();
            CountDownLatch[] release = new CountDownLatch[4];
            CountDownLatch[] started = new CountDownLatch[4];
            CountDownLatch done = new CountDownLatch(4);
            for (int i = 0; i < 4; i++) {
                release[i] = new CountDownLatch(1);
                started[i] = new CountDownLatch(1);
            }
            for (int i = 0; i < 4; i++) {
                if (i == 2) {
                    await(started[0]);
                    await(started[1]);
                    wq.applyAttrs(on(CPU1));
                }
                int id = i;
                assertThat(wq.queue(new Work("limited-" + i, () -> {
                    maxRunning.accumulateAndGet(running.incrementAndGet(), Math::max);
                    started[id].countDown();
                    plainWait(release[id]);
                    running.decrementAndGet();
                    done.countDown();
                }))).isTrue();
            }
            try {
                // the two new items wait on the new pwq for the queue-wide slots
                await().until(() -> wq.stats().inactive() == 2);
                assertThat(started[2].await(300, TimeUnit.MILLISECONDS)).as("a third item started").isFalse();
                assertThat(running.get()).isEqualTo(2);

                release[0].countDown(); // its slot is handed across pools to the new pwq
                await(started[2]);
                await().until(() -> wq.stats().inactive() == 1);
                assertThat(started[3].getCount()).isEqualTo(1);
                release[1].countDown();
                await(started[3]);
            } finally {
                for (CountDownLatch r : release) {
                    r.countDown();
                }
            }
            await(done);
            assertThat(maxRunning.get()).as("items running at once").isEqualTo(2);
            await().until(() -> wq.stats().completed() == 4); // recorded just after the item returns
        }
    }

    @Test
    void itemRequeuedWhileRunningOnTheOldPoolNeverRunsTwiceAtOnce() {
        try (Workqueues e = engine("apply-reentrant")) {
            Workqueue wq = unbound(e, "reentrant", 0, CPU0);
            CountDownLatch firstStarted = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            CountDownLatch secondDone = new CountDownLatch(1);
            AtomicInteger runs = new AtomicInteger();
            AtomicInteger running = new AtomicInteger();
            AtomicInteger maxRunning = new AtomicInteger();
            List<String> threads = new CopyOnWriteArrayList<>();
            Work w = new Work("reentrant", () -> {
                maxRunning.accumulateAndGet(running.incrementAndGet(), Math::max);
                threads.add(Thread.currentThread().getName());
                if (runs.incrementAndGet() == 1) {
                    firstStarted.countDown();
                    plainWait(release);
                } else {
                    secondDone.countDown();
                }
                running.decrementAndGet();
            });
            try {
                assertThat(wq.queue(w)).isTrue();
                await(firstStarted);
                int oldPool = poolIdOf(threads.get(0));
                wq.applyAttrs(on(CPU1));
                assertThat(wq.queue(w)).as("queued again while running").isTrue();
                assertThat(probePool(wq)).isNotEqualTo(oldPool); // new items go to the new pool meanwhile
                assertThat(secondDone.getCount()).as("second run waits for the first").isEqualTo(1);
            } finally {
                release.countDown();
            }
            await(secondDone);
            assertThat(maxRunning.get()).isEqualTo(1);
            assertThat(runs.get()).isEqualTo(2);
            // the kernel runs it again where it runs (find_worker_executing_work): the old pool
            assertThat(poolIdOf(threads.get(1))).isEqualTo(poolIdOf(threads.get(0)));
            await().until(() -> wq.pwqs().size() == 1);
        }
    }

    @Test
    void destroyAfterAMoveReleasesTheRetiredAndTheCurrentPools() throws Exception {
        try (Workqueues e = engine("apply-destroy")) {
            Workqueue wq = e.alloc("doomed", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(2, CPU0));
            CountDownLatch started = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            AtomicBoolean finished = new AtomicBoolean();
            assertThat(wq.queue(new Work("old", () -> {
                started.countDown();
                plainWait(release);
                finished.set(true);
            }))).isTrue();
            await(started);
            FutureTask<Void> destroy = new FutureTask<>(wq::destroy, null);
            try {
                wq.applyAttrs(new WorkqueueAttrs(2, CPU1));
                probePool(wq);
                assertThat(e.pools()).filteredOn(p -> p.nice() == 2).hasSize(2);
                Thread destroyer = new Thread(destroy, "destroyer");
                destroyer.start();
                awaitBlocked(destroyer, destroy);
                assertThat(destroy.isDone()).as("destroy waits for the retired pwq's item").isFalse();
            } finally {
                release.countDown();
            }
            destroy.get(30, TimeUnit.SECONDS);
            assertThat(finished.get()).isTrue();
            assertThat(e.pools()).filteredOn(p -> p.nice() == 2).isEmpty();
            assertThat(e.workqueue("doomed")).isEmpty();
        }
    }

    @Test
    void aPoolThatCannotBeCreatedChangesNothing() {
        // the worker limit: 4 per-CPU workers, 1 for system_unbound_wq's pool, 1 for each queue's pool below
        try (WorkerLifecycleTest.LogCapture log = new WorkerLifecycleTest.LogCapture(Workqueues.class, null);
             Workqueues e = Workqueues.builder().cpus(2).name("apply-limit").placement(ThreadPlacement.unavailable("test"))
                     .topology(CpuTopology.flat(2)).monitorInterval(Duration.ZERO).maxWorkers(9).build()) {
            Workqueue limited = e.alloc("limited", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(3, CPU0));
            Workqueue other = e.alloc("other", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(3, CPU1));
            Workqueue keeper = e.alloc("keeper", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(0, CPU1));
            Workqueue late = e.alloc("late", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(4, CPU0));
            assertThat(e.workerThreads()).isEqualTo(9);
            WorkqueueAttrs attrsBefore = limited.attrs();
            Set<Integer> poolsOfQueue = currentPoolIds(limited);
            List<String> poolsBefore = poolShapes(e);

            assertThatThrownBy(() -> limited.applyAttrs(new WorkqueueAttrs(5, CPU1)))
                    .isInstanceOf(IllegalStateException.class);
            assertThat(limited.attrs()).isEqualTo(attrsBefore);
            assertThat(currentPoolIds(limited)).isEqualTo(poolsOfQueue);
            assertThat(limited.pwqs()).hasSize(1);
            assertThat(poolShapes(e)).isEqualTo(poolsBefore);
            assertThat(log.count(Level.ERROR, "Failed to create a worker thread")).isEqualTo(1);

            // the engine-wide mask: system_unbound_wq, limited, other and keeper fit on existing pools,
            // late would need a new one: every prepared change is undone
            assertThatThrownBy(() -> e.setUnboundCpumask(CPU1)).isInstanceOf(IllegalStateException.class);
            assertThat(e.unboundCpumask()).isEqualTo(BOTH);
            assertThat(limited.effectiveCpumask()).isEqualTo(CPU0);
            assertThat(late.effectiveCpumask()).isEqualTo(CPU0);
            assertThat(e.systemUnboundWq().effectiveCpumask()).isEqualTo(BOTH);
            assertThat(e.systemUnboundWq().pwqs()).hasSize(1);
            assertThat(pool(e, currentPoolIds(e.systemUnboundWq()).iterator().next()).cpumask()).isEqualTo(BOTH);
            assertThat(poolShapes(e)).isEqualTo(poolsBefore);
            assertThat(e.workerThreads()).isEqualTo(9);

            // the references taken for the undone plans were dropped: keeper's pool goes with keeper
            int keeperPool = currentPoolIds(keeper).iterator().next();
            keeper.destroy();
            assertThat(hasPool(e, keeperPool)).as("keeper's pool released").isFalse();

            // a move onto an existing pool needs no thread
            limited.applyAttrs(new WorkqueueAttrs(3, CPU1));
            assertThat(currentPoolIds(limited)).isEqualTo(currentPoolIds(other));
        }
    }

    @Test
    void waitersOfTheRetiredPwqGetTheSlotFirstAndACancelledOnePassesItOn() {
        try (Workqueues e = engine("apply-fifo")) {
            Workqueue wq = unbound(e, "fifo", 1, CPU0);
            List<String> order = new CopyOnWriteArrayList<>();
            Map<String, CountDownLatch> release = new ConcurrentHashMap<>();
            Map<String, CountDownLatch> started = new ConcurrentHashMap<>();
            Function<String, Work> item = name -> {
                release.put(name, new CountDownLatch(1));
                started.put(name, new CountDownLatch(1));
                return new Work(name, () -> {
                    order.add(name);
                    started.get(name).countDown();
                    plainWait(release.get(name));
                });
            };
            try {
                // round 1: a runs and b waits in the old pwq; c waits in the new one
                assertThat(wq.queue(item.apply("a"))).isTrue();
                await(started.get("a"));
                assertThat(wq.queue(item.apply("b"))).isTrue();
                wq.applyAttrs(on(CPU1));
                assertThat(wq.queue(item.apply("c"))).isTrue();
                release.get("a").countDown();
                await(started.get("b"));
                assertThat(started.get("c").getCount()).isEqualTo(1);
                release.get("b").countDown();
                await(started.get("c"));
                release.get("c").countDown();
                await().until(() -> wq.stats().inFlight() == 0);
                assertThat(order).containsExactly("a", "b", "c");

                // round 2: the old pwq's waiter is cancelled; its turn passes to the new pwq
                order.clear();
                assertThat(wq.queue(item.apply("d"))).isTrue();
                await(started.get("d"));
                Work f = item.apply("f");
                assertThat(wq.queue(f)).isTrue();
                int oldPool = currentPoolIds(wq).iterator().next();
                wq.applyAttrs(on(CPU0));
                assertThat(wq.queue(item.apply("g"))).isTrue();
                assertThat(f.cancel()).isTrue();
                release.get("d").countDown();
                await(started.get("g"));
                release.get("g").countDown();
                await().until(() -> wq.stats().inFlight() == 0);
                assertThat(order).containsExactly("d", "g");
                await().until(() -> !hasPool(e, oldPool) && wq.pwqs().size() == 1);
            } finally {
                release.values().forEach(CountDownLatch::countDown);
            }
        }
    }

    // ---- refusals ---------------------------------------------------------------------------

    @Test
    void cpumaskWithoutOnlineCpuIsRefusedAndChangesNothing() {
        try (Workqueues e = engine("apply-refuse")) {
            Workqueue wq = unbound(e, "stays", 0, CPU0);
            int poolBefore = probePool(wq);
            WorkqueueAttrs attrsBefore = wq.attrs();
            List<String> poolsBefore = poolShapes(e);
            assertThatThrownBy(() -> wq.applyAttrs(on(CpuMask.of(5))))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("stays")
                    .hasMessageContaining("cpumask 5")
                    .hasMessageContaining("online CPUs are 0-1");
            assertThat(wq.attrs()).isEqualTo(attrsBefore);
            assertThat(wq.effectiveCpumask()).isEqualTo(CPU0);
            assertThat(poolShapes(e)).isEqualTo(poolsBefore);
            assertThat(probePool(wq)).isEqualTo(poolBefore);
        }
    }

    @Test
    void boundQueueRefusesAttributes() {
        try (Workqueues e = engine("apply-bound")) {
            Workqueue bound = e.alloc("per-cpu", 0);
            List<String> poolsBefore = poolShapes(e);
            assertThatThrownBy(() -> bound.applyAttrs(on(CPU1)))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("per-cpu");
            assertThatThrownBy(() -> e.systemWq().applyAttrs(WorkqueueAttrs.defaults()))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("events");
            assertThat(bound.effectiveCpumask()).isEqualTo(BOTH);
            assertThat(poolShapes(e)).isEqualTo(poolsBefore);
        }
    }

    @Test
    void destroyedQueueRefusesAttributes() {
        try (Workqueues e = engine("apply-destroyed")) {
            Workqueue wq = unbound(e, "gone", 0, CPU0);
            probePool(wq);
            wq.destroy();
            List<String> poolsBefore = poolShapes(e);
            assertThatThrownBy(() -> wq.applyAttrs(on(CPU1)))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("gone");
            assertThat(poolShapes(e)).isEqualTo(poolsBefore);
        }
    }

    // ---- the engine's unbound cpumask ---------------------------------------------------------

    @Test
    void unboundCpumaskMovesEveryUnboundQueue() {
        try (Workqueues e = engine("apply-engine-mask")) {
            Workqueue all = unbound(e, "all", 0, null);
            Workqueue on0 = unbound(e, "on0", 0, CPU0);
            Workqueue on1 = unbound(e, "on1", 0, CPU1);
            Workqueue ordered = e.allocOrdered("ordered");
            Workqueue bound = e.alloc("bound", 0);
            List<Workqueue> unboundQueues = List.of(all, on0, on1, ordered, e.systemUnboundWq());
            assertThat(on0.effectiveCpumask()).isEqualTo(CPU0);
            assertThat(all.effectiveCpumask()).isEqualTo(BOTH);
            int on0Before = probePool(on0);

            e.setUnboundCpumask(CPU1);
            assertThat(e.unboundCpumask()).isEqualTo(CPU1);
            for (Workqueue wq : unboundQueues) {
                assertThat(wq.effectiveCpumask()).as("effective cpumask of %s", wq.name()).isEqualTo(CPU1);
                PoolStats p = pool(e, probePool(wq));
                assertThat(p.cpumask()).as("cpumask of the pool running %s", wq.name()).isEqualTo(CPU1);
            }
            // the queue keeps what it asked for; the kernel falls back to the whole unbound mask
            assertThat(on0.attrs().cpumask()).isEqualTo(CPU0);
            assertThat(bound.effectiveCpumask()).isEqualTo(BOTH);
            await().until(() -> !hasPool(e, on0Before));
            for (int cpu = 0; cpu < 2; cpu++) {
                int c = cpu;
                assertThat(e.pools()).anyMatch(p -> p.kind().equals("cpu") && p.cpu() == c && p.cpumask().equals(CpuMask.of(c)));
            }

            // refused: nothing changes
            List<String> poolsBefore = poolShapes(e);
            assertThatThrownBy(() -> e.setUnboundCpumask(CpuMask.of(7)))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("7")
                    .hasMessageContaining("online CPUs are 0-1");
            assertThat(e.unboundCpumask()).isEqualTo(CPU1);
            for (Workqueue wq : unboundQueues) {
                assertThat(wq.effectiveCpumask()).as("effective cpumask of %s", wq.name()).isEqualTo(CPU1);
            }
            assertThat(poolShapes(e)).isEqualTo(poolsBefore);

            // widened again: the queue on CPU 0 gets its own mask back
            e.setUnboundCpumask(BOTH);
            assertThat(on0.effectiveCpumask()).isEqualTo(CPU0);
            assertThat(pool(e, probePool(on0)).cpumask()).isEqualTo(CPU0);
            assertThat(all.effectiveCpumask()).isEqualTo(BOTH);
            assertThat(pool(e, probePool(all)).cpumask()).isEqualTo(BOTH);
            assertThat(on1.effectiveCpumask()).isEqualTo(CPU1);
        }
    }

    @Test
    void applyAttrsWithinARestrictedUnboundCpumask() {
        try (Workqueues e = engine("apply-within")) {
            e.setUnboundCpumask(CPU1);
            Workqueue wq = unbound(e, "late", 0, null);
            assertThat(wq.effectiveCpumask()).isEqualTo(CPU1);
            wq.applyAttrs(on(CPU0)); // online, but outside the unbound mask: falls back to it
            assertThat(wq.attrs().cpumask()).isEqualTo(CPU0);
            assertThat(wq.effectiveCpumask()).isEqualTo(CPU1);
            assertThat(pool(e, probePool(wq)).cpumask()).isEqualTo(CPU1);
        }
    }
}
