package dev.cmwq.workqueue;

import java.util.Objects;

/**
 * The attributes of an unbound worker pool, the kernel's {@code struct workqueue_attrs}: the nice
 * level of its workers and the CPUs they may run on. Unbound workqueues with equal attributes share
 * one pool.
 *
 * @param nice    -20 (highest priority) to 19
 * @param cpumask the CPUs the pool's workers may run on; {@code null} means every CPU of the engine
 */
public record WorkqueueAttrs(int nice, CpuMask cpumask) {
    public static final int MIN_NICE = -20;
    public static final int MAX_NICE = 19;
    /** The kernel's {@code HIGHPRI_NICE_LEVEL}. */
    public static final int HIGHPRI_NICE = MIN_NICE;

    public WorkqueueAttrs {
        if (nice < MIN_NICE || nice > MAX_NICE) {
            throw new IllegalArgumentException("nice " + nice + " out of range; allowed " + MIN_NICE + ".." + MAX_NICE);
        }
        if (cpumask != null && cpumask.isEmpty()) {
            throw new IllegalArgumentException("cpumask '' has no CPU; give at least one, e.g. '0' or '0-1'");
        }
    }

    /** Nice 0 on every CPU. */
    public static WorkqueueAttrs defaults() {
        return new WorkqueueAttrs(0, null);
    }

    public WorkqueueAttrs withNice(int n) {
        return new WorkqueueAttrs(n, cpumask);
    }

    public WorkqueueAttrs withCpumask(CpuMask m) {
        return new WorkqueueAttrs(nice, m);
    }

    /** These attributes with a {@code null} cpumask resolved to all of {@code cpus} CPUs. */
    WorkqueueAttrs resolved(int cpus) {
        return cpumask != null ? this : new WorkqueueAttrs(nice, CpuMask.all(cpus));
    }

    @Override
    public String toString() {
        return "nice=" + nice + " cpus=" + (cpumask == null ? "all" : cpumask.toList());
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof WorkqueueAttrs a && a.nice == nice && Objects.equals(a.cpumask, cpumask);
    }

    @Override
    public int hashCode() {
        return 31 * nice + Objects.hashCode(cpumask);
    }
}
