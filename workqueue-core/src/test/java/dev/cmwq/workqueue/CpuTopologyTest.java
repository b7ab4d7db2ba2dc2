package dev.cmwq.workqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@link CpuTopology}: pods per affinity scope from a fake /sys, explicit pods, and this machine. */
@Timeout(60)
class CpuTopologyTest {

    @TempDir
    Path sys;

    // ---- a fake /sys/devices/system

    private void write(String relative, String content) throws IOException {
        Path p = sys.resolve(relative);
        Files.createDirectories(p.getParent());
        Files.writeString(p, content + "\n");
    }

    private void siblings(int cpu, String list) throws IOException {
        write("cpu/cpu" + cpu + "/topology/thread_siblings_list", list);
    }

    private void coreCpus(int cpu, String list) throws IOException {
        write("cpu/cpu" + cpu + "/topology/core_cpus_list", list);
    }

    private void cache(int cpu, int index, String level, String type, String shared) throws IOException {
        String dir = "cpu/cpu" + cpu + "/cache/index" + index + "/";
        write(dir + "level", level);
        write(dir + "type", type);
        write(dir + "shared_cpu_list", shared);
    }

    /** L1d, L1i and L2 private to the core {@code core}, and the L3 {@code l3}. */
    private void caches(int cpu, String core, String l3) throws IOException {
        cache(cpu, 0, "1", "Data", core);
        cache(cpu, 1, "1", "Instruction", core);
        cache(cpu, 2, "2", "Unified", core);
        cache(cpu, 3, "3", "Unified", l3);
    }

    private void node(int node, String cpulist) throws IOException {
        write("node/node" + node + "/cpulist", cpulist);
    }

    private static List<String> pods(CpuTopology t, AffinityScope scope) {
        return t.pods(scope).stream().map(CpuMask::toList).toList();
    }

    private static List<String> podOfEach(CpuTopology t, AffinityScope scope) {
        List<String> l = new ArrayList<>();
        for (int c = 0; c < t.cpus(); c++) {
            l.add(t.podOf(scope, c).toList());
        }
        return l;
    }

    private static List<String> each(int n, String pod) {
        return Collections.nCopies(n, pod);
    }

    // ---- /sys layouts

    @Test
    void fourCpusTwoSmtCoresOneLlcOneNode() throws IOException {
        // Intel numbering: CPU n and n+2 are the two threads of core n
        for (int c = 0; c < 4; c++) {
            String core = (c % 2 == 0) ? "0,2" : "1,3";
            siblings(c, core);
            caches(c, core, "0-3");
        }
        node(0, "0-3");

        CpuTopology t = CpuTopology.read(sys, 4);

        assertThat(t.cpus()).isEqualTo(4);
        assertThat(pods(t, AffinityScope.CPU)).containsExactly("0", "1", "2", "3");
        assertThat(pods(t, AffinityScope.SMT)).containsExactly("0,2", "1,3");
        assertThat(pods(t, AffinityScope.CACHE)).containsExactly("0-3");
        assertThat(pods(t, AffinityScope.NUMA)).containsExactly("0-3");
        assertThat(pods(t, AffinityScope.SYSTEM)).containsExactly("0-3");
        assertThat(podOfEach(t, AffinityScope.CPU)).containsExactly("0", "1", "2", "3");
        assertThat(podOfEach(t, AffinityScope.SMT)).containsExactly("0,2", "1,3", "0,2", "1,3");
        assertThat(podOfEach(t, AffinityScope.CACHE)).isEqualTo(each(4, "0-3"));
        assertThat(podOfEach(t, AffinityScope.NUMA)).isEqualTo(each(4, "0-3"));
        assertThat(podOfEach(t, AffinityScope.SYSTEM)).isEqualTo(each(4, "0-3"));
        assertThat(t.toString()).isEqualTo("cpu: 0 | 1 | 2 | 3; smt: 0,2 | 1,3; cache: 0-3; numa: 0-3; system: 0-3");
    }

    @Test
    void eightCpusTwoSocketsTwoLlcsTwoNodes() throws IOException {
        for (int c = 0; c < 8; c++) {
            String core = (c & ~1) + "-" + (c | 1);
            // core_cpus_list is preferred; thread_siblings_list says something else to prove it
            coreCpus(c, core);
            siblings(c, String.valueOf(c));
            caches(c, core, c < 4 ? "0-3" : "4-7");
        }
        node(0, "0-3");
        node(1, "4-7");

        CpuTopology t = CpuTopology.read(sys, 8);

        assertThat(pods(t, AffinityScope.CPU)).hasSize(8);
        assertThat(pods(t, AffinityScope.SMT)).containsExactly("0-1", "2-3", "4-5", "6-7");
        assertThat(pods(t, AffinityScope.CACHE)).containsExactly("0-3", "4-7");
        assertThat(pods(t, AffinityScope.NUMA)).containsExactly("0-3", "4-7");
        assertThat(pods(t, AffinityScope.SYSTEM)).containsExactly("0-7");
        assertThat(podOfEach(t, AffinityScope.SMT))
                .containsExactly("0-1", "0-1", "2-3", "2-3", "4-5", "4-5", "6-7", "6-7");
        assertThat(podOfEach(t, AffinityScope.CACHE))
                .containsExactly("0-3", "0-3", "0-3", "0-3", "4-7", "4-7", "4-7", "4-7");
        assertThat(podOfEach(t, AffinityScope.NUMA))
                .containsExactly("0-3", "0-3", "0-3", "0-3", "4-7", "4-7", "4-7", "4-7");
        assertThat(t.podOf(AffinityScope.CPU, 5)).isEqualTo(CpuMask.of(5));
        assertThat(t.podOf(AffinityScope.SYSTEM, 5)).isEqualTo(CpuMask.all(8));
    }

    @Test
    void fewerCpusThanTheMachineCutsEveryGroup() throws IOException {
        for (int c = 0; c < 8; c++) {
            siblings(c, (c & ~1) + "-" + (c | 1));
            caches(c, (c & ~1) + "-" + (c | 1), c < 4 ? "0-3" : "4-7");
        }
        node(0, "0-3");
        node(1, "4-7");

        CpuTopology t = CpuTopology.read(sys, 3);

        assertThat(pods(t, AffinityScope.SMT)).containsExactly("0-1", "2");
        assertThat(pods(t, AffinityScope.CACHE)).containsExactly("0-2");
        assertThat(pods(t, AffinityScope.NUMA)).containsExactly("0-2");
        assertThat(pods(t, AffinityScope.SYSTEM)).containsExactly("0-2");
    }

    @Test
    void l3PerCcxGivesTwoCachePodsInOneNode() throws IOException {
        // AMD Zen: 8 cores, 2 threads each (n and n+8 are siblings), one L3 per 4-core CCX
        for (int c = 0; c < 16; c++) {
            int core = c % 8;
            String threads = core + "," + (core + 8);
            coreCpus(c, threads);
            caches(c, threads, core < 4 ? "0-3,8-11" : "4-7,12-15");
        }
        node(0, "0-15");

        CpuTopology t = CpuTopology.read(sys, 16);

        assertThat(pods(t, AffinityScope.SMT)).containsExactly(
                "0,8", "1,9", "2,10", "3,11", "4,12", "5,13", "6,14", "7,15");
        assertThat(pods(t, AffinityScope.CACHE)).containsExactly("0-3,8-11", "4-7,12-15");
        assertThat(pods(t, AffinityScope.NUMA)).containsExactly("0-15");
        assertThat(t.podOf(AffinityScope.CACHE, 9).toList()).isEqualTo("0-3,8-11");
        assertThat(t.podOf(AffinityScope.CACHE, 12).toList()).isEqualTo("4-7,12-15");
        assertThat(t.podOf(AffinityScope.SMT, 13).toList()).isEqualTo("5,13");
    }

    @Test
    void cpuWithoutCacheDirIsItsOwnCachePod() throws IOException {
        for (int c = 0; c < 4; c++) {
            siblings(c, String.valueOf(c));
            if (c != 2) {
                caches(c, String.valueOf(c), "0-3");
            }
        }
        node(0, "0-3");

        CpuTopology t = CpuTopology.read(sys, 4);

        // CPU 2 is in CPU 0's L3 as CPU 0 sees it, but /sys says nothing about CPU 2's caches
        assertThat(pods(t, AffinityScope.CACHE)).containsExactly("0-1,3", "2");
        assertThat(t.podOf(AffinityScope.CACHE, 2)).isEqualTo(CpuMask.of(2));
        assertThat(t.podOf(AffinityScope.CACHE, 3).toList()).isEqualTo("0-1,3");
        assertThat(pods(t, AffinityScope.SMT)).containsExactly("0", "1", "2", "3");
    }

    @Test
    void noCacheDirsAtAllGivesOnePodPerCpu() throws IOException {
        for (int c = 0; c < 4; c++) {
            siblings(c, c < 2 ? "0-1" : "2-3");
        }
        node(0, "0-3");

        CpuTopology t = CpuTopology.read(sys, 4);

        assertThat(pods(t, AffinityScope.CACHE)).containsExactly("0", "1", "2", "3");
        assertThat(pods(t, AffinityScope.SMT)).containsExactly("0-1", "2-3");
        assertThat(pods(t, AffinityScope.NUMA)).containsExactly("0-3");
    }

    @Test
    void noNodeDirGivesOneNumaPod() throws IOException {
        for (int c = 0; c < 4; c++) {
            siblings(c, String.valueOf(c));
            caches(c, String.valueOf(c), c < 2 ? "0-1" : "2-3");
        }

        CpuTopology t = CpuTopology.read(sys, 4);

        assertThat(pods(t, AffinityScope.NUMA)).containsExactly("0-3");
        assertThat(podOfEach(t, AffinityScope.NUMA)).isEqualTo(each(4, "0-3"));
        assertThat(pods(t, AffinityScope.CACHE)).containsExactly("0-1", "2-3");
    }

    @Test
    void cpusNoNodeListsJoinNodeZero() throws IOException {
        for (int c = 0; c < 6; c++) {
            siblings(c, String.valueOf(c));
        }
        node(0, "0-1");
        node(1, "2-3");
        // a memory-only node: empty cpulist
        node(2, "");

        CpuTopology t = CpuTopology.read(sys, 6);

        assertThat(pods(t, AffinityScope.NUMA)).containsExactly("0-1,4-5", "2-3");
        assertThat(t.podOf(AffinityScope.NUMA, 5).toList()).isEqualTo("0-1,4-5");
    }

    @Test
    void garbledFilesFallBackWithoutThrowing() throws IOException {
        // SMT: core_cpus_list garbled -> thread_siblings_list; both garbled -> own pod
        coreCpus(0, "banana");
        siblings(0, "0-1");
        siblings(1, "0-1");
        coreCpus(2, "2-");
        siblings(2, "3-2");
        siblings(3, "");
        write("cpu/cpu3/topology/core_cpus_list", "\u00ff\u00fe"); // not a list either

        // CACHE: cpu0 has a garbled level on its L3 index, so its L2 (0-1) is the highest it knows;
        // cpu1 has two level-3 entries, the Unified one wins; cpu2's L3 list is garbled; cpu3 is fine
        cache(0, 0, "1", "Data", "0");
        cache(0, 2, "2", "Unified", "0-1");
        cache(0, 3, "three", "Unified", "0-3");
        cache(1, 3, "3", "Data", "1");
        cache(1, 4, "3", "Unified", "0-3");
        cache(1, 5, "3", "Instruction", "1");
        cache(2, 3, "3", "Unified", "0-3,x");
        cache(3, 3, "3", "Unified", "0-3");

        // NUMA: node1's list is garbled, so CPUs 2-3 fall to node 0; a stray file in node/ is ignored
        node(0, "0-1");
        node(1, "2-3 please");
        write("node/possible", "0-1");
        write("node/nodeX/cpulist", "2-3");

        CpuTopology t = CpuTopology.read(sys, 4);

        assertThat(pods(t, AffinityScope.SMT)).containsExactly("0-1", "2", "3");
        // cpu1 joins cpu0 (cpu0's 0-1 holds it); cpu2 is undescribed; cpu3 joins cpu1 (1's 0-3 holds 3)
        assertThat(pods(t, AffinityScope.CACHE)).containsExactly("0-1,3", "2");
        assertThat(pods(t, AffinityScope.NUMA)).containsExactly("0-3");
        assertThat(pods(t, AffinityScope.SYSTEM)).containsExactly("0-3");
    }

    @Test
    void podsFollowTheKernelWalkWhenGroupsDisagree() throws IOException {
        // not symmetric: 0 says {0,1}, 1 says {1,2}, 2 says {2}; the kernel puts 2 with 1, and 1 with 0
        siblings(0, "0-1");
        siblings(1, "1-2");
        siblings(2, "2");
        siblings(3, "3");
        // groups that do not hold their own CPU: 3 is in 0's group, so it joins 0 though its own
        // group is {1}; 2's group {7} is empty once cut to 0..3, so 2 is a pod of its own
        cache(0, 0, "3", "Unified", "0,3");
        cache(1, 0, "3", "Unified", "1");
        cache(2, 0, "3", "Unified", "7");
        cache(3, 0, "3", "Unified", "1");

        CpuTopology t = CpuTopology.read(sys, 4);

        assertThat(pods(t, AffinityScope.SMT)).containsExactly("0-2", "3");
        assertThat(pods(t, AffinityScope.CACHE)).containsExactly("0,3", "1", "2");
    }

    @Test
    void moreCpusThanSysDescribes() throws IOException {
        // this machine's shape: 2 CPUs, no SMT, one L3, one node
        for (int c = 0; c < 2; c++) {
            coreCpus(c, String.valueOf(c));
            siblings(c, String.valueOf(c));
            caches(c, String.valueOf(c), "0-1");
        }
        node(0, "0-1");

        CpuTopology t = CpuTopology.read(sys, 4);

        assertThat(pods(t, AffinityScope.CPU)).containsExactly("0", "1", "2", "3");
        assertThat(pods(t, AffinityScope.SMT)).containsExactly("0", "1", "2", "3");
        assertThat(pods(t, AffinityScope.CACHE)).containsExactly("0-1", "2", "3");
        assertThat(pods(t, AffinityScope.NUMA)).containsExactly("0-3");
        assertThat(pods(t, AffinityScope.SYSTEM)).containsExactly("0-3");
        assertThat(t.podOf(AffinityScope.CACHE, 3)).isEqualTo(CpuMask.of(3));

        CpuTopology two = CpuTopology.read(sys, 2);
        assertThat(two.toString()).isEqualTo("cpu: 0 | 1; smt: 0 | 1; cache: 0-1; numa: 0-1; system: 0-1");
    }

    @Test
    void emptyOrMissingSysTree() throws IOException {
        // the directory exists but describes nothing
        CpuTopology empty = CpuTopology.read(sys, 3);
        assertThat(pods(empty, AffinityScope.SMT)).containsExactly("0", "1", "2");
        assertThat(pods(empty, AffinityScope.CACHE)).containsExactly("0", "1", "2");
        assertThat(pods(empty, AffinityScope.NUMA)).containsExactly("0-2");

        // no directory at all (not Linux): flat
        CpuTopology none = CpuTopology.read(sys.resolve("does-not-exist"), 3);
        assertThat(none.toString()).isEqualTo(CpuTopology.flat(3).toString());
        assertThat(pods(none, AffinityScope.CACHE)).containsExactly("0-2");
    }

    // ---- flat and of

    @Test
    void flatTopology() {
        CpuTopology t = CpuTopology.flat(4);
        assertThat(t.cpus()).isEqualTo(4);
        assertThat(pods(t, AffinityScope.CPU)).containsExactly("0", "1", "2", "3");
        assertThat(pods(t, AffinityScope.SMT)).containsExactly("0", "1", "2", "3");
        assertThat(pods(t, AffinityScope.CACHE)).containsExactly("0-3");
        assertThat(pods(t, AffinityScope.NUMA)).containsExactly("0-3");
        assertThat(pods(t, AffinityScope.SYSTEM)).containsExactly("0-3");
        assertThat(t.podOf(AffinityScope.SMT, 3)).isEqualTo(CpuMask.of(3));
        assertThat(t.podOf(AffinityScope.NUMA, 3)).isEqualTo(CpuMask.all(4));

        CpuTopology one = CpuTopology.flat(1);
        for (AffinityScope s : AffinityScope.values()) {
            assertThat(one.pods(s)).containsExactly(CpuMask.of(0));
            assertThat(one.podOf(s, 0)).isEqualTo(CpuMask.of(0));
        }
        assertThat(one.toString()).isEqualTo("cpu: 0; smt: 0; cache: 0; numa: 0; system: 0");
    }

    @Test
    void explicitPodsAreSortedAndMissingScopesAreFlat() {
        CpuTopology t = CpuTopology.of(4, Map.of(
                AffinityScope.CACHE, List.of(CpuMask.parseList("2-3"), CpuMask.parseList("0-1")),
                AffinityScope.SMT, List.of(CpuMask.parseList("1,3"), CpuMask.parseList("0,2"))));

        assertThat(pods(t, AffinityScope.CACHE)).containsExactly("0-1", "2-3");
        assertThat(pods(t, AffinityScope.SMT)).containsExactly("0,2", "1,3");
        assertThat(pods(t, AffinityScope.NUMA)).containsExactly("0-3");
        assertThat(pods(t, AffinityScope.CPU)).containsExactly("0", "1", "2", "3");
        assertThat(pods(t, AffinityScope.SYSTEM)).containsExactly("0-3");
        assertThat(podOfEach(t, AffinityScope.SMT)).containsExactly("0,2", "1,3", "0,2", "1,3");
        assertThat(podOfEach(t, AffinityScope.CACHE)).containsExactly("0-1", "0-1", "2-3", "2-3");

        // the fixed scopes may be given as what they are anyway
        CpuTopology same = CpuTopology.of(2, Map.of(
                AffinityScope.CPU, List.of(CpuMask.of(1), CpuMask.of(0)),
                AffinityScope.SYSTEM, List.of(CpuMask.all(2))));
        assertThat(same.toString()).isEqualTo("cpu: 0 | 1; smt: 0 | 1; cache: 0-1; numa: 0-1; system: 0-1");
    }

    @Test
    void podListsCannotBeModified() {
        List<CpuMask> given = new ArrayList<>(List.of(CpuMask.of(0), CpuMask.of(1)));
        CpuTopology t = CpuTopology.of(2, new EnumMap<>(Map.of(AffinityScope.NUMA, given)));
        given.set(0, CpuMask.of(1));
        assertThat(pods(t, AffinityScope.NUMA)).containsExactly("0", "1");
        assertThatThrownBy(() -> t.pods(AffinityScope.NUMA).clear()).isInstanceOf(UnsupportedOperationException.class);
    }

    @Test
    void explicitPodsOverlapping() {
        assertThatThrownBy(() -> CpuTopology.of(2, Map.of(
                AffinityScope.SMT, List.of(CpuMask.parseList("0-1"), CpuMask.of(1)))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("affinity scope smt: pods 0-1 and 1 overlap");
        assertThatThrownBy(() -> CpuTopology.of(4, Map.of(
                AffinityScope.NUMA, List.of(CpuMask.parseList("2-3"), CpuMask.of(0), CpuMask.parseList("1,3")))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("affinity scope numa: pods 1,3 and 2-3 overlap");
    }

    @Test
    void explicitPodsWithAGap() {
        assertThatThrownBy(() -> CpuTopology.of(4, Map.of(
                AffinityScope.CACHE, List.of(CpuMask.of(0), CpuMask.of(3)))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("affinity scope cache")
                .hasMessageContaining("CPUs 1-2 are in no pod");
        assertThatThrownBy(() -> CpuTopology.of(2, Map.of(AffinityScope.NUMA, List.of())))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("affinity scope numa")
                .hasMessageContaining("CPUs 0-1 are in no pod");
    }

    @Test
    void explicitPodsOutOfRange() {
        assertThatThrownBy(() -> CpuTopology.of(4, Map.of(
                AffinityScope.NUMA, List.of(CpuMask.parseList("0-1"), CpuMask.parseList("2-4")))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("affinity scope numa: pod 2-4 is outside CPUs 0-3");
    }

    @Test
    void explicitEmptyPod() {
        assertThatThrownBy(() -> CpuTopology.of(2, Map.of(
                AffinityScope.SMT, List.of(CpuMask.parseList("0-1"), CpuMask.of()))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("affinity scope smt: pod at index 1 is empty");
    }

    @Test
    void explicitCpuAndSystemScopesAreFixed() {
        assertThatThrownBy(() -> CpuTopology.of(2, Map.of(AffinityScope.CPU, List.of(CpuMask.all(2)))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("affinity scope cpu: pods must be one per CPU, got 0-1");
        assertThatThrownBy(() -> CpuTopology.of(2, Map.of(AffinityScope.SYSTEM, List.of(CpuMask.of(0), CpuMask.of(1)))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("affinity scope system: pods must be one pod of all CPUs 0-1, got 0 | 1");
    }

    @Test
    void badCpuCountsAndCpus() {
        assertThatThrownBy(() -> CpuTopology.flat(0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("cpus=0");
        assertThatThrownBy(() -> CpuTopology.of(-3, Map.of()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("cpus=-3");
        assertThatThrownBy(() -> CpuTopology.detect(0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("cpus=0");
        assertThatThrownBy(() -> CpuTopology.read(sys, 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("cpus=0");

        CpuTopology t = CpuTopology.flat(4);
        assertThatThrownBy(() -> t.podOf(AffinityScope.CACHE, 4))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("cpu 4 out of range 0..3");
        assertThatThrownBy(() -> t.podOf(AffinityScope.CPU, -1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("cpu -1 out of range 0..3");
    }

    // ---- this machine

    @Test
    void detectOnThisMachine() throws IOException {
        Path real = Path.of("/sys/devices/system");
        Assumptions.assumeTrue(Files.isDirectory(real.resolve("cpu/cpu0")), "no Linux /sys/devices/system/cpu/cpu0");
        int n = Runtime.getRuntime().availableProcessors();

        CpuTopology t = CpuTopology.detect(n);

        assertThat(t.cpus()).isEqualTo(n);
        CpuMask all = CpuMask.all(n);
        for (AffinityScope s : AffinityScope.values()) {
            CpuMask seen = CpuMask.of();
            int last = -1;
            for (CpuMask pod : t.pods(s)) {
                assertThat(pod.isEmpty()).as("%s pod empty", s).isFalse();
                assertThat(pod.intersects(seen)).as("%s pod %s overlaps", s, pod).isFalse();
                assertThat(pod.first()).as("%s pods ordered", s).isGreaterThan(last);
                last = pod.first();
                seen = seen.or(pod);
                for (int c : pod.cpus()) {
                    assertThat(t.podOf(s, c)).isEqualTo(pod);
                }
            }
            assertThat(seen).as("%s covers all CPUs", s).isEqualTo(all);
        }
        assertThat(t.pods(AffinityScope.SYSTEM)).containsExactly(all);
        assertThat(t.pods(AffinityScope.CPU)).hasSize(n);

        // where /sys describes a CPU and its group is consistent, the pod is that group cut to 0..n-1
        AtomicInteger checked = new AtomicInteger();
        for (int c = 0; c < n; c++) {
            Path topo = real.resolve("cpu/cpu" + c + "/topology");
            CpuMask smt = readList(topo.resolve("core_cpus_list"));
            if (smt == null) {
                smt = readList(topo.resolve("thread_siblings_list"));
            }
            if (smt != null && smt.contains(c)) {
                assertThat(t.podOf(AffinityScope.SMT, c)).as("smt pod of cpu %d", c).isEqualTo(smt.and(all));
                checked.incrementAndGet();
            }
            CpuMask llc = llcOf(real.resolve("cpu/cpu" + c + "/cache"));
            if (llc != null && llc.contains(c)) {
                assertThat(t.podOf(AffinityScope.CACHE, c)).as("cache pod of cpu %d", c).isEqualTo(llc.and(all));
                checked.incrementAndGet();
            }
        }
        try (var nodes = Files.list(real.resolve("node"))) {
            for (Path node : nodes.filter(p -> p.getFileName().toString().matches("node\\d+")).toList()) {
                CpuMask list = readList(node.resolve("cpulist"));
                if (list != null && !list.and(all).isEmpty()) {
                    CpuMask mine = list.and(all);
                    assertThat(mine.isSubsetOf(t.podOf(AffinityScope.NUMA, mine.first())))
                            .as("numa pod holds %s", node).isTrue();
                    checked.incrementAndGet();
                }
            }
        } catch (IOException e) {
            // no node directory: NUMA is one pod
            assertThat(t.pods(AffinityScope.NUMA)).containsExactly(all);
        }
        assertThat(checked.get()).isPositive();
    }

    private static CpuMask readList(Path file) {
        try {
            String s = Files.readString(file).strip();
            return s.isEmpty() ? CpuMask.of() : CpuMask.parseList(s);
        } catch (IOException | IllegalArgumentException e) {
            return null;
        }
    }

    /** The shared_cpu_list of the highest-level cache (Unified on a tie). */
    private static CpuMask llcOf(Path cacheDir) {
        if (!Files.isDirectory(cacheDir)) {
            return null;
        }
        try (var indexes = Files.list(cacheDir)) {
            Path best = null;
            int bestLevel = -1;
            boolean bestUnified = false;
            for (Path index : indexes.filter(p -> p.getFileName().toString().matches("index\\d+")).sorted().toList()) {
                int level = Integer.parseInt(Files.readString(index.resolve("level")).strip());
                boolean unified = Files.readString(index.resolve("type")).strip().equals("Unified");
                if (level > bestLevel || (level == bestLevel && unified && !bestUnified)) {
                    best = index;
                    bestLevel = level;
                    bestUnified = unified;
                }
            }
            return best == null ? null : readList(best.resolve("shared_cpu_list"));
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
