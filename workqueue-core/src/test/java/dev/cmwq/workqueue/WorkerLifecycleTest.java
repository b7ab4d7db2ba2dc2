package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.LoggerFactory;

/**
 * Worker threads from birth to death: kernel-style names, failures of work functions (exceptions
 * and errors), interrupts, shutdown, and the engine's thread limit and failing thread factories.
 */
@Timeout(60)
class WorkerLifecycleTest {
    private static final Duration LONG = Duration.ofSeconds(30);

    // ---- helpers ----------------------------------------------------------------------------

    /** Captures the events of one logger (optionally lowering its level) until closed. */
    static final class LogCapture implements AutoCloseable {
        private final Logger logger;
        private final Level oldLevel;
        private final ListAppender<ILoggingEvent> appender = new ListAppender<>();

        LogCapture(Class<?> source, Level level) {
            logger = (Logger) LoggerFactory.getLogger(source);
            oldLevel = logger.getLevel();
            appender.start();
            logger.addAppender(appender);
            if (level != null) {
                logger.setLevel(level);
            }
        }

        List<ILoggingEvent> events() {
            synchronized (appender) { // AppenderBase.doAppend synchronizes on the appender
                return new ArrayList<>(appender.list);
            }
        }

        List<String> messages(Level level) {
            return events().stream().filter(e -> e.getLevel() == level).map(ILoggingEvent::getFormattedMessage).toList();
        }

        long count(Level level, String fragment) {
            return messages(level).stream().filter(m -> m.contains(fragment)).count();
        }

        @Override
        public void close() {
            logger.detachAppender(appender);
            logger.setLevel(oldLevel);
            appender.stop();
        }
    }

    private static Workqueues engine(int cpus) {
        return Workqueues.builder().cpus(cpus).monitorInterval(Duration.ZERO).name("lifecycle").build();
    }

    /** Waits for {@code l} inside an explicit blocking section (the pool may start other items). */
    private static void blockOn(CountDownLatch l) {
        Workqueues.blocking(() -> awaitLatch(l));
    }

    private static String probe(Workqueue wq, Integer cpu) {
        AtomicReference<String> name = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(1);
        Work w = new Work("probe", () -> {
            name.set(Thread.currentThread().getName());
            done.countDown();
        });
        assertThat(cpu == null ? wq.queue(w) : wq.queueOn(cpu, w)).isTrue();
        awaitLatch(done);
        return name.get();
    }

    private static String base(String threadName) {
        int dash = threadName.indexOf('-');
        return dash < 0 ? threadName : threadName.substring(0, dash);
    }

    private static boolean isEngineThread(String name) {
        return name.startsWith("kworker/") || name.endsWith("-sysmon");
    }

    /** Live engine-like threads (kworker/..., ...-sysmon) by name, with multiplicity. */
    private static Map<String, Integer> engineThreadNames() {
        Map<String, Integer> names = new HashMap<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.isAlive() && isEngineThread(t.getName())) {
                names.merge(t.getName(), 1, Integer::sum);
            }
        }
        return names;
    }

    /** True if every name of {@code now} occurs in {@code before} at least as often. */
    private static boolean within(Map<String, Integer> now, Map<String, Integer> before) {
        return now.entrySet().stream().allMatch(en -> en.getValue() <= before.getOrDefault(en.getKey(), 0));
    }

    private static PoolStats pool(Workqueues e, int id) {
        return e.pools().stream().filter(p -> p.id() == id).findFirst().orElseThrow();
    }

    // ---- names ------------------------------------------------------------------------------

    @Test
    void perCpuWorkersAreNamedLikeTheKernels() {
        try (Workqueues e = engine(2)) {
            // before serving anything: no workqueue suffix
            assertThat(e.cpuPools[0].workers.get(0).thread.getName()).isEqualTo("kworker/0:0");
            assertThat(e.cpuPools[1].workers.get(0).thread.getName()).isEqualTo("kworker/0:0H");
            assertThat(e.cpuPools[2].workers.get(0).thread.getName()).isEqualTo("kworker/1:0");
            assertThat(e.cpuPools[3].workers.get(0).thread.getName()).isEqualTo("kworker/1:0H");

            assertThat(probe(e.systemWq(), 0)).matches("kworker/0:\\d+-events");
            assertThat(probe(e.systemWq(), 1)).matches("kworker/1:\\d+-events");
            assertThat(probe(e.systemHighpriWq(), 0)).matches("kworker/0:\\d+H-events_highpri");
            assertThat(probe(e.systemHighpriWq(), 1)).matches("kworker/1:\\d+H-events_highpri");
            // the suffix follows the workqueue served
            assertThat(probe(e.systemLongWq(), 1)).matches("kworker/1:\\d+-events_long");
            assertThat(probe(e.systemWq(), 1)).matches("kworker/1:\\d+-events");
            assertThat(base(probe(e.alloc("user-bound", 0), 0))).matches("kworker/0:\\d+");
        }
    }

    @Test
    void theQueueNameIsAppendedOnceAWorkerServesIt() {
        try (Workqueues e = engine(1)) {
            AtomicReference<Thread> runner = new AtomicReference<>();
            AtomicReference<String> nameInside = new AtomicReference<>();
            CountDownLatch done = new CountDownLatch(1);
            e.systemWq().queue(new Work("who-am-i", () -> {
                runner.set(Thread.currentThread());
                nameInside.set(Thread.currentThread().getName());
                done.countDown();
            }));
            awaitLatch(done);
            Worker served = e.cpuPools[0].workers.stream().filter(w -> w.thread == runner.get()).findFirst().orElseThrow();
            assertThat(nameInside.get()).isEqualTo("kworker/0:" + served.id + "-events");
            // workers that served nothing keep the bare name
            assertThat(e.cpuPools[1].workers).allSatisfy(w -> assertThat(w.thread.getName()).matches("kworker/0:\\d+H"));
            assertThat(probe(e.systemHighpriWq(), null)).matches("kworker/0:\\d+H-events_highpri");
        }
    }

    @Test
    void unboundWorkersAreNamedByPoolId() {
        try (Workqueues e = engine(1)) {
            // per-CPU pools take ids 0 and 1; the system unbound pool is 2
            assertThat(e.pools().get(2).id()).isEqualTo(2);
            assertThat(e.pools().get(2).kind()).isEqualTo("unbound");
            assertThat(e.systemUnboundWq().unboundPwq().pool.workers).hasSize(1);
            assertThat(e.systemUnboundWq().unboundPwq().pool.workers.get(0).thread.getName()).isEqualTo("kworker/u2:0");
            assertThat(probe(e.systemUnboundWq(), null)).matches("kworker/u2:\\d+-events_unbound");
            assertThat(probe(e.alloc("user-unbound", 0, WqFlag.UNBOUND), null)).matches("kworker/u2:\\d+-user-unbound");
            Workqueue nice = e.alloc("user-nice", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(3, null));
            assertThat(probe(nice, null)).matches("kworker/u3:\\d+-user-nice");
        }
    }

    @Test
    void theMonitorThreadIsNamedAfterTheEngine() {
        try (Workqueues e = Workqueues.builder().cpus(1).name("named-engine").build()) {
            assertThat(e.name()).isEqualTo("named-engine");
            assertThat(engineThreadNames()).containsKey("named-engine-sysmon");
        }
        try (Workqueues e = Workqueues.builder().cpus(1).name("quiet-engine").monitorInterval(Duration.ZERO).build()) {
            assertThat(engineThreadNames()).doesNotContainKey("quiet-engine-sysmon");
        }
    }

    // ---- failures ---------------------------------------------------------------------------

    @Test
    void aRuntimeExceptionIsLoggedCountedAndTheWorkerCarriesOn() {
        try (LogCapture log = new LogCapture(Worker.class, null); Workqueues e = engine(1)) {
            Workqueue wq = e.systemWq();
            CountDownLatch go = new CountDownLatch(1);
            CountDownLatch occupying = new CountDownLatch(1);
            CountDownLatch nextDone = new CountDownLatch(1);
            List<Thread> runners = new CopyOnWriteArrayList<>();
            wq.queue(new Work("occupier", () -> {
                runners.add(Thread.currentThread());
                occupying.countDown();
                awaitLatch(go); // no hook, no monitor: the following items wait for this worker
            }));
            awaitLatch(occupying);
            wq.queue(new Work("exploding-item", () -> {
                runners.add(Thread.currentThread());
                throw new IllegalStateException("boom from the work function");
            }));
            wq.queue(new Work("next-item", () -> {
                runners.add(Thread.currentThread());
                nextDone.countDown();
            }));
            go.countDown();
            awaitLatch(nextDone);
            await().atMost(LONG).until(() -> wq.stats().inFlight() == 0);

            assertThat(runners).hasSize(3);
            assertThat(runners).as("one worker ran all three").containsOnly(runners.get(0));
            assertThat(runners.get(0).isAlive()).isTrue();
            WorkqueueStats s = wq.stats();
            assertThat(s.failed()).isEqualTo(1);
            assertThat(s.completed()).isEqualTo(2);
            assertThat(s.started()).isEqualTo(3);

            List<ILoggingEvent> errors = log.events().stream().filter(ev -> ev.getLevel() == Level.ERROR).toList();
            assertThat(errors).hasSize(1);
            ILoggingEvent ev = errors.get(0);
            assertThat(ev.getLoggerName()).isEqualTo("dev.cmwq.workqueue.Worker");
            assertThat(ev.getFormattedMessage()).contains("exploding-item").contains("events");
            assertThat(ev.getThrowableProxy()).isNotNull();
            assertThat(ev.getThrowableProxy().getClassName()).isEqualTo(IllegalStateException.class.getName());
            assertThat(ev.getThrowableProxy().getMessage()).isEqualTo("boom from the work function");

            // and it keeps serving
            assertThat(probe(wq, null)).startsWith("kworker/0:");
        }
    }

    static final class FatalTestError extends Error {
        FatalTestError(String message) {
            super(message);
        }
    }

    @Test
    void anErrorKillsTheWorkerAndAReplacementKeepsThePoolGoing() {
        try (LogCapture log = new LogCapture(Worker.class, null); Workqueues e = engine(1)) {
            Workqueue wq = e.systemWq();
            probe(wq, null); // warm up: the pool now has a spare worker
            await().atMost(LONG).until(() -> pool(e, 0).idle() == pool(e, 0).workers() && pool(e, 0).running() == 0);
            int workers = pool(e, 0).workers();
            int threads = e.workerThreads();

            List<Runnable> failures = List.of(
                    () -> {
                        throw new AssertionError("assertion inside a work item");
                    },
                    () -> {
                        Workqueues.beginBlocking(); // left open on purpose
                        throw new FatalTestError("fatal inside a blocking section");
                    });
            int round = 0;
            for (Runnable failure : failures) {
                round++;
                String itemName = "fatal-item-" + round;
                AtomicReference<Thread> victim = new AtomicReference<>();
                CountDownLatch started = new CountDownLatch(1);
                wq.queue(new Work(itemName, () -> {
                    victim.set(Thread.currentThread());
                    started.countDown();
                    failure.run();
                }));
                awaitLatch(started);
                await().atMost(LONG).until(() -> !victim.get().isAlive());
                await().atMost(LONG).until(() -> {
                    PoolStats p = pool(e, 0);
                    return p.workers() == workers && p.idle() == workers && p.running() == 0 && p.pending() == 0;
                });
                assertThat(e.workerThreads()).isEqualTo(threads);
                assertThat(e.cpuPools[0].workers).noneMatch(w -> w.thread == victim.get());
                assertThat(e.cpuPools[0].workers).allMatch(w -> w.thread.isAlive());
                int r = round;
                await().atMost(LONG).until(() -> log.count(Level.ERROR, itemName) == 1);
                String msg = log.messages(Level.ERROR).stream().filter(m -> m.contains(itemName)).findFirst().orElseThrow();
                assertThat(msg).contains("events").contains("replacing worker");
                assertThat(wq.stats().failed()).isEqualTo(r);
            }

            // concurrency management still works: a blocked first item lets the second start
            CountDownLatch release = new CountDownLatch(1);
            CountDownLatch secondQueued = new CountDownLatch(1);
            CountDownLatch firstStarted = new CountDownLatch(1);
            CountDownLatch secondRan = new CountDownLatch(1);
            long cmwBefore = wq.stats().cmWakeups();
            wq.queue(new Work("blocker", () -> {
                firstStarted.countDown();
                awaitLatch(secondQueued); // unannounced: the pool still counts this worker as running
                blockOn(release);
            }));
            awaitLatch(firstStarted);
            wq.queue(new Work("second", secondRan::countDown));
            secondQueued.countDown();
            awaitLatch(secondRan);
            assertThat(release.getCount()).as("the first was still blocked").isEqualTo(1);
            assertThat(wq.stats().cmWakeups()).isGreaterThan(cmwBefore);
            release.countDown();
            await().atMost(LONG).until(() -> wq.stats().inFlight() == 0 && pool(e, 0).running() == 0);
            assertThat(wq.stats().failed()).isEqualTo(2);
        }
    }

    @Test
    void anInterruptLeftByAnItemDoesNotLeakIntoTheNext() {
        try (Workqueues e = engine(1)) {
            Workqueue wq = e.systemWq();
            CountDownLatch go = new CountDownLatch(1);
            CountDownLatch firstStarted = new CountDownLatch(1);
            CountDownLatch secondDone = new CountDownLatch(1);
            AtomicReference<Thread> first = new AtomicReference<>();
            AtomicReference<Thread> second = new AtomicReference<>();
            AtomicBoolean interruptedAtStart = new AtomicBoolean(true);
            AtomicBoolean firstLeftInterrupted = new AtomicBoolean();
            wq.queue(new Work("interrupter", () -> {
                first.set(Thread.currentThread());
                firstStarted.countDown();
                awaitLatch(go);
                Thread.currentThread().interrupt();
                firstLeftInterrupted.set(Thread.currentThread().isInterrupted());
            }));
            awaitLatch(firstStarted);
            // queued behind the running item: the same worker takes it next
            wq.queue(new Work("bystander", () -> {
                second.set(Thread.currentThread());
                interruptedAtStart.set(Thread.currentThread().isInterrupted());
                secondDone.countDown();
            }));
            go.countDown();
            awaitLatch(secondDone);
            assertThat(firstLeftInterrupted).isTrue();
            assertThat(second.get()).as("same worker").isSameAs(first.get());
            assertThat(interruptedAtStart).as("interrupted at the start of the next item").isFalse();
        }
    }

    // ---- shutdown ---------------------------------------------------------------------------

    @Test
    void shutdownFinishesQueuedItemsRefusesNewOnesAndStopsEveryThread() {
        var mx = ManagementFactory.getThreadMXBean();
        Map<String, Integer> namesBefore = engineThreadNames();
        int countBefore = mx.getThreadCount();
        AtomicInteger ran = new AtomicInteger();
        int total = 200;
        try (Workqueues e = Workqueues.builder().cpus(2).name("lifecycle-shutdown").build()) {
            assertThat(engineThreadNames()).containsKey("lifecycle-shutdown-sysmon");
            assertThat(mx.getThreadCount()).isGreaterThan(countBefore);
            Workqueue userBound = e.alloc("user-bound", 0);
            Workqueue userUnbound = e.alloc("user-unbound", 4, WqFlag.UNBOUND);
            Workqueue ordered = e.allocOrdered("user-ordered");
            List<Workqueue> queues = List.of(e.systemWq(), e.systemHighpriWq(), e.systemUnboundWq(), e.systemLongWq(),
                    userBound, userUnbound, ordered);
            for (int i = 0; i < total; i++) {
                int n = i;
                Work w = new Work("item-" + i, () -> {
                    if (n % 20 == 0) {
                        try {
                            Thread.sleep(5); // blocks briefly (found by the monitor)
                        } catch (InterruptedException x) {
                            Thread.currentThread().interrupt();
                        }
                    } else if (n % 20 == 10) {
                        try {
                            Workqueues.blocking(() -> Thread.sleep(5)); // blocks briefly, announced
                        } catch (InterruptedException x) {
                            Thread.currentThread().interrupt();
                        }
                    }
                    ran.incrementAndGet();
                });
                Workqueue wq = queues.get(i % queues.size());
                assertThat(i % 3 == 0 ? wq.queueOn(i % 2, w) : wq.queue(w)).isTrue();
            }
            assertThat(e.shutdown(LONG)).isTrue();
            assertThat(ran).as("every queued item ran before shutdown returned").hasValue(total);
            assertThat(e.isShutdown()).isTrue();
            for (Workqueue wq : queues) {
                Work late = new Work("too-late", () -> { });
                org.assertj.core.api.Assertions.assertThatThrownBy(() -> wq.queue(late))
                        .isInstanceOf(IllegalStateException.class)
                        .hasMessageContaining("shut down")
                        .hasMessageContaining("too-late");
                assertThat(late.isPending()).isFalse();
            }
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> e.alloc("after-shutdown", 0))
                    .isInstanceOf(IllegalStateException.class);
            assertThat(e.workerThreads()).isZero();
        }
        // every thread of the engine is gone (other tests' leftovers may still exit, hence "at most")
        await().atMost(LONG).pollInSameThread()
                .until(() -> within(engineThreadNames(), namesBefore) && mx.getThreadCount() <= countBefore);
        assertThat(ran).hasValue(total);
    }

    @Test
    void shutdownThatTimesOutReportsTheUnfinishedItem() {
        try (LogCapture log = new LogCapture(Workqueues.class, null); Workqueues e = engine(1)) {
            CountDownLatch started = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            AtomicReference<Thread> runner = new AtomicReference<>();
            e.systemWq().queue(new Work("never-finishing-item", () -> {
                runner.set(Thread.currentThread());
                started.countDown();
                awaitLatch(release);
            }));
            awaitLatch(started);
            try {
                assertThat(e.shutdown(Duration.ofMillis(200))).isFalse();
                List<String> warnings = log.messages(Level.WARN);
                assertThat(warnings).anyMatch(m -> m.contains("never-finishing-item") && m.contains("events")
                        && m.contains("lifecycle"));
                assertThat(runner.get().isAlive()).isTrue();
            } finally {
                release.countDown();
            }
            await().atMost(LONG).until(() -> !runner.get().isAlive());
            assertThat(e.systemWq().stats().completed()).isEqualTo(1);
        }
    }

    // ---- thread limit and failing factories ---------------------------------------------

    @Test
    void theEngineNeverExceedsMaxWorkersAndLosesNothing() {
        int limit = 4;
        try (LogCapture log = new LogCapture(Workqueues.class, Level.DEBUG);
             Workqueues e = Workqueues.builder().cpus(1).maxWorkers(limit).monitorInterval(Duration.ZERO).build()) {
            // 2 per-CPU pools + the system unbound pool, one worker each
            assertThat(e.workerThreads()).isEqualTo(3);
            AtomicInteger maxSeen = new AtomicInteger(e.workerThreads());
            Runnable sample = () -> {
                maxSeen.accumulateAndGet(e.workerThreads(), Math::max);
                maxSeen.accumulateAndGet(e.pools().stream().mapToInt(PoolStats::workers).sum(), Math::max);
            };
            CountDownLatch release = new CountDownLatch(1);
            AtomicInteger started = new AtomicInteger();
            CountDownLatch done = new CountDownLatch(6);
            for (int i = 0; i < 6; i++) {
                e.systemWq().queue(new Work("blocker-" + i, () -> {
                    started.incrementAndGet();
                    blockOn(release);
                    done.countDown();
                }));
            }
            await().atMost(LONG).until(() -> {
                sample.run();
                return log.count(Level.ERROR, "Failed to create a worker thread") == 1;
            });
            // the pool keeps retrying after its cooldown, without logging an error again
            await().atMost(LONG).until(() -> {
                sample.run();
                return log.count(Level.DEBUG, "worker creation failed again") >= 1;
            });
            sample.run();
            assertThat(maxSeen.get()).isLessThanOrEqualTo(limit);
            assertThat(e.workerThreads()).isEqualTo(limit);
            assertThat(started.get()).as("one blocker runs; its pool could get one spare only").isEqualTo(1);

            release.countDown();
            awaitLatch(done);
            assertThat(started).hasValue(6);
            await().atMost(LONG).until(() -> e.systemWq().stats().inFlight() == 0);
            assertThat(e.systemWq().stats().completed()).isEqualTo(6);
            sample.run();
            assertThat(maxSeen.get()).isLessThanOrEqualTo(limit);
            assertThat(log.count(Level.ERROR, "Failed to create a worker thread")).isEqualTo(1);
            assertThat(log.messages(Level.ERROR).get(0)).contains(String.valueOf(limit));
        }
    }

    /**
     * The kernel's rule at the thread limit: a pool's only worker first tries to create the idle
     * reserve (manager), retrying after the 1 s cooldown, and does not run items until it has one
     * (forward progress then comes from MEM_RECLAIM rescuers). So a plain queue's item waits while
     * the limit is reached, and runs, nothing lost, as soon as a thread is free again.
     */
    @Test
    void aPlainItemWaitsAtTheThreadLimitAndRunsOnceAThreadIsFree() {
        try (Workqueues e = Workqueues.builder().cpus(1).maxWorkers(5).monitorInterval(Duration.ZERO).build()) {
            // a queue with a pool of its own holds the fifth thread; destroying it frees one
            Workqueue holder = e.alloc("slot-holder", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(7, null));
            assertThat(e.workerThreads()).isEqualTo(4);
            probe(e.systemWq(), null); // the CPU pool takes its spare: 5 of 5
            assertThat(e.workerThreads()).isEqualTo(5);

            CountDownLatch ran = new CountDownLatch(1);
            e.systemUnboundWq().queue(new Work("unbound-at-limit", ran::countDown));
            await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(5))
                    .until(() -> ran.getCount() == 1 && e.workerThreads() == 5);
            assertThat(e.systemUnboundWq().stats().inFlight()).isEqualTo(1);

            holder.destroy(LONG); // frees a thread: the manager's next try succeeds
            awaitLatch(ran);
            // the latch counts down inside the item; its completion is counted just after
            await().until(() -> e.systemUnboundWq().stats().completed() == 1);
        }
    }

    @Test
    void itemsCompleteAfterAFailingThreadFactoryRecovers() {
        AtomicBoolean failing = new AtomicBoolean();
        AtomicInteger failures = new AtomicInteger();
        WorkerThreadFactory platform = WorkerThreadFactory.platform(true);
        WorkerThreadFactory flaky = (name, body) -> {
            if (failing.get()) {
                failures.incrementAndGet();
                throw new IllegalStateException("no threads for now");
            }
            return platform.newThread(name, body);
        };
        try (LogCapture log = new LogCapture(Workqueues.class, null);
             Workqueues e = Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).threadFactory(flaky).build()) {
            failing.set(true);
            CountDownLatch release = new CountDownLatch(1);
            CountDownLatch firstBlocked = new CountDownLatch(1);
            CountDownLatch secondRan = new CountDownLatch(1);
            CountDownLatch firstDone = new CountDownLatch(1);
            e.systemWq().queue(new Work("needs-a-spare", () -> {
                firstBlocked.countDown();
                blockOn(release);
                firstDone.countDown();
            }));
            e.systemWq().queue(new Work("needs-another-worker", secondRan::countDown));
            // the pool tried, failed, waited its cooldown and tried again
            await().atMost(LONG).until(() -> failures.get() >= 2);
            assertThat(log.count(Level.ERROR, "Failed to create a worker thread")).isEqualTo(1);
            assertThat(log.messages(Level.ERROR).get(0)).contains("no threads for now");
            failing.set(false);

            awaitLatch(firstBlocked);
            awaitLatch(secondRan);
            assertThat(release.getCount()).as("the second item ran on a new worker while the first blocked").isEqualTo(1);
            release.countDown();
            awaitLatch(firstDone);
            await().atMost(LONG).until(() -> e.systemWq().stats().inFlight() == 0);
            assertThat(e.systemWq().stats().completed()).isEqualTo(2);
            assertThat(log.count(Level.ERROR, "Failed to create a worker thread")).isEqualTo(1);
        }
    }

    /**
     * Shutdown while a worker is the pool's manager, failing to create a spare for a pending item:
     * once the pool is torn down the worker stops managing and exits, without spinning, and the
     * factory is not called in a tight loop meanwhile.
     */
    @Test
    void aWorkerManagingADyingPoolExitsAtShutdown() {
        AtomicBoolean failing = new AtomicBoolean();
        AtomicInteger failures = new AtomicInteger();
        WorkerThreadFactory platform = WorkerThreadFactory.platform(true);
        WorkerThreadFactory flaky = (name, body) -> {
            if (failing.get()) {
                failures.incrementAndGet();
                throw new IllegalStateException("no threads at all");
            }
            return platform.newThread(name, body);
        };
        try (Workqueues e = Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).threadFactory(flaky).build()) {
            WorkerPool pool0 = e.cpuPools[0];
            Thread manager = pool0.workers.get(0).thread;
            failing.set(true);
            e.systemWq().queue(new Work("waits-for-a-spare", () -> { }));
            await().atMost(LONG).until(() -> failures.get() >= 1);

            int failuresBeforeShutdown = failures.get();
            assertThat(e.shutdown(Duration.ofMillis(300))).as("the item could not run").isFalse();
            await().atMost(LONG).until(() -> !manager.isAlive());
            assertThat(failures.get() - failuresBeforeShutdown).as("factory calls during shutdown").isLessThanOrEqualTo(2);
            assertThat(pool0.lock.isLocked()).isFalse();
        }
    }
}
