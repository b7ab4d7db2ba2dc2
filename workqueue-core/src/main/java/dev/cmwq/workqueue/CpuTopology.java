package dev.cmwq.workqueue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The CPU topology the affinity scopes are made of (the kernel's {@code wq_pod_types}): for each
 * {@link AffinityScope}, the CPUs {@code 0..cpus-1} split into disjoint, non-empty pods that cover
 * all of them, ordered by their lowest CPU.
 *
 * <p>Where {@link #detect} takes each scope from (under {@code /sys/devices/system}):
 * <ul>
 *   <li>{@link AffinityScope#CPU}: one pod per CPU.</li>
 *   <li>{@link AffinityScope#SMT}: {@code cpu/cpuN/topology/core_cpus_list}, or
 *       {@code thread_siblings_list} on kernels without it.</li>
 *   <li>{@link AffinityScope#CACHE}: {@code cpu/cpuN/cache/indexI/shared_cpu_list} of the index
 *       with the highest {@code level} (on a tie, the one whose {@code type} is {@code Unified}).</li>
 *   <li>{@link AffinityScope#NUMA}: {@code node/nodeK/cpulist}.</li>
 *   <li>{@link AffinityScope#SYSTEM}: one pod with every CPU.</li>
 * </ul>
 * Pods are built as the kernel's {@code init_pod_type()} does: walking the CPUs in order, a CPU
 * joins the pod of the first earlier CPU whose group contains it, else it starts a new pod. Every
 * group is cut to {@code 0..cpus-1}. A CPU that /sys does not describe (file missing, unreadable
 * or garbled, or a CPU beyond those of the machine) is a pod of its own for SMT and CACHE, and is
 * in node 0's pod for NUMA (so with no node information at all NUMA is one pod of every CPU).
 * Reading never throws; what was missing is logged at DEBUG.
 *
 * <p>Instances are immutable and thread-safe; {@link #podOf} is a table lookup.
 */
public final class CpuTopology {
    private static final Logger log = LoggerFactory.getLogger(CpuTopology.class);

    private static final Path SYS_DEVICES_SYSTEM = Path.of("/sys/devices/system");
    private static final Pattern INDEX_DIR = Pattern.compile("index(\\d{1,9})");
    private static final Pattern NODE_DIR = Pattern.compile("node(\\d{1,9})");
    private static final AffinityScope[] SCOPES = AffinityScope.values();

    private final int cpus;
    /** By scope ordinal: the pods, ordered by lowest CPU (unmodifiable). */
    private final List<List<CpuMask>> pods;
    /** By scope ordinal: CPU to index into that scope's pods. */
    private final int[][] podIndex;

    private CpuTopology(int cpus, Map<AffinityScope, List<CpuMask>> byScope) {
        this.cpus = cpus;
        List<List<CpuMask>> p = new ArrayList<>(SCOPES.length);
        int[][] idx = new int[SCOPES.length][];
        for (AffinityScope s : SCOPES) {
            List<CpuMask> list = byScope.get(s);
            int[] map = new int[cpus];
            for (int i = 0; i < list.size(); i++) {
                for (int c : list.get(i).cpus()) {
                    map[c] = i;
                }
            }
            p.add(List.copyOf(list));
            idx[s.ordinal()] = map;
        }
        this.pods = List.copyOf(p);
        this.podIndex = idx;
    }

    /**
     * The topology of this machine for CPUs {@code 0..cpus-1}, from {@code /sys/devices/system};
     * {@link #flat} where there is no such directory (not Linux).
     *
     * @throws IllegalArgumentException if {@code cpus < 1}
     */
    public static CpuTopology detect(int cpus) {
        checkCpus(cpus);
        return read(SYS_DEVICES_SYSTEM, cpus);
    }

    /**
     * Reads {@code <sysDevicesSystem>/cpu/...} and {@code <sysDevicesSystem>/node/...}; {@link #flat}
     * if {@code sysDevicesSystem} is not a directory.
     */
    static CpuTopology read(Path sysDevicesSystem, int cpus) {
        checkCpus(cpus);
        Objects.requireNonNull(sysDevicesSystem, "sysDevicesSystem");
        if (!isDirectory(sysDevicesSystem)) {
            log.debug("cpu topology: {} is not a directory, using the flat topology", sysDevicesSystem);
            return flat(cpus);
        }
        Path cpuDir = sysDevicesSystem.resolve("cpu");
        CpuMask range = CpuMask.all(cpus);
        CpuMask[] smt = new CpuMask[cpus];
        CpuMask[] cache = new CpuMask[cpus];
        for (int c = 0; c < cpus; c++) {
            Path dir = cpuDir.resolve("cpu" + c);
            CpuMask s = readSmtGroup(dir);
            smt[c] = s == null ? null : s.and(range);
            CpuMask l = readLlcGroup(dir);
            cache[c] = l == null ? null : l.and(range);
        }
        Map<AffinityScope, List<CpuMask>> byScope = new HashMap<>();
        byScope.put(AffinityScope.CPU, perCpu(cpus));
        byScope.put(AffinityScope.SMT, podsFromGroups(cpus, smt));
        byScope.put(AffinityScope.CACHE, podsFromGroups(cpus, cache));
        byScope.put(AffinityScope.NUMA, podsFromNodes(cpus, readNodeOf(sysDevicesSystem.resolve("node"), cpus)));
        byScope.put(AffinityScope.SYSTEM, List.of(range));
        CpuTopology t = new CpuTopology(cpus, byScope);
        log.debug("cpu topology from {}: {}", sysDevicesSystem, t);
        return t;
    }

    /**
     * A topology without /sys: one pod per CPU for cpu and smt, one pod of all CPUs for cache, numa
     * and system.
     *
     * @throws IllegalArgumentException if {@code cpus < 1}
     */
    public static CpuTopology flat(int cpus) {
        return of(cpus, Map.of());
    }

    /**
     * Explicit pods (tests, other OSes). The pods of each given scope may come in any order and must
     * be non-empty, disjoint, inside {@code 0..cpus-1} and cover all of it. Scopes not given are
     * derived as in {@link #flat}. {@link AffinityScope#CPU} is always one pod per CPU and
     * {@link AffinityScope#SYSTEM} one pod of all CPUs; if given, they must be just that.
     *
     * @throws IllegalArgumentException naming the scope and the offending pod if the pods are not a
     *     partition of {@code 0..cpus-1}, or if {@code cpus < 1}
     */
    public static CpuTopology of(int cpus, Map<AffinityScope, List<CpuMask>> pods) {
        checkCpus(cpus);
        Objects.requireNonNull(pods, "pods");
        CpuMask range = CpuMask.all(cpus);
        Map<AffinityScope, List<CpuMask>> byScope = new HashMap<>();
        byScope.put(AffinityScope.CPU, perCpu(cpus));
        byScope.put(AffinityScope.SMT, perCpu(cpus));
        byScope.put(AffinityScope.CACHE, List.of(range));
        byScope.put(AffinityScope.NUMA, List.of(range));
        byScope.put(AffinityScope.SYSTEM, List.of(range));
        for (Map.Entry<AffinityScope, List<CpuMask>> e : pods.entrySet()) {
            AffinityScope scope = Objects.requireNonNull(e.getKey(), "affinity scope");
            List<CpuMask> given = validate(scope, cpus, e.getValue());
            if ((scope == AffinityScope.CPU || scope == AffinityScope.SYSTEM) && !given.equals(byScope.get(scope))) {
                throw new IllegalArgumentException("affinity scope " + scope.sysfsName() + ": pods must be "
                        + (scope == AffinityScope.CPU ? "one per CPU" : "one pod of all CPUs " + range)
                        + ", got " + join(given));
            }
            byScope.put(scope, given);
        }
        return new CpuTopology(cpus, byScope);
    }

    /** The number of CPUs, {@code 0..cpus-1}. */
    public int cpus() {
        return cpus;
    }

    /** The pods of {@code scope}, ordered by their lowest CPU (unmodifiable). */
    public List<CpuMask> pods(AffinityScope scope) {
        return pods.get(Objects.requireNonNull(scope, "scope").ordinal());
    }

    /**
     * The pod of {@code scope} that holds {@code cpu}.
     *
     * @throws IllegalArgumentException if {@code cpu} is not in {@code 0..cpus-1}
     */
    public CpuMask podOf(AffinityScope scope, int cpu) {
        Objects.requireNonNull(scope, "scope");
        if (cpu < 0 || cpu >= cpus) {
            throw new IllegalArgumentException("cpu " + cpu + " out of range 0.." + (cpus - 1));
        }
        return pods.get(scope.ordinal()).get(podIndex[scope.ordinal()][cpu]);
    }

    /** E.g. {@code cpu: 0 | 1; smt: 0 | 1; cache: 0-1; numa: 0-1; system: 0-1}. */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        for (AffinityScope s : SCOPES) {
            if (!sb.isEmpty()) {
                sb.append("; ");
            }
            sb.append(s.sysfsName()).append(": ").append(join(pods(s)));
        }
        return sb.toString();
    }

    // ---- building pods

    private static void checkCpus(int cpus) {
        if (cpus < 1) {
            throw new IllegalArgumentException("a CPU topology needs at least one CPU, got cpus=" + cpus);
        }
    }

    private static String join(List<CpuMask> pods) {
        return pods.stream().map(CpuMask::toList).collect(Collectors.joining(" | "));
    }

    private static List<CpuMask> perCpu(int cpus) {
        List<CpuMask> l = new ArrayList<>(cpus);
        for (int c = 0; c < cpus; c++) {
            l.add(CpuMask.of(c));
        }
        return l;
    }

    /**
     * The kernel's {@code init_pod_type()}: CPU {@code cur} joins the pod of the first {@code pre <
     * cur} whose group contains it, else starts a pod. A CPU without a group (null) is its own pod.
     */
    private static List<CpuMask> podsFromGroups(int cpus, CpuMask[] groups) {
        // owner[c]: the first earlier CPU whose group holds c, or -1
        int[] owner = new int[cpus];
        Arrays.fill(owner, -1);
        for (int pre = 0; pre < cpus; pre++) {
            if (groups[pre] == null) {
                continue;
            }
            for (int c : groups[pre].cpus()) {
                if (c > pre && owner[c] < 0 && groups[c] != null) {
                    owner[c] = pre;
                }
            }
        }
        int[] pod = new int[cpus];
        List<CpuMask> pods = new ArrayList<>();
        for (int cur = 0; cur < cpus; cur++) {
            if (owner[cur] < 0) {
                pod[cur] = pods.size();
                pods.add(CpuMask.of(cur));
            } else {
                pod[cur] = pod[owner[cur]];
                pods.set(pod[cur], pods.get(pod[cur]).or(CpuMask.of(cur)));
            }
        }
        return pods;
    }

    /** CPUs on the same node share a pod (the kernel's {@code cpus_share_numa()}). */
    private static List<CpuMask> podsFromNodes(int cpus, int[] nodeOf) {
        Map<Integer, Integer> podOfNode = new HashMap<>();
        List<CpuMask> pods = new ArrayList<>();
        for (int c = 0; c < cpus; c++) {
            Integer p = podOfNode.get(nodeOf[c]);
            if (p == null) {
                podOfNode.put(nodeOf[c], pods.size());
                pods.add(CpuMask.of(c));
            } else {
                pods.set(p, pods.get(p).or(CpuMask.of(c)));
            }
        }
        return pods;
    }

    private static List<CpuMask> validate(AffinityScope scope, int cpus, List<CpuMask> given) {
        String name = scope.sysfsName();
        Objects.requireNonNull(given, () -> "pods of affinity scope " + name);
        List<CpuMask> sorted = new ArrayList<>(given.size());
        for (int i = 0; i < given.size(); i++) {
            CpuMask m = Objects.requireNonNull(given.get(i), "a pod of affinity scope " + name);
            if (m.isEmpty()) {
                throw new IllegalArgumentException("affinity scope " + name + ": pod at index " + i + " is empty");
            }
            if (m.last() >= cpus) {
                throw new IllegalArgumentException("affinity scope " + name + ": pod " + m.toList()
                        + " is outside CPUs 0-" + (cpus - 1));
            }
            sorted.add(m);
        }
        sorted.sort(Comparator.comparingInt(CpuMask::first));
        CpuMask seen = CpuMask.of();
        for (int i = 0; i < sorted.size(); i++) {
            CpuMask m = sorted.get(i);
            if (m.intersects(seen)) {
                for (int j = 0; j < i; j++) {
                    if (sorted.get(j).intersects(m)) {
                        throw new IllegalArgumentException("affinity scope " + name + ": pods "
                                + sorted.get(j).toList() + " and " + m.toList() + " overlap");
                    }
                }
            }
            seen = seen.or(m);
        }
        if (seen.cardinality() != cpus) {
            CpuMask missing = CpuMask.of();
            for (int c = 0; c < cpus; c++) {
                if (!seen.contains(c)) {
                    missing = missing.or(CpuMask.of(c));
                }
            }
            throw new IllegalArgumentException("affinity scope " + name + ": CPUs " + missing.toList()
                    + " are in no pod; pods must cover 0-" + (cpus - 1));
        }
        return sorted;
    }

    // ---- reading /sys

    /** {@code topology/core_cpus_list}, else {@code topology/thread_siblings_list}; null if neither reads. */
    private static CpuMask readSmtGroup(Path cpuDir) {
        Path topo = cpuDir.resolve("topology");
        CpuMask m = readList(topo.resolve("core_cpus_list"), false);
        return m != null ? m : readList(topo.resolve("thread_siblings_list"), true);
    }

    /** The {@code shared_cpu_list} of the last-level cache; null if there is none to read. */
    private static CpuMask readLlcGroup(Path cpuDir) {
        Path cacheDir = cpuDir.resolve("cache");
        List<Path> indexes = listMatching(cacheDir, INDEX_DIR);
        Path best = null;
        int bestLevel = Integer.MIN_VALUE;
        boolean bestUnified = false;
        for (Path index : indexes) {
            String levelText = readString(index.resolve("level"), true);
            if (levelText == null) {
                continue;
            }
            int level;
            try {
                level = Integer.parseInt(levelText.strip());
            } catch (NumberFormatException e) {
                log.debug("cpu topology: {} is not a cache level: '{}'", index.resolve("level"), levelText.strip());
                continue;
            }
            String type = readString(index.resolve("type"), false);
            boolean unified = type != null && type.strip().toLowerCase(Locale.ROOT).equals("unified");
            if (best == null || level > bestLevel || (level == bestLevel && unified && !bestUnified)) {
                best = index;
                bestLevel = level;
                bestUnified = unified;
            }
        }
        if (best == null) {
            log.debug("cpu topology: no cache level under {}", cacheDir);
            return null;
        }
        return readList(best.resolve("shared_cpu_list"), true);
    }

    /**
     * Node of each CPU from {@code node/nodeK/cpulist} (the lowest K if a CPU is listed twice); 0 for
     * a CPU no node lists.
     */
    private static int[] readNodeOf(Path nodeDir, int cpus) {
        int[] nodeOf = new int[cpus];
        Arrays.fill(nodeOf, -1);
        for (Path node : listMatching(nodeDir, NODE_DIR)) {
            Matcher m = NODE_DIR.matcher(node.getFileName().toString());
            if (!m.matches()) {
                continue;
            }
            int k = Integer.parseInt(m.group(1));
            CpuMask list = readList(node.resolve("cpulist"), true);
            if (list == null) {
                continue;
            }
            for (int c : list.cpus()) {
                if (c < cpus && nodeOf[c] < 0) {
                    nodeOf[c] = k;
                }
            }
        }
        for (int c = 0; c < cpus; c++) {
            if (nodeOf[c] < 0) {
                log.debug("cpu topology: no node under {} lists cpu {}, taking node 0", nodeDir, c);
                nodeOf[c] = 0;
            }
        }
        return nodeOf;
    }

    /** The subdirectories of {@code dir} whose name matches, in numeric order; empty if unreadable. */
    private static List<Path> listMatching(Path dir, Pattern pattern) {
        if (!isDirectory(dir)) {
            log.debug("cpu topology: no directory {}", dir);
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> pattern.matcher(p.getFileName().toString()).matches())
                    .sorted(Comparator.comparingInt(p -> {
                        Matcher m = pattern.matcher(p.getFileName().toString());
                        return m.matches() ? Integer.parseInt(m.group(1)) : Integer.MAX_VALUE;
                    }))
                    .toList();
        } catch (IOException | UncheckedIOException | SecurityException e) {
            log.debug("cpu topology: cannot list {}: {}", dir, e.toString());
            return List.of();
        }
    }

    /** A cpu list file; an empty file is an empty mask; null (logged if {@code logMissing}) if it does not read or parse. */
    private static CpuMask readList(Path file, boolean logMissing) {
        String text = readString(file, logMissing);
        if (text == null) {
            return null;
        }
        String t = text.strip();
        if (t.isEmpty()) {
            return CpuMask.of();
        }
        try {
            return CpuMask.parseList(t);
        } catch (IllegalArgumentException e) {
            log.debug("cpu topology: {} is not a cpu list: {}", file, e.getMessage());
            return null;
        }
    }

    private static String readString(Path file, boolean logMissing) {
        try {
            return Files.readString(file);
        } catch (IOException | UncheckedIOException | SecurityException e) {
            if (logMissing) {
                log.debug("cpu topology: cannot read {}: {}", file, e.toString());
            }
            return null;
        }
    }

    private static boolean isDirectory(Path p) {
        try {
            return Files.isDirectory(p);
        } catch (SecurityException e) {
            return false;
        }
    }
}
