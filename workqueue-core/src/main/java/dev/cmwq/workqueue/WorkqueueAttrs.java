package dev.cmwq.workqueue;

import java.util.Objects;

/**
 * The attributes of an unbound workqueue, the kernel's {@code struct workqueue_attrs}: the nice
 * level of its workers, the CPUs they may run on, and how those CPUs are split into pods.
 *
 * <p>An unbound queue gets one pool per pod of its {@link AffinityScope}: an item goes to the pool
 * of the issuer's pod. With {@code affinityStrict} the pod's workers may run only on the pod's
 * CPUs; without it they may run on all of {@code cpumask} (the pod only decides where items go).
 * Unbound queues whose pods come out equal share the pools.
 *
 * @param nice           -20 (highest priority) to 19
 * @param cpumask        the CPUs the workers may run on; {@code null} means every CPU of the engine
 * @param affinityScope  how {@code cpumask} is split into pods; {@code null} means the engine's
 *                       default ({@link AffinityScope#DEFAULT} unless configured)
 * @param affinityStrict confine each pod's workers to the pod's CPUs
 */
public record WorkqueueAttrs(int nice, CpuMask cpumask, AffinityScope affinityScope, boolean affinityStrict) {
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

    /** Nice and cpumask, the default affinity scope, not strict. */
    public WorkqueueAttrs(int nice, CpuMask cpumask) {
        this(nice, cpumask, null, false);
    }

    /** Nice 0 on every CPU. */
    public static WorkqueueAttrs defaults() {
        return new WorkqueueAttrs(0, null);
    }

    public WorkqueueAttrs withNice(int n) {
        return new WorkqueueAttrs(n, cpumask, affinityScope, affinityStrict);
    }

    public WorkqueueAttrs withCpumask(CpuMask m) {
        return new WorkqueueAttrs(nice, m, affinityScope, affinityStrict);
    }

    public WorkqueueAttrs withAffinityScope(AffinityScope s) {
        return new WorkqueueAttrs(nice, cpumask, s, affinityStrict);
    }

    public WorkqueueAttrs withAffinityStrict(boolean strict) {
        return new WorkqueueAttrs(nice, cpumask, affinityScope, strict);
    }

    /** These attributes with a {@code null} cpumask resolved to all of {@code cpus} CPUs. */
    WorkqueueAttrs resolved(int cpus) {
        return cpumask != null ? this : withCpumask(CpuMask.all(cpus));
    }

    @Override
    public String toString() {
        return "nice=" + nice + " cpus=" + (cpumask == null ? "all" : cpumask.toList())
                + (affinityScope == null ? "" : " affinity_scope=" + affinityScope.sysfsName())
                + (affinityStrict ? " affinity_strict=1" : "");
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof WorkqueueAttrs a && a.nice == nice && Objects.equals(a.cpumask, cpumask)
                && a.affinityScope == affinityScope && a.affinityStrict == affinityStrict;
    }

    @Override
    public int hashCode() {
        return Objects.hash(nice, cpumask, affinityScope, affinityStrict);
    }
}
