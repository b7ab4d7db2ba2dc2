package dev.cmwq.workqueue.linux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cmwq.workqueue.AffinityScope;
import dev.cmwq.workqueue.CpuMask;
import dev.cmwq.workqueue.PoolStats;
import dev.cmwq.workqueue.ThreadPlacement;
import dev.cmwq.workqueue.Work;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.WorkqueueAttrs;
import dev.cmwq.workqueue.Workqueues;
import dev.cmwq.workqueue.WqFlag;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The engine with the real native placement: worker threads' CPU affinity and nice, read back from
 * {@code /proc/self/task/<tid>/status} and {@code /stat}, match the attributes, also after changes
 * at run time. Needs Linux, 2 online CPUs, and native access (the module's Surefire argLine).
 */
class NativePlacementEngineTest {

    @BeforeAll
    static void linuxWithTwoCpusAndNativeAccess() {
        assumeTrue(Files.isDirectory(Path.of("/proc/self/task")), "needs Linux procfs");
        assumeTrue(ThreadPlacement.load().enforced(), "needs native placement: " + ThreadPlacement.load().description());
        CpuMask allowed = ThreadPlacement.load().getAffinity();
        assumeTrue(allowed != null && allowed.contains(0) && allowed.contains(1), "needs CPUs 0 and 1, have " + allowed);
    }

    /** What a worker saw of itself while running an item. */
    record Seen(String thread, long tid, String cpusAllowed, int nice, int cpu) {
    }

    private static Workqueues engine(String name) {
        return Workqueues.builder().name(name).build();
    }

    /** An item that completes {@code f} with what its worker saw of itself. */
    private static Work seeing(String name, CompletableFuture<Seen> f) {
        return new Work(name, () -> {
            try {
                f.complete(self());
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        });
    }

    private static Seen probeOn(Workqueue wq, int cpu) throws Exception {
        CompletableFuture<Seen> f = new CompletableFuture<>();
        Work w = seeing("probe", f);
        if (cpu < 0) {
            wq.queue(w);
        } else {
            wq.queueOn(cpu, w);
        }
        return f.get(60, TimeUnit.SECONDS);
    }

    private static Seen probe(Workqueue wq) throws Exception {
        return probeOn(wq, -1);
    }

    /** Reads the calling thread's affinity and nice from procfs. */
    static Seen self() throws IOException {
        long tid = Long.parseLong(Files.readSymbolicLink(Path.of("/proc/thread-self")).getFileName().toString());
        return new Seen(Thread.currentThread().getName(), tid, cpusAllowedList(tid), nice(tid), ThreadPlacement.load().currentCpu());
    }

    static String cpusAllowedList(long tid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/task/" + tid + "/status"))) {
            if (line.startsWith("Cpus_allowed_list:")) {
                return line.substring("Cpus_allowed_list:".length()).trim();
            }
        }
        throw new IOException("no Cpus_allowed_list for " + tid);
    }

    /** Field 19 of /proc/.../stat, counted after the ')' that ends the command name. */
    static int nice(long tid) throws IOException {
        String stat = Files.readString(Path.of("/proc/self/task/" + tid + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Integer.parseInt(f[19 - 3]); // f[0] is field 3 (state)
    }

    /** Runs {@code body} on a fresh platform thread pinned to {@code cpu}. */
    private static <T> T onThreadPinnedTo(int cpu, java.util.concurrent.Callable<T> body) throws Exception {
        AtomicReference<Object> out = new AtomicReference<>();
        Thread t = Thread.ofPlatform().name("issuer-on-" + cpu).start(() -> {
            try {
                String err = ThreadPlacement.load().setAffinity(CpuMask.of(cpu));
                if (err != null) {
                    throw new IllegalStateException(err);
                }
                out.set(body.call());
            } catch (Throwable e) {
                out.set(e);
            }
        });
        t.join(TimeUnit.SECONDS.toMillis(90));
        Object r = out.get();
        if (r instanceof Throwable e) {
            throw new AssertionError("issuer thread failed", e);
        }
        @SuppressWarnings("unchecked")
        T v = (T) r;
        return v;
    }

    @Test
    void boundWorkersArePinnedToTheirCpuAndHighpriOnesRunAtNiceMinus20() throws Exception {
        try (Workqueues e = engine("native-bound")) {
            assertThat(e.placement().enforced()).isTrue();
            for (int cpu = 0; cpu < 2; cpu++) {
                Seen s = probeOn(e.systemWq(), cpu);
                assertThat(s.thread()).startsWith("kworker/" + cpu + ":");
                assertThat(s.cpusAllowed()).isEqualTo(Integer.toString(cpu));
                assertThat(s.cpu()).isEqualTo(cpu);
                assertThat(s.nice()).isZero();

                Seen h = probeOn(e.systemHighpriWq(), cpu);
                assertThat(h.thread()).matches("kworker/" + cpu + ":\\d+H.*");
                assertThat(h.cpusAllowed()).isEqualTo(Integer.toString(cpu));
                PoolStats hp = e.pools().stream().filter(p -> p.kind().equals("cpu-highpri") && p.cpu() == 0).findFirst().orElseThrow();
                // root (or CAP_SYS_NICE) gets -20; otherwise the pool says what it got
                assertThat(h.nice()).isEqualTo(hp.effectiveNice());
                assertThat(hp.enforced()).isEqualTo(hp.effectiveNice() == -20);
            }
            assertThat(e.pools().stream().filter(p -> p.kind().equals("cpu")).allMatch(PoolStats::enforced)).isTrue();
        }
    }

    @Test
    void aBoundItemGoesToThePoolOfTheCpuItsIssuerRunsOn() throws Exception {
        try (Workqueues e = engine("native-issuer")) {
            for (int cpu = 0; cpu < 2; cpu++) {
                Seen s = onThreadPinnedTo(cpu, () -> probe(e.systemWq()));
                assertThat(s.thread()).startsWith("kworker/" + cpu + ":");
                assertThat(s.cpusAllowed()).isEqualTo(Integer.toString(cpu));
            }
        }
    }

    @Test
    void anItemQueuedByABoundWorkerGoesToThatWorkersPool() throws Exception {
        // A pinned worker's CPU is its pool's CPU: its queueings take sched_getcpu's answer.
        try (Workqueues e = engine("native-chain")) {
            Workqueue wq = e.systemWq();
            for (int cpu = 0; cpu < 2; cpu++) {
                CompletableFuture<Seen> second = new CompletableFuture<>();
                Work follow = seeing("follow-up", second);
                wq.queueOn(cpu, new Work("first", () -> wq.queue(follow)));
                Seen s = second.get(60, TimeUnit.SECONDS);
                assertThat(s.thread()).startsWith("kworker/" + cpu + ":");
                assertThat(s.cpu()).isEqualTo(cpu);
            }
        }
    }

    @Test
    void unboundWorkersTakeTheCpumaskAndNiceAlsoAfterAChangeAtRunTime() throws Exception {
        try (Workqueues e = engine("native-unbound")) {
            Workqueue wq = e.alloc("placed", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(5, CpuMask.of(1)));
            Seen s = probe(wq);
            assertThat(s.thread()).startsWith("kworker/u");
            assertThat(s.cpusAllowed()).isEqualTo("1");
            assertThat(s.nice()).isEqualTo(5);
            assertThat(s.cpu()).isEqualTo(1);
            assertThat(wq.placementEnforced()).isTrue();

            wq.applyAttrs(new WorkqueueAttrs(3, CpuMask.of(0)));
            Seen t = probe(wq);
            assertThat(t.cpusAllowed()).isEqualTo("0");
            assertThat(t.nice()).isEqualTo(3);
            assertThat(t.tid()).isNotEqualTo(s.tid());

            wq.applyAttrs(new WorkqueueAttrs(0, null));
            assertThat(probe(wq).cpusAllowed()).isEqualTo("0-1");

            // a mask with no online CPU is refused and nothing changes
            assertThatThrownBy(() -> wq.applyAttrs(new WorkqueueAttrs(0, CpuMask.of(63))))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("63").hasMessageContaining("online");
            assertThat(probe(wq).cpusAllowed()).isEqualTo("0-1");
        }
    }

    @Test
    void theUnboundCpumaskRestrictsEveryUnboundPool() throws Exception {
        try (Workqueues e = engine("native-mask")) {
            Workqueue on0 = e.alloc("on0", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(0, CpuMask.of(0)));
            Workqueue ordered = e.allocOrdered("ordered");
            assertThat(probe(e.systemUnboundWq()).cpusAllowed()).isEqualTo("0-1");
            assertThat(probe(on0).cpusAllowed()).isEqualTo("0");

            e.setUnboundCpumask(CpuMask.of(1));
            assertThat(e.unboundCpumask()).isEqualTo(CpuMask.of(1));
            assertThat(probe(e.systemUnboundWq()).cpusAllowed()).isEqualTo("1");
            assertThat(probe(ordered).cpusAllowed()).isEqualTo("1");
            // its own mask has no CPU left in the unbound mask: the whole unbound mask, as the kernel does
            assertThat(probe(on0).cpusAllowed()).isEqualTo("1");
            // bound pools are not affected
            assertThat(probeOn(e.systemWq(), 0).cpusAllowed()).isEqualTo("0");

            assertThatThrownBy(() -> e.setUnboundCpumask(CpuMask.of(40, 41))).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("40-41");
            assertThat(e.unboundCpumask()).isEqualTo(CpuMask.of(1));

            e.setUnboundCpumask(CpuMask.of(0, 1));
            assertThat(probe(on0).cpusAllowed()).isEqualTo("0");
            assertThat(probe(e.systemUnboundWq()).cpusAllowed()).isEqualTo("0-1");
        }
    }

    @Test
    void affinityScopeCpuSendsAnItemToThePodOfItsIssuerAndStrictConfinesTheWorkers() throws Exception {
        try (Workqueues e = engine("native-scope")) {
            Workqueue strict = e.alloc("strict", EnumSet.of(WqFlag.UNBOUND), 0,
                    new WorkqueueAttrs(0, null, AffinityScope.CPU, true));
            Workqueue loose = e.alloc("loose", EnumSet.of(WqFlag.UNBOUND), 0,
                    new WorkqueueAttrs(0, null, AffinityScope.CPU, false));
            for (int cpu = 0; cpu < 2; cpu++) {
                Seen s = onThreadPinnedTo(cpu, () -> probe(strict));
                assertThat(s.cpusAllowed()).isEqualTo(Integer.toString(cpu));
                Seen l = onThreadPinnedTo(cpu, () -> probe(loose));
                assertThat(l.cpusAllowed()).isEqualTo("0-1");
                String poolId = l.thread().substring("kworker/u".length(), l.thread().indexOf(':'));
                PoolStats pool = e.pools().stream().filter(p -> p.id() == Integer.parseInt(poolId)).findFirst().orElseThrow();
                assertThat(pool.podCpumask()).isEqualTo(CpuMask.of(cpu));
                assertThat(pool.cpumask()).isEqualTo(CpuMask.of(0, 1));
            }
        }
    }

    @Test
    void workersLeftIdleKeepTheirPlacement() throws Exception {
        try (Workqueues e = Workqueues.builder().name("native-idle").idleTimeout(Duration.ofSeconds(300)).build()) {
            Seen s = probeOn(e.systemWq(), 1);
            // read again from outside while the worker idles
            assertThat(cpusAllowedList(s.tid())).isEqualTo("1");
        }
    }
}
