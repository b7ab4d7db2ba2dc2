package dev.cmwq.workqueue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * A workqueue, the kernel's {@code workqueue_struct}: a cheap front end that owns no threads. It is
 * a domain for flushing and for attributes; its items run on the shared worker pools.
 *
 * <p>A bound workqueue has one {@link PoolWorkqueue} per CPU, linked to that CPU's normal or
 * highpri pool; {@code max_active} applies per CPU. An unbound workqueue has one, linked to the
 * unbound pool of its attributes; {@code max_active} applies to the whole queue. An ordered queue
 * is unbound with {@code max_active} 1: one item at a time, in queueing order.
 *
 * <h2>Fields</h2>
 * Immutable but for {@code maxActive} and {@code state} (volatile; changed under the engine's pools
 * lock). The pool workqueues' fields are guarded by their pools' locks.
 */
public final class Workqueue {
    static final int ALIVE = 0;
    static final int DRAINING = 1;
    static final int DESTROYED = 2;

    final Workqueues engine;
    private final String name;
    private final String alias;
    private final Set<WqFlag> flags;
    final boolean unbound;
    final boolean ordered;
    final boolean cpuIntensive;
    final boolean highpri;
    private final WorkqueueAttrs attrs;
    private volatile int maxActive;
    volatile int state = ALIVE;
    /** Bound queues: the pwq of each CPU. */
    final PoolWorkqueue[] cpuPwqs;
    /** Unbound queues: the one pwq. */
    final PoolWorkqueue unboundPwq;

    Workqueue(Workqueues engine, String name, String alias, Set<WqFlag> flags, boolean ordered, int maxActive,
              WorkqueueAttrs attrs) {
        this.engine = engine;
        this.name = name;
        this.alias = alias;
        this.flags = Collections.unmodifiableSet(flags.isEmpty() ? EnumSet.noneOf(WqFlag.class) : EnumSet.copyOf(flags));
        this.ordered = ordered;
        this.unbound = ordered || flags.contains(WqFlag.UNBOUND)
                || (flags.contains(WqFlag.POWER_EFFICIENT) && engine.powerEfficient);
        this.cpuIntensive = !unbound && flags.contains(WqFlag.CPU_INTENSIVE);
        this.highpri = flags.contains(WqFlag.HIGHPRI);
        this.maxActive = maxActive;
        if (unbound) {
            WorkqueueAttrs a = attrs != null ? attrs
                    : highpri ? WorkqueueAttrs.defaults().withNice(WorkqueueAttrs.HIGHPRI_NICE) : WorkqueueAttrs.defaults();
            this.attrs = a.resolved(engine.cpus);
            this.cpuPwqs = null;
            this.unboundPwq = new PoolWorkqueue(this, engine.getUnboundPool(this.attrs), maxActive);
        } else {
            this.cpuPwqs = new PoolWorkqueue[engine.cpus];
            for (int cpu = 0; cpu < engine.cpus; cpu++) {
                cpuPwqs[cpu] = new PoolWorkqueue(this, engine.cpuPool(cpu, highpri), maxActive);
            }
            this.attrs = cpuPwqs[0].pool.attrs.withCpumask(null).resolved(engine.cpus);
            this.unboundPwq = null;
        }
    }

    /** The name, as in thread names ({@code kworker/0:1-events}) and statistics. */
    public String name() {
        return name;
    }

    /** The kernel's variable name of a system workqueue ({@code system_wq} for {@code events}), else null. */
    public String alias() {
        return alias;
    }

    public Set<WqFlag> flags() {
        return flags;
    }

    public boolean isUnbound() {
        return unbound;
    }

    public boolean isOrdered() {
        return ordered;
    }

    /** The effective max_active: per CPU for bound queues, for the whole queue for unbound ones. */
    public int maxActive() {
        return maxActive;
    }

    /** Nice and cpumask of the queue's workers (for bound queues, those of the per-CPU pools). */
    public WorkqueueAttrs attrs() {
        return attrs;
    }

    public Workqueues engine() {
        return engine;
    }

    // ---- queueing ---------------------------------------------------------------------------

    /**
     * {@code queue_work()}: queues {@code work} on the pool of the CPU the caller is on (bound) or
     * on the queue's unbound pool.
     *
     * @return false if the item was already pending (nothing changes), true if it was queued
     * @throws IllegalStateException if the queue is destroyed, draining (and the caller is not one
     *                               of its own items), or the engine is shut down
     */
    public boolean queue(Work work) {
        return queueOn(Workqueues.WORK_CPU_UNBOUND, work);
    }

    /**
     * {@code queue_work_on()}: like {@link #queue(Work)} but on the pool of {@code cpu} (for an
     * unbound queue the CPU is only a locality hint).
     *
     * @param cpu a CPU in {@code 0 .. cpus-1}, or {@link Workqueues#WORK_CPU_UNBOUND} for the caller's
     */
    public boolean queueOn(int cpu, Work work) {
        if (cpu != Workqueues.WORK_CPU_UNBOUND && (cpu < 0 || cpu >= engine.cpus)) {
            throw new IllegalArgumentException("cpu " + cpu + " out of range; this engine has CPUs 0.." + (engine.cpus - 1));
        }
        checkAccepting(work);
        if (!work.testAndSetPending()) {
            return false;
        }
        queueWork(cpu, work);
        return true;
    }

    private void checkAccepting(Work work) {
        String refusal = refusal(work);
        if (refusal != null) {
            throw new IllegalStateException(refusal);
        }
    }

    /**
     * Why {@code work} can't be queued now, or null. Checked before PENDING is taken and again
     * under the target pool's lock, so that an item can't slip into a queue whose teardown has
     * already counted it empty: teardown publishes its state first and then inspects each pool
     * under its lock.
     */
    private String refusal(Work work) {
        if (engine.runState != Workqueues.RUNNING) {
            return "workqueue engine is shut down; work item '" + work.name() + "' for workqueue '" + name + "' refused";
        }
        int s = state;
        if (s == DESTROYED) {
            return "workqueue '" + name + "' is destroyed; work item '" + work.name() + "' refused";
        }
        if (s == DRAINING && !isChainedWork()) {
            return "workqueue '" + name + "' is draining: only its own work items may queue on it; work item '"
                    + work.name() + "' refused";
        }
        return null;
    }

    /** True if the caller is a worker running an item of this queue ({@code is_chained_work()}). */
    boolean isChainedWork() {
        Worker w = Worker.CURRENT.get();
        return w != null && w.currentPwq != null && w.currentPwq.wq == this;
    }

    /** {@code __queue_work()}: PENDING is owned by the caller. */
    private void queueWork(int reqCpu, Work work) {
        PoolWorkqueue pwq;
        if (unbound) {
            pwq = unboundPwq;
        } else {
            pwq = cpuPwqs[reqCpu == Workqueues.WORK_CPU_UNBOUND ? engine.currentCpu() : reqCpu];
        }
        // Non-reentrancy: if the item still runs on the pool it last ran on, for this queue, queue
        // it there so that the running worker runs it again after (never two at once).
        WorkerPool last = work.lastPool;
        if (last != null && last != pwq.pool) {
            last.lock.lock();
            try {
                Worker running = last.findWorkerExecutingLocked(work);
                if (running != null && running.currentPwq != null && running.currentPwq.wq == this) {
                    pwq = running.currentPwq;
                }
            } finally {
                last.lock.unlock();
            }
        }
        WorkerPool pool = pwq.pool;
        String refusal;
        pool.lock.lock();
        try {
            refusal = refusal(work);
            if (refusal == null) {
                pwq.insertLocked(work);
            }
        } finally {
            pool.lock.unlock();
        }
        if (refusal != null) {
            work.clearPending();
            throw new IllegalStateException(refusal);
        }
    }

    // ---- knobs ------------------------------------------------------------------------------

    /**
     * {@code workqueue_set_max_active()}: 0 means the default (256); values outside 1..limit are
     * clamped with the kernel's warning. Items waiting beyond the old limit start if the new one
     * lets them.
     *
     * @throws IllegalStateException for an ordered queue, whose max_active is always 1
     */
    public void setMaxActive(int requested) {
        if (ordered) {
            throw new IllegalStateException("workqueue '" + name + "' is ordered: its max_active is 1 and cannot be changed (requested "
                    + requested + ")");
        }
        int n = engine.clampMaxActive(requested, unbound, name);
        engine.poolsLock.lock();
        try {
            maxActive = n;
            for (PoolWorkqueue pwq : pwqs()) {
                pwq.pool.lock.lock();
                try {
                    pwq.setMaxActiveLocked(n);
                } finally {
                    pwq.pool.lock.unlock();
                }
            }
        } finally {
            engine.poolsLock.unlock();
        }
    }

    // ---- teardown ---------------------------------------------------------------------------

    /**
     * {@code destroy_workqueue()}: refuses new items except from the queue's own running items,
     * waits until everything queued has finished, then releases the queue's pools and its name.
     *
     * @throws IllegalStateException for a system workqueue, or if items were still in flight after
     *                               {@code timeout} (the queue then stays usable and nothing is lost)
     */
    public void destroy(Duration timeout) {
        if (alias != null) {
            throw new IllegalStateException("workqueue '" + name + "' (" + alias + ") is a system workqueue and lives as long as the engine");
        }
        engine.poolsLock.lock();
        try {
            if (state != ALIVE) {
                throw new IllegalStateException("workqueue '" + name + "' is already " + (state == DRAINING ? "being destroyed" : "destroyed"));
            }
            state = DRAINING;
        } finally {
            engine.poolsLock.unlock();
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        for (;;) {
            boolean idle;
            try {
                idle = awaitIdle(deadline);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                idle = false;
            }
            if (!idle) {
                state = ALIVE;
                throw new IllegalStateException("workqueue '" + name + "' not destroyed: items still in flight after " + timeout
                        + ": " + describeInFlight());
            }
            if (destroyIfEmpty()) {
                break;
            }
            // A running item queued chained work on a pool already waited for: wait again.
        }
        engine.unregister(this);
    }

    /**
     * With every pool of the queue locked (in pool id order; nothing else ever holds two pool
     * locks, so this cannot deadlock), checks that nothing is in flight anywhere and, if so, marks
     * the queue destroyed. Holding all the locks makes the check atomic: no item of the queue runs,
     * so no chained work can appear, and outsiders are already refused.
     */
    private boolean destroyIfEmpty() {
        List<WorkerPool> pools = new ArrayList<>();
        for (PoolWorkqueue pwq : pwqs()) {
            if (!pools.contains(pwq.pool)) {
                pools.add(pwq.pool);
            }
        }
        pools.sort((a, b) -> Integer.compare(a.id, b.id));
        int locked = 0;
        try {
            for (WorkerPool p : pools) {
                p.lock.lock();
                locked++;
            }
            for (PoolWorkqueue pwq : pwqs()) {
                if (pwq.nrInFlight > 0) {
                    return false;
                }
            }
            state = DESTROYED;
            return true;
        } finally {
            for (int i = locked - 1; i >= 0; i--) {
                pools.get(i).lock.unlock();
            }
        }
    }

    /** Waits until nothing is in flight on any of the queue's pools, or the deadline. */
    boolean awaitIdle(long deadlineNanos) throws InterruptedException {
        for (PoolWorkqueue pwq : pwqs()) {
            if (!pwq.pool.awaitIdle(pwq, deadlineNanos)) {
                return false;
            }
        }
        return true;
    }

    List<String> describeInFlight() {
        List<String> out = new ArrayList<>();
        for (PoolWorkqueue pwq : pwqs()) {
            out.addAll(pwq.pool.describeInFlight(pwq));
        }
        return out;
    }

    List<PoolWorkqueue> pwqs() {
        return unbound ? List.of(unboundPwq) : List.of(cpuPwqs);
    }

    // ---- statistics -------------------------------------------------------------------------

    public WorkqueueStats stats() {
        long[] sum = new long[PoolWorkqueue.NR_STATS];
        int inFlight = 0;
        int active = 0;
        int inactive = 0;
        for (PoolWorkqueue pwq : pwqs()) {
            pwq.pool.lock.lock();
            try {
                for (int i = 0; i < sum.length; i++) {
                    sum[i] += pwq.stats[i];
                }
                inFlight += pwq.nrInFlight;
                active += pwq.nrActive;
                inactive += pwq.inactive.size();
            } finally {
                pwq.pool.lock.unlock();
            }
        }
        return new WorkqueueStats(sum[PoolWorkqueue.STAT_STARTED], sum[PoolWorkqueue.STAT_COMPLETED],
                sum[PoolWorkqueue.STAT_FAILED], sum[PoolWorkqueue.STAT_CM_WAKEUP], inFlight, active, inactive);
    }

    @Override
    public String toString() {
        return "workqueue " + name + " " + flags + (ordered ? " ordered" : "") + " max_active=" + maxActive;
    }
}
