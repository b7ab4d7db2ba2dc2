package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Allocating and destroying workqueues: the system workqueues, name rules, per-CPU and unbound
 * pools (shared by attributes, reference counted), ordered queues, {@code destroy()}, and which
 * CPU's pool a bound item goes to.
 */
@Timeout(60)
class WorkqueueAllocationTest {
    private static final Duration LONG = Duration.ofSeconds(30);
    private static final Pattern PER_CPU_NAME = Pattern.compile("kworker/(\\d+):\\d+(H?)(-.*)?");

    private static Workqueues engine(int cpus) {
        return Workqueues.builder().cpus(cpus).monitorInterval(Duration.ZERO).name("alloc").build();
    }

    /** Runs a probe on {@code wq} (on {@code cpu}, or the caller's CPU if null) and returns its worker's thread name. */
    private static String probe(Workqueue wq, Integer cpu) {
        AtomicReference<String> name = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(1);
        Work w = new Work("probe", () -> {
            name.set(Thread.currentThread().getName());
            done.countDown();
        });
        boolean queued = cpu == null ? wq.queue(w) : wq.queueOn(cpu, w);
        assertThat(queued).isTrue();
        awaitLatch(done);
        return name.get();
    }

    /** The thread name without the {@code -<workqueue>} suffix. */
    private static String base(String threadName) {
        int dash = threadName.indexOf('-');
        return dash < 0 ? threadName : threadName.substring(0, dash);
    }

    /** The CPU of a per-CPU worker from its thread name. */
    private static int cpuOf(String threadName) {
        Matcher m = PER_CPU_NAME.matcher(threadName);
        assertThat(m.matches()).as("per-CPU worker name: %s", threadName).isTrue();
        return Integer.parseInt(m.group(1));
    }

    private static PoolStats poolById(Workqueues e, int id) {
        return e.pools().stream().filter(p -> p.id() == id).findFirst().orElse(null);
    }

    private static Set<String> liveThreadNames() {
        Set<String> names = new java.util.HashSet<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.isAlive()) {
                names.add(t.getName());
            }
        }
        return names;
    }

    private static Thread startThread(String name, Runnable body) {
        Thread t = new Thread(body, name);
        t.setDaemon(true);
        t.start();
        return t;
    }

    // ---- system workqueues ------------------------------------------------------------------

    record SystemQueue(String name, String alias, Function<Workqueues, Workqueue> accessor, Set<WqFlag> flags,
                       boolean unbound, int maxActive) {
    }

    private static List<SystemQueue> systemQueues(boolean powerEfficient) {
        return List.of(
                new SystemQueue("events", "system_wq", Workqueues::systemWq, EnumSet.noneOf(WqFlag.class), false, 256),
                new SystemQueue("events_highpri", "system_highpri_wq", Workqueues::systemHighpriWq,
                        EnumSet.of(WqFlag.HIGHPRI), false, 256),
                new SystemQueue("events_long", "system_long_wq", Workqueues::systemLongWq, EnumSet.noneOf(WqFlag.class), false, 256),
                new SystemQueue("events_unbound", "system_unbound_wq", Workqueues::systemUnboundWq,
                        EnumSet.of(WqFlag.UNBOUND), true, 512),
                new SystemQueue("events_freezable", "system_freezable_wq", Workqueues::systemFreezableWq,
                        EnumSet.of(WqFlag.FREEZABLE), false, 256),
                new SystemQueue("events_power_efficient", "system_power_efficient_wq", Workqueues::systemPowerEfficientWq,
                        EnumSet.of(WqFlag.POWER_EFFICIENT), powerEfficient, 256),
                new SystemQueue("events_freezable_pwr_efficient", "system_freezable_power_efficient_wq",
                        Workqueues::systemFreezablePowerEfficientWq, EnumSet.of(WqFlag.FREEZABLE, WqFlag.POWER_EFFICIENT),
                        powerEfficient, 256));
    }

    @Test
    void theSevenSystemWorkqueuesExistWithTheKernelsNamesAndFlags() {
        try (Workqueues e = engine(1)) {
            assertThat(e.isPowerEfficient()).isFalse();
            List<SystemQueue> expected = systemQueues(false);
            assertThat(e.workqueues()).hasSize(7);
            for (int i = 0; i < expected.size(); i++) {
                SystemQueue s = expected.get(i);
                Workqueue wq = s.accessor().apply(e);
                assertThat(wq).as(s.name()).isNotNull();
                assertThat(e.workqueues().get(i)).as("creation order").isSameAs(wq);
                assertThat(wq.name()).isEqualTo(s.name());
                assertThat(wq.alias()).isEqualTo(s.alias());
                assertThat(wq.flags()).as(s.name()).isEqualTo(s.flags());
                assertThat(wq.isUnbound()).as(s.name() + " unbound").isEqualTo(s.unbound());
                assertThat(wq.isOrdered()).isFalse();
                assertThat(wq.maxActive()).as(s.name() + " max_active").isEqualTo(s.maxActive());
                assertThat(wq.engine()).isSameAs(e);
                assertThat(e.workqueue(s.name())).as("by name").containsSame(wq);
                assertThat(e.workqueue(s.alias())).as("by kernel variable name").containsSame(wq);
            }
            assertThat(e.systemHighpriWq().attrs().nice()).isEqualTo(-20);
            assertThat(e.systemWq().attrs().nice()).isZero();
            assertThat(e.workqueue("no_such_wq")).isEmpty();
            // bound system queues run on per-CPU workers, the unbound one on the unbound pool
            assertThat(base(probe(e.systemWq(), null))).matches("kworker/0:\\d+");
            assertThat(base(probe(e.systemHighpriWq(), null))).matches("kworker/0:\\d+H");
            assertThat(base(probe(e.systemPowerEfficientWq(), null))).matches("kworker/0:\\d+");
            assertThat(base(probe(e.systemUnboundWq(), null))).matches("kworker/u2:\\d+");
        }
    }

    @Test
    void powerEfficientModeMakesThePowerEfficientQueuesUnbound() {
        try (Workqueues e = Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).powerEfficient(true).build()) {
            assertThat(e.isPowerEfficient()).isTrue();
            for (SystemQueue s : systemQueues(true)) {
                Workqueue wq = s.accessor().apply(e);
                assertThat(wq.flags()).as(s.name()).isEqualTo(s.flags());
                assertThat(wq.isUnbound()).as(s.name() + " unbound").isEqualTo(s.unbound());
            }
            // they share the system unbound pool: still 2 per-CPU pools + 1 unbound pool
            assertThat(e.pools()).hasSize(3);
            assertThat(base(probe(e.systemPowerEfficientWq(), null))).matches("kworker/u2:\\d+");
            assertThat(base(probe(e.systemFreezablePowerEfficientWq(), null))).matches("kworker/u2:\\d+");
            // a user POWER_EFFICIENT queue follows the same rule
            assertThat(e.alloc("pe-user", 0, WqFlag.POWER_EFFICIENT).isUnbound()).isTrue();
        }
        try (Workqueues e = engine(1)) {
            assertThat(e.alloc("pe-user", 0, WqFlag.POWER_EFFICIENT).isUnbound()).isFalse();
        }
    }

    // ---- names ------------------------------------------------------------------------------

    @Test
    void duplicateNamesAreRefusedNamingTheTakenName() {
        try (Workqueues e = engine(1)) {
            Workqueue first = e.alloc("dup", 0);
            assertThatThrownBy(() -> e.alloc("dup", 0, WqFlag.UNBOUND))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("'dup'");
            assertThatThrownBy(() -> e.allocOrdered("dup"))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("'dup'");
            assertThat(e.workqueue("dup")).containsSame(first);

            assertThatThrownBy(() -> e.alloc("events", 0))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("'events'");
            assertThatThrownBy(() -> e.alloc("system_wq", 0))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("'system_wq'");
            assertThatThrownBy(() -> e.alloc("system_unbound_wq", EnumSet.of(WqFlag.UNBOUND), 0))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("'system_unbound_wq'");
            assertThat(e.workqueue("system_wq")).containsSame(e.systemWq());
            assertThat(e.workqueues()).hasSize(8);
        }
    }

    @Test
    void blankNamesAreRefused() {
        try (Workqueues e = engine(1)) {
            for (String bad : new String[] {"", "   ", null}) {
                assertThatThrownBy(() -> e.alloc(bad, 0))
                        .as("name %s", bad)
                        .isInstanceOf(IllegalArgumentException.class)
                        .hasMessageContaining("name");
            }
            assertThatThrownBy(() -> e.allocOrdered(" ")).isInstanceOf(IllegalArgumentException.class);
            assertThat(e.workqueues()).hasSize(7);
        }
    }

    // ---- pools ------------------------------------------------------------------------------

    @Test
    void aTwoCpuEngineHasANormalAndAHighpriPoolPerCpu() {
        try (Workqueues e = engine(2)) {
            assertThat(e.cpus()).isEqualTo(2);
            List<PoolStats> pools = e.pools();
            assertThat(pools).hasSize(5); // 4 per-CPU + the system unbound pool
            for (int cpu = 0; cpu < 2; cpu++) {
                PoolStats normal = pools.get(cpu * 2);
                PoolStats high = pools.get(cpu * 2 + 1);
                assertThat(normal.id()).isEqualTo(cpu * 2);
                assertThat(normal.kind()).isEqualTo("cpu");
                assertThat(normal.cpu()).isEqualTo(cpu);
                assertThat(normal.nice()).isZero();
                assertThat(normal.cpumask()).isEqualTo(CpuMask.of(cpu));
                assertThat(normal.workers()).isGreaterThanOrEqualTo(1);
                assertThat(high.id()).isEqualTo(cpu * 2 + 1);
                assertThat(high.kind()).isEqualTo("cpu-highpri");
                assertThat(high.cpu()).isEqualTo(cpu);
                assertThat(high.nice()).isEqualTo(-20);
                assertThat(high.cpumask()).isEqualTo(CpuMask.of(cpu));
                assertThat(high.workers()).isGreaterThanOrEqualTo(1);
            }
            PoolStats unbound = pools.get(4);
            assertThat(unbound.id()).isEqualTo(4);
            assertThat(unbound.kind()).isEqualTo("unbound");
            assertThat(unbound.cpu()).isEqualTo(-1);
            assertThat(unbound.nice()).isZero();
            assertThat(unbound.cpumask()).isEqualTo(CpuMask.all(2));
            assertThat(unbound.running()).isZero();
            assertThat(e.workerThreads()).isEqualTo(5);

            // the per-CPU pools are the ones the bound queues' items run in
            assertThat(base(probe(e.systemHighpriWq(), 1))).matches("kworker/1:\\d+H");
            assertThat(base(probe(e.systemWq(), 1))).matches("kworker/1:\\d+");
        }
    }

    @Test
    void unboundQueuesWithEqualAttrsShareOnePool() {
        try (Workqueues e = engine(2)) {
            int poolsBefore = e.pools().size();
            int threadsBefore = e.workerThreads();

            Workqueue a = e.alloc("share-a", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(0, CpuMask.of(1)));
            assertThat(e.pools()).hasSize(poolsBefore + 1);
            assertThat(e.workerThreads()).isEqualTo(threadsBefore + 1);
            PoolStats shared = e.pools().get(poolsBefore);
            assertThat(shared.kind()).isEqualTo("unbound");
            assertThat(shared.nice()).isZero();
            assertThat(shared.cpumask()).isEqualTo(CpuMask.of(1));

            // equal attributes built another way: hex "2" is CPU 1
            Workqueue b = e.alloc("share-b", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(0, CpuMask.parse("2")));
            assertThat(e.pools()).as("no new pool").hasSize(poolsBefore + 1);
            assertThat(e.workerThreads()).as("no extra threads").isEqualTo(threadsBefore + 1);
            assertThat(b.attrs()).isEqualTo(a.attrs());
            String prefix = "kworker/u" + shared.id();
            assertThat(base(probe(a, null))).matches(prefix + ":\\d+");
            assertThat(base(probe(b, null))).matches(prefix + ":\\d+");

            // no attributes = the defaults = the system unbound pool's
            Workqueue plain = e.alloc("share-plain", 0, WqFlag.UNBOUND);
            assertThat(e.pools()).hasSize(poolsBefore + 1);
            assertThat(base(probe(plain, null))).matches("kworker/u4:\\d+");

            // other attributes: another pool each
            Workqueue nice5 = e.alloc("share-nice5", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(5, null));
            assertThat(e.pools()).hasSize(poolsBefore + 2);
            PoolStats p5 = e.pools().get(poolsBefore + 1);
            assertThat(p5.nice()).isEqualTo(5);
            assertThat(p5.cpumask()).isEqualTo(CpuMask.all(2));
            assertThat(p5.id()).isNotEqualTo(shared.id());
            assertThat(nice5.attrs()).isEqualTo(new WorkqueueAttrs(5, CpuMask.all(2), AffinityScope.CACHE, false));
            assertThat(base(probe(nice5, null))).matches("kworker/u" + p5.id() + ":\\d+");

            Workqueue high = e.alloc("share-high", 0, WqFlag.UNBOUND, WqFlag.HIGHPRI);
            assertThat(e.pools()).hasSize(poolsBefore + 3);
            assertThat(high.attrs().nice()).isEqualTo(-20);
            assertThat(e.pools().get(poolsBefore + 2).nice()).isEqualTo(-20);
        }
    }

    @Test
    void destroyingTheLastQueueOfAnUnboundPoolReleasesItAndItsThreads() {
        try (Workqueues e = engine(2)) {
            int threadsBefore = e.workerThreads();
            Workqueue c = e.alloc("nice5-c", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(5, null));
            // resolved attributes are the key: a null cpumask means all CPUs
            Workqueue d = e.alloc("nice5-d", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(5, CpuMask.all(2)));
            List<PoolStats> nice5Pools = e.pools().stream().filter(p -> p.nice() == 5).toList();
            assertThat(nice5Pools).hasSize(1);
            int id = nice5Pools.get(0).id();
            String prefix = "kworker/u" + id + ":";
            assertThat(base(probe(c, null))).startsWith(prefix);
            assertThat(base(probe(d, null))).startsWith(prefix);

            WorkerPool pool = c.unboundPwq().pool;
            assertThat(d.unboundPwq().pool).isSameAs(pool);
            List<Thread> firstThreads = pool.workers.stream().map(w -> w.thread).toList();
            assertThat(liveThreadNames()).anyMatch(n -> n.startsWith(prefix));

            c.destroy(LONG);
            assertThat(poolById(e, id)).as("still used by nice5-d").isNotNull();
            assertThat(firstThreads).isNotEmpty().allMatch(Thread::isAlive);
            assertThat(base(probe(d, null))).startsWith(prefix);

            // quiescent: every worker of the pool idle (none busy creating another)
            await().atMost(LONG).until(() -> poolById(e, id).idle() == poolById(e, id).workers());
            List<Thread> poolThreads = new ArrayList<>();
            for (Worker w : pool.workers) {
                poolThreads.add(w.thread);
            }
            assertThat(poolThreads).isNotEmpty().allMatch(Thread::isAlive);
            int poolWorkers = poolThreads.size();
            int threadsWithPool = e.workerThreads();
            d.destroy(LONG);
            assertThat(poolById(e, id)).as("released with its last queue").isNull();
            await().atMost(LONG).until(() -> poolThreads.stream().noneMatch(Thread::isAlive));
            await().atMost(LONG).until(() -> liveThreadNames().stream().noneMatch(n -> n.startsWith(prefix)));
            await().atMost(LONG).until(() -> e.workerThreads() == threadsWithPool - poolWorkers);
            assertThat(e.workerThreads()).isEqualTo(threadsBefore);

            // attributes used again: a fresh pool with a new id
            Workqueue again = e.alloc("nice5-again", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(5, null));
            int newId = e.pools().stream().filter(p -> p.nice() == 5).findFirst().orElseThrow().id();
            assertThat(newId).isNotEqualTo(id);
            assertThat(base(probe(again, null))).startsWith("kworker/u" + newId + ":");
        }
    }

    @Test
    void attrsOnABoundQueueAreRefused() {
        try (Workqueues e = engine(1)) {
            assertThatThrownBy(() -> e.alloc("bound-attrs", EnumSet.of(WqFlag.HIGHPRI), 0, new WorkqueueAttrs(5, null)))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("'bound-attrs'")
                    .hasMessageContaining("only to unbound")
                    .hasMessageContaining("UNBOUND");
            assertThat(e.workqueue("bound-attrs")).isEmpty();
            assertThat(e.pools()).hasSize(3);
        }
    }

    @Test
    void allocOrderedIsUnboundWithMaxActiveOne() {
        try (Workqueues e = engine(1)) {
            Workqueue o = e.allocOrdered("ordered-x", WqFlag.FREEZABLE);
            assertThat(o.isOrdered()).isTrue();
            assertThat(o.isUnbound()).isTrue();
            assertThat(o.maxActive()).isEqualTo(1);
            assertThat(o.flags()).contains(WqFlag.UNBOUND, WqFlag.FREEZABLE);
            assertThat(e.workqueue("ordered-x")).containsSame(o);
            assertThatThrownBy(() -> o.setMaxActive(4))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("'ordered-x'");
            assertThat(o.maxActive()).isEqualTo(1);
            assertThat(base(probe(o, null))).matches("kworker/u2:\\d+");
            Workqueue plain = e.alloc("not-ordered", 1, WqFlag.UNBOUND);
            assertThat(plain.isOrdered()).isFalse();
        }
    }

    // ---- destroy ----------------------------------------------------------------------------

    @Test
    void aDestroyedQueueRefusesItemsAndFreesItsName() {
        try (Workqueues e = engine(1)) {
            Workqueue q = e.alloc("doomed", 0);
            assertThat(base(probe(q, null))).matches("kworker/0:\\d+");
            q.destroy(LONG);
            Work late = new Work("late-item", () -> { });
            assertThatThrownBy(() -> q.queue(late))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("'doomed'")
                    .hasMessageContaining("destroyed")
                    .hasMessageContaining("late-item");
            assertThatThrownBy(() -> q.queueOn(0, late)).isInstanceOf(IllegalStateException.class);
            assertThat(late.isPending()).as("a refused item is not left pending").isFalse();
            assertThat(e.workqueue("doomed")).isEmpty();
            assertThat(e.workqueues()).doesNotContain(q);
            assertThatThrownBy(() -> q.destroy(LONG))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("'doomed'");

            // the refused item can go elsewhere, and the name can be used again
            CountDownLatch ran = new CountDownLatch(1);
            Work other = new Work("elsewhere", ran::countDown);
            Workqueue again = e.alloc("doomed", 0, WqFlag.UNBOUND);
            assertThat(again).isNotSameAs(q);
            assertThat(again.queue(other)).isTrue();
            awaitLatch(ran);
        }
    }

    @Test
    void destroyWaitsForInFlightItems() throws Exception {
        try (Workqueues e = engine(1)) {
            Workqueue q = e.alloc("slow-teardown", 0);
            CountDownLatch started = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            AtomicBoolean destroyReturned = new AtomicBoolean();
            AtomicReference<Boolean> destroyReturnedSeenByItem = new AtomicReference<>();
            AtomicReference<Throwable> destroyFailure = new AtomicReference<>();
            q.queue(new Work("in-flight", () -> {
                started.countDown();
                awaitLatch(release);
                destroyReturnedSeenByItem.set(destroyReturned.get());
            }));
            awaitLatch(started);
            Thread destroyer = startThread("destroyer", () -> {
                try {
                    q.destroy(LONG);
                    destroyReturned.set(true);
                } catch (Throwable t) {
                    destroyFailure.set(t);
                }
            });
            await().atMost(LONG).until(() -> q.draining
                    && destroyer.getState() == Thread.State.TIMED_WAITING);
            assertThat(destroyReturned).isFalse();
            assertThat(destroyer.isAlive()).isTrue();
            assertThat(e.workqueue("slow-teardown")).as("name kept while draining").isPresent();

            release.countDown();
            destroyer.join(TimeUnit.SECONDS.toMillis(30));
            assertThat(destroyFailure.get()).isNull();
            assertThat(destroyReturned).isTrue();
            assertThat(destroyReturnedSeenByItem.get()).as("destroy had not returned when the item finished").isFalse();
            assertThat(q.stats().completed()).isEqualTo(1);
            assertThat(e.workqueue("slow-teardown")).isEmpty();
        }
    }

    @Test
    void destroyTimesOutWithoutLosingAnything() {
        try (Workqueues e = engine(1)) {
            Workqueue q = e.alloc("stubborn", 0, WqFlag.UNBOUND);
            CountDownLatch started = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            q.queue(new Work("stuck-item", () -> {
                started.countDown();
                awaitLatch(release);
            }));
            awaitLatch(started);
            assertThatThrownBy(() -> q.destroy(Duration.ofMillis(50)))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("'stubborn'")
                    .hasMessageContaining("stuck-item");
            // still usable
            CountDownLatch after = new CountDownLatch(1);
            assertThat(q.queue(new Work("after", after::countDown))).isTrue();
            release.countDown();
            awaitLatch(after);
            q.destroy(LONG);
            assertThat(q.stats().completed()).isEqualTo(2);
        }
    }

    @Test
    void systemQueuesCannotBeDestroyed() {
        try (Workqueues e = engine(1)) {
            for (Workqueue wq : e.workqueues()) {
                assertThatThrownBy(() -> wq.destroy(LONG))
                        .as(wq.name())
                        .isInstanceOf(IllegalStateException.class)
                        .hasMessageContaining("'" + wq.name() + "'")
                        .hasMessageContaining("system workqueue");
            }
            assertThat(e.workqueues()).hasSize(7);
            assertThat(base(probe(e.systemWq(), null))).matches("kworker/0:\\d+");
        }
    }

    @Test
    void whileDestroyingOnlyTheQueuesOwnItemsMayQueueOnIt() throws Exception {
        try (Workqueues e = engine(1)) {
            Workqueue q = e.alloc("draining", 0);
            CountDownLatch started = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            List<String> ran = new CopyOnWriteArrayList<>();
            AtomicReference<Throwable> chainFailure = new AtomicReference<>();
            AtomicReference<Throwable> destroyFailure = new AtomicReference<>();
            AtomicBoolean destroyReturned = new AtomicBoolean();
            Work third = new Work("chain-3", () -> ran.add("chain-3"));
            Work second = new Work("chain-2", () -> {
                ran.add("chain-2");
                try {
                    q.queue(third);
                } catch (Throwable t) {
                    chainFailure.set(t);
                }
            });
            q.queue(new Work("chain-1", () -> {
                started.countDown();
                awaitLatch(release);
                ran.add("chain-1");
                try {
                    q.queue(second);
                } catch (Throwable t) {
                    chainFailure.set(t);
                }
            }));
            awaitLatch(started);
            Thread destroyer = startThread("destroyer", () -> {
                try {
                    q.destroy(LONG);
                    destroyReturned.set(true);
                } catch (Throwable t) {
                    destroyFailure.set(t);
                }
            });
            await().atMost(LONG).until(() -> q.draining);

            Work outsider = new Work("outsider", () -> ran.add("outsider"));
            assertThatThrownBy(() -> q.queue(outsider))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("'draining'")
                    .hasMessageContaining("outsider");
            assertThat(outsider.isPending()).isFalse();
            // items of other queues are not "own items"
            CountDownLatch foreignTried = new CountDownLatch(1);
            AtomicReference<Throwable> foreignFailure = new AtomicReference<>();
            e.systemUnboundWq().queue(new Work("foreign", () -> {
                try {
                    q.queue(new Work("from-foreign", () -> ran.add("from-foreign")));
                } catch (Throwable t) {
                    foreignFailure.set(t);
                }
                foreignTried.countDown();
            }));
            awaitLatch(foreignTried);
            assertThat(foreignFailure.get()).isInstanceOf(IllegalStateException.class);

            release.countDown();
            destroyer.join(TimeUnit.SECONDS.toMillis(30));
            assertThat(destroyFailure.get()).isNull();
            assertThat(destroyReturned).isTrue();
            assertThat(chainFailure.get()).isNull();
            assertThat(ran).as("chained work ran before destroy returned").containsExactly("chain-1", "chain-2", "chain-3");
            assertThat(q.stats().completed()).isEqualTo(3);
        }
    }

    /**
     * Chained work must be accepted during the whole drain (the kernel keeps {@code __WQ_DRAINING}
     * set until the drain is over). Here the destroyer has seen the CPU-1 pwq empty and re-checks
     * all pwqs while an item of the queue still runs on CPU 0; the test holds CPU 0's pool lock to
     * keep the destroyer in that re-check while the item queues more work.
     */
    @Test
    void chainedWorkIsAcceptedWhileDestroyRechecksThePwqs() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(2).monitorInterval(Duration.ZERO).cpuLocator(() -> 0).build()) {
            Workqueue q = e.alloc("recheck", 0);
            CountDownLatch chain = new CountDownLatch(1);
            CountDownLatch yFinish = new CountDownLatch(1);
            CountDownLatch wStarted = new CountDownLatch(1);
            CountDownLatch wGo = new CountDownLatch(1);
            CountDownLatch wTried = new CountDownLatch(1);
            CountDownLatch zRan = new CountDownLatch(1);
            AtomicReference<Thread> wThread = new AtomicReference<>();
            AtomicReference<Throwable> wChainFailure = new AtomicReference<>();
            AtomicReference<Throwable> yChainFailure = new AtomicReference<>();
            AtomicReference<Throwable> destroyFailure = new AtomicReference<>();
            AtomicBoolean destroyReturned = new AtomicBoolean();
            Work z = new Work("chained-z", zRan::countDown);
            Work w = new Work("chained-w", () -> {
                wThread.set(Thread.currentThread());
                wStarted.countDown();
                awaitLatch(wGo);
                try {
                    q.queueOn(0, z);
                } catch (Throwable t) {
                    wChainFailure.set(t);
                }
                wTried.countDown();
            });
            Work y = new Work("chainer-y", () -> {
                awaitLatch(chain);
                try {
                    q.queueOn(0, w);
                } catch (Throwable t) {
                    yChainFailure.set(t);
                }
                awaitLatch(yFinish);
            });
            assertThat(q.queueOn(1, y)).isTrue();
            Thread destroyer = startThread("destroyer", () -> {
                try {
                    q.destroy(LONG);
                    destroyReturned.set(true);
                } catch (Throwable t) {
                    destroyFailure.set(t);
                }
            });
            // CPU 0's pwq is empty, so a timed wait means the destroyer waits for CPU 1's
            await().atMost(LONG).until(() -> q.draining
                    && destroyer.getState() == Thread.State.TIMED_WAITING);
            chain.countDown();
            awaitLatch(wStarted);
            WorkerPool.PoolLock lock0 = q.cpuPwqs[0].pool.lock;
            lock0.lock();
            try {
                yFinish.countDown();
                // CPU 1's pwq drained: the destroyer now needs CPU 0's pool lock to re-check
                await().atMost(LONG).until(() -> lock0.hasQueuedThread(destroyer));
                wGo.countDown();
                // the item's queueing either finished (refused or not) or waits for the same lock
                await().atMost(LONG).until(() -> wTried.getCount() == 0 || lock0.hasQueuedThread(wThread.get()));
            } finally {
                lock0.unlock();
            }
            awaitLatch(wTried);
            destroyer.join(TimeUnit.SECONDS.toMillis(30));
            assertThat(yChainFailure.get()).isNull();
            assertThat(destroyFailure.get()).isNull();
            assertThat(destroyReturned).isTrue();
            assertThat(wChainFailure.get()).as("chained work queued by a running item of the queue during the drain").isNull();
            assertThat(zRan.getCount()).as("chained work ran before destroy returned").isZero();
        }
    }

    // ---- which CPU's pool ---------------------------------------------------------------

    @Test
    void boundItemsFromAThreadGoToAStableCpu() throws Exception {
        try (Workqueues e = engine(4)) {
            List<Thread> threads = new ArrayList<>();
            List<String> problems = new CopyOnWriteArrayList<>();
            List<Integer> seen = new CopyOnWriteArrayList<>();
            for (int t = 0; t < 6; t++) {
                threads.add(startThread("queuer-" + t, () -> {
                    int expected = CpuLocator.perThread().currentCpu() % 4;
                    for (int i = 0; i < 4; i++) {
                        Workqueue wq = i % 2 == 0 ? e.systemWq() : e.systemHighpriWq();
                        int cpu = cpuOf(probe(wq, null));
                        seen.add(cpu);
                        if (cpu != expected) {
                            problems.add(Thread.currentThread().getName() + " (id " + Thread.currentThread().threadId()
                                    + ") expected CPU " + expected + " got " + cpu);
                        }
                    }
                }));
            }
            for (Thread t : threads) {
                t.join(TimeUnit.SECONDS.toMillis(30));
                assertThat(t.isAlive()).isFalse();
            }
            assertThat(seen).hasSize(24);
            assertThat(problems).isEmpty();
        }
    }

    @Test
    void aCustomCpuLocatorChoosesThePool() {
        try (Workqueues e = Workqueues.builder().cpus(2).monitorInterval(Duration.ZERO).cpuLocator(() -> 7).build()) {
            assertThat(cpuOf(probe(e.systemWq(), null))).as("7 mod 2").isEqualTo(1);
        }
        try (Workqueues e = Workqueues.builder().cpus(2).monitorInterval(Duration.ZERO).cpuLocator(() -> -1).build()) {
            assertThat(cpuOf(probe(e.systemWq(), null))).as("unknown: CPU 0").isEqualTo(0);
        }
    }

    @Test
    void queueOnRunsOnThatCpusPool() {
        try (Workqueues e = engine(2)) {
            for (int round = 0; round < 3; round++) {
                for (int cpu = 0; cpu < 2; cpu++) {
                    String n = probe(e.systemWq(), cpu);
                    assertThat(n).startsWith("kworker/" + cpu + ":").endsWith("-events");
                    String h = probe(e.systemHighpriWq(), cpu);
                    assertThat(base(h)).startsWith("kworker/" + cpu + ":").endsWith("H");
                }
            }
            // an unbound queue takes the CPU as a hint only
            assertThat(base(probe(e.systemUnboundWq(), 1))).matches("kworker/u4:\\d+");
        }
    }

    @Test
    void queueOnACpuOutOfRangeIsRefused() {
        try (Workqueues e = engine(2)) {
            Work w = new Work("nowhere", () -> { });
            assertThatThrownBy(() -> e.systemWq().queueOn(2, w))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("cpu 2")
                    .hasMessageContaining("0..1");
            assertThatThrownBy(() -> e.systemWq().queueOn(-5, w))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("cpu -5")
                    .hasMessageContaining("0..1");
            assertThatThrownBy(() -> e.systemUnboundWq().queueOn(9, w))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("cpu 9");
            assertThat(w.isPending()).isFalse();
            assertThat(e.systemWq().stats().started()).isZero();
        }
    }

    @Test
    void anItemQueuedFromAWorkerOfCpu1LandsOnCpu1() {
        // the test thread itself is "on" CPU 0
        try (Workqueues e = Workqueues.builder().cpus(2).monitorInterval(Duration.ZERO).cpuLocator(() -> 0).build()) {
            assertThat(cpuOf(probe(e.systemWq(), null))).isEqualTo(0);
            AtomicReference<String> inner = new AtomicReference<>();
            AtomicReference<String> innerHigh = new AtomicReference<>();
            AtomicReference<String> outer = new AtomicReference<>();
            CountDownLatch done = new CountDownLatch(2);
            Work innerWork = new Work("inner", () -> {
                inner.set(Thread.currentThread().getName());
                done.countDown();
            });
            Work innerHighWork = new Work("inner-high", () -> {
                innerHigh.set(Thread.currentThread().getName());
                done.countDown();
            });
            e.systemWq().queueOn(1, new Work("outer", () -> {
                outer.set(Thread.currentThread().getName());
                e.systemLongWq().queue(innerWork);
                e.systemHighpriWq().queue(innerHighWork);
            }));
            awaitLatch(done);
            assertThat(cpuOf(outer.get())).isEqualTo(1);
            assertThat(cpuOf(inner.get())).isEqualTo(1);
            assertThat(inner.get()).endsWith("-events_long");
            assertThat(base(innerHigh.get())).matches("kworker/1:\\d+H");
        }
    }
}
