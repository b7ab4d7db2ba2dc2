package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Forward progress when no worker thread can be made: MEM_RECLAIM queues own a rescuer thread
 * ({@code kworker/R-<queue>}) from creation; a pool that cannot create a worker (the thread factory
 * throws the JVM's {@code OutOfMemoryError: unable to create native thread}, or the engine's
 * {@code maxWorkers} is reached) sends maydays, and the rescuers run their queues' items while
 * plain queues wait for creation to work again. Creation is retried after the kernel's 1 s
 * cooldown. The sampling monitor is off: "sleeping" comes only from the explicit blocking hook.
 */
@Timeout(60)
class ForwardProgressTest {
    private static final Duration LONG = Duration.ofSeconds(30);
    private static final String OOM_TEXT = "unable to create native thread: possibly out of memory or process/resource limits reached";

    private static List<Thread> liveThreadsNamed(String name) {
        List<Thread> out = new ArrayList<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.isAlive() && t.getName().equals(name)) {
                out.add(t);
            }
        }
        return out;
    }

    private static void probe(Workqueue wq) {
        CountDownLatch ran = new CountDownLatch(1);
        assertThat(wq.queue(new Work("probe-" + wq.name(), ran::countDown))).isTrue();
        awaitLatch(ran);
        await().until(() -> wq.stats().inFlight() == 0);
    }

    /**
     * Platform threads until {@code failing} is set; then thread creation fails the way the JVM
     * fails when out of native threads: the factory throws, or (as the JVM really does) the
     * thread's {@code start()} throws.
     */
    static final class FailingFactory implements WorkerThreadFactory {
        final AtomicBoolean failing = new AtomicBoolean();
        /** nanoTime of each creation refused while failing. */
        final List<Long> refused = new CopyOnWriteArrayList<>();
        final List<String> names = new CopyOnWriteArrayList<>();
        private final WorkerThreadFactory platform = WorkerThreadFactory.platform(true);
        private final boolean failInStart;

        FailingFactory() {
            this(false);
        }

        FailingFactory(boolean failInStart) {
            this.failInStart = failInStart;
        }

        @Override
        public Thread newThread(String name, Runnable body) {
            names.add(name);
            if (failing.get()) {
                if (!failInStart) {
                    refused.add(System.nanoTime());
                    throw new OutOfMemoryError(OOM_TEXT);
                }
                Thread t = new Thread(body, name) {
                    @Override
                    public void start() {
                        refused.add(System.nanoTime());
                        throw new OutOfMemoryError(OOM_TEXT);
                    }
                };
                t.setDaemon(true);
                return t;
            }
            return platform.newThread(name, body);
        }
    }

    /** Items that record how often each ran and on which thread. */
    static final class Batch {
        final String prefix;
        final AtomicIntegerArray runs;
        final AtomicReferenceArray<String> threads;
        final CountDownLatch done;
        final List<Work> items = new ArrayList<>();

        Batch(String prefix, int n) {
            this.prefix = prefix;
            runs = new AtomicIntegerArray(n);
            threads = new AtomicReferenceArray<>(n);
            done = new CountDownLatch(n);
            for (int i = 0; i < n; i++) {
                int k = i;
                items.add(new Work(prefix + "-" + i, () -> {
                    threads.set(k, Thread.currentThread().getName());
                    runs.incrementAndGet(k);
                    done.countDown();
                }));
            }
        }

        int totalRuns() {
            int s = 0;
            for (int i = 0; i < runs.length(); i++) {
                s += runs.get(i);
            }
            return s;
        }

        void assertEachRanOnce() {
            for (int i = 0; i < runs.length(); i++) {
                assertThat(runs.get(i)).as("runs of %s-%d", prefix, i).isEqualTo(1);
            }
        }
    }

    // ---- rescuer threads ----------------------------------------------------------------------

    @Test
    void memReclaimQueuesOwnARescuerFromCreationUntilDestroyOrShutdown() {
        FailingFactory factory = new FailingFactory();
        Thread rescuerA;
        Thread rescuerB;
        Thread rescuerU;
        try (Workqueues e = Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).name("fp-rescuers")
                .threadFactory(factory).build()) {
            assertThat(liveThreadsNamed("kworker/R-reclaim-a")).isEmpty();
            Workqueue plain = e.alloc("plain-no-rescuer", Set.of(), 0);
            Workqueue a = e.alloc("reclaim-a", EnumSet.of(WqFlag.MEM_RECLAIM), 0);
            Workqueue b = e.alloc("reclaim-b", EnumSet.of(WqFlag.MEM_RECLAIM), 0);
            Workqueue u = e.alloc("reclaim-u", EnumSet.of(WqFlag.MEM_RECLAIM, WqFlag.UNBOUND), 0);

            // there from creation, before any item was queued, made by the engine's factory
            assertThat(liveThreadsNamed("kworker/R-reclaim-a")).hasSize(1);
            assertThat(liveThreadsNamed("kworker/R-reclaim-b")).hasSize(1);
            assertThat(liveThreadsNamed("kworker/R-reclaim-u")).hasSize(1);
            assertThat(liveThreadsNamed("kworker/R-" + plain.name())).isEmpty();
            assertThat(factory.names).contains("kworker/R-reclaim-a", "kworker/R-reclaim-b", "kworker/R-reclaim-u")
                    .doesNotContain("kworker/R-" + plain.name());
            for (Workqueue sys : e.workqueues().stream().filter(q -> q.alias() != null).toList()) {
                assertThat(liveThreadsNamed("kworker/R-" + sys.name())).as("system queue %s is not MEM_RECLAIM", sys.name()).isEmpty();
            }
            rescuerA = liveThreadsNamed("kworker/R-reclaim-a").get(0);
            rescuerB = liveThreadsNamed("kworker/R-reclaim-b").get(0);
            rescuerU = liveThreadsNamed("kworker/R-reclaim-u").get(0);
            // rescuers are not workers: the limit counts the 3 workers only
            assertThat(e.workerThreads()).isEqualTo(3);

            probe(a); // items of a MEM_RECLAIM queue run on ordinary workers while they can be made
            assertThat(a.stats().rescued()).isZero();
            assertThat(a.stats().mayday()).isZero();

            a.destroy(LONG);
            await().until(() -> !rescuerA.isAlive());
            assertThat(liveThreadsNamed("kworker/R-reclaim-a")).isEmpty();
            assertThat(rescuerB.isAlive()).isTrue();
            assertThat(rescuerU.isAlive()).isTrue();

            // the name is free again; a new queue of that name has a new rescuer
            Workqueue a2 = e.alloc("reclaim-a", EnumSet.of(WqFlag.MEM_RECLAIM), 0);
            assertThat(liveThreadsNamed("kworker/R-reclaim-a")).hasSize(1).doesNotContain(rescuerA);
            assertThat(a2.flags()).contains(WqFlag.MEM_RECLAIM);

            assertThat(e.shutdown(LONG)).isTrue();
            await().until(() -> !rescuerB.isAlive() && !rescuerU.isAlive());
            await().until(() -> liveThreadsNamed("kworker/R-reclaim-a").isEmpty());
        }
    }

    @Test
    void aMemReclaimQueueThatCannotGetItsRescuerIsNotCreated() {
        FailingFactory factory = new FailingFactory();
        try (Workqueues e = Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).name("fp-norescuer")
                .threadFactory(factory).build()) {
            factory.failing.set(true);
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> e.alloc("reclaim-x", EnumSet.of(WqFlag.MEM_RECLAIM), 0))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("reclaim-x").hasMessageContaining("rescuer");
            factory.failing.set(false);
            assertThat(e.workqueue("reclaim-x")).isEmpty();
            Workqueue ok = e.alloc("reclaim-x", EnumSet.of(WqFlag.MEM_RECLAIM), 0);
            probe(ok);
        }
    }

    /**
     * An unbound MEM_RECLAIM queue whose rescuer cannot be made is not created; the unbound pool it
     * had already taken a reference on must be released like after any destroy, or it (and its
     * worker threads) stays until shutdown though no queue uses it.
     */
    @Test
    void aFailedRescuerCreationReleasesTheUnboundPool() {
        FailingFactory factory = new FailingFactory();
        try (Workqueues e = Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).name("fp-poolref")
                .threadFactory(factory).build()) {
            // control: the last queue of an unbound pool releases it
            Workqueue control = e.alloc("control", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(6, null));
            assertThat(e.pools()).anyMatch(p -> p.kind().equals("unbound") && p.nice() == 6);
            control.destroy(LONG);
            assertThat(e.pools()).noneMatch(p -> p.kind().equals("unbound") && p.nice() == 6);

            WorkqueueAttrs attrs = new WorkqueueAttrs(4, null);
            Workqueue first = e.alloc("first", EnumSet.of(WqFlag.UNBOUND), 0, attrs);
            factory.failing.set(true);
            org.assertj.core.api.Assertions.assertThatThrownBy(
                            () -> e.alloc("reclaim-u", EnumSet.of(WqFlag.UNBOUND, WqFlag.MEM_RECLAIM), 0, attrs))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("rescuer");
            factory.failing.set(false);
            assertThat(e.workqueue("reclaim-u")).isEmpty();
            first.destroy(LONG);
            assertThat(e.pools()).as("unbound pool with nice 4 after its only queue was destroyed")
                    .noneMatch(p -> p.kind().equals("unbound") && p.nice() == 4);
        }
    }

    // ---- rescue when creation fails -------------------------------------------------------------

    /**
     * The scenario shared by the failure modes. Pool 0 gets its idle reserve (two workers), then
     * {@code starve} makes creation fail. A plain item blocks in the hook (its worker sleeps, so the
     * reserve wakes, must create a new spare before working, and cannot). Items of a MEM_RECLAIM
     * queue and of a plain queue are queued alternately: the rescuer runs all MEM_RECLAIM ones
     * while the plain ones stay pending; after {@code recover} the plain ones run on a new worker
     * while the blocker still blocks. Nothing is lost or run twice.
     */
    private static void rescueScenario(Workqueues e, Runnable starve, Runnable recover) {
        int n = 8;
        Workqueue reclaim = e.alloc("reclaim", EnumSet.of(WqFlag.MEM_RECLAIM), 0);
        Workqueue plain = e.alloc("plain", Set.of(), 0);
        probe(e.systemWq()); // pool 0: the worker that ran it plus the spare it created
        assertThat(e.pools().get(0).workers()).isEqualTo(2);
        // if the spare's thread took the probe, its creator re-enters the idle list only once back
        // from creating it, which may be after the probe's completion
        await().until(() -> e.pools().get(0).idle() == 2);

        starve.run();
        CountDownLatch blockerIn = new CountDownLatch(1);
        CountDownLatch releaseBlocker = new CountDownLatch(1);
        CountDownLatch blockerOut = new CountDownLatch(1);
        e.systemWq().queue(new Work("blocker", () -> {
            blockerIn.countDown();
            hookWait(releaseBlocker);
            blockerOut.countDown();
        }));
        awaitLatch(blockerIn);

        Batch rescued = new Batch("reclaimable", n);
        Batch waiting = new Batch("plain", n);
        for (int i = 0; i < n; i++) {
            assertThat(reclaim.queue(rescued.items.get(i))).isTrue();
            assertThat(plain.queue(waiting.items.get(i))).isTrue();
        }

        awaitLatch(rescued.done);
        for (int i = 0; i < n; i++) {
            assertThat(rescued.threads.get(i)).as("thread of reclaimable-%d", i).isEqualTo("kworker/R-reclaim");
        }
        await().until(() -> reclaim.stats().inFlight() == 0);
        WorkqueueStats rs = reclaim.stats();
        assertThat(rs.mayday()).as("maydays").isGreaterThanOrEqualTo(1);
        assertThat(rs.rescued()).as("rescued").isEqualTo(n);
        assertThat(rs.completed()).isEqualTo(n);
        assertThat(rs.started()).isEqualTo(n);

        // the plain queue's items, queued at the same time, still wait
        assertThat(waiting.totalRuns()).as("plain items run while creation fails").isZero();
        WorkqueueStats ps = plain.stats();
        assertThat(ps.pending()).isEqualTo(n);
        assertThat(ps.inFlight()).isEqualTo(n);
        assertThat(ps.started()).isZero();
        assertThat(ps.mayday()).as("a plain queue has no rescuer").isZero();

        recover.run();
        awaitLatch(waiting.done);
        assertThat(releaseBlocker.getCount()).as("the plain items ran on a new worker while the blocker still blocked").isEqualTo(1);
        for (int i = 0; i < n; i++) {
            assertThat(waiting.threads.get(i)).as("thread of plain-%d", i).startsWith("kworker/0:").doesNotStartWith("kworker/R-");
        }
        releaseBlocker.countDown();
        awaitLatch(blockerOut);
        await().until(() -> plain.stats().inFlight() == 0 && e.systemWq().stats().inFlight() == 0);

        rescued.assertEachRanOnce();
        waiting.assertEachRanOnce();
        assertThat(plain.stats().completed()).isEqualTo(n);
        assertThat(plain.stats().rescued()).isZero();
        assertThat(reclaim.stats().rescued()).isEqualTo(n);
        assertThat(reclaim.stats().completed()).isEqualTo(n);
        // failed creations left no phantom workers or thread reservations behind
        await().until(() -> e.workerThreads() == e.pools().stream().mapToInt(PoolStats::workers).sum());
        assertThat(e.pools().get(0).workers()).isEqualTo(3);
    }

    @Test
    void whenTheThreadFactoryThrowsOomTheRescuerRunsMemReclaimItemsAndPlainOnesWaitForCreation() {
        oomScenario(new FailingFactory(false));
    }

    @Test
    void whenThreadStartThrowsOomTheRescuerRunsMemReclaimItemsAndPlainOnesWaitForCreation() {
        oomScenario(new FailingFactory(true));
    }

    private static void oomScenario(FailingFactory factory) {
        try (WorkerLifecycleTest.LogCapture log = new WorkerLifecycleTest.LogCapture(Workqueues.class, null);
             Workqueues e = Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).name("fp-oom")
                     .threadFactory(factory).build()) {
            rescueScenario(e, () -> factory.failing.set(true), () -> {
                assertThat(factory.refused).as("creation was tried and failed").isNotEmpty();
                factory.failing.set(false);
            });
            assertThat(log.count(Level.ERROR, "Failed to create a worker thread")).isEqualTo(1);
            assertThat(log.messages(Level.ERROR).get(0)).contains("OutOfMemoryError").contains("unable to create native thread");
            assertThat(e.shutdown(LONG)).isTrue();
        }
    }

    @Test
    void atTheEnginesThreadLimitTheRescuerRunsMemReclaimItemsAndPlainOnesWaitForAFreeThread() {
        try (WorkerLifecycleTest.LogCapture log = new WorkerLifecycleTest.LogCapture(Workqueues.class, null);
             Workqueues e = Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).name("fp-limit").maxWorkers(5).build()) {
            // an unbound queue with a pool of its own holds one thread; destroying it frees one
            Workqueue holder = e.alloc("slot-holder", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(5, null));
            assertThat(e.workerThreads()).isEqualTo(4);
            rescueScenario(e, () -> assertThat(e.workerThreads()).as("at the limit").isEqualTo(5), () -> {
                assertThat(e.workerThreads()).isEqualTo(5);
                holder.destroy(LONG);
            });
            assertThat(e.workerThreads()).isLessThanOrEqualTo(5);
            assertThat(log.count(Level.ERROR, "Failed to create a worker thread")).isEqualTo(1);
            assertThat(log.messages(Level.ERROR).get(0)).contains("limit of 5 worker threads");
            assertThat(e.shutdown(LONG)).isTrue();
        }
    }

    /**
     * Unbound pools have no concurrency management, but the same rule: a worker starts items only
     * with an idle reserve in place. With creation failing, an unbound MEM_RECLAIM queue's items
     * are rescued while a plain unbound queue's items on the same pool wait.
     */
    @Test
    void anUnboundMemReclaimQueueIsRescuedToo() {
        int n = 5;
        FailingFactory factory = new FailingFactory();
        try (Workqueues e = Workqueues.builder().cpus(2).monitorInterval(Duration.ZERO).name("fp-unbound")
                .threadFactory(factory).build()) {
            WorkqueueAttrs attrs = new WorkqueueAttrs(3, CpuMask.of(1));
            Workqueue reclaim = e.alloc("u-reclaim", EnumSet.of(WqFlag.UNBOUND, WqFlag.MEM_RECLAIM), 0, attrs);
            Workqueue plain = e.alloc("u-plain", EnumSet.of(WqFlag.UNBOUND), 0, attrs);
            probe(plain); // the pool now has its reserve: two workers
            factory.failing.set(true);

            CountDownLatch blockerIn = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            plain.queue(new Work("u-blocker", () -> {
                blockerIn.countDown();
                plainWait(release);
            }));
            awaitLatch(blockerIn);
            Batch rescued = new Batch("u-reclaimable", n);
            Batch waiting = new Batch("u-plain", n);
            for (int i = 0; i < n; i++) {
                reclaim.queue(rescued.items.get(i));
                plain.queue(waiting.items.get(i));
            }
            awaitLatch(rescued.done);
            for (int i = 0; i < n; i++) {
                assertThat(rescued.threads.get(i)).isEqualTo("kworker/R-u-reclaim");
            }
            await().until(() -> reclaim.stats().inFlight() == 0);
            assertThat(reclaim.stats().rescued()).isEqualTo(n);
            assertThat(reclaim.stats().mayday()).isGreaterThanOrEqualTo(1);
            assertThat(waiting.totalRuns()).isZero();
            assertThat(plain.stats().pending()).isEqualTo(n);

            factory.failing.set(false);
            awaitLatch(waiting.done);
            assertThat(release.getCount()).isEqualTo(1);
            release.countDown();
            await().until(() -> plain.stats().inFlight() == 0);
            rescued.assertEachRanOnce();
            waiting.assertEachRanOnce();
            assertThat(e.shutdown(LONG)).isTrue();
        }
    }

    /**
     * The kernel arms the mayday timer before {@code create_worker()}, so maydays go out while the
     * creation itself is stuck (under memory pressure, that is the usual case, and the reason
     * rescuers exist). A thread factory that hangs must not keep MEM_RECLAIM items from running.
     */
    @Test
    void maydaysAreSentWhileWorkerCreationHangs() {
        AtomicBoolean hang = new AtomicBoolean();
        CountDownLatch unhang = new CountDownLatch(1);
        WorkerThreadFactory platform = WorkerThreadFactory.platform(true);
        WorkerThreadFactory hanging = (name, body) -> {
            if (hang.get() && name.startsWith("kworker/0:")) {
                plainWait(unhang);
            }
            return platform.newThread(name, body);
        };
        CountDownLatch release = new CountDownLatch(1);
        try (Workqueues e = Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).name("fp-hang")
                .threadFactory(hanging).build()) {
            try {
                Workqueue reclaim = e.alloc("reclaim-h", EnumSet.of(WqFlag.MEM_RECLAIM), 0);
                probe(e.systemWq());
                hang.set(true);
                CountDownLatch blockerIn = new CountDownLatch(1);
                e.systemWq().queue(new Work("blocker", () -> {
                    blockerIn.countDown();
                    hookWait(release);
                }));
                awaitLatch(blockerIn);
                Batch batch = new Batch("reclaimable", 3);
                batch.items.forEach(reclaim::queue);
                Awaitility.await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(5))
                        .alias("MEM_RECLAIM items rescued while the thread factory hangs")
                        .until(() -> batch.done.getCount() == 0);
                assertThat(reclaim.stats().rescued()).isEqualTo(3);
            } finally {
                unhang.countDown();
                release.countDown();
            }
        }
    }

    // ---- cooldown ---------------------------------------------------------------------------------

    @Test
    void afterAFailedCreationThePoolWaitsOneSecondBeforeTryingAgain() {
        FailingFactory factory = new FailingFactory();
        try (Workqueues e = Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).name("fp-cooldown")
                .threadFactory(factory).build()) {
            probe(e.systemWq());
            factory.failing.set(true);
            CountDownLatch blockerIn = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            e.systemWq().queue(new Work("blocker", () -> {
                blockerIn.countDown();
                hookWait(release);
            }));
            awaitLatch(blockerIn);
            CountDownLatch waiterRan = new CountDownLatch(1);
            e.systemWq().queue(new Work("waits-for-a-worker", waiterRan::countDown));

            await().until(() -> !factory.refused.isEmpty());
            long first = factory.refused.get(0);
            long window = Duration.ofSeconds(2).toNanos();
            await().until(() -> System.nanoTime() - first >= window);
            long end = System.nanoTime();
            List<Long> calls = factory.refused.stream().filter(t -> t - first >= 0 && t - end <= 0).toList();
            assertThat(calls).as("factory calls in %d ms of failure", (end - first) / 1_000_000)
                    .hasSizeBetween(1, 6);
            // and never two tries less than the cooldown apart
            await().until(() -> factory.refused.size() >= 3);
            List<Long> all = List.copyOf(factory.refused);
            for (int i = 1; i < all.size(); i++) {
                assertThat(all.get(i) - all.get(i - 1)).as("gap before try %d", i + 1)
                        .isGreaterThanOrEqualTo(Duration.ofMillis(950).toNanos());
            }
            assertThat(waiterRan.getCount()).as("nothing ran while creation failed").isEqualTo(1);

            factory.failing.set(false);
            awaitLatch(waiterRan);
            release.countDown();
            await().until(() -> e.systemWq().stats().inFlight() == 0);
            assertThat(e.systemWq().stats().completed()).isEqualTo(3);
        }
    }
}
