package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Concurrency management of the per-CPU pools (the kernel's keep_working, need_more_worker,
 * may_start_working, the LIFO idle list and too_many_workers), the lack of it in unbound pools,
 * and the CPU_INTENSIVE and HIGHPRI flags. The sampling monitor is off wherever the test is about
 * pool rules, so that "sleeping" comes only from the explicit blocking hooks and every outcome is
 * deterministic.
 */
@Timeout(60)
class ConcurrencyManagementTest {

    private static volatile long sink;

    private static void burnCpu() {
        long x = sink;
        for (int i = 0; i < 20_000; i++) {
            x = x * 6364136223846793005L + 1442695040888963407L;
        }
        sink = x;
    }

    private static Workqueues oneCpuNoMonitor() {
        return Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).build();
    }

    /** The worker of {@code pool} whose thread is {@code t}. */
    private static Worker workerOf(WorkerPool pool, Thread t) {
        for (Worker w : pool.workers) {
            if (w.thread == t) {
                return w;
            }
        }
        throw new AssertionError("no worker of " + pool + " runs on " + t);
    }

    /**
     * True once {@code w} is on the idle list and parked there: the IDLE flag (under the pool lock)
     * means it has entered idle and not left; TIMED_WAITING then means it is in its idle park, the
     * only timed wait of the worker loop.
     */
    private static boolean idleAndParked(WorkerPool pool, Worker w) {
        pool.lock.lock();
        try {
            return (w.flags & Worker.IDLE) != 0 && w.thread.getState() == Thread.State.TIMED_WAITING;
        } finally {
            pool.lock.unlock();
        }
    }

    @Test
    void keepWorking_cpuOnlyItemsRunOneAtATimeOnOneWorker() throws Exception {
        try (Workqueues e = oneCpuNoMonitor()) {
            Workqueue wq = e.alloc("cm", 0);
            WorkerPool pool = e.cpuPool(0, false);
            AtomicInteger running = new AtomicInteger();
            AtomicInteger maxRunning = new AtomicInteger();
            Set<Thread> itemThreads = ConcurrentHashMap.newKeySet();
            AtomicReference<Thread> gateThread = new AtomicReference<>();
            CountDownLatch gateStarted = new CountDownLatch(1);
            CountDownLatch openGate = new CountDownLatch(1);
            int n = 50;
            CountDownLatch done = new CountDownLatch(n);

            // A first item holds the CPU (a plain wait counts as running with the monitor off) so that
            // every CPU-only item is pending before any of them can start.
            wq.queue(new Work("gate", () -> {
                maxRunning.accumulateAndGet(running.incrementAndGet(), Math::max);
                gateThread.set(Thread.currentThread());
                gateStarted.countDown();
                plainWait(openGate);
                running.decrementAndGet();
            }));
            await(gateStarted);
            for (int i = 0; i < n; i++) {
                wq.queue(new Work("cpu-" + i, () -> {
                    maxRunning.accumulateAndGet(running.incrementAndGet(), Math::max);
                    itemThreads.add(Thread.currentThread());
                    burnCpu();
                    running.decrementAndGet();
                    done.countDown();
                }));
            }
            // The gate may have been taken by the reserve's own thread while its creator was still
            // on its way back from creating it: that worker enters the idle list only afterwards.
            await().until(() -> pool.snapshot().idle() >= 1);
            PoolStats s = pool.snapshot();
            assertThat(s.pending()).as("all items wait behind the running one").isEqualTo(n);
            assertThat(s.running()).isEqualTo(1);
            assertThat(s.idle()).as("an idle worker is available, yet not used").isGreaterThanOrEqualTo(1);

            openGate.countDown();
            await(done);
            assertThat(maxRunning.get()).as("max concurrently running items").isEqualTo(1);
            assertThat(itemThreads).as("threads that ran the CPU-only items").containsExactly(gateThread.get());
            assertThat(wq.stats().cmWakeups()).isZero();
        }
    }

    @Test
    void keepWorking_aFinishingWorkerTakesNoMoreItemsWhileAnotherRuns() throws Exception {
        try (Workqueues e = oneCpuNoMonitor()) {
            Workqueue wq = e.alloc("cm", 0);
            WorkerPool pool = e.cpuPool(0, false);
            CountDownLatch aStarted = new CountDownLatch(1);
            CountDownLatch aWake = new CountDownLatch(1);
            CountDownLatch aAwake = new CountDownLatch(1);
            CountDownLatch aRelease = new CountDownLatch(1);
            CountDownLatch bStarted = new CountDownLatch(1);
            CountDownLatch bRelease = new CountDownLatch(1);
            CountDownLatch cDone = new CountDownLatch(1);
            AtomicReference<Thread> ta = new AtomicReference<>();
            AtomicReference<Thread> tb = new AtomicReference<>();
            AtomicReference<Thread> tc = new AtomicReference<>();
            try {
                wq.queue(new Work("a", () -> {
                    ta.set(Thread.currentThread());
                    aStarted.countDown();
                    hookWait(aWake);      // sleeping: lets 'b' start
                    aAwake.countDown();
                    plainWait(aRelease);  // running again
                }));
                await(aStarted);
                wq.queue(new Work("b", () -> {
                    tb.set(Thread.currentThread());
                    bStarted.countDown();
                    plainWait(bRelease);
                }));
                await(bStarted);
                wq.queue(new Work("c", () -> {
                    tc.set(Thread.currentThread());
                    cDone.countDown();
                }));
                aWake.countDown();
                await(aAwake);
                assertThat(pool.snapshot().running()).as("'a' and 'b' both run").isEqualTo(2);

                // 'b' ends while 'a' runs: its worker must not take 'c' (keep_working needs nr_running <= 1).
                bRelease.countDown();
                Worker wb = workerOf(pool, tb.get());
                await().until(() -> idleAndParked(pool, wb));
                PoolStats s = pool.snapshot();
                assertThat(s.pending()).as("'c' still pending").isEqualTo(1);
                assertThat(s.running()).isEqualTo(1);
                assertThat(cDone.getCount()).isEqualTo(1);

                // When 'a' ends, its worker is the only one running and takes 'c'.
                aRelease.countDown();
                await(cDone);
                assertThat(tc.get()).isSameAs(ta.get());
            } finally {
                aWake.countDown();
                aRelease.countDown();
                bRelease.countDown();
            }
        }
    }

    @Test
    void needMoreWorker_blockedItemLetsNextPendingItemStartOnAnotherWorker() throws Exception {
        try (Workqueues e = oneCpuNoMonitor()) {
            Workqueue wq = e.alloc("cm", 0);
            WorkerPool pool = e.cpuPool(0, false);
            CountDownLatch aStarted = new CountDownLatch(1);
            CountDownLatch aGoBlock = new CountDownLatch(1);
            CountDownLatch aRelease = new CountDownLatch(1);
            CountDownLatch aDone = new CountDownLatch(1);
            CountDownLatch bStarted = new CountDownLatch(1);
            AtomicReference<Thread> aThread = new AtomicReference<>();
            AtomicReference<Thread> bThread = new AtomicReference<>();
            try {
                wq.queue(new Work("a", () -> {
                    aThread.set(Thread.currentThread());
                    aStarted.countDown();
                    plainWait(aGoBlock); // running, as far as the pool knows
                    hookWait(aRelease);  // sleeping
                    aDone.countDown();
                }));
                await(aStarted);
                wq.queue(new Work("b", () -> {
                    bThread.set(Thread.currentThread());
                    bStarted.countDown();
                }));
                PoolStats s = pool.snapshot();
                assertThat(s.running()).isEqualTo(1);
                assertThat(s.pending()).as("b waits while a runs").isEqualTo(1);
                assertThat(bStarted.getCount()).isEqualTo(1);
                assertThat(wq.stats().cmWakeups()).isZero();

                aGoBlock.countDown(); // a enters the blocking hook: the pool must start b at once
                await(bStarted);
                assertThat(aDone.getCount()).as("a is still blocked when b starts").isEqualTo(1);
                assertThat(bThread.get()).isNotSameAs(aThread.get());
                assertThat(wq.stats().cmWakeups()).as("concurrency-management wakeups").isEqualTo(1);
            } finally {
                aGoBlock.countDown();
                aRelease.countDown();
            }
            await(aDone);
        }
    }

    @Test
    void idleReserve_aWorkerThatStartsWorkingLeavesAnIdleOneBehind() throws Exception {
        // Worker threads created after build wait for a permit before running, so the order in which
        // a new worker's thread and its creator take the pool lock is fixed.
        Semaphore permits = new Semaphore(0);
        AtomicBoolean gated = new AtomicBoolean();
        WorkerThreadFactory factory = (name, body) -> Thread.ofPlatform().name(name).daemon(true)
                .unstarted(gated.get() ? () -> {
                    permits.acquireUninterruptibly();
                    body.run();
                } : body);
        CountDownLatch aGoBlock = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        try (Workqueues e = Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).threadFactory(factory).build()) {
            gated.set(true);
            try {
                Workqueue wq = e.alloc("cm", 0);
                WorkerPool pool = e.cpuPool(0, false);
                await().until(() -> pool.snapshot().idle() == 1);
                assertThat(pool.snapshot().workers()).isEqualTo(1);

                CountDownLatch aStarted = new CountDownLatch(1);
                CountDownLatch bStarted = new CountDownLatch(1);
                AtomicReference<Thread> aThread = new AtomicReference<>();
                AtomicReference<Thread> bThread = new AtomicReference<>();
                wq.queue(new Work("a", () -> {
                    aThread.set(Thread.currentThread());
                    aStarted.countDown();
                    plainWait(aGoBlock);
                    hookWait(release);
                }));
                await(aStarted);
                // The only idle worker took 'a', so it created one before starting: the reserve.
                PoolStats s = pool.snapshot();
                assertThat(s.workers()).as("workers after the first item started").isEqualTo(2);
                assertThat(s.idle()).as("idle reserve").isEqualTo(1);
                assertThat(s.running()).isEqualTo(1);
                pool.lock.lock();
                try {
                    assertThat(pool.idleFirst).isNotNull();
                    assertThat(pool.idleFirst.thread).isNotSameAs(aThread.get());
                } finally {
                    pool.lock.unlock();
                }

                permits.release(1); // let the reserve worker's thread run
                wq.queue(new Work("b", () -> {
                    bThread.set(Thread.currentThread());
                    bStarted.countDown();
                    plainWait(release);
                }));
                aGoBlock.countDown(); // 'a' sleeps: the reserve takes 'b' and creates a new reserve
                await(bStarted);
                s = pool.snapshot();
                assertThat(bThread.get()).isNotSameAs(aThread.get());
                assertThat(s.workers()).as("workers after the reserve was taken").isEqualTo(3);
                assertThat(s.idle()).as("idle reserve").isEqualTo(1);
                assertThat(s.running()).as("'b' runs, 'a' sleeps").isEqualTo(1);
            } finally {
                aGoBlock.countDown();
                release.countDown();
                permits.release(1000);
            }
        }
    }

    @Test
    void idleWorkersAreLifo_mostRecentlyIdleWorkerIsWokenFirst() throws Exception {
        try (Workqueues e = oneCpuNoMonitor()) {
            Workqueue wq = e.alloc("cm", 0);
            WorkerPool pool = e.cpuPool(0, false);
            CountDownLatch releaseA = new CountDownLatch(1);
            CountDownLatch releaseB = new CountDownLatch(1);
            CountDownLatch releaseC = new CountDownLatch(1);
            try {
                AtomicReference<Thread> ta = new AtomicReference<>();
                AtomicReference<Thread> tb = new AtomicReference<>();
                AtomicReference<Thread> tc = new AtomicReference<>();
                AtomicReference<Thread> td = new AtomicReference<>();
                CountDownLatch aStarted = new CountDownLatch(1);
                CountDownLatch bStarted = new CountDownLatch(1);
                CountDownLatch cStarted = new CountDownLatch(1);
                CountDownLatch dDone = new CountDownLatch(1);

                // 1. 'a' runs on W1 and sleeps; W1 created the reserve W2.
                wq.queue(new Work("a", () -> {
                    ta.set(Thread.currentThread());
                    aStarted.countDown();
                    hookWait(releaseA);
                }));
                await(aStarted);
                // 2. 'b' wakes W2, which creates W3 before starting it.
                wq.queue(new Work("b", () -> {
                    tb.set(Thread.currentThread());
                    bStarted.countDown();
                    hookWait(releaseB);
                }));
                await(bStarted);
                await().until(() -> pool.snapshot().workers() == 3);
                Worker w1 = workerOf(pool, ta.get());
                Worker w2 = workerOf(pool, tb.get());
                List<Worker> others = new ArrayList<>(pool.workers);
                others.remove(w1);
                others.remove(w2);
                assertThat(others).hasSize(1);
                Worker w3 = others.get(0);
                await().until(() -> idleAndParked(pool, w3)); // W3 idle since its creation

                // 3. W2 goes idle after W3, then W1 after W2: idle list W1, W2, W3 (most recent first).
                releaseB.countDown();
                await().until(() -> idleAndParked(pool, w2));
                releaseA.countDown();
                await().until(() -> idleAndParked(pool, w1));
                assertThat(pool.snapshot().idle()).isEqualTo(3);

                // 4. The next item runs on the most recently idle worker, W1 ...
                wq.queue(new Work("c", () -> {
                    tc.set(Thread.currentThread());
                    cStarted.countDown();
                    hookWait(releaseC);
                }));
                await(cStarted);
                // 5. ... and, while it sleeps, the next one on W2, not on W3 (idle longest).
                wq.queue(new Work("d", () -> {
                    td.set(Thread.currentThread());
                    dDone.countDown();
                }));
                await(dDone);
                assertThat(tc.get()).as("worker of 'c'").isSameAs(w1.thread);
                assertThat(td.get()).as("worker of 'd'").isSameAs(w2.thread);
                assertThat(pool.snapshot().workers()).as("no worker was created: idle ones sufficed").isEqualTo(3);
            } finally {
                releaseA.countDown();
                releaseB.countDown();
                releaseC.countDown();
            }
        }
    }

    @Test
    void idleReaping_surplusIdleWorkersAreReapedByTheTooManyWorkersRule() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO)
                .idleTimeout(Duration.ofMillis(200)).build()) {
            Workqueue wq = e.alloc("cm", 0);
            WorkerPool pool = e.cpuPool(0, false);
            int n = 8;
            CountDownLatch started = new CountDownLatch(n);
            CountDownLatch release = new CountDownLatch(1);
            List<CountDownLatch> releaseOne = new ArrayList<>();
            try {
                for (int i = 0; i < n; i++) {
                    CountDownLatch mine = new CountDownLatch(1);
                    releaseOne.add(mine);
                    wq.queue(new Work("sleeper-" + i, () -> {
                        started.countDown();
                        hookWait(mine);
                    }));
                }
                await(started);
                // a new worker leaves the idle list briefly when its thread starts (to look for work),
                // so the reserve shows as idle once it has looked
                await().until(() -> pool.snapshot().idle() >= 1);
                PoolStats busy = pool.snapshot();
                assertThat(busy.workers()).as("one worker per sleeping item plus the reserve").isGreaterThanOrEqualTo(n + 1);
                assertThat(busy.idle()).isGreaterThanOrEqualTo(1);

                // 3 items end: 5 busy. (nr_idle - 2) * 4 >= 5 holds for 4 idle, not for 3: 3 idle stay.
                for (int i = 0; i < 3; i++) {
                    releaseOne.get(i).countDown();
                }
                await().until(() -> {
                    PoolStats s = pool.snapshot();
                    return s.idle() == 3 && s.workers() - s.idle() == 5;
                });
                await().during(Duration.ofMillis(1000)).atMost(Duration.ofSeconds(10))
                        .until(() -> pool.snapshot().idle() == 3 && pool.snapshot().workers() == 8);
            } finally {
                release.countDown();
                releaseOne.forEach(CountDownLatch::countDown);
            }
            await().until(() -> wq.stats().inFlight() == 0);

            AtomicInteger minWorkers = new AtomicInteger(Integer.MAX_VALUE);
            AtomicBoolean sampling = new AtomicBoolean(true);
            Thread sampler = Thread.ofPlatform().daemon(true).start(() -> {
                while (sampling.get()) {
                    minWorkers.accumulateAndGet(pool.snapshot().workers(), Math::min);
                    java.util.concurrent.locks.LockSupport.parkNanos(500_000);
                }
            });
            try {
                // too_many_workers: nr_idle > 2 && (nr_idle - 2) * 4 >= nr_busy; nothing busy -> 2 idle left.
                await().until(() -> {
                    PoolStats s = pool.snapshot();
                    return s.workers() == 2 && s.idle() == 2;
                });
                // ... and it stays there for several idle timeouts.
                await().during(Duration.ofMillis(1000)).atMost(Duration.ofSeconds(10))
                        .until(() -> pool.snapshot().workers() == 2);
            } finally {
                sampling.set(false);
                sampler.join(10_000);
            }
            assertThat(minWorkers.get()).as("fewest workers ever seen while reaping").isEqualTo(2);
        }
    }

    @Test
    void unboundPoolsHaveNoConcurrencyManagement() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(1).build()) {
            int n = 6;
            Workqueue wq = e.alloc("unbound", n, WqFlag.UNBOUND);
            CountDownLatch allStarted = new CountDownLatch(n);
            CountDownLatch release = new CountDownLatch(1);
            AtomicInteger running = new AtomicInteger();
            AtomicInteger maxRunning = new AtomicInteger();
            try {
                for (int i = 0; i < n; i++) {
                    wq.queue(new Work("u-" + i, () -> {
                        maxRunning.accumulateAndGet(running.incrementAndGet(), Math::max);
                        allStarted.countDown();
                        plainWait(release); // no hook: the pool is not told
                        running.decrementAndGet();
                    }));
                }
                await(allStarted);
                assertThat(maxRunning.get()).isEqualTo(n);
                PoolStats unboundPool = e.pools().stream().filter(p -> p.kind().equals("unbound") && p.workers() >= n)
                        .findFirst().orElseThrow();
                assertThat(unboundPool.running()).as("unbound workers never count as running").isZero();
            } finally {
                release.countDown();
            }
            await().until(() -> wq.stats().completed() == n);
        }
    }

    /** Runs a spinning (never sleeping) item on {@code first}, then a normal item on the same CPU. */
    private static final class SpinScenario {
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicBoolean firstRunning = new AtomicBoolean();
        final AtomicBoolean secondStarted = new AtomicBoolean();
        final AtomicBoolean secondStartedBeforeFirstEnded = new AtomicBoolean();
        final AtomicBoolean firstRunningWhenSecondStarted = new AtomicBoolean();
        final CountDownLatch firstStarted = new CountDownLatch(1);
        final CountDownLatch firstDone = new CountDownLatch(1);
        final CountDownLatch secondDone = new CountDownLatch(1);

        Work first() {
            return new Work("spinner", () -> {
                firstRunning.set(true);
                firstStarted.countDown();
                while (!stop.get()) {
                    Thread.onSpinWait();
                }
                secondStartedBeforeFirstEnded.set(secondStarted.get());
                firstRunning.set(false);
                firstDone.countDown();
            });
        }

        Work second() {
            return new Work("second", () -> {
                firstRunningWhenSecondStarted.set(firstRunning.get());
                secondStarted.set(true);
                secondDone.countDown();
            });
        }
    }

    @Test
    void cpuIntensiveItemsDoNotCountTowardConcurrency() throws Exception {
        try (Workqueues e = oneCpuNoMonitor()) {
            Workqueue intensive = e.alloc("intensive", 0, WqFlag.CPU_INTENSIVE);
            Workqueue normal = e.alloc("normal", 0);
            WorkerPool pool = e.cpuPool(0, false);
            SpinScenario sc = new SpinScenario();
            try {
                intensive.queue(sc.first());
                await(sc.firstStarted);
                assertThat(pool.snapshot().running()).as("nr_running while a CPU_INTENSIVE item spins").isZero();
                normal.queue(sc.second());
                await(sc.secondDone); // starts while the spinner still spins (only the test stops it)
            } finally {
                sc.stop.set(true);
            }
            await(sc.firstDone);
            assertThat(sc.firstRunningWhenSecondStarted.get()).isTrue();
            assertThat(sc.secondStartedBeforeFirstEnded.get()).isTrue();
            // The spinner's worker clears CPU_INTENSIVE (nr_running +1) before it goes idle (-1), as
            // process_one_work / worker_enter_idle do; the count settles at zero once it is idle.
            await().until(() -> pool.snapshot().running() == 0);
        }
    }

    @Test
    void cpuIntensiveItemsRunSideBySideButTheirStartIsStillRegulated() throws Exception {
        try (Workqueues e = oneCpuNoMonitor()) {
            Workqueue intensive = e.alloc("intensive", 0, WqFlag.CPU_INTENSIVE);
            Workqueue normal = e.alloc("normal", 0);
            WorkerPool pool = e.cpuPool(0, false);
            SpinScenario first = new SpinScenario();
            SpinScenario second = new SpinScenario();
            CountDownLatch normalStarted = new CountDownLatch(1);
            CountDownLatch normalRelease = new CountDownLatch(1);
            try {
                // Two CPU_INTENSIVE spinners run at the same time on one CPU's pool.
                intensive.queue(first.first());
                await(first.firstStarted);
                intensive.queue(second.first());
                await(second.firstStarted);
                assertThat(pool.snapshot().running()).isZero();
                first.stop.set(true);
                second.stop.set(true);
                await(first.firstDone);
                await(second.firstDone);

                // A running normal item still delays the start of a CPU_INTENSIVE one.
                SpinScenario third = new SpinScenario();
                third.stop.set(true);
                normal.queue(new Work("normal", () -> {
                    normalStarted.countDown();
                    plainWait(normalRelease);
                }));
                await(normalStarted);
                intensive.queue(third.first());
                await().until(() -> {
                    PoolStats s = pool.snapshot();
                    return s.running() == 1 && s.pending() == 1 && s.idle() >= 1;
                });
                assertThat(third.firstStarted.getCount()).isEqualTo(1);
                normalRelease.countDown();
                await(third.firstDone);
            } finally {
                first.stop.set(true);
                second.stop.set(true);
                normalRelease.countDown();
            }
        }
    }

    @Test
    void normalSpinningItemHoldsThePoolUntilItEnds() throws Exception {
        try (Workqueues e = oneCpuNoMonitor()) {
            Workqueue normal = e.alloc("normal", 0);
            WorkerPool pool = e.cpuPool(0, false);
            SpinScenario sc = new SpinScenario();
            try {
                normal.queue(sc.first());
                await(sc.firstStarted);
                normal.queue(sc.second());
                // The spinner runs, the second item is pending and an idle worker is there to take it:
                // only concurrency management keeps it from starting.
                await().until(() -> {
                    PoolStats s = pool.snapshot();
                    return s.running() == 1 && s.pending() == 1 && s.idle() >= 1;
                });
                assertThat(sc.firstRunning.get()).isTrue();
                assertThat(sc.secondStarted.get()).isFalse();
            } finally {
                sc.stop.set(true);
            }
            await(sc.firstDone);
            await(sc.secondDone);
            assertThat(sc.secondStartedBeforeFirstEnded.get()).as("second started while the spinner ran").isFalse();
            assertThat(sc.firstRunningWhenSecondStarted.get()).isFalse();
        }
    }

    @Test
    void highpriItemsRunOnTheHighpriPool() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(2).monitorInterval(Duration.ZERO).build()) {
            Workqueue hp = e.alloc("hp", 0, WqFlag.HIGHPRI);
            Workqueue plain = e.alloc("plain", 0);
            List<String> names = new ArrayList<>(List.of("", "", ""));
            List<Thread> threads = new ArrayList<>(java.util.Arrays.asList(null, null, null));
            CountDownLatch done = new CountDownLatch(3);
            hp.queueOn(0, new Work("hp0", () -> { record(names, threads, 0); done.countDown(); }));
            hp.queueOn(1, new Work("hp1", () -> { record(names, threads, 1); done.countDown(); }));
            plain.queueOn(0, new Work("plain0", () -> { record(names, threads, 2); done.countDown(); }));
            await(done);
            synchronized (names) {
                assertThat(names.get(0)).matches("kworker/0:\\d+H-hp");
                assertThat(names.get(1)).matches("kworker/1:\\d+H-hp");
                assertThat(names.get(2)).matches("kworker/0:\\d+-plain");
                assertThat(e.cpuPool(0, true).workers).extracting(w -> w.thread).contains(threads.get(0));
                assertThat(e.cpuPool(1, true).workers).extracting(w -> w.thread).contains(threads.get(1));
                assertThat(e.cpuPool(0, false).workers).extracting(w -> w.thread).contains(threads.get(2))
                        .doesNotContain(threads.get(0));
            }
            // the latch counts down inside the items; their completion is counted just after
            await().until(() -> hp.stats().completed() == 2);
        }
    }

    private static void record(List<String> names, List<Thread> threads, int i) {
        synchronized (names) {
            names.set(i, Thread.currentThread().getName());
            threads.set(i, Thread.currentThread());
        }
    }
}
