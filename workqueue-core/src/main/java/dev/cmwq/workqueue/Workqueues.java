package dev.cmwq.workqueue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The workqueue engine: owns the worker pools, the system workqueues and the sleep monitor. There
 * are no static globals; two engines in one JVM do not see each other.
 *
 * <pre>{@code
 * Workqueues wqs = Workqueues.builder().build();
 * Workqueue writeback = wqs.alloc("writeback", EnumSet.of(WqFlag.UNBOUND, WqFlag.MEM_RECLAIM), 0);
 * Work flush = new Work("flush-dirty", this::flushDirty);
 * writeback.queue(flush);       // true: queued
 * writeback.queue(flush);       // false: already pending
 * wqs.systemWq().queue(other);  // the kernel's schedule_work()
 * }</pre>
 *
 * <h2>Locking</h2>
 * {@code poolsLock} (the kernel's {@code wq_pool_mutex}) serializes creating and destroying
 * workqueues and unbound pools; it guards {@code unboundPools} and each unbound pool's
 * {@code refcnt}, and is taken before any pool lock, never after. {@code byName} and
 * {@code workqueues} are concurrent collections written under it. {@code runState} is volatile.
 * {@code nrWorkerThreads} is atomic (CAS against {@code maxWorkers}).
 */
public final class Workqueues implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Workqueues.class);

    /** {@code WORK_CPU_UNBOUND}: "the caller's CPU" for {@link Workqueue#queueOn}. */
    public static final int WORK_CPU_UNBOUND = -1;
    /** {@code WQ_MAX_ACTIVE}. */
    public static final int WQ_MAX_ACTIVE = 512;
    /** {@code WQ_DFL_ACTIVE}: what max_active 0 means. */
    public static final int WQ_DFL_ACTIVE = WQ_MAX_ACTIVE / 2;
    /** {@code WQ_MAX_UNBOUND_PER_CPU}. */
    public static final int WQ_MAX_UNBOUND_PER_CPU = 4;

    static final int RUNNING = 0;
    static final int SHUTTING_DOWN = 1;
    static final int TERMINATED = 2;

    final int cpus;
    final long idleTimeoutNanos;
    final WorkerThreadFactory threadFactory;
    final int maxWorkers;
    final boolean powerEfficient;
    /** Per-item thread CPU time for the CPUtime statistic (two clock reads per item). */
    final boolean cpuAccounting;
    private final CpuLocator cpuLocator;
    private final String name;
    /** Puts worker threads on their CPUs at their nice (native), or only records (fallback). */
    final ThreadPlacement placement;
    /** The locator is the placement's {@code sched_getcpu}, which for a pinned worker is its pool's CPU. */
    private final boolean localCpuIsWorkersCpu;
    /**
     * Set (once, never cleared) when a per-CPU pool's workers are not pinned to its CPU: offline, or
     * the affinity call failed. A worker sets it on its own thread before it runs any item, so its
     * own queueings see it ({@link #currentCpu()} then looks the worker up again). Volatile.
     */
    volatile boolean cpuPoolUnpinned;
    /** The CPU pods of the affinity scopes. */
    final CpuTopology topology;
    final AffinityScope defaultAffinityScope;
    /** CPUs 0 .. cpus-1 (the kernel's {@code cpu_possible_mask}). */
    private final CpuMask possibleCpus;
    /** The CPUs this process may run on (the kernel's {@code cpu_online_mask}); all possible ones if unknown. */
    private final CpuMask onlineCpus;
    /** The kernel's {@code wq_unbound_cpumask}: restricts every unbound pool; changed under poolsLock. */
    private volatile CpuMask unboundCpumask;
    /** Placement problems already logged (log once per kind). */
    private final Set<String> placementProblems = ConcurrentHashMap.newKeySet();

    /** Per-CPU pools: index {@code cpu * 2} normal, {@code cpu * 2 + 1} highpri. */
    final WorkerPool[] cpuPools;
    final ReentrantLock poolsLock = new ReentrantLock();
    /** The kernel's {@code wq_mayday_lock}: guards every rescuer's mayday list. */
    final ReentrantLock maydayLock = new ReentrantLock();
    /** FREEZABLE queues start nothing new; changed under poolsLock. */
    volatile boolean frozen;
    private final Map<UnboundPoolKey, WorkerPool> unboundPools = new HashMap<>();
    private int nextPoolId;
    private final ConcurrentHashMap<String, Workqueue> byName = new ConcurrentHashMap<>();
    private final CopyOnWriteArrayList<Workqueue> workqueues = new CopyOnWriteArrayList<>();
    private final AtomicInteger nrWorkerThreads = new AtomicInteger();
    private final Set<Worker> liveWorkers = ConcurrentHashMap.newKeySet();
    private volatile boolean creationFailureLogged;
    final SleepMonitor monitor;
    private final EngineTimer timer = new EngineTimer(this);
    final Watchdog watchdog;
    volatile int runState = RUNNING;
    /**
     * Items queued while SHUTTING_DOWN (follow-ups queued by the engine's own workers, and fired
     * timers): shutdown drains again until a whole pass saw none. Atomic; only touched then.
     */
    final AtomicLong queuedDuringShutdown = new AtomicLong();
    /** Wall-clock time minus {@link System#nanoTime()}, read once: turns nanoTime stamps into stable instants. */
    private final long wallClockOffsetNanos = Math.multiplyExact(System.currentTimeMillis(), 1_000_000L) - System.nanoTime();

    private final Workqueue systemWq;
    private final Workqueue systemHighpriWq;
    private final Workqueue systemLongWq;
    private final Workqueue systemUnboundWq;
    private final Workqueue systemFreezableWq;
    private final Workqueue systemPowerEfficientWq;
    private final Workqueue systemFreezablePowerEfficientWq;

    private Workqueues(Builder b) {
        this.placement = b.placement != null ? b.placement : ThreadPlacement.load();
        // Engine CPUs are the machine's only where placement acts; otherwise they are virtual and all online.
        CpuMask allowed = null;
        if (placement.enforced()) {
            allowed = ProcStat.processCpusAllowed();
            if (allowed == null) {
                allowed = placement.getAffinity();
            }
        }
        int n = b.cpus;
        if (!b.cpusSet && placement.enforced() && allowed != null && !allowed.isEmpty()) {
            n = Math.max(n, allowed.last() + 1); // engine CPU numbers are the machine's
        }
        this.cpus = n;
        this.possibleCpus = CpuMask.all(n);
        CpuMask online = allowed == null ? possibleCpus : allowed.and(possibleCpus);
        this.onlineCpus = online.isEmpty() ? possibleCpus : online;
        this.unboundCpumask = onlineCpus;
        this.topology = b.topology != null ? b.topology : CpuTopology.detect(n);
        if (topology.cpus() != n) {
            throw new IllegalArgumentException("topology describes " + topology.cpus() + " CPUs but the engine has " + n);
        }
        this.defaultAffinityScope = b.defaultAffinityScope;
        this.idleTimeoutNanos = b.idleTimeout.toNanos();
        this.threadFactory = b.threadFactory;
        this.maxWorkers = b.maxWorkers;
        this.powerEfficient = b.powerEfficient;
        this.cpuLocator = b.cpuLocator != null ? b.cpuLocator
                : placement.enforced() ? placement::currentCpu : CpuLocator.perThread();
        this.localCpuIsWorkersCpu = b.cpuLocator == null && placement.enforced();
        this.name = b.name;
        this.monitor = new SleepMonitor(this, b.monitorInterval.toNanos(), b.cpuIntensiveThreshold.toNanos());
        this.cpuAccounting = b.cpuAccounting;
        this.watchdog = new Watchdog(this, b.watchdogThreshold);

        cpuPools = new WorkerPool[cpus * 2];
        WorkqueueAttrs normal = new WorkqueueAttrs(0, null);
        WorkqueueAttrs high = new WorkqueueAttrs(WorkqueueAttrs.HIGHPRI_NICE, null);
        for (int cpu = 0; cpu < cpus; cpu++) {
            cpuPools[cpu * 2] = new WorkerPool(this, nextPoolId++, cpu, false, normal.withCpumask(CpuMask.of(cpu)));
            cpuPools[cpu * 2 + 1] = new WorkerPool(this, nextPoolId++, cpu, true, high.withCpumask(CpuMask.of(cpu)));
        }
        try {
            timer.start();
            for (WorkerPool pool : cpuPools) {
                if (pool.createWorker() == null) {
                    throw new IllegalStateException("workqueue: cannot create the first worker of " + pool);
                }
            }
            systemWq = allocSystem("events", "system_wq", EnumSet.noneOf(WqFlag.class), 0);
            systemHighpriWq = allocSystem("events_highpri", "system_highpri_wq", EnumSet.of(WqFlag.HIGHPRI), 0);
            systemLongWq = allocSystem("events_long", "system_long_wq", EnumSet.noneOf(WqFlag.class), 0);
            systemUnboundWq = allocSystem("events_unbound", "system_unbound_wq", EnumSet.of(WqFlag.UNBOUND), WQ_MAX_ACTIVE);
            systemFreezableWq = allocSystem("events_freezable", "system_freezable_wq", EnumSet.of(WqFlag.FREEZABLE), 0);
            systemPowerEfficientWq = allocSystem("events_power_efficient", "system_power_efficient_wq",
                    EnumSet.of(WqFlag.POWER_EFFICIENT), 0);
            systemFreezablePowerEfficientWq = allocSystem("events_freezable_pwr_efficient",
                    "system_freezable_power_efficient_wq", EnumSet.of(WqFlag.FREEZABLE, WqFlag.POWER_EFFICIENT), 0);
            monitor.start(name + "-sysmon", threadFactory);
            watchdog.start(name + "-watchdog", threadFactory);
        } catch (RuntimeException | Error e) {
            shutdown(Duration.ofSeconds(10));
            throw e;
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /** An engine with the defaults: one CPU per available processor. */
    public static Workqueues create() {
        return builder().build();
    }

    // ---- allocating workqueues --------------------------------------------------------------

    /**
     * {@code alloc_workqueue()}.
     *
     * @param maxActive 0 for the default (256); otherwise clamped to 1..512 (unbound:
     *                  1..max(512, 4 x CPUs)) with the kernel's warning
     * @throws IllegalArgumentException if the name is empty or taken (by a queue or a system queue's alias)
     */
    public Workqueue alloc(String name, Set<WqFlag> flags, int maxActive) {
        return alloc(name, flags, maxActive, null);
    }

    /** {@code alloc_workqueue()} with varargs flags. */
    public Workqueue alloc(String name, int maxActive, WqFlag... flags) {
        return alloc(name, flagSet(flags), maxActive, null);
    }

    /**
     * {@code alloc_workqueue()} followed by {@code apply_workqueue_attrs()} for an unbound queue:
     * the queue is served by the unbound pool with these attributes, shared with every unbound
     * queue that has equal ones.
     *
     * @param attrs null for the defaults; only allowed for unbound queues
     */
    public Workqueue alloc(String name, Set<WqFlag> flags, int maxActive, WorkqueueAttrs attrs) {
        Objects.requireNonNull(flags, "flags");
        boolean unbound = isUnbound(flags);
        if (attrs != null && !unbound) {
            throw new IllegalArgumentException("workqueue '" + name + "': attributes (nice, cpumask) apply only to unbound workqueues; add "
                    + WqFlag.UNBOUND + " to " + flags);
        }
        return register(name, null, flags, false, clampMaxActive(maxActive, unbound, name), attrs);
    }

    /**
     * {@code alloc_ordered_workqueue()}: executes at most one item at a time, in queueing order.
     */
    public Workqueue allocOrdered(String name, WqFlag... flags) {
        Set<WqFlag> f = flagSet(flags);
        f.add(WqFlag.UNBOUND);
        return register(name, null, f, true, 1, null);
    }

    private Workqueue allocSystem(String name, String alias, Set<WqFlag> flags, int maxActive) {
        return register(name, alias, flags, false, clampMaxActive(maxActive, isUnbound(flags), name), null);
    }

    private Workqueue register(String name, String alias, Set<WqFlag> flags, boolean ordered, int maxActive,
                               WorkqueueAttrs attrs) {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("a workqueue needs a non-empty name");
        }
        poolsLock.lock();
        try {
            if (runState != RUNNING) {
                throw new IllegalStateException("workqueue engine is shut down; cannot allocate workqueue '" + name + "'");
            }
            for (String n : alias == null ? List.of(name) : List.of(name, alias)) {
                Workqueue other = byName.get(n);
                if (other != null) {
                    throw new IllegalArgumentException("workqueue name '" + n + "' is already taken by " + describe(other)
                            + "; workqueue names are unique per engine");
                }
            }
            Workqueue wq = new Workqueue(this, name, alias, flags, ordered, maxActive, attrs);
            byName.put(name, wq);
            if (alias != null) {
                byName.put(alias, wq);
            }
            workqueues.add(wq);
            return wq;
        } finally {
            poolsLock.unlock();
        }
    }

    private static String describe(Workqueue wq) {
        return wq.alias() != null ? "system workqueue '" + wq.name() + "' (" + wq.alias() + ")" : "workqueue '" + wq.name() + "'";
    }

    /** After a workqueue drained: forget its names and release its unbound pool. */
    void unregister(Workqueue wq) {
        poolsLock.lock();
        try {
            byName.remove(wq.name(), wq);
            workqueues.remove(wq);
            if (wq.unbound) {
                wq.releasePwqsLocked();
            }
            if (wq.rescuer != null) {
                wq.rescuer.stop();
            }
        } finally {
            poolsLock.unlock();
        }
    }

    /** UNBOUND, or POWER_EFFICIENT while the engine's power-efficient mode is on. */
    boolean isUnbound(Set<WqFlag> flags) {
        return flags.contains(WqFlag.UNBOUND) || (flags.contains(WqFlag.POWER_EFFICIENT) && powerEfficient);
    }

    /** {@code wq_clamp_max_active()}, with 0 meaning {@link #WQ_DFL_ACTIVE}. */
    int clampMaxActive(int requested, boolean unbound, String wqName) {
        int maxActive = requested == 0 ? WQ_DFL_ACTIVE : requested;
        int limit = unbound ? unboundMaxActiveLimit() : WQ_MAX_ACTIVE;
        if (maxActive < 1 || maxActive > limit) {
            log.warn("workqueue: max_active {} requested for {} is out of range, clamping between {} and {}", requested, wqName, 1, limit);
            maxActive = Math.max(1, Math.min(limit, maxActive));
        }
        return maxActive;
    }

    /** {@code WQ_UNBOUND_MAX_ACTIVE}: max(512, 4 x CPUs). */
    public int unboundMaxActiveLimit() {
        return Math.max(WQ_MAX_ACTIVE, cpus * WQ_MAX_UNBOUND_PER_CPU);
    }

    private static Set<WqFlag> flagSet(WqFlag... flags) {
        Set<WqFlag> s = EnumSet.noneOf(WqFlag.class);
        for (WqFlag f : flags) {
            s.add(Objects.requireNonNull(f, "flag"));
        }
        return s;
    }

    // ---- pools ------------------------------------------------------------------------------

    WorkerPool cpuPool(int cpu, boolean highpri) {
        return cpuPools[cpu * 2 + (highpri ? 1 : 0)];
    }

    /** What makes unbound pools equal (the kernel's {@code wqattrs_equal()}). */
    record UnboundPoolKey(int nice, CpuMask cpumask, CpuMask pod, boolean strict) {
        UnboundPoolKey {
            if (pod.equals(cpumask)) {
                strict = false; // the pod is the whole mask: strict or not, the same workers
            }
        }
    }

    /**
     * {@code get_unbound_pool()}: the shared pool with these attributes, created (with its first
     * worker) if needed; its reference count is raised. poolsLock held. The key's cpumask is the
     * effective one (within the unbound cpumask), its pod a subset of it.
     */
    WorkerPool getUnboundPool(UnboundPoolKey key) {
        WorkerPool pool = unboundPools.get(key);
        if (pool == null) {
            pool = new WorkerPool(this, nextPoolId++, -1, false, new WorkqueueAttrs(key.nice(), key.cpumask()), key.pod(),
                    key.strict(), key);
            if (pool.createWorker() == null) {
                throw new IllegalStateException("workqueue: cannot create the first worker of an unbound pool with nice="
                        + key.nice() + " cpus=" + key.cpumask().toList());
            }
            unboundPools.put(key, pool);
        }
        pool.refcnt++;
        return pool;
    }

    /** {@code put_unbound_pool()}: poolsLock held. */
    void putUnboundPool(WorkerPool pool) {
        if (--pool.refcnt == 0) {
            unboundPools.remove(pool.key, pool);
            pool.destroy();
        }
    }

    // ---- placement --------------------------------------------------------------------------

    /** How worker threads are placed; {@link ThreadPlacement#enforced()} tells whether for real. */
    public ThreadPlacement placement() {
        return placement;
    }

    /** The CPU pods of the affinity scopes. */
    public CpuTopology topology() {
        return topology;
    }

    /** The affinity scope of unbound queues that don't name one. */
    public AffinityScope defaultAffinityScope() {
        return defaultAffinityScope;
    }

    /** The CPUs this process may run on, within {@code 0 .. cpus-1} (what the kernel calls online). */
    public CpuMask onlineCpus() {
        return onlineCpus;
    }

    /** CPUs {@code 0 .. cpus-1}. */
    public CpuMask possibleCpus() {
        return possibleCpus;
    }

    /** The engine-wide unbound cpumask ({@code /sys/devices/virtual/workqueue/cpumask}). */
    public CpuMask unboundCpumask() {
        return unboundCpumask;
    }

    /**
     * {@code workqueue_set_unbound_cpumask()}: restricts every unbound pool to {@code mask}; every
     * unbound queue (ordered ones too) moves to pools within it. Items already running finish where
     * they are. A queue whose cpumask has no CPU in the new mask uses the whole new mask, as the
     * kernel does.
     *
     * @throws IllegalArgumentException if {@code mask} has no online CPU (the kernel's EINVAL);
     *                                  nothing changes then
     */
    public void setUnboundCpumask(CpuMask mask) {
        Objects.requireNonNull(mask, "cpumask");
        CpuMask m = checkCpumask(mask, "unbound cpumask");
        poolsLock.lock();
        try {
            checkRunning("set the unbound cpumask");
            CpuMask old = unboundCpumask;
            unboundCpumask = m;
            List<Workqueue> unboundQueues = workqueues.stream().filter(q -> q.unbound).toList();
            List<Workqueue.PwqPlan> plans = new ArrayList<>();
            try {
                for (Workqueue wq : unboundQueues) {
                    plans.add(wq.preparePwqsLocked(wq.requestedAttrs()));
                }
            } catch (RuntimeException | Error e) {
                unboundCpumask = old;
                for (Workqueue.PwqPlan p : plans) {
                    p.abortLocked();
                }
                throw e;
            }
            for (Workqueue.PwqPlan p : plans) {
                p.commitLocked();
            }
        } finally {
            poolsLock.unlock();
        }
    }

    /**
     * A cpumask for a queue or the engine: CPUs beyond the engine's are dropped; what remains must
     * hold an online CPU.
     */
    CpuMask checkCpumask(CpuMask mask, String what) {
        CpuMask m = mask.and(possibleCpus);
        if (!m.intersects(onlineCpus)) {
            throw new IllegalArgumentException(what + " " + mask.toList() + " (hex " + mask.toHex() + ") has no online CPU; online CPUs are "
                    + onlineCpus.toList() + " (the kernel's EINVAL); nothing changed");
        }
        return m;
    }

    void checkRunning(String what) {
        if (runState != RUNNING) {
            throw new IllegalStateException("workqueue engine is shut down; cannot " + what);
        }
    }

    /** Logs a placement problem at INFO, once per kind per engine. */
    void placementProblem(String kind, String message) {
        if (placementProblems.add(kind)) {
            log.info(message);
        }
    }

    /** The one timer for delayed work and the pools' mayday timers. */
    EngineTimer timer() {
        return timer;
    }

    /** Every pool now: per CPU, then unbound. */
    List<WorkerPool> allPools() {
        List<WorkerPool> all = new ArrayList<>(List.of(cpuPools));
        poolsLock.lock();
        try {
            all.addAll(unboundPools.values());
        } finally {
            poolsLock.unlock();
        }
        return all;
    }

    /** The CPU whose pool a bound item queued by the caller goes to. */
    int currentCpu() {
        if (cpus == 1) {
            return 0; // the only CPU (a container or a process confined to one): nothing to look up
        }
        // A worker of a per-CPU pool queues to its own pool. Where every per-CPU pool's workers are
        // pinned to their CPU and the locator is sched_getcpu, that is the CPU it runs on, so the
        // thread-local lookup (a few percent of a queueing) is needed only otherwise.
        if (!localCpuIsWorkersCpu || cpuPoolUnpinned) {
            Worker w = Worker.CURRENT.get();
            if (w != null && w.pool.engine == this && w.pool.cpu >= 0) {
                return w.pool.cpu;
            }
        }
        int c = cpuLocator.currentCpu();
        return c < 0 ? 0 : c % cpus;
    }

    boolean reserveWorker() {
        int n;
        do {
            n = nrWorkerThreads.get();
            if (n >= maxWorkers) {
                return false;
            }
        } while (!nrWorkerThreads.compareAndSet(n, n + 1));
        return true;
    }

    void releaseWorker() {
        nrWorkerThreads.decrementAndGet();
    }

    void workerStarting(Worker w) {
        liveWorkers.add(w);
    }

    void workerExited(Worker w) {
        if (liveWorkers.remove(w)) {
            releaseWorker();
        }
    }

    void workerCreationFailed(WorkerPool pool, Throwable t) {
        if (!creationFailureLogged) {
            creationFailureLogged = true;
            log.error("workqueue: Failed to create a worker thread for {}: {}", pool,
                    t == null ? "the engine's limit of " + maxWorkers + " worker threads is reached" : t.toString());
        } else {
            log.debug("workqueue: worker creation failed again for {}: {}", pool, t == null ? "limit " + maxWorkers : t);
        }
    }

    /** The kernel's CREATE_COOLDOWN wait; cut short only when the engine terminates. */
    void creationCooldown(long nanos) {
        long deadline = System.nanoTime() + nanos;
        long left;
        while (runState != TERMINATED && (left = deadline - System.nanoTime()) > 0) {
            LockSupport.parkNanos(this, left);
        }
    }

    /** A worker died of an Error: put a fresh one in its place and let it pick up pending work. */
    void replaceWorker(WorkerPool pool) {
        if (runState != RUNNING) {
            return;
        }
        pool.createWorker();
        pool.lock.lock();
        try {
            pool.kickLocked();
        } finally {
            pool.lock.unlock();
        }
    }

    // ---- freezing ---------------------------------------------------------------------------

    /**
     * {@code freeze_workqueues_begin()}: FREEZABLE workqueues start no new items (they stay
     * queued, in order); running ones finish. Other queues are untouched.
     */
    public void freeze() {
        setFrozen(true);
    }

    /** {@code thaw_workqueues()}: FREEZABLE workqueues start their waiting items again. */
    public void thaw() {
        setFrozen(false);
    }

    private void setFrozen(boolean f) {
        poolsLock.lock();
        try {
            frozen = f;
            for (Workqueue wq : workqueues) {
                if (!wq.freezable) {
                    continue;
                }
                for (PoolWorkqueue pwq : wq.pwqs()) {
                    pwq.pool.lock.lock();
                    try {
                        pwq.setFrozenLocked(f);
                    } finally {
                        pwq.pool.lock.unlock();
                    }
                }
            }
        } finally {
            poolsLock.unlock();
        }
    }

    public boolean isFrozen() {
        return frozen;
    }

    /**
     * {@code freeze_workqueues_busy()}, as a wait: blocks until no FREEZABLE queue has an item
     * running (or activated before the freeze), or the timeout.
     *
     * @return true if the frozen queues are idle
     */
    public boolean awaitFrozenIdle(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        for (Workqueue wq : workqueues) {
            if (wq.freezable) {
                for (PoolWorkqueue pwq : wq.pwqs()) {
                    if (!pwq.pool.awaitInactive(pwq, deadline)) {
                        return false;
                    }
                }
            }
        }
        return true;
    }

    // ---- explicit blocking hooks ------------------------------------------------------------

    /**
     * Marks the calling worker as sleeping until the returned section is closed, so its pool can
     * start other items at once (zero-latency concurrency management). Use around blocking calls
     * in work functions; outside a worker thread it does nothing.
     *
     * <pre>{@code
     * try (Blocking b = Workqueues.beginBlocking()) {
     *     response = httpClient.send(request, handler);
     * }
     * }</pre>
     */
    public static Blocking beginBlocking() {
        Worker w = Worker.CURRENT.get();
        if (w == null || w.currentWork() == null) {
            return Blocking.NONE;
        }
        w.beginBlocking();
        return new Blocking(w);
    }

    /** Runs {@code call} as a blocking section (see {@link #beginBlocking()}) and returns its result. */
    public static <T, X extends Throwable> T blocking(BlockingCall<T, X> call) throws X {
        try (Blocking b = beginBlocking()) {
            return call.call();
        }
    }

    /** Runs {@code action} as a blocking section (see {@link #beginBlocking()}). */
    public static <X extends Throwable> void blocking(BlockingAction<X> action) throws X {
        try (Blocking b = beginBlocking()) {
            action.run();
        }
    }

    /**
     * {@link ForkJoinPool#managedBlock} for code that already uses {@link ForkJoinPool.ManagedBlocker}:
     * on a worker thread it blocks inside a blocking section, elsewhere it defers to ForkJoinPool.
     */
    public static void managedBlock(ForkJoinPool.ManagedBlocker blocker) throws InterruptedException {
        if (Worker.CURRENT.get() == null) {
            ForkJoinPool.managedBlock(blocker);
            return;
        }
        if (blocker.isReleasable()) {
            return;
        }
        try (Blocking b = beginBlocking()) {
            while (!blocker.isReleasable() && !blocker.block()) {
                // keep blocking until released
            }
        }
    }

    @FunctionalInterface
    public interface BlockingCall<T, X extends Throwable> {
        T call() throws X;
    }

    @FunctionalInterface
    public interface BlockingAction<X extends Throwable> {
        void run() throws X;
    }

    // ---- watchdog and dumps -------------------------------------------------------------------

    /** Gets every stall the watchdog detects (once per stall) and every recovery. */
    public void addWatchdogListener(WatchdogListener l) {
        watchdog.listeners.add(Objects.requireNonNull(l, "listener"));
    }

    public void removeWatchdogListener(WatchdogListener l) {
        watchdog.listeners.remove(l);
    }

    /** The watchdog threshold; zero when the watchdog is off. */
    public Duration watchdogThreshold() {
        return watchdog.threshold();
    }

    /** How often each work function was found hogging a CPU (see {@code cpuIntensiveThreshold}). */
    public Map<String, Long> cpuHogs() {
        return monitor.hogCounts();
    }

    /** Ids of the pools the watchdog currently reports as stalled. */
    public List<Integer> stalledPools() {
        return watchdog.stalledPools();
    }

    /**
     * {@code show_all_workqueues()}: every workqueue with items in flight (per pool workqueue:
     * active, inactive, in flight) and every pool with busy workers or pending items, with the
     * busy workers' items and Java stacks.
     */
    public String dump() {
        long now = System.nanoTime();
        StringBuilder sb = new StringBuilder("Showing busy workqueues and worker pools:\n");
        for (Workqueue wq : workqueues) {
            StringBuilder q = new StringBuilder();
            for (PoolWorkqueue pwq : wq.pwqs()) {
                pwq.pool.lock.lock();
                try {
                    if (pwq.nrInFlightTotal > 0) {
                        q.append("  pwq ").append(pwq.pool.id).append(": ").append(pwq.pool.kernelDescription())
                                .append(" active=").append(pwq.nrActive).append('/').append(pwq.effectiveMaxActive())
                                .append(" inactive=").append(pwq.inactive.size())
                                .append(" in-flight=").append(pwq.nrInFlightTotal).append('\n');
                    }
                } finally {
                    pwq.pool.lock.unlock();
                }
            }
            if (!q.isEmpty()) {
                sb.append("workqueue ").append(wq.name()).append(": flags=0x").append(Integer.toHexString(wq.kernelFlags()))
                        .append('\n').append(q);
            }
        }
        for (WorkerPool pool : allPools()) {
            if (pool.nrPending > 0 || pool.workers.stream().anyMatch(w -> (w.execSeq & 1) != 0)) {
                sb.append(pool.dump(now));
            }
        }
        return sb.toString();
    }

    // ---- lookup and inspection --------------------------------------------------------------

    /** A workqueue by name or, for system queues, by the kernel's variable name ({@code system_wq}). */
    public Optional<Workqueue> workqueue(String name) {
        return Optional.ofNullable(byName.get(name));
    }

    /** Every workqueue, system queues first, in creation order. */
    public List<Workqueue> workqueues() {
        return List.copyOf(workqueues);
    }

    /** Every worker pool: per CPU normal and highpri, then the unbound pools. */
    public List<PoolStats> pools() {
        List<WorkerPool> all = allPools();
        all.sort((a, b) -> Integer.compare(a.id, b.id));
        List<PoolStats> out = new ArrayList<>(all.size());
        for (WorkerPool p : all) {
            out.add(p.snapshot());
        }
        return out;
    }

    /** The number of CPUs the engine manages (per-CPU pool pairs). */
    public int cpus() {
        return cpus;
    }

    public String name() {
        return name;
    }

    /** Worker threads alive now (rescuers and the monitor not counted). */
    public int workerThreads() {
        return nrWorkerThreads.get();
    }

    public boolean isPowerEfficient() {
        return powerEfficient;
    }

    public boolean isShutdown() {
        return runState != RUNNING;
    }

    /** {@code system_wq} ({@code events}): bound, the default for {@code schedule_work()}. */
    public Workqueue systemWq() {
        return systemWq;
    }

    /** {@code system_highpri_wq} ({@code events_highpri}). */
    public Workqueue systemHighpriWq() {
        return systemHighpriWq;
    }

    /** {@code system_long_wq} ({@code events_long}): for items that may run long. */
    public Workqueue systemLongWq() {
        return systemLongWq;
    }

    /** {@code system_unbound_wq} ({@code events_unbound}). */
    public Workqueue systemUnboundWq() {
        return systemUnboundWq;
    }

    /** {@code system_freezable_wq} ({@code events_freezable}). */
    public Workqueue systemFreezableWq() {
        return systemFreezableWq;
    }

    /** {@code system_power_efficient_wq} ({@code events_power_efficient}). */
    public Workqueue systemPowerEfficientWq() {
        return systemPowerEfficientWq;
    }

    /** {@code system_freezable_power_efficient_wq} ({@code events_freezable_pwr_efficient}). */
    public Workqueue systemFreezablePowerEfficientWq() {
        return systemFreezablePowerEfficientWq;
    }

    // ---- shutdown ---------------------------------------------------------------------------

    /**
     * Refuses new items, fires every armed delayed item, waits for every queued item to finish,
     * then stops every thread. Items that are already running may still queue follow-up items (at
     * once, on any queue of this engine; not delayed) so that work chains finish: the drain is
     * repeated until a whole pass over every queue saw no new item, or until {@code timeout}.
     * Callers other than the engine's workers are refused with {@link IllegalStateException} from
     * the moment this is called.
     *
     * @return true if every item finished and every thread exited within {@code timeout}; false
     *         otherwise, after logging each item that did not finish (queued, running, or with an
     *         armed timer) and each thread still alive
     */
    public boolean shutdown(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        boolean again;
        poolsLock.lock();
        try {
            again = runState == TERMINATED;
            if (runState == RUNNING) {
                runState = SHUTTING_DOWN;
            }
        } finally {
            poolsLock.unlock();
        }
        if (!again && frozen) {
            thaw(); // queued items of FREEZABLE queues must finish too
        }
        boolean interrupted = false;
        // A repeated call only waits for threads: items left by a timed-out shutdown never run.
        if (!again) {
            try {
                for (boolean idle = true; ; ) {
                    long queuedBefore = queuedDuringShutdown.get();
                    for (Workqueue wq : workqueues) {
                        timer.fireAll(wq); // armed delayed items run now
                        if (!wq.awaitIdle(deadline)) {
                            idle = false;
                            break;
                        }
                    }
                    if (!idle || queuedDuringShutdown.get() == queuedBefore) {
                        break; // timed out, or a whole pass saw every queue idle and nothing new
                    }
                }
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        runState = TERMINATED; // from here on every queueing is refused, under the pool lock
        List<String> unfinished = new ArrayList<>();
        if (!again) {
            for (Workqueue wq : workqueues) {
                for (String item : wq.describeInFlight()) {
                    unfinished.add(wq.name() + ": " + item);
                }
                for (String item : timer.describeArmed(wq)) {
                    unfinished.add(wq.name() + ": " + item);
                }
            }
        }
        if (!unfinished.isEmpty()) {
            log.warn("workqueue: shutdown of engine '{}' left {} work items unfinished: {}", name, unfinished.size(), unfinished);
        }
        monitor.stop();
        timer.stop();
        watchdog.stop();
        List<WorkerPool> all = new ArrayList<>(List.of(cpuPools));
        poolsLock.lock();
        try {
            all.addAll(unboundPools.values());
            unboundPools.clear();
        } finally {
            poolsLock.unlock();
        }
        for (WorkerPool pool : all) {
            pool.destroy();
        }
        List<Thread> threads = new ArrayList<>();
        for (Worker w : liveWorkers) {
            if (w.thread != null) {
                threads.add(w.thread);
            }
        }
        if (monitor.thread() != null) {
            threads.add(monitor.thread());
        }
        if (timer.thread() != null) {
            threads.add(timer.thread());
        }
        if (watchdog.thread() != null) {
            threads.add(watchdog.thread());
        }
        for (Workqueue wq : workqueues) {
            if (wq.rescuer != null) {
                wq.rescuer.stop();
                threads.add(wq.rescuer.thread());
            }
        }
        List<String> alive = new ArrayList<>();
        // Past the deadline, idle threads still get a moment to exit (they were just told to), so
        // that the report names only the threads that are really stuck.
        long joinDeadline = Math.max(deadline, System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(200));
        for (Thread t : threads) {
            if (!interrupted) {
                try {
                    long left = joinDeadline - System.nanoTime();
                    if (left > 0) {
                        t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                    }
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (t.isAlive()) {
                alive.add(t.getName());
            }
        }
        if (!alive.isEmpty()) {
            log.warn("workqueue: shutdown of engine '{}': threads still running after {}: {}", name, timeout, alive);
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        return unfinished.isEmpty() && alive.isEmpty();
    }

    /** The wall-clock instant of a {@link System#nanoTime()} stamp (stable across calls). */
    java.time.Instant wallClock(long nanoTime) {
        long t = wallClockOffsetNanos + nanoTime;
        return java.time.Instant.ofEpochSecond(Math.floorDiv(t, 1_000_000_000L), Math.floorMod(t, 1_000_000_000L));
    }

    /** True if the caller is a worker or rescuer of this engine (running one of its items). */
    boolean isOwnWorker() {
        Worker w = Worker.CURRENT.get();
        return w != null && w.pool.engine == this;
    }

    /**
     * {@link #shutdown(Duration)} with 30 seconds; nothing if the engine has already been shut down
     * (unlike a repeated {@code shutdown}, it doesn't wait again for threads a timed-out shutdown
     * left).
     */
    @Override
    public void close() {
        if (runState != TERMINATED) {
            shutdown(Duration.ofSeconds(30));
        }
    }

    @Override
    public String toString() {
        return "Workqueues[" + name + ", cpus=" + cpus + ", workqueues=" + workqueues.size() + "]";
    }

    /** Engine settings. */
    public static final class Builder {
        private int cpus = Runtime.getRuntime().availableProcessors();
        private boolean cpusSet;
        private ThreadPlacement placement;
        private CpuTopology topology;
        private AffinityScope defaultAffinityScope = AffinityScope.DEFAULT;
        private Duration idleTimeout = Duration.ofSeconds(300);
        private Duration monitorInterval = Duration.ofMillis(1);
        private WorkerThreadFactory threadFactory = WorkerThreadFactory.platform(true);
        private int maxWorkers = 4096;
        private boolean powerEfficient;
        private CpuLocator cpuLocator;
        private String name = "cmwq";
        private Duration watchdogThreshold = Duration.ofSeconds(30);
        private Duration cpuIntensiveThreshold = Duration.ofMillis(10);
        private boolean cpuAccounting = true;

        private Builder() {
        }

        /** The number of CPUs, i.e. of per-CPU pool pairs (default: available processors). */
        public Builder cpus(int n) {
            if (n < 1 || n > 4096) {
                throw new IllegalArgumentException("cpus " + n + " out of range; allowed 1..4096");
            }
            this.cpus = n;
            this.cpusSet = true;
            return this;
        }

        /**
         * How worker threads are put on CPUs and given their nice (default:
         * {@link ThreadPlacement#load()}, native where {@code workqueue-native} can act). Where
         * placement is enforced and {@link #cpus} is not set, the engine's CPU numbers are the
         * machine's: as many as the highest CPU the process may use, plus one.
         */
        public Builder placement(ThreadPlacement p) {
            this.placement = Objects.requireNonNull(p, "placement");
            return this;
        }

        /** The CPU pods for affinity scopes (default: read from {@code /sys}, see {@link CpuTopology#detect}). */
        public Builder topology(CpuTopology t) {
            this.topology = Objects.requireNonNull(t, "topology");
            return this;
        }

        /** The kernel's {@code workqueue.default_affinity_scope} (default {@code cache}). */
        public Builder defaultAffinityScope(AffinityScope s) {
            this.defaultAffinityScope = Objects.requireNonNull(s, "defaultAffinityScope");
            return this;
        }

        /** How long surplus idle workers are kept (the kernel's {@code IDLE_WORKER_TIMEOUT}, 300 s). */
        public Builder idleTimeout(Duration d) {
            if (d == null || d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException("idle timeout must be positive, got " + d);
            }
            this.idleTimeout = d;
            return this;
        }

        /**
         * The sleep monitor's slowest sampling period (default 1 ms): after a poke or a round that
         * found a sleeping worker it samples at a sixteenth of it (at least 20 us) and slows down
         * again round by round. Zero turns sampling off, leaving only the explicit
         * {@link Workqueues#beginBlocking()} hooks.
         */
        public Builder monitorInterval(Duration d) {
            if (d == null || d.isNegative()) {
                throw new IllegalArgumentException("monitor interval must be zero (off) or positive, got " + d);
            }
            this.monitorInterval = d;
            return this;
        }

        public Builder threadFactory(WorkerThreadFactory f) {
            this.threadFactory = Objects.requireNonNull(f, "threadFactory");
            return this;
        }

        /** The most worker threads the engine may have at once (default 4096). */
        public Builder maxWorkers(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("maxWorkers must be at least 1, got " + n);
            }
            this.maxWorkers = n;
            return this;
        }

        /** The kernel's {@code workqueue.power_efficient}: POWER_EFFICIENT queues become unbound. */
        public Builder powerEfficient(boolean on) {
            this.powerEfficient = on;
            return this;
        }

        /**
         * Which CPU the caller is on, for bound queues and affinity pods (default: {@code sched_getcpu}
         * where placement is enforced, else a stable per-thread choice).
         */
        public Builder cpuLocator(CpuLocator l) {
            this.cpuLocator = Objects.requireNonNull(l, "cpuLocator");
            return this;
        }

        /** The engine's name, used for its monitor thread and in logs. */
        public Builder name(String n) {
            if (n == null || n.isBlank()) {
                throw new IllegalArgumentException("engine name must not be empty");
            }
            this.name = n;
            return this;
        }

        /**
         * The watchdog's lockup threshold (the kernel's {@code workqueue.watchdog_thresh}, 30 s);
         * zero turns the watchdog off.
         */
        public Builder watchdogThreshold(Duration d) {
            if (d == null || d.isNegative()) {
                throw new IllegalArgumentException("watchdog threshold must be zero (off) or positive, got " + d);
            }
            this.watchdogThreshold = d;
            return this;
        }

        /**
         * The kernel's {@code workqueue.cpu_intensive_thresh_us} (10 ms): an item of a per-CPU pool
         * that keeps its CPU this long without sleeping stops counting toward concurrency and is
         * reported. Zero turns the detection off. Needs the sleep monitor.
         */
        public Builder cpuIntensiveThreshold(Duration d) {
            if (d == null || d.isNegative()) {
                throw new IllegalArgumentException("cpu_intensive_thresh must be zero (off) or positive, got " + d);
            }
            this.cpuIntensiveThreshold = d;
            return this;
        }

        /** Measure each item's CPU time for the CPUtime statistic (default on: two clock reads per item). */
        public Builder cpuAccounting(boolean on) {
            this.cpuAccounting = on;
            return this;
        }

        public Workqueues build() {
            return new Workqueues(this);
        }
    }
}
