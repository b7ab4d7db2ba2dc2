package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Worker placement through the {@link ThreadPlacement} SPI, with a fake placement that records
 * what each worker thread asked for: per-CPU and unbound workers take their pool's CPUs and nice,
 * failures are reported in {@link PoolStats} and logged once, the fallback calls nothing, and the
 * engine's CPU numbers and default CPU locator follow an enforced placement.
 */
@Timeout(120)
class PlacementTest {
    private static final Pattern PER_CPU_NAME = Pattern.compile("kworker/(\\d+):\\d+(H?)(-.*)?");
    private static final Pattern UNBOUND_NAME = Pattern.compile("kworker/u(\\d+):\\d+(-.*)?");

    /**
     * A placement that acts on nothing but records, per calling thread, the last cpumask and nice
     * it was asked for; it can refuse negative nice levels ({@code EACCES}) and chosen cpumasks
     * ({@code EINVAL}), and reports a settable CPU as the caller's.
     */
    static final class FakePlacement implements ThreadPlacement {
        final boolean enforced;
        /** The last cpumask each thread asked for (refused or not). */
        final Map<Thread, CpuMask> askedAffinity = new ConcurrentHashMap<>();
        /** The last nice each thread asked for (refused or not). */
        final Map<Thread, Integer> askedNice = new ConcurrentHashMap<>();
        /** The nice each thread has after its last successful setNice (0 if none). */
        final Map<Thread, Integer> niceNow = new ConcurrentHashMap<>();
        final AtomicInteger currentCpuCalls = new AtomicInteger();
        final AtomicInteger getAffinityCalls = new AtomicInteger();
        final AtomicInteger setAffinityCalls = new AtomicInteger();
        final AtomicInteger getNiceCalls = new AtomicInteger();
        final AtomicInteger setNiceCalls = new AtomicInteger();
        final AtomicInteger tidCalls = new AtomicInteger();
        final AtomicInteger failedNiceCalls = new AtomicInteger();
        volatile boolean failNegativeNice;
        volatile Predicate<CpuMask> failAffinity = m -> false;
        volatile int fixedCpu = -1;

        FakePlacement(boolean enforced) {
            this.enforced = enforced;
        }

        int totalCalls() {
            return currentCpuCalls.get() + getAffinityCalls.get() + setAffinityCalls.get() + getNiceCalls.get()
                    + setNiceCalls.get() + tidCalls.get();
        }

        @Override
        public boolean enforced() {
            return enforced;
        }

        @Override
        public String description() {
            return "fake placement (enforced=" + enforced + ")";
        }

        @Override
        public int currentCpu() {
            currentCpuCalls.incrementAndGet();
            return fixedCpu;
        }

        @Override
        public CpuMask getAffinity() {
            getAffinityCalls.incrementAndGet();
            return CpuMask.all(2);
        }

        @Override
        public String setAffinity(CpuMask mask) {
            setAffinityCalls.incrementAndGet();
            askedAffinity.put(Thread.currentThread(), mask);
            return failAffinity.test(mask) ? "EINVAL" : null;
        }

        @Override
        public int getNice() {
            getNiceCalls.incrementAndGet();
            return niceNow.getOrDefault(Thread.currentThread(), 0);
        }

        @Override
        public String setNice(int nice) {
            setNiceCalls.incrementAndGet();
            askedNice.put(Thread.currentThread(), nice);
            if (failNegativeNice && nice < 0) {
                failedNiceCalls.incrementAndGet();
                return "EACCES";
            }
            niceNow.put(Thread.currentThread(), nice);
            return null;
        }

        @Override
        public long tid() {
            tidCalls.incrementAndGet();
            return -1;
        }
    }

    // ---- helpers ----------------------------------------------------------------------------

    private static Workqueues.Builder builder(String name, ThreadPlacement p) {
        return Workqueues.builder().cpus(2).name(name).placement(p).topology(CpuTopology.flat(2))
                .monitorInterval(Duration.ZERO);
    }

    /** Runs a probe on {@code wq} (on {@code cpu}, or the caller's CPU if null) and returns the thread that ran it. */
    private static Thread probe(Workqueue wq, Integer cpu) {
        AtomicReference<Thread> t = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(1);
        Work w = new Work("probe", () -> {
            t.set(Thread.currentThread());
            done.countDown();
        });
        assertThat(cpu == null ? wq.queue(w) : wq.queueOn(cpu, w)).isTrue();
        await(done);
        return t.get();
    }

    /** {@code n} items on {@code cpu} of {@code wq} running at once (blocking in the hook); returns their threads. */
    private static List<Thread> concurrentProbes(Workqueue wq, int cpu, int n) {
        List<Thread> threads = new CopyOnWriteArrayList<>();
        CountDownLatch started = new CountDownLatch(n);
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch done = new CountDownLatch(n);
        for (int i = 0; i < n; i++) {
            assertThat(wq.queueOn(cpu, new Work("concurrent-" + i, () -> {
                threads.add(Thread.currentThread());
                started.countDown();
                hookWait(release);
                done.countDown();
            }))).isTrue();
        }
        await(started);
        release.countDown();
        await(done);
        return new ArrayList<>(threads);
    }

    private static PoolStats pool(Workqueues e, int id) {
        return e.pools().stream().filter(p -> p.id() == id).findFirst()
                .orElseThrow(() -> new AssertionError("no pool " + id + " in " + e.pools()));
    }

    private static PoolStats cpuPool(Workqueues e, int cpu, boolean highpri) {
        String kind = highpri ? "cpu-highpri" : "cpu";
        return e.pools().stream().filter(p -> p.cpu() == cpu && p.kind().equals(kind)).findFirst()
                .orElseThrow(() -> new AssertionError("no " + kind + " pool of cpu " + cpu + " in " + e.pools()));
    }

    private static int unboundPoolId(Thread t) {
        Matcher m = UNBOUND_NAME.matcher(t.getName());
        assertThat(m.matches()).as("unbound worker name: %s", t.getName()).isTrue();
        return Integer.parseInt(m.group(1));
    }

    private static int cpuOf(Thread t) {
        Matcher m = PER_CPU_NAME.matcher(t.getName());
        assertThat(m.matches()).as("per-CPU worker name: %s", t.getName()).isTrue();
        return Integer.parseInt(m.group(1));
    }

    // ---- per-CPU pools ----------------------------------------------------------------------

    @Test
    void perCpuWorkersArePinnedToTheirCpuAtTheirPoolsNice() {
        FakePlacement fake = new FakePlacement(true);
        List<Thread> seen = new ArrayList<>();
        try (Workqueues e = builder("place-cpu", fake).build()) {
            assertThat(e.placement()).isSameAs(fake);
            for (int cpu = 0; cpu < 2; cpu++) {
                for (Thread t : concurrentProbes(e.systemWq(), cpu, 2)) {
                    assertThat(cpuOf(t)).isEqualTo(cpu);
                    assertThat(fake.askedAffinity.get(t)).as("affinity of %s", t.getName()).isEqualTo(CpuMask.of(cpu));
                    assertThat(fake.askedNice.get(t)).as("nice of %s", t.getName()).isEqualTo(0);
                    seen.add(t);
                }
                for (Thread t : concurrentProbes(e.systemHighpriWq(), cpu, 2)) {
                    assertThat(cpuOf(t)).isEqualTo(cpu);
                    assertThat(t.getName()).as("highpri worker name").contains("H");
                    assertThat(fake.askedAffinity.get(t)).as("affinity of %s", t.getName()).isEqualTo(CpuMask.of(cpu));
                    assertThat(fake.askedNice.get(t)).as("nice of %s", t.getName()).isEqualTo(WorkqueueAttrs.HIGHPRI_NICE);
                    seen.add(t);
                }
            }
            assertThat(seen.stream().distinct().count()).as("two workers per pool ran the probes").isEqualTo(8);
            for (int cpu = 0; cpu < 2; cpu++) {
                PoolStats normal = cpuPool(e, cpu, false);
                PoolStats high = cpuPool(e, cpu, true);
                assertThat(normal.enforced()).isTrue();
                assertThat(normal.effectiveNice()).isZero();
                assertThat(normal.cpumask()).isEqualTo(CpuMask.of(cpu));
                assertThat(high.enforced()).isTrue();
                assertThat(high.nice()).isEqualTo(-20);
                assertThat(high.effectiveNice()).isEqualTo(-20);
            }
            assertThat(e.systemWq().placementEnforced()).isTrue();
            assertThat(e.systemHighpriWq().placementEnforced()).isTrue();
        }
        // Every thread that placed itself is a per-CPU worker of the right CPU and priority; after
        // close every worker has finished placing itself.
        assertThat(fake.askedAffinity).isNotEmpty();
        for (Map.Entry<Thread, CpuMask> en : fake.askedAffinity.entrySet()) {
            Matcher m = PER_CPU_NAME.matcher(en.getKey().getName());
            if (!m.matches()) {
                assertThat(en.getKey().getName()).as("only workers place themselves").startsWith("kworker/u");
                continue;
            }
            int cpu = Integer.parseInt(m.group(1));
            assertThat(en.getValue()).as("affinity of %s", en.getKey().getName()).isEqualTo(CpuMask.of(cpu));
            assertThat(fake.askedNice.get(en.getKey())).as("nice of %s", en.getKey().getName())
                    .isEqualTo(m.group(2).isEmpty() ? 0 : -20);
        }
    }

    // ---- unbound pools ----------------------------------------------------------------------

    @Test
    void unboundWorkersTakeTheQueuesCpumaskAndNice() {
        FakePlacement fake = new FakePlacement(true);
        try (Workqueues e = builder("place-unbound", fake).build()) {
            Workqueue wq = e.alloc("nice5", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(5, CpuMask.of(1)));
            Thread t = probe(wq, null);
            int id = unboundPoolId(t);
            assertThat(fake.askedAffinity.get(t)).isEqualTo(CpuMask.of(1));
            assertThat(fake.askedNice.get(t)).isEqualTo(5);
            PoolStats p = pool(e, id);
            assertThat(p.kind()).isEqualTo("unbound");
            assertThat(p.cpumask()).isEqualTo(CpuMask.of(1));
            assertThat(p.nice()).isEqualTo(5);
            assertThat(p.enforced()).isTrue();
            assertThat(p.effectiveNice()).isEqualTo(5);
            assertThat(wq.placementEnforced()).isTrue();
            assertThat(wq.effectiveCpumask()).isEqualTo(CpuMask.of(1));
        }
    }

    @Test
    void podWorkersArePinnedToTheCpumaskOrStrictlyToThePod() {
        FakePlacement fake = new FakePlacement(true);
        CpuTopology twoPods = CpuTopology.of(2, Map.of(AffinityScope.CACHE, List.of(CpuMask.of(0), CpuMask.of(1))));
        try (Workqueues e = Workqueues.builder().cpus(2).name("place-pods").placement(fake).topology(twoPods)
                .monitorInterval(Duration.ZERO).build()) {
            Workqueue loose = e.alloc("loose", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(1, null));
            Workqueue strict = e.alloc("strict", EnumSet.of(WqFlag.UNBOUND), 0,
                    new WorkqueueAttrs(1, null).withAffinityStrict(true));
            for (int cpu = 0; cpu < 2; cpu++) {
                Thread l = probe(loose, cpu);
                assertThat(fake.askedAffinity.get(l)).as("non-strict pod %s", cpu).isEqualTo(CpuMask.of(0, 1));
                assertThat(pool(e, unboundPoolId(l)).podCpumask()).isEqualTo(CpuMask.of(cpu));
                Thread s = probe(strict, cpu);
                assertThat(fake.askedAffinity.get(s)).as("strict pod %s", cpu).isEqualTo(CpuMask.of(cpu));
                assertThat(fake.askedNice.get(s)).isEqualTo(1);
                assertThat(pool(e, unboundPoolId(s)).enforced()).isTrue();
            }
            // after a move, the new pool's workers take the new attributes
            loose.applyAttrs(new WorkqueueAttrs(6, CpuMask.of(0)));
            Thread moved = probe(loose, 1);
            assertThat(fake.askedAffinity.get(moved)).isEqualTo(CpuMask.of(0));
            assertThat(fake.askedNice.get(moved)).isEqualTo(6);
            assertThat(pool(e, unboundPoolId(moved)).effectiveNice()).isEqualTo(6);
        }
    }

    @Test
    void cpusBeyondTheOnlineOnesAreNotPlaced() {
        CpuMask allowed = ProcStat.processCpusAllowed();
        if (allowed == null) {
            allowed = CpuMask.all(2);
        }
        int offline = allowed.last() + 1; // a CPU number the process may not use
        FakePlacement fake = new FakePlacement(true);
        try (WorkerLifecycleTest.LogCapture log = new WorkerLifecycleTest.LogCapture(Workqueues.class, Level.INFO)) {
            try (Workqueues e = Workqueues.builder().cpus(offline + 1).name("place-offline").placement(fake)
                    .topology(CpuTopology.flat(offline + 1)).monitorInterval(Duration.ZERO).build()) {
                assertThat(e.onlineCpus()).isEqualTo(allowed);
                assertThat(e.possibleCpus()).isEqualTo(CpuMask.all(offline + 1));
                Thread t = probe(e.systemWq(), offline);
                assertThat(cpuOf(t)).isEqualTo(offline);
                assertThat(fake.askedAffinity).as("no affinity asked for the offline CPU's worker").doesNotContainKey(t);
                assertThat(fake.askedNice.get(t)).isEqualTo(0);
                assertThat(cpuPool(e, offline, false).enforced()).isFalse();
                assertThat(cpuPool(e, allowed.first(), false).enforced()).isTrue();
                assertThat(e.systemWq().placementEnforced()).isFalse();
                // an unbound queue only on the offline CPU is refused
                assertThatThrownBy(() -> e.alloc("offline", EnumSet.of(WqFlag.UNBOUND), 0,
                        new WorkqueueAttrs(0, CpuMask.of(offline))))
                        .isInstanceOf(IllegalArgumentException.class)
                        .hasMessageContaining("no online CPU");
                // the engine-wide unbound mask is the online CPUs
                Thread u = probe(e.systemUnboundWq(), null);
                assertThat(fake.askedAffinity.get(u)).isEqualTo(allowed);
            }
            assertThat(log.messages(Level.INFO)).anyMatch(m -> m.contains("cannot pin") && m.contains("is online"));
        }
    }

    // ---- failures ---------------------------------------------------------------------------

    @Test
    void niceFailureIsReportedPerPoolAndLoggedOnce() {
        FakePlacement fake = new FakePlacement(true);
        fake.failNegativeNice = true;
        try (WorkerLifecycleTest.LogCapture log = new WorkerLifecycleTest.LogCapture(Workqueues.class, Level.INFO)) {
            try (Workqueues e = builder("place-nice", fake).build()) {
                // several highpri pools (both CPUs and an unbound one), several workers each
                Workqueue unboundHigh = e.alloc("unbound-high", 0, WqFlag.UNBOUND, WqFlag.HIGHPRI);
                Workqueue nice5 = e.alloc("nice5", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(5, null));
                List<Thread> highWorkers = new ArrayList<>();
                for (int cpu = 0; cpu < 2; cpu++) {
                    highWorkers.addAll(concurrentProbes(e.systemHighpriWq(), cpu, 2));
                    concurrentProbes(e.systemWq(), cpu, 2);
                }
                highWorkers.addAll(concurrentProbes(unboundHigh, 0, 3));
                Thread t5 = probe(nice5, null);
                for (Thread t : highWorkers) {
                    assertThat(fake.askedNice.get(t)).isEqualTo(-20);
                }
                assertThat(fake.failedNiceCalls.get()).as("refused setNice calls").isGreaterThanOrEqualTo(highWorkers.size());
                for (int cpu = 0; cpu < 2; cpu++) {
                    PoolStats high = cpuPool(e, cpu, true);
                    assertThat(high.nice()).isEqualTo(-20);
                    assertThat(high.effectiveNice()).as("effective nice of %s", high).isZero();
                    assertThat(high.enforced()).as("enforced of %s", high).isFalse();
                    PoolStats normal = cpuPool(e, cpu, false);
                    assertThat(normal.effectiveNice()).isZero();
                    assertThat(normal.enforced()).as("enforced of %s", normal).isTrue();
                }
                PoolStats uh = pool(e, unboundPoolId(highWorkers.get(highWorkers.size() - 1)));
                assertThat(uh.nice()).isEqualTo(-20);
                assertThat(uh.effectiveNice()).isZero();
                assertThat(uh.enforced()).isFalse();
                assertThat(unboundHigh.placementEnforced()).isFalse();
                assertThat(e.systemHighpriWq().placementEnforced()).isFalse();
                assertThat(e.systemWq().placementEnforced()).isTrue();
                PoolStats p5 = pool(e, unboundPoolId(t5));
                assertThat(p5.effectiveNice()).isEqualTo(5);
                assertThat(p5.enforced()).isTrue();
                assertThat(nice5.placementEnforced()).isTrue();
            }
            // after close every worker has placed itself (and logged, if it was going to)
            List<String> niceLines = log.messages(Level.INFO).stream().filter(m -> m.contains("cannot set nice")).toList();
            assertThat(niceLines).as("INFO lines about nice").hasSize(1);
            assertThat(niceLines.get(0)).contains("-20").contains("EACCES").contains("CAP_SYS_NICE");
            assertThat(log.messages(Level.INFO)).noneMatch(m -> m.contains("cannot pin"));
        }
    }

    @Test
    void affinityFailureMakesThePoolAndItsQueuesUnenforced() {
        FakePlacement fake = new FakePlacement(true);
        fake.failAffinity = m -> m.equals(CpuMask.of(1));
        try (WorkerLifecycleTest.LogCapture log = new WorkerLifecycleTest.LogCapture(Workqueues.class, Level.INFO)) {
            try (Workqueues e = builder("place-affinity", fake).build()) {
                Workqueue on1 = e.alloc("on1", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(0, CpuMask.of(1)));
                Workqueue on0 = e.alloc("on0", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(0, CpuMask.of(0)));
                Thread t1 = probe(on1, null);
                Thread t0 = probe(on0, null);
                probe(e.systemWq(), 0);
                probe(e.systemWq(), 1);
                PoolStats p1 = pool(e, unboundPoolId(t1));
                PoolStats p0 = pool(e, unboundPoolId(t0));
                assertThat(p1.enforced()).isFalse();
                assertThat(p1.effectiveNice()).isZero();
                assertThat(on1.placementEnforced()).isFalse();
                assertThat(p0.enforced()).isTrue();
                assertThat(on0.placementEnforced()).isTrue();
                assertThat(cpuPool(e, 1, false).enforced()).isFalse();
                assertThat(cpuPool(e, 0, false).enforced()).isTrue();
                assertThat(e.systemWq().placementEnforced()).as("cpu 1's pool of system_wq is not placed").isFalse();
            }
            List<String> pinLines = log.messages(Level.INFO).stream().filter(m -> m.contains("cannot pin")).toList();
            assertThat(pinLines).as("one line for the refused cpumask [1]").hasSize(1);
            assertThat(pinLines.get(0)).contains("EINVAL");
        }
    }

    // ---- the fallback -----------------------------------------------------------------------

    @Test
    void unavailablePlacementReportsRecordedAttributesOnly() {
        try (Workqueues e = builder("place-fallback", ThreadPlacement.unavailable("test")).build()) {
            Workqueue wq = e.alloc("nice7", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(7, CpuMask.of(0)));
            probe(wq, null);
            probe(e.systemHighpriWq(), 1);
            assertThat(e.placement().enforced()).isFalse();
            assertThat(e.placement().description()).isEqualTo("test");
            for (PoolStats p : e.pools()) {
                assertThat(p.enforced()).as("enforced of pool %s", p.id()).isFalse();
                assertThat(p.effectiveNice()).as("effective nice of pool %s", p.id()).isEqualTo(p.nice());
            }
            assertThat(e.pools()).anyMatch(p -> p.nice() == 7 && p.effectiveNice() == 7);
            assertThat(e.pools()).anyMatch(p -> p.nice() == -20 && p.effectiveNice() == -20);
            assertThat(wq.placementEnforced()).isFalse();
            assertThat(e.systemWq().placementEnforced()).isFalse();
        }
    }

    @Test
    void anUnenforcedPlacementIsNeverCalled() {
        FakePlacement fake = new FakePlacement(false);
        try (Workqueues e = Workqueues.builder().name("place-counting").placement(fake).topology(CpuTopology.flat(2))
                .cpus(2).build()) {
            Workqueue u = e.alloc("u", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(3, CpuMask.of(1)));
            Workqueue rescued = e.alloc("reclaim", 0, WqFlag.UNBOUND, WqFlag.MEM_RECLAIM);
            probe(u, null);
            probe(rescued, null);
            probe(e.systemWq(), null); // the caller's CPU: the locator must not ask the placement
            probe(e.systemWq(), 1);
            probe(e.systemHighpriWq(), null);
            concurrentProbes(e.systemUnboundWq(), 0, 3);
            for (PoolStats p : e.pools()) {
                assertThat(p.enforced()).isFalse();
                assertThat(p.effectiveNice()).isEqualTo(p.nice());
            }
        }
        assertThat(fake.totalCalls()).as("calls to an unenforced placement (currentCpu %s, getAffinity %s, setAffinity %s, "
                + "getNice %s, setNice %s, tid %s)", fake.currentCpuCalls, fake.getAffinityCalls, fake.setAffinityCalls,
                fake.getNiceCalls, fake.setNiceCalls, fake.tidCalls).isZero();
    }

    // ---- engine CPUs and the CPU locator ----------------------------------------------------

    @Test
    void enforcedPlacementWithoutCpusUsesTheMachinesCpuNumbers() {
        FakePlacement fake = new FakePlacement(true);
        CpuMask allowed = ProcStat.processCpusAllowed();
        if (allowed == null) {
            allowed = CpuMask.all(2); // what the fake's getAffinity reports
        }
        int expected = Math.max(Runtime.getRuntime().availableProcessors(), allowed.last() + 1);
        try (Workqueues e = Workqueues.builder().name("place-cpus").placement(fake).monitorInterval(Duration.ZERO).build()) {
            assertThat(e.cpus()).isEqualTo(expected);
            assertThat(e.possibleCpus()).isEqualTo(CpuMask.all(expected));
            assertThat(e.onlineCpus()).isEqualTo(allowed.and(CpuMask.all(expected)));
            assertThat(e.unboundCpumask()).isEqualTo(e.onlineCpus());
            assertThat(e.topology().cpus()).isEqualTo(expected);
            assertThat(e.pools().stream().filter(p -> !p.kind().equals("unbound")).count()).isEqualTo(2L * expected);
        }
        // cpus set explicitly wins, and online CPUs are cut to it
        try (Workqueues e = Workqueues.builder().name("place-cpus1").placement(fake).cpus(1).monitorInterval(Duration.ZERO).build()) {
            assertThat(e.cpus()).isEqualTo(1);
            CpuMask online = allowed.and(CpuMask.all(1));
            assertThat(e.onlineCpus()).isEqualTo(online.isEmpty() ? CpuMask.all(1) : online);
        }
    }

    @Test
    void defaultCpuLocatorAsksAnEnforcedPlacement() {
        FakePlacement fake = new FakePlacement(true);
        fake.fixedCpu = 1;
        try (Workqueues e = builder("place-locator", fake).build()) {
            for (int i = 0; i < 3; i++) {
                Thread t = probe(e.systemWq(), null);
                assertThat(t.getName()).startsWith("kworker/1:");
            }
            int calls = fake.currentCpuCalls.get();
            assertThat(calls).isGreaterThanOrEqualTo(3);
            fake.fixedCpu = 0;
            Thread t = probe(e.systemHighpriWq(), null);
            assertThat(t.getName()).startsWith("kworker/0:").contains("H");
            assertThat(fake.currentCpuCalls.get()).isGreaterThan(calls);
            fake.fixedCpu = -1; // unknown: CPU 0
            assertThat(probe(e.systemWq(), null).getName()).startsWith("kworker/0:");
        }
    }
}
