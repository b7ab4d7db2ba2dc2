package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Affinity scopes of unbound workqueues: one pwq per pod, an item goes to the pool of the issuer's
 * pod, strict and non-strict pods, pools shared by equal attributes, max_active for the whole
 * queue across its pods (the cross-pool hand-off of slots), freezing, and ordered queues, which
 * ignore the scope. The topology has two cache pods, {0} and {1}; the issuer's CPU is chosen by
 * the test through the engine's {@link CpuLocator}.
 */
@Timeout(120)
class AffinityScopeTest {
    private static final Pattern UNBOUND_NAME = Pattern.compile("kworker/u(\\d+):\\d+(-.*)?");
    private static final CpuMask CPU0 = CpuMask.of(0);
    private static final CpuMask CPU1 = CpuMask.of(1);
    private static final CpuMask BOTH = CpuMask.of(0, 1);
    private static final CpuTopology TWO_CACHE_PODS = CpuTopology.of(2, Map.of(AffinityScope.CACHE, List.of(CPU0, CPU1)));

    /** The CPU the test thread pretends to be on; unset: unknown (CPU 0). */
    private final ThreadLocal<Integer> issuerCpu = new ThreadLocal<>();

    private Workqueues.Builder builder(String name, CpuTopology topology) {
        return Workqueues.builder().cpus(2).name(name).placement(ThreadPlacement.unavailable("test")).topology(topology)
                .monitorInterval(Duration.ZERO).cpuLocator(() -> {
                    Integer c = issuerCpu.get();
                    return c == null ? -1 : c;
                });
    }

    private Workqueues engine(String name) {
        return builder(name, TWO_CACHE_PODS).build();
    }

    /** Queues {@code w} on {@code wq} as if issued on {@code cpu}. */
    private void queueFrom(int cpu, Workqueue wq, Work w) {
        issuerCpu.set(cpu);
        try {
            assertThat(wq.queue(w)).isTrue();
        } finally {
            issuerCpu.remove();
        }
    }

    private static int poolIdOf(String threadName) {
        Matcher m = UNBOUND_NAME.matcher(threadName);
        assertThat(m.matches()).as("unbound worker name: %s", threadName).isTrue();
        return Integer.parseInt(m.group(1));
    }

    private static int currentPoolId() {
        return poolIdOf(Thread.currentThread().getName());
    }

    /** Runs a probe issued on {@code cpu} (or queued on it with queueOn if {@code queueOn}) and returns the pool id. */
    private int probe(Workqueue wq, int cpu, boolean queueOn) {
        AtomicInteger pool = new AtomicInteger(-1);
        CountDownLatch done = new CountDownLatch(1);
        Work w = new Work("probe", () -> {
            pool.set(currentPoolId());
            done.countDown();
        });
        if (queueOn) {
            assertThat(wq.queueOn(cpu, w)).isTrue();
        } else {
            queueFrom(cpu, wq, w);
        }
        await(done);
        return pool.get();
    }

    private int probeFrom(Workqueue wq, int cpu) {
        return probe(wq, cpu, false);
    }

    private static PoolStats pool(Workqueues e, int id) {
        return e.pools().stream().filter(p -> p.id() == id).findFirst()
                .orElseThrow(() -> new AssertionError("no pool " + id + " in " + e.pools()));
    }

    private static Set<Integer> currentPoolIds(Workqueue wq) {
        return wq.currentPwqs().stream().map(p -> p.pool.id).collect(Collectors.toSet());
    }

    /** Blocking items that record how many run at once, in which pool, and finish when given a permit. */
    private static final class Gate implements AutoCloseable {
        final AtomicInteger running = new AtomicInteger();
        final AtomicInteger maxRunning = new AtomicInteger();
        final AtomicInteger completed = new AtomicInteger();
        final Semaphore permits = new Semaphore(0);
        final Map<String, Integer> poolOf = new ConcurrentHashMap<>();
        final Map<String, CountDownLatch> started = new ConcurrentHashMap<>();

        Work item(String name) {
            CountDownLatch s = new CountDownLatch(1);
            started.put(name, s);
            return new Work(name, () -> {
                maxRunning.accumulateAndGet(running.incrementAndGet(), Math::max);
                poolOf.put(name, currentPoolId());
                s.countDown();
                try {
                    if (!permits.tryAcquire(60, TimeUnit.SECONDS)) {
                        throw new IllegalStateException("never released");
                    }
                } catch (InterruptedException ex) {
                    Thread.currentThread().interrupt();
                } finally {
                    running.decrementAndGet();
                    completed.incrementAndGet();
                }
            });
        }

        /** Lets every item finish (also when the test failed), so that the engine closes quickly. */
        @Override
        public void close() {
            permits.release(10_000);
        }

        boolean hasStarted(String name) {
            return started.get(name).getCount() == 0;
        }

        /** True if {@code name} starts within {@code ms} (a bounded check that it is held back). */
        boolean startsWithin(String name, long ms) throws InterruptedException {
            return started.get(name).await(ms, TimeUnit.MILLISECONDS);
        }
    }

    // ---- where items go ---------------------------------------------------------------------

    @Test
    void itemsGoToThePoolOfTheIssuersPod() {
        try (Workqueues e = engine("scope-pods")) {
            Workqueue wq = e.alloc("podded", 0, WqFlag.UNBOUND);
            assertThat(wq.attrs().affinityScope()).isEqualTo(AffinityScope.CACHE);
            assertThat(currentPoolIds(wq)).hasSize(2);
            for (int round = 0; round < 3; round++) {
                int from0 = probeFrom(wq, 0);
                int from1 = probeFrom(wq, 1);
                int on1 = probe(wq, 1, true);
                int on0 = probe(wq, 0, true);
                assertThat(pool(e, from0).podCpumask()).isEqualTo(CPU0);
                assertThat(pool(e, from1).podCpumask()).isEqualTo(CPU1);
                assertThat(pool(e, on1).podCpumask()).isEqualTo(CPU1);
                assertThat(pool(e, on0).podCpumask()).isEqualTo(CPU0);
                assertThat(from0).isNotEqualTo(from1);
                assertThat(on1).isEqualTo(from1);
                assertThat(on0).isEqualTo(from0);
            }
            // the issuer's CPU unknown: CPU 0's pod
            assertThat(pool(e, probe(wq, Workqueues.WORK_CPU_UNBOUND, true)).podCpumask()).isEqualTo(CPU0);
        }
    }

    @Test
    void nonStrictPodsShareTheCpumaskStrictPodsAreConfined() {
        try (Workqueues e = engine("scope-strict")) {
            Workqueue loose = e.alloc("loose", 0, WqFlag.UNBOUND);
            Workqueue strict = e.alloc("strict", EnumSet.of(WqFlag.UNBOUND), 0, WorkqueueAttrs.defaults().withAffinityStrict(true));
            List<PoolStats> loosePools = currentPoolIds(loose).stream().map(id -> pool(e, id)).toList();
            assertThat(loosePools).hasSize(2);
            for (PoolStats p : loosePools) {
                assertThat(p.cpumask()).isEqualTo(BOTH);
                assertThat(p.affinityStrict()).isFalse();
            }
            assertThat(loosePools.stream().map(PoolStats::podCpumask).collect(Collectors.toSet())).containsExactlyInAnyOrder(CPU0, CPU1);

            List<PoolStats> strictPools = currentPoolIds(strict).stream().map(id -> pool(e, id)).toList();
            assertThat(strictPools).hasSize(2);
            for (PoolStats p : strictPools) {
                assertThat(p.affinityStrict()).isTrue();
                assertThat(p.cpumask()).as("strict pool %s", p.id()).isEqualTo(p.podCpumask());
            }
            assertThat(strictPools.stream().map(PoolStats::podCpumask).collect(Collectors.toSet())).containsExactlyInAnyOrder(CPU0, CPU1);
            assertThat(currentPoolIds(strict)).doesNotContainAnyElementsOf(currentPoolIds(loose));
            assertThat(strict.attrs().affinityStrict()).isTrue();
            // items of the strict queue run in the pool of their pod too
            assertThat(pool(e, probeFrom(strict, 1)).cpumask()).isEqualTo(CPU1);
            assertThat(pool(e, probeFrom(strict, 0)).cpumask()).isEqualTo(CPU0);
        }
    }

    @Test
    void systemScopeIsOnePoolCpuScopeIsOnePerCpu() {
        try (Workqueues e = engine("scope-system")) {
            Workqueue sys = e.alloc("whole", EnumSet.of(WqFlag.UNBOUND), 0,
                    WorkqueueAttrs.defaults().withAffinityScope(AffinityScope.SYSTEM));
            assertThat(currentPoolIds(sys)).hasSize(1);
            int p0 = probeFrom(sys, 0);
            assertThat(probeFrom(sys, 1)).isEqualTo(p0);
            assertThat(pool(e, p0).podCpumask()).isEqualTo(BOTH);
            assertThat(sys.attrs().affinityScope()).isEqualTo(AffinityScope.SYSTEM);

            // a queue moved from cache to system scope: two pods become one
            Workqueue moved = e.alloc("moved", 0, WqFlag.UNBOUND);
            assertThat(currentPoolIds(moved)).hasSize(2);
            moved.applyAttrs(WorkqueueAttrs.defaults().withAffinityScope(AffinityScope.SYSTEM));
            assertThat(currentPoolIds(moved)).isEqualTo(currentPoolIds(sys));
            assertThat(probeFrom(moved, 1)).isEqualTo(p0);
        }
        try (Workqueues e = builder("scope-cpu", CpuTopology.flat(2)).build()) {
            Workqueue perCpu = e.alloc("per-cpu-pods", EnumSet.of(WqFlag.UNBOUND), 0,
                    WorkqueueAttrs.defaults().withAffinityScope(AffinityScope.CPU));
            Workqueue cache = e.alloc("flat-cache", 0, WqFlag.UNBOUND);
            assertThat(currentPoolIds(perCpu)).hasSize(2);
            assertThat(currentPoolIds(cache)).as("flat topology: one cache pod").hasSize(1);
            int p0 = probeFrom(perCpu, 0);
            int p1 = probeFrom(perCpu, 1);
            assertThat(p0).isNotEqualTo(p1);
            assertThat(pool(e, p0).podCpumask()).isEqualTo(CPU0);
            assertThat(pool(e, p1).podCpumask()).isEqualTo(CPU1);
            assertThat(probeFrom(cache, 0)).isEqualTo(probeFrom(cache, 1));
        }
    }

    @Test
    void engineDefaultScopeAppliesToQueuesWithoutOne() {
        try (Workqueues e = builder("scope-default", TWO_CACHE_PODS).defaultAffinityScope(AffinityScope.SYSTEM).build()) {
            assertThat(e.defaultAffinityScope()).isEqualTo(AffinityScope.SYSTEM);
            Workqueue wq = e.alloc("defaulted", 0, WqFlag.UNBOUND);
            assertThat(wq.attrs().affinityScope()).isEqualTo(AffinityScope.SYSTEM);
            assertThat(currentPoolIds(wq)).hasSize(1);
            Workqueue cache = e.alloc("cache", EnumSet.of(WqFlag.UNBOUND), 0,
                    WorkqueueAttrs.defaults().withAffinityScope(AffinityScope.CACHE));
            assertThat(currentPoolIds(cache)).hasSize(2);
        }
    }

    @Test
    void aCpumaskOutsideTheIssuersPodUsesTheQueuesOwnPool() {
        try (Workqueues e = engine("scope-dfl")) {
            Workqueue on1 = e.alloc("on1", EnumSet.of(WqFlag.UNBOUND), 0, WorkqueueAttrs.defaults().withCpumask(CPU1));
            assertThat(currentPoolIds(on1)).hasSize(1);
            int p = probeFrom(on1, 0); // CPU 0's pod has none of the queue's CPUs
            assertThat(pool(e, p).cpumask()).isEqualTo(CPU1);
            assertThat(pool(e, p).podCpumask()).isEqualTo(CPU1);
            assertThat(probeFrom(on1, 1)).isEqualTo(p);
        }
    }

    @Test
    void queuesWithEqualAttributesShareThePodPools() {
        try (Workqueues e = engine("scope-share")) {
            Workqueue a = e.alloc("a", 0, WqFlag.UNBOUND);
            Workqueue b = e.alloc("b", 4, WqFlag.UNBOUND);
            WorkqueueAttrs n3 = new WorkqueueAttrs(3, null);
            Workqueue c = e.alloc("c", EnumSet.of(WqFlag.UNBOUND), 0, n3);
            Workqueue d = e.alloc("d", EnumSet.of(WqFlag.UNBOUND), 0, n3);
            assertThat(currentPoolIds(a)).hasSize(2).isEqualTo(currentPoolIds(b)).isEqualTo(currentPoolIds(e.systemUnboundWq()));
            assertThat(currentPoolIds(c)).hasSize(2).isEqualTo(currentPoolIds(d)).doesNotContainAnyElementsOf(currentPoolIds(a));
            assertThat(probeFrom(a, 1)).isEqualTo(probeFrom(b, 1));
            assertThat(probeFrom(c, 0)).isEqualTo(probeFrom(d, 0));
            // the pwqs are the queues' own
            assertThat(a.currentPwqs()).doesNotContainAnyElementsOf(b.currentPwqs());
            // destroying one keeps the pools of the other
            Set<Integer> shared = currentPoolIds(d);
            c.destroy();
            assertThat(e.pools().stream().map(PoolStats::id).toList()).containsAll(shared);
            assertThat(probeFrom(d, 1)).isIn(shared);
        }
    }

    // ---- max_active across pods -------------------------------------------------------------

    @Test
    void maxActiveIsForTheWholeQueueAcrossPods() throws Exception {
        try (Workqueues e = engine("scope-maxactive")) {
            Workqueue wq = e.alloc("limited", 2, WqFlag.UNBOUND);
            assertThat(currentPoolIds(wq)).hasSize(2);
            for (int cycle = 0; cycle < 5; cycle++) {
                try (Gate g = new Gate()) {
                    runCycle(e, wq, g, cycle);
                }
            }
            assertThat(wq.stats().completed()).isEqualTo(30);
        }
    }

    private void runCycle(Workqueues e, Workqueue wq, Gate g, int cycle) throws InterruptedException {
        List<String> names = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            // even cycles: three from CPU 0, then three from CPU 1; odd cycles: alternating
            int cpu = cycle % 2 == 0 ? (i < 3 ? 0 : 1) : i % 2;
            String name = "c" + cycle + "-cpu" + cpu + "-" + i;
            names.add(name);
            queueFrom(cpu, wq, g.item(name));
        }
        await().until(() -> g.running.get() == 2);
        assertThat(g.startsWithin(names.get(5), 200)).as("a third item started").isFalse();
        assertThat(wq.stats().inactive()).isEqualTo(4);
        for (int k = 1; k <= 6; k++) {
            g.permits.release();
            int doneNow = k;
            int expectRunning = Math.min(2, 6 - k);
            await().alias("cycle " + cycle + " step " + k).until(
                    () -> g.completed.get() == doneNow && g.running.get() == expectRunning);
            assertThat(g.maxRunning.get()).as("items running at once").isLessThanOrEqualTo(2);
        }
        assertThat(g.maxRunning.get()).isEqualTo(2);
        for (String name : names) {
            CpuMask pod = name.contains("-cpu0-") ? CPU0 : CPU1;
            assertThat(pool(e, g.poolOf.get(name)).podCpumask()).as("pod of %s", name).isEqualTo(pod);
        }
        await().until(() -> wq.stats().inFlight() == 0);
    }

    @Test
    void maxActiveIsForTheWholeQueueWhenAllIsReleasedAtOnce() {
        try (Workqueues e = engine("scope-maxactive-burst")) {
            Workqueue wq = e.alloc("burst", 2, WqFlag.UNBOUND);
            for (int cycle = 0; cycle < 10; cycle++) {
                try (Gate g = new Gate()) {
                    for (int i = 0; i < 6; i++) {
                        queueFrom(i % 2, wq, g.item("b" + cycle + "-" + i));
                    }
                    await().until(() -> g.running.get() == 2);
                    g.permits.release(6);
                    await().alias("cycle " + cycle).until(() -> g.completed.get() == 6);
                    assertThat(g.maxRunning.get()).isLessThanOrEqualTo(2);
                }
            }
            await().until(() -> wq.stats().completed() == 60); // recorded just after the item returns
        }
    }

    /**
     * The lock-free slot protocol of {@link UnboundNrActive} under concurrency: producers on both
     * pods queue short items while completions on both pools give slots back, so waiters start to
     * wait while slots are being freed. max_active must hold throughout, every item must run, and
     * afterwards no slot may be lost or left over: max_active blocking items all start, one more
     * does not.
     */
    @Test
    void maxActiveHoldsAndNoSlotIsLostUnderConcurrentQueueingFromBothPods() throws Exception {
        try (Workqueues e = engine("scope-slots"); Gate g = new Gate()) {
            int max = 3;
            Workqueue wq = e.alloc("slots", max, WqFlag.UNBOUND);
            int producers = 4;
            int perProducer = 3_000;
            AtomicInteger running = new AtomicInteger();
            AtomicInteger maxRunning = new AtomicInteger();
            CountDownLatch done = new CountDownLatch(producers * perProducer);
            List<Thread> threads = new ArrayList<>();
            for (int p = 0; p < producers; p++) {
                int cpu = p % 2;
                Thread t = new Thread(() -> {
                    for (int i = 0; i < perProducer; i++) {
                        queueFrom(cpu, wq, new Work("s", () -> {
                            maxRunning.accumulateAndGet(running.incrementAndGet(), Math::max);
                            Thread.onSpinWait();
                            running.decrementAndGet();
                            done.countDown();
                        }));
                    }
                }, "producer-" + p);
                threads.add(t);
                t.start();
            }
            for (Thread t : threads) {
                t.join(TimeUnit.SECONDS.toMillis(60));
                assertThat(t.isAlive()).as("%s still queueing after 60 s", t.getName()).isFalse();
            }
            assertThat(done.await(60, TimeUnit.SECONDS)).as("all %d items ran", producers * perProducer).isTrue();
            assertThat(maxRunning.get()).as("items running at once").isLessThanOrEqualTo(max);
            await().until(() -> wq.stats().inFlight() == 0);
            // every slot came back: max blocking items start (from both pods), one more waits
            for (int i = 0; i <= max; i++) {
                queueFrom(i % 2, wq, g.item("after-" + i));
            }
            await().until(() -> g.running.get() == max);
            assertThat(g.startsWithin("after-" + max, 200)).as("an item beyond max_active started").isFalse();
            g.permits.release(max + 1);
            await().until(() -> g.completed.get() == max + 1);
        }
    }

    @Test
    void raisingMaxActiveStartsWaitingItemsInBothPods() {
        try (Workqueues e = engine("scope-raise"); Gate g = new Gate()) {
            Workqueue wq = e.alloc("raised", 1, WqFlag.UNBOUND);
            for (int i = 0; i < 4; i++) {
                queueFrom(i < 2 ? 0 : 1, wq, g.item("r" + i));
            }
            await().until(() -> g.running.get() == 1);
            assertThat(wq.stats().inactive()).isEqualTo(3);
            wq.setMaxActive(4);
            await().until(() -> g.running.get() == 4);
            assertThat(g.poolOf.values().stream().map(id -> pool(e, id).podCpumask()).collect(Collectors.toSet()))
                    .containsExactlyInAnyOrder(CPU0, CPU1);
            g.permits.release(4);
            await().until(() -> g.completed.get() == 4);
        }
    }

    /**
     * Slots go in queueing order across pods, also when the items go through the pools' lock-free
     * intakes: the first item takes the slot as it is queued, even though its pool (pod {0}) takes
     * it in only after the second item's pool (pod {1}) took that one in. With the slot taken at
     * the drain instead, the second item would start first.
     */
    @Test
    void slotsGoInQueueingOrderAcrossPodsThroughTheIntakes() throws Exception {
        try (Workqueues e = engine("scope-order"); Gate g = new Gate()) {
            Workqueue wq = e.alloc("ordered-slots", 1, WqFlag.UNBOUND);
            WorkerPool pod0 = wq.pwqs().stream().map(p -> p.pool).filter(p -> p.podCpumask.equals(CPU0)).findFirst().orElseThrow();
            CountDownLatch locked = new CountDownLatch(1);
            CountDownLatch unlock = new CountDownLatch(1);
            Thread holder = new Thread(() -> { // holds pod {0}'s lock: its intake is not drained meanwhile
                pod0.lock.lock();
                try {
                    locked.countDown();
                    TestWaits.plainWait(unlock);
                } finally {
                    pod0.lock.unlock();
                }
            });
            holder.start();
            await(locked);
            TestHooks.forceIntake = true;
            try {
                queueFrom(0, wq, g.item("first"));
                queueFrom(1, wq, g.item("second"));
                TestHooks.forceIntake = false;
                assertThat(g.startsWithin("second", 300)).as("second started while first held the only slot").isFalse();
            } finally {
                TestHooks.forceIntake = false;
                unlock.countDown();
            }
            await(g.started.get("first"));
            assertThat(g.hasStarted("second")).isFalse();
            g.permits.release();
            await(g.started.get("second"));
            g.permits.release();
            await().until(() -> g.completed.get() == 2);
            holder.join(30_000);
        }
    }

    @Test
    void loweringMaxActiveHoldsBackWaitingItemsInEveryPod() throws Exception {
        try (Workqueues e = engine("scope-lower"); Gate g = new Gate()) {
            Workqueue wq = e.alloc("lowered", 3, WqFlag.UNBOUND);
            for (int i = 0; i < 6; i++) {
                queueFrom(i < 3 ? 0 : 1, wq, g.item("l" + i));
            }
            await().until(() -> g.running.get() == 3);
            assertThat(wq.stats().inactive()).isEqualTo(3);
            wq.setMaxActive(1);
            assertThat(wq.maxActive()).isEqualTo(1);
            // lowering stops nothing that runs; a finished item's slot must not go to a waiting one
            // while the queue is still over the new limit (the kernel: nr >= max, nothing activated)
            g.permits.release();
            await().until(() -> g.completed.get() == 1);
            assertThat(g.startsWithin("l3", 300)).as("l3 started while 2 items ran with max_active 1").isFalse();
            assertThat(g.running.get()).isEqualTo(2);
            g.permits.release();
            await().until(() -> g.completed.get() == 2);
            assertThat(g.startsWithin("l3", 300)).as("l3 started while 1 item ran with max_active 1").isFalse();
            g.permits.release();
            await().until(() -> g.completed.get() == 3);
            // now under the limit: one at a time
            await().until(() -> g.running.get() == 1);
            for (int k = 4; k <= 6; k++) {
                g.permits.release();
                int doneNow = k;
                await().until(() -> g.completed.get() == doneNow && g.running.get() == (doneNow < 6 ? 1 : 0));
            }
            assertThat(g.poolOf).hasSize(6);
        }
    }

    @Test
    void aCancelledWaiterPassesItsSlotOnToTheOtherPod() {
        try (Workqueues e = engine("scope-cancel"); Gate g = new Gate()) {
            Workqueue wq = e.alloc("cancelling", 1, WqFlag.UNBOUND);
            Work a = g.item("a");
            Work b = g.item("b");
            Work c = g.item("c");
            queueFrom(0, wq, a);
            await().until(() -> g.hasStarted("a"));
            queueFrom(1, wq, b); // pod {1} waits for the slot first
            queueFrom(0, wq, c); // then pod {0}
            assertThat(wq.stats().inactive()).isEqualTo(2);
            assertThat(b.cancel()).isTrue();
            assertThat(wq.stats().inactive()).isEqualTo(1);
            g.permits.release(); // a's slot goes to pod {1}, which has nothing left: on to pod {0}
            await().until(() -> g.hasStarted("c"));
            assertThat(g.hasStarted("b")).isFalse();
            g.permits.release();
            await().until(() -> g.completed.get() == 2 && wq.stats().inFlight() == 0);
            // the slot count is whole again: max_active 1 still lets exactly one run
            Work d = g.item("d");
            Work f = g.item("f");
            queueFrom(1, wq, d);
            queueFrom(0, wq, f);
            await().until(() -> g.running.get() == 1);
            g.permits.release(2);
            await().until(() -> g.completed.get() == 4);
            assertThat(g.maxRunning.get()).isEqualTo(1);
        }
    }

    // ---- freezing ---------------------------------------------------------------------------

    @Test
    void frozenMultiPodQueueStartsNothingUntilThawed() throws Exception {
        try (Workqueues e = engine("scope-freeze"); Gate g = new Gate()) {
            Workqueue wq = e.alloc("freezable", EnumSet.of(WqFlag.UNBOUND, WqFlag.FREEZABLE), 0);
            assertThat(currentPoolIds(wq)).hasSize(2);
            e.freeze();
            for (int i = 0; i < 4; i++) {
                queueFrom(i % 2, wq, g.item("f" + i));
            }
            assertThat(g.startsWithin("f0", 300)).as("an item started while frozen").isFalse();
            for (int i = 0; i < 4; i++) {
                assertThat(g.hasStarted("f" + i)).isFalse();
            }
            assertThat(wq.stats().inactive()).isEqualTo(4);
            // other queues are not frozen
            assertThat(probeFrom(e.alloc("plain", 0, WqFlag.UNBOUND), 1)).isPositive();

            e.thaw();
            await().until(() -> g.running.get() == 4);
            assertThat(g.poolOf.values().stream().map(id -> pool(e, id).podCpumask()).collect(Collectors.toSet()))
                    .containsExactlyInAnyOrder(CPU0, CPU1);
            g.permits.release(4);
            await().until(() -> g.completed.get() == 4);
        }
    }

    @Test
    void freezeThawWithMaxActiveAcrossPods() {
        try (Workqueues e = engine("scope-freeze-limited"); Gate g = new Gate()) {
            Workqueue wq = e.alloc("freezable-limited", EnumSet.of(WqFlag.UNBOUND, WqFlag.FREEZABLE), 2);
            e.freeze();
            for (int i = 0; i < 6; i++) {
                queueFrom(i % 2, wq, g.item("fl" + i));
            }
            e.thaw();
            await().until(() -> g.running.get() == 2);
            for (int k = 1; k <= 6; k++) {
                g.permits.release();
                int doneNow = k;
                await().until(() -> g.completed.get() == doneNow && g.running.get() == Math.min(2, 6 - doneNow));
            }
            assertThat(g.maxRunning.get()).isEqualTo(2);
        }
    }

    // ---- ordered queues ---------------------------------------------------------------------

    @Test
    void orderedQueuesIgnoreTheScope() throws InterruptedException {
        try (Workqueues e = engine("scope-ordered"); Gate g = new Gate()) {
            Workqueue wq = e.allocOrdered("ordered");
            assertThat(currentPoolIds(wq)).hasSize(1);
            int p0 = probeFrom(wq, 0);
            assertThat(probeFrom(wq, 1)).isEqualTo(p0);
            assertThat(probe(wq, 1, true)).isEqualTo(p0);
            assertThat(pool(e, p0).podCpumask()).isEqualTo(BOTH);
            // still one at a time when issued from both pods
            for (int i = 0; i < 4; i++) {
                queueFrom(i % 2, wq, g.item("o" + i));
            }
            await().until(() -> g.running.get() == 1);
            assertThat(g.hasStarted("o0")).isTrue();
            assertThat(g.startsWithin("o1", 200)).as("a second item started").isFalse();
            assertThat(g.hasStarted("o2") || g.hasStarted("o3")).isFalse();
            g.permits.release(4);
            await().until(() -> g.completed.get() == 4);
            assertThat(g.maxRunning.get()).isEqualTo(1);
        }
    }

    // ---- parsing ----------------------------------------------------------------------------

    @Test
    void parseTakesSysfsNamesAndDefault() {
        assertThat(AffinityScope.parse("numa")).isEqualTo(AffinityScope.NUMA);
        assertThat(AffinityScope.parse(" CPU ")).isEqualTo(AffinityScope.CPU);
        assertThat(AffinityScope.parse("default")).isEqualTo(AffinityScope.DEFAULT).isEqualTo(AffinityScope.CACHE);
        for (AffinityScope s : AffinityScope.values()) {
            assertThat(AffinityScope.parse(s.sysfsName())).isEqualTo(s);
        }
        assertThatThrownBy(() -> AffinityScope.parse("socket"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'socket'")
                .hasMessageContaining("cpu, smt, cache, numa, system, default");
        assertThatThrownBy(() -> AffinityScope.parse(null)).isInstanceOf(IllegalArgumentException.class);
    }
}
