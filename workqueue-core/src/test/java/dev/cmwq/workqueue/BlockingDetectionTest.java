package dev.cmwq.workqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The sleep monitor must notice each way a worker can block, so that the pool starts the next
 * pending item at once; and it must not take a worker that is merely preempted or held at a GC
 * safepoint for a sleeping one.
 *
 * <p>Each blocking test runs on a 1-CPU engine: item A blocks in one particular way until item B
 * has started; B can only start if the pool learns that A sleeps. If detection fails, A gives up
 * after {@link #GIVE_UP_SECONDS} and the test fails (it never hangs).
 */
class BlockingDetectionTest {
    static final long GIVE_UP_SECONDS = 20;

    /** A blocks in some way until {@code bStarted} counts down or the give-up time passes. */
    interface Blocker {
        void block(CountDownLatch bStarted) throws Exception;
    }

    private static void assertNextItemStartsWhileBlocked(Blocker blocker) throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(1).name("detect").build()) {
            Workqueue wq = e.alloc("detect", 0);
            CountDownLatch bStarted = new CountDownLatch(1);
            CountDownLatch aDone = new CountDownLatch(1);
            AtomicBoolean aSawB = new AtomicBoolean();
            AtomicBoolean aFailed = new AtomicBoolean();
            wq.queueOn(0, new Work("A", () -> {
                try {
                    blocker.block(bStarted);
                    aSawB.set(bStarted.getCount() == 0);
                } catch (Exception ex) {
                    aFailed.set(true);
                } finally {
                    aDone.countDown();
                }
            }));
            wq.queueOn(0, new Work("B", bStarted::countDown));
            assertThat(aDone.await(GIVE_UP_SECONDS + 10, TimeUnit.SECONDS)).isTrue();
            assertThat(aFailed).as("A's blocking call failed").isFalse();
            assertThat(aSawB).as("B started while A was blocked").isTrue();
            assertThat(wq.stats().cmWakeups()).as("concurrency-management wakeups").isGreaterThanOrEqualTo(1);
        }
    }

    @Test
    @Timeout(60)
    void threadSleep() throws Exception {
        assertNextItemStartsWhileBlocked(bStarted -> {
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(GIVE_UP_SECONDS);
            while (bStarted.getCount() > 0 && System.nanoTime() < end) {
                Thread.sleep(10); // the blocking call under test
            }
        });
    }

    @Test
    @Timeout(60)
    void objectWait() throws Exception {
        Object monitor = new Object();
        assertNextItemStartsWhileBlocked(bStarted -> {
            // B's start is relayed by a helper thread that notifies the monitor.
            Thread relay = Thread.ofPlatform().daemon().start(() -> {
                try {
                    bStarted.await(GIVE_UP_SECONDS, TimeUnit.SECONDS);
                } catch (InterruptedException ignored) {
                    // fall through and release A
                }
                synchronized (monitor) {
                    monitor.notifyAll();
                }
            });
            synchronized (monitor) {
                while (bStarted.getCount() > 0 && relay.isAlive()) {
                    monitor.wait(); // WAITING, untimed
                }
            }
        });
    }

    @Test
    @Timeout(60)
    void reentrantLockHeldElsewhere() throws Exception {
        ReentrantLock lock = new ReentrantLock();
        CountDownLatch held = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Thread holder = Thread.ofPlatform().daemon().start(() -> {
            lock.lock();
            try {
                held.countDown();
                release.await(GIVE_UP_SECONDS, TimeUnit.SECONDS);
            } catch (InterruptedException ignored) {
                // release
            } finally {
                lock.unlock();
            }
        });
        held.await();
        assertNextItemStartsWhileBlocked(bStarted -> {
            Thread.ofPlatform().daemon().start(() -> {
                try {
                    bStarted.await(GIVE_UP_SECONDS, TimeUnit.SECONDS);
                } catch (InterruptedException ignored) {
                    // release anyway
                }
                release.countDown();
            });
            lock.lock(); // parks in LockSupport.park: WAITING
            lock.unlock();
        });
        holder.join();
    }

    @Test
    @Timeout(60)
    void lockSupportPark() throws Exception {
        assertNextItemStartsWhileBlocked(bStarted -> {
            Thread self = Thread.currentThread();
            Thread.ofPlatform().daemon().start(() -> {
                try {
                    bStarted.await(GIVE_UP_SECONDS, TimeUnit.SECONDS);
                } catch (InterruptedException ignored) {
                    // unpark anyway
                }
                LockSupport.unpark(self);
            });
            while (bStarted.getCount() > 0) {
                LockSupport.park(this);
            }
        });
    }

    @Test
    @Timeout(60)
    void contendedSynchronized() throws Exception {
        Object monitor = new Object();
        CountDownLatch held = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Thread holder = Thread.ofPlatform().daemon().start(() -> {
            synchronized (monitor) {
                held.countDown();
                try {
                    release.await(GIVE_UP_SECONDS, TimeUnit.SECONDS);
                } catch (InterruptedException ignored) {
                    // release
                }
            }
        });
        held.await();
        assertNextItemStartsWhileBlocked(bStarted -> {
            Thread.ofPlatform().daemon().start(() -> {
                try {
                    bStarted.await(GIVE_UP_SECONDS, TimeUnit.SECONDS);
                } catch (InterruptedException ignored) {
                    // release anyway
                }
                release.countDown();
            });
            synchronized (monitor) { // BLOCKED
                assertThat(Thread.holdsLock(monitor)).isTrue();
            }
        });
        holder.join();
    }

    /**
     * A blocking socket read is RUNNABLE to Java; only the CPU-time and /proc checks can tell that
     * the worker sleeps. The server on loopback answers only once B has started.
     */
    @Test
    @Timeout(60)
    void socketReadAgainstALateLoopbackServer() throws Exception {
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            CountDownLatch[] bStartedRef = new CountDownLatch[1];
            CountDownLatch accepted = new CountDownLatch(1);
            Thread serverThread = Thread.ofPlatform().daemon().start(() -> {
                try (Socket s = server.accept(); OutputStream out = s.getOutputStream()) {
                    accepted.countDown();
                    while (bStartedRef[0] == null) {
                        Thread.onSpinWait();
                    }
                    bStartedRef[0].await(GIVE_UP_SECONDS, TimeUnit.SECONDS); // answer late
                    out.write(42);
                    out.flush();
                } catch (Exception ignored) {
                    // the client sees EOF and the test fails on its own assertions
                }
            });
            assertNextItemStartsWhileBlocked(bStarted -> {
                bStartedRef[0] = bStarted;
                try (Socket s = new Socket(server.getInetAddress(), server.getLocalPort()); InputStream in = s.getInputStream()) {
                    accepted.await();
                    assertThat(Thread.currentThread().getState()).isEqualTo(Thread.State.RUNNABLE);
                    int b = in.read(); // blocks in the kernel, RUNNABLE in Java
                    assertThat(b).isEqualTo(42);
                }
            });
            serverThread.join();
        }
    }

    /** The explicit hook alone, with the monitor off, is enough, and takes effect at once. */
    @Test
    @Timeout(60)
    void explicitHookWithMonitorOff() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).build()) {
            Workqueue wq = e.alloc("hook", 0);
            CountDownLatch bStarted = new CountDownLatch(1);
            AtomicBoolean aSawB = new AtomicBoolean();
            CountDownLatch aDone = new CountDownLatch(1);
            wq.queueOn(0, new Work("A", () -> {
                try {
                    aSawB.set(Workqueues.blocking(() -> bStarted.await(GIVE_UP_SECONDS, TimeUnit.SECONDS)));
                } catch (InterruptedException ex) {
                    Thread.currentThread().interrupt();
                } finally {
                    aDone.countDown();
                }
            }));
            wq.queueOn(0, new Work("B", bStarted::countDown));
            assertThat(aDone.await(GIVE_UP_SECONDS + 10, TimeUnit.SECONDS)).isTrue();
            assertThat(aSawB).isTrue();
        }
    }

    /**
     * The control: with the monitor off and no hook, a blocked item holds the CPU's pool, so B
     * stays pending (the kernel would have been told; here nobody tells the pool). This is what
     * the other tests' detection is measured against.
     */
    @Test
    @Timeout(60)
    void withoutMonitorOrHookTheNextItemWaits() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).build()) {
            Workqueue wq = e.alloc("nohook", 0);
            CountDownLatch aRunning = new CountDownLatch(1);
            CountDownLatch releaseA = new CountDownLatch(1);
            CountDownLatch bRan = new CountDownLatch(1);
            wq.queueOn(0, new Work("A", () -> {
                aRunning.countDown();
                try {
                    releaseA.await();
                } catch (InterruptedException ex) {
                    Thread.currentThread().interrupt();
                }
            }));
            aRunning.await();
            wq.queueOn(0, new Work("B", bRan::countDown));
            PoolStats pool0 = e.pools().get(0);
            assertThat(pool0.running()).isEqualTo(1);
            await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(5))
                    .until(() -> bRan.getCount() == 1 && e.pools().get(0).pending() == 1);
            releaseA.countDown();
            assertThat(bRan.await(20, TimeUnit.SECONDS)).isTrue();
        }
    }

    /**
     * A pure-CPU workload with competing CPU load on every core and frequent garbage collections:
     * workers are preempted (runnable, not on a CPU) and held at GC safepoints, neither of which
     * is sleeping. Mistaking them for sleeping would start more workers exactly when the CPUs are
     * full; the bound pool must stay at a small constant (one running + the idle reserve, plus at
     * most one transient extra).
     */
    @Test
    @Timeout(120)
    void cpuBoundWorkUnderCompetingLoadAndGcDoesNotGrowThePool() throws Exception {
        int cores = Runtime.getRuntime().availableProcessors();
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> load = new ArrayList<>();
        for (int i = 0; i < cores; i++) {
            load.add(Thread.ofPlatform().daemon().name("spinner-" + i).start(() -> {
                long x = 0;
                while (!stop.get()) {
                    x += System.nanoTime() % 7;
                }
                if (x == 42) {
                    System.out.print("");
                }
            }));
        }
        load.add(Thread.ofPlatform().daemon().name("gc-driver").start(() -> {
            while (!stop.get()) {
                System.gc();
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(25));
            }
        }));
        long gcBefore = gcCount();
        // Hog detection off: this test is about sleep detection (hogs would rightly add workers).
        try (Workqueues e = Workqueues.builder().cpus(1).name("cpu-bound").cpuIntensiveThreshold(Duration.ZERO).build()) {
            Workqueue wq = e.alloc("crunch", 0);
            WorkerPool pool = e.cpuPool(0, false);
            int items = 60;
            CountDownLatch done = new CountDownLatch(items);
            AtomicInteger running = new AtomicInteger();
            AtomicInteger maxRunning = new AtomicInteger();
            AtomicInteger maxWorkers = new AtomicInteger();
            for (int i = 0; i < items; i++) {
                wq.queueOn(0, new Work("crunch-" + i, () -> {
                    maxRunning.accumulateAndGet(running.incrementAndGet(), Math::max);
                    maxWorkers.accumulateAndGet(pool.workers.size(), Math::max);
                    long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(20);
                    long sink = 0;
                    while (System.nanoTime() < end) {
                        byte[] garbage = new byte[4096]; // allocation pressure: young GCs too
                        sink += garbage.length;
                    }
                    maxWorkers.accumulateAndGet(pool.workers.size(), Math::max);
                    running.decrementAndGet();
                    if (sink < 0) {
                        System.out.print("");
                    }
                    done.countDown();
                }));
            }
            assertThat(done.await(90, TimeUnit.SECONDS)).isTrue();
            long gcs = gcCount() - gcBefore;
            SleepMonitor m = e.monitor;
            System.out.printf("cpu-bound under load: maxWorkers=%d maxRunning=%d gcs=%d monitor: rounds=%d sleeps=%d wakes=%d nativeChecks=%d procReads=%d gcDiscards=%d%n",
                    maxWorkers.get(), maxRunning.get(), gcs, m.rounds, m.sleepsDetected, m.wakesDetected, m.nativeChecks, m.procReads, m.gcDiscards);
            assertThat(gcs).as("garbage collections during the run").isGreaterThan(10);
            assertThat(m.rounds).as("the monitor was sampling").isGreaterThan(100);
            assertThat(m.nativeChecks + m.procReads).as("preempted workers were examined (the path under test ran)").isGreaterThan(0);
            assertThat(m.sleepsDetected).as("false sleeping detections").isLessThanOrEqualTo(2);
            assertThat(maxWorkers.get()).as("workers of the bound pool").isLessThanOrEqualTo(3);
            assertThat(maxRunning.get()).as("items running at once on one CPU").isLessThanOrEqualTo(2);
        } finally {
            stop.set(true);
            for (Thread t : load) {
                t.join();
            }
        }
    }

    /**
     * The monitor parks when no pool has pending items behind a running worker: an idle engine
     * costs no CPU. It wakes when an item waits behind a running worker, and parks again after.
     */
    @Test
    @Timeout(60)
    void monitorParksWhenNothingCanStall() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(1).name("idle").build()) {
            SleepMonitor m = e.monitor;
            Thread t = m.thread();
            await().atMost(Duration.ofSeconds(30)).until(() -> t.getState() == Thread.State.WAITING);
            long rounds = m.rounds;
            long cpu = ManagementFactory.getThreadMXBean().getThreadCpuTime(t.threadId());
            await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(5))
                    .until(() -> m.rounds == rounds && t.getState() == Thread.State.WAITING);
            assertThat(ManagementFactory.getThreadMXBean().getThreadCpuTime(t.threadId())).isEqualTo(cpu);

            // An item behind a running worker wakes it up; it samples, then parks again.
            Workqueue wq = e.alloc("wake", 0);
            CountDownLatch release = new CountDownLatch(1);
            CountDownLatch aRunning = new CountDownLatch(1);
            CountDownLatch bDone = new CountDownLatch(1);
            wq.queueOn(0, new Work("A", () -> {
                aRunning.countDown();
                long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (release.getCount() > 0 && System.nanoTime() < end) {
                    Thread.onSpinWait(); // running, not sleeping
                }
            }));
            aRunning.await();
            wq.queueOn(0, new Work("B", bDone::countDown));
            await().atMost(Duration.ofSeconds(30)).until(() -> m.rounds > rounds + 5);
            release.countDown();
            assertThat(bDone.await(30, TimeUnit.SECONDS)).isTrue();
            await().atMost(Duration.ofSeconds(30)).until(() -> t.getState() == Thread.State.WAITING);
        }
    }

    /**
     * The sampling period adapts: after a round that found a sleeper the monitor samples again at
     * a sixteenth of its interval. Six items each block as soon as they start; each can only start
     * once the one before it was seen asleep. The interval is 2 s, so at a fixed period the last
     * four detections alone would take at least 8 s; at the fast period (125 ms) they take well
     * under a second. The bound of 5 s leaves a slow machine 4 s of slack and still fails the
     * fixed-period monitor.
     */
    @Test
    @Timeout(60)
    void afterFindingASleeperTheMonitorLooksAgainSoon() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(1).name("adaptive").monitorInterval(Duration.ofSeconds(2)).build()) {
            Workqueue wq = e.alloc("adaptive", 0);
            int n = 6;
            long[] started = new long[n];
            CountDownLatch allStarted = new CountDownLatch(n);
            CountDownLatch release = new CountDownLatch(1);
            for (int i = 0; i < n; i++) {
                int k = i;
                assertThat(wq.queueOn(0, new Work("sleeper-" + i, () -> {
                    started[k] = System.nanoTime();
                    allStarted.countDown();
                    try {
                        release.await(60, TimeUnit.SECONDS); // WAITING: the monitor's cheapest check
                    } catch (InterruptedException ie) {
                        Thread.currentThread().interrupt();
                    }
                }))).isTrue();
            }
            try {
                assertThat(allStarted.await(45, TimeUnit.SECONDS)).as("every sleeper started").isTrue();
            } finally {
                release.countDown();
            }
            // the items start in queueing order (one pool, FIFO); the spread of the last four starts
            long spread = started[n - 1] - started[1];
            assertThat(TimeUnit.NANOSECONDS.toMillis(spread))
                    .as("ms from the 2nd to the 6th start (4 detections; at a fixed 2 s period >= 8000)")
                    .isLessThan(5_000);
        }
    }

    private static long gcCount() {
        long n = 0;
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            n += gc.getCollectionCount();
        }
        return n;
    }
}
