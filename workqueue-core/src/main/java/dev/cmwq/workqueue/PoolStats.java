package dev.cmwq.workqueue;

/**
 * A snapshot of one worker pool.
 *
 * @param id      the pool id (in unbound worker names: {@code kworker/u<id>:<n>})
 * @param kind    {@code cpu}, {@code cpu-highpri} or {@code unbound}
 * @param cpu     the CPU of a per-CPU pool, -1 for an unbound pool
 * @param nice    the workers' nice level
 * @param cpumask the CPUs the workers may run on
 * @param workers all workers
 * @param idle    idle workers
 * @param running workers counted as running (concurrency level; always 0 in unbound pools)
 * @param pending items on the worklist, not yet started
 * @param podCpumask     the pod an unbound pool serves (items issued on these CPUs come here); the CPU
 *                       of a per-CPU pool
 * @param affinityStrict workers confined to the pod ({@code cpumask} equals {@code podCpumask})
 * @param effectiveNice  the nice the workers really have (equals {@code nice} unless the process may
 *                       not raise its priority; equals {@code nice} when placement is not enforced)
 * @param enforced       true if the workers are really pinned to {@code cpumask} at {@code nice}
 * @param lastProgress   when the pool last started an item, or its worklist last became non-empty
 *                       (the watchdog's {@code watchdog_ts}), as wall-clock time
 *                       (native placement on, see {@link ThreadPlacement}); false if only recorded
 */
public record PoolStats(int id, String kind, int cpu, int nice, CpuMask cpumask, int workers, int idle,
                        int running, int pending, CpuMask podCpumask, boolean affinityStrict, int effectiveNice,
                        boolean enforced, java.time.Instant lastProgress) {
}
