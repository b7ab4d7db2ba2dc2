package dev.cmwq.workqueue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The CPU topology the affinity scopes are made of (the kernel's {@code wq_pod_types}): for each
 * {@link AffinityScope}, the CPUs 0..cpus-1 split into disjoint pods.
 * TODO(helper): implementation.
 */
public final class CpuTopology {
    /** The topology of this machine for CPUs {@code 0..cpus-1}, from {@code /sys/devices/system}. */
    public static CpuTopology detect(int cpus) {
        throw new UnsupportedOperationException();
    }

    /** Reads {@code <sysDevicesSystem>/cpu/...} and {@code <sysDevicesSystem>/node/...}. */
    static CpuTopology read(Path sysDevicesSystem, int cpus) {
        throw new UnsupportedOperationException();
    }

    /** A topology without /sys: one pod per CPU for cpu and smt, one pod of all CPUs for cache, numa and system. */
    public static CpuTopology flat(int cpus) {
        throw new UnsupportedOperationException();
    }

    /** Explicit pods (tests, other OSes); scopes not given are derived as in {@link #flat}. */
    public static CpuTopology of(int cpus, Map<AffinityScope, List<CpuMask>> pods) {
        throw new UnsupportedOperationException();
    }

    public int cpus() {
        throw new UnsupportedOperationException();
    }

    /** The pods of {@code scope}, ordered by their lowest CPU. */
    public List<CpuMask> pods(AffinityScope scope) {
        throw new UnsupportedOperationException();
    }

    /** The pod of {@code scope} that holds {@code cpu}. */
    public CpuMask podOf(AffinityScope scope, int cpu) {
        throw new UnsupportedOperationException();
    }
}
