package dev.cmwq.workqueue;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Predicate;

/**
 * A workqueue, the kernel's {@code workqueue_struct}: a cheap front end that owns no threads. It is
 * a domain for flushing and for attributes; its items run on the shared worker pools.
 *
 * <p>A bound workqueue has one {@link PoolWorkqueue} per CPU, linked to that CPU's normal or
 * highpri pool; {@code max_active} applies per CPU. An unbound workqueue has one per pod of its
 * {@link AffinityScope}, each linked to the unbound pool for that pod (cpumask, nice), and an item
 * goes to the pwq of the issuer's pod; {@code max_active} applies to the whole queue
 * ({@link UnboundNrActive}). An ordered queue is unbound with {@code max_active} 1 and a single
 * pwq: one item at a time, in queueing order.
 *
 * <h2>Changing attributes</h2>
 * {@link #applyAttrs} (and the engine's unbound cpumask) install a new pwq table
 * ({@code apply_wqattrs_prepare()} / {@code _commit()}): new items go to the new pwqs; the old
 * ones are retired, keep what they hold (running items finish where they are) and are released
 * once empty. An ordered queue's new pwq stays plugged until the older ones have drained, so the
 * order holds across the move. A queuer that picked a pwq released meanwhile sees it {@code dead}
 * under the pool lock and looks again, as the kernel's {@code __queue_work()} retries.
 *
 * <h2>Flushing</h2>
 * {@link #flush()} follows the kernel's flush colors: every queued item carries its pwq's work
 * color; a flusher moves every pwq to the next color (so later items are not waited for) and waits
 * until the items of its color and of every older one are gone. Flushers queue up in color order;
 * the first one flushes its color (counting the pwqs that still hold it in {@code nrPwqsToFlush}),
 * and when that color drains it releases itself and starts the next flusher's color. With all 16
 * colors in use, a further flusher waits for a color to free up. The per-item cost is constant.
 *
 * <h2>Fields</h2>
 * Immutable but for {@code maxActive}, {@code state}, {@code requestedAttrs}, {@code podPwqs} and
 * {@code singlePwq} (volatile; changed under the engine's pools lock, the pwq table also under
 * {@code flushLock}) and the draining count. {@code allPwqs} is copy-on-write, changed under both
 * the pools lock and {@code flushLock}; {@code releasedStats} and the released histograms are
 * guarded by {@code flushLock}. {@code flushLock} (the kernel's {@code wq->mutex}) guards
 * {@code workColor}, {@code flushers} and {@code nrDrainers}, and is taken before pool locks.
 * {@code nrPwqsToFlush} is atomic: decremented by item completions under a pool lock, which then
 * only unpark the first flusher (they never take {@code flushLock}). {@code draining} is volatile.
 * The pool workqueues' fields are guarded by their pools' locks.
 */
public final class Workqueue {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Workqueue.class);
    static final int ALIVE = 0;
    static final int DESTROYED = 2;

    final Workqueues engine;
    private final String name;
    private final String alias;
    private final Set<WqFlag> flags;
    final boolean unbound;
    final boolean ordered;
    final boolean cpuIntensive;
    final boolean highpri;
    /** Bound queues: the per-CPU pools' attributes. Unbound: as requested (null cpumask: every CPU). */
    private volatile WorkqueueAttrs requestedAttrs;
    private volatile int maxActive;
    volatile int state = ALIVE;
    /** True while drain() or destroy() runs: only the queue's own items may queue on it. */
    volatile boolean draining;

    private final ReentrantLock flushLock = new ReentrantLock();
    private final Condition colorFreed = flushLock.newCondition();
    private int workColor;
    private int nrDrainers;
    /** A destroy() is in progress; guarded by flushLock. */
    private boolean destroying;
    private final ArrayDeque<Flusher> flushers = new ArrayDeque<>();
    private final AtomicInteger nrPwqsToFlush = new AtomicInteger();
    private volatile Flusher firstFlusher;
    /** The rescuer of a MEM_RECLAIM queue, else null. */
    final Rescuer rescuer;
    final boolean freezable;
    /** Delayed items of this queue armed on the engine timer; guarded by the timer's lock. */
    int nrArmed;
    /** Bound queues: the pwq of each CPU. */
    final PoolWorkqueue[] cpuPwqs;
    /** Unbound queues: the pwq of each CPU's pod (the kernel's {@code wq->cpu_pwq}); replaced whole. */
    private volatile PoolWorkqueue[] podPwqs;
    /** Unbound queues whose CPUs all map to one pwq: that pwq (no CPU lookup when queueing); else null. */
    private volatile PoolWorkqueue singlePwq;
    /** Every pwq of the queue, oldest first (the kernel's {@code wq->pwqs}): current and retired. */
    private final CopyOnWriteArrayList<PoolWorkqueue> allPwqs = new CopyOnWriteArrayList<>();
    /** Unbound queues: the queue-wide active count; null for bound queues. */
    final UnboundNrActive nrActiveShared;
    private final long[] releasedStats = new long[PoolWorkqueue.NR_STATS];
    private final Histogram releasedLatency = new Histogram();
    private final Histogram releasedRunTime = new Histogram();
    /** Releases retired pwqs once drained, off the pool locks (on the engine timer thread). */
    private final EngineTimer.InternalTimer reclaimTimer = new EngineTimer.InternalTimer("pwq_release") {
        @Override
        void expired() {
            reclaimRetired();
        }
    };

    Workqueue(Workqueues engine, String name, String alias, Set<WqFlag> flags, boolean ordered, int maxActive,
              WorkqueueAttrs attrs) {
        this.engine = engine;
        this.name = name;
        this.alias = alias;
        this.flags = Collections.unmodifiableSet(flags.isEmpty() ? EnumSet.noneOf(WqFlag.class) : EnumSet.copyOf(flags));
        this.ordered = ordered;
        this.unbound = ordered || engine.isUnbound(flags);
        this.cpuIntensive = !unbound && flags.contains(WqFlag.CPU_INTENSIVE);
        this.highpri = flags.contains(WqFlag.HIGHPRI);
        this.maxActive = maxActive;
        this.freezable = flags.contains(WqFlag.FREEZABLE);
        if (unbound) {
            WorkqueueAttrs a = attrs != null ? attrs
                    : highpri ? WorkqueueAttrs.defaults().withNice(WorkqueueAttrs.HIGHPRI_NICE) : WorkqueueAttrs.defaults();
            if (a.cpumask() != null) { // CPUs beyond the engine's are dropped, as cpu_possible_mask does
                a = a.withCpumask(engine.checkCpumask(a.cpumask(), "workqueue '" + name + "': cpumask"));
            }
            this.requestedAttrs = a;
            this.cpuPwqs = null;
            this.nrActiveShared = new UnboundNrActive(maxActive);
            preparePwqsLocked(a).commitLocked(); // engine pools lock held by the caller
        } else {
            this.cpuPwqs = new PoolWorkqueue[engine.cpus];
            this.nrActiveShared = null;
            for (int cpu = 0; cpu < engine.cpus; cpu++) {
                cpuPwqs[cpu] = new PoolWorkqueue(this, engine.cpuPool(cpu, highpri), maxActive, 0);
            }
            allPwqs.addAll(List.of(cpuPwqs));
            this.requestedAttrs = cpuPwqs[0].pool.attrs.withCpumask(null).resolved(engine.cpus);
        }
        if (freezable && engine.frozen) { // created while frozen (engine pools lock held by the caller)
            for (PoolWorkqueue pwq : pwqs()) {
                pwq.frozen = true;
            }
        }
        Rescuer r = null;
        if (flags.contains(WqFlag.MEM_RECLAIM)) {
            try {
                r = new Rescuer(this);
            } catch (IllegalStateException e) {
                if (unbound) {
                    releasePwqsLocked(); // the queue won't exist: drop its pool references
                }
                throw e;
            }
        }
        this.rescuer = r;
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

    /** The flags as the kernel prints them ({@code flags=0x%x}), {@code __WQ_ORDERED} included. */
    public int kernelFlags() {
        int bits = ordered ? WqFlag.WQ_ORDERED_BIT : 0;
        for (WqFlag f : flags) {
            bits |= f.bit();
        }
        return bits;
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

    /**
     * The queue's attributes: for an unbound queue as last applied, with the cpumask resolved (all
     * CPUs if none was given) and the affinity scope resolved (the engine's default if none was
     * given); for a bound queue those of its per-CPU pools (nice 0, or -20 for HIGHPRI).
     */
    public WorkqueueAttrs attrs() {
        WorkqueueAttrs a = requestedAttrs;
        if (!unbound) {
            return a;
        }
        a = a.resolved(engine.cpus);
        return a.affinityScope() != null ? a : a.withAffinityScope(engine.defaultAffinityScope);
    }

    /** The attributes as given to alloc or {@link #applyAttrs} (null cpumask or scope: defaults). */
    WorkqueueAttrs requestedAttrs() {
        return requestedAttrs;
    }

    /**
     * The CPUs the queue's items may run on: for an unbound queue its cpumask within the engine's
     * unbound cpumask (all of the latter if they don't meet, as the kernel does); for a bound queue
     * every CPU.
     */
    public CpuMask effectiveCpumask() {
        return unbound ? actualCpumask(requestedAttrs) : engine.possibleCpus();
    }

    /**
     * True if the queue's workers are really where its attributes say (native placement on and
     * every current pool placed as asked); false where they are only recorded.
     */
    public boolean placementEnforced() {
        for (PoolWorkqueue pwq : currentPwqs()) {
            if (!pwq.pool.placementEnforced) {
                return false;
            }
        }
        return true;
    }

    /** The pwqs items are queued to now (retired ones excluded), each once. */
    List<PoolWorkqueue> currentPwqs() {
        if (!unbound) {
            return List.of(cpuPwqs);
        }
        List<PoolWorkqueue> out = new ArrayList<>();
        for (PoolWorkqueue p : podPwqs) {
            if (!out.contains(p)) {
                out.add(p);
            }
        }
        return out;
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
        checkCpu(cpu);
        checkAccepting(work);
        if (!work.testAndSetPending()) {
            return false;
        }
        queueWork(cpu, work);
        return true;
    }

    /**
     * {@link #queue(Work)} from a caller that has just read its CPU ({@code localCpu}, as
     * {@link Workqueues#currentCpu()} gives it): the executor view, which reads it for its own
     * stripe. The item goes where {@code queue} would send it, and is traced with
     * {@code req_cpu} {@link Workqueues#WORK_CPU_UNBOUND}, as {@code queue} traces it; only the
     * second read of the CPU is saved.
     */
    boolean queueFromCpu(int localCpu, Work work) {
        checkAccepting(work);
        if (!work.testAndSetPending()) {
            return false;
        }
        queueWork(Workqueues.WORK_CPU_UNBOUND, work, false, localCpu);
        return true;
    }

    private void checkAccepting(Work work) {
        checkAccepting(work, false);
    }

    /** {@code delayed}: arming a timer, which a shutting-down engine refuses even from its own workers. */
    private void checkAccepting(Work work, boolean delayed) {
        String refusal = refusal(work, false, delayed);
        if (refusal != null) {
            throw new IllegalStateException(refusal);
        }
    }

    /**
     * Why {@code work} can't be queued now, or null. {@code accepted} is true for a delayed item
     * whose timer fires (or is flushed): it was accepted when armed, so draining and shutdown
     * let it through. Checked before PENDING is taken and again
     * under the target pool's lock, so that an item can't slip into a queue whose teardown has
     * already counted it empty: teardown publishes its state first and then inspects each pool
     * under its lock. While the engine shuts down, an item running on one of its workers may still
     * queue follow-up items at once (any queue; not delayed), so that work chains finish: shutdown
     * repeats its drain while such items arrive ({@link Workqueues#shutdown(Duration)}).
     */
    private String refusal(Work work, boolean accepted, boolean delayed) {
        int engineState = engine.runState;
        if (engineState == Workqueues.TERMINATED
                || (engineState != Workqueues.RUNNING && !accepted && (delayed || !engine.isOwnWorker()))) {
            return "workqueue engine is shut down; work item '" + work.name() + "' for workqueue '" + name + "' refused";
        }
        int s = state;
        if (s == DESTROYED) {
            return "workqueue '" + name + "' is destroyed; work item '" + work.name() + "' refused";
        }
        if (draining && !accepted && !isChainedWork()) {
            return "workqueue '" + name + "' is draining: only its own work items may queue on it; work item '"
                    + work.name() + "' refused";
        }
        return null;
    }

    /** True if the caller is a worker running an item of this queue ({@code is_chained_work()}). */
    boolean isChainedWork() {
        Worker w = Worker.CURRENT.get();
        return w != null && w.currentPwq() != null && w.currentPwq().wq == this;
    }

    /** {@code __queue_work()}: PENDING is owned by the caller; on refusal it is cleared and ISE thrown. */
    void queueWork(int reqCpu, Work work) {
        queueWork(reqCpu, work, false, -1);
    }

    /** {@code __queue_work()} for an item accepted earlier (a delayed item whose timer fired). */
    void queueAccepted(int reqCpu, Work work) {
        queueWork(reqCpu, work, true, -1);
    }

    /**
     * @param localCpu the caller's CPU if it has just read it ({@link Workqueues#currentCpu()}), for
     *        a {@code reqCpu} of {@link Workqueues#WORK_CPU_UNBOUND}; -1 to read it here if needed
     */
    private void queueWork(int reqCpu, Work work, boolean accepted, int localCpu) {
        String refusal;
        for (;;) { // retry:
            PoolWorkqueue pwq;
            if (!unbound) {
                pwq = cpuPwqs[reqCpu != Workqueues.WORK_CPU_UNBOUND ? reqCpu
                        : localCpu >= 0 ? localCpu : engine.currentCpu()];
            } else {
                pwq = singlePwq;
                if (pwq == null) { // several pods: the issuer's (or the requested CPU's) pod
                    pwq = podPwqs[reqCpu != Workqueues.WORK_CPU_UNBOUND ? reqCpu
                            : localCpu >= 0 ? localCpu : engine.currentCpu()];
                }
            }
            // Non-reentrancy: if the item still runs on the pool it last ran on, for this queue, queue
            // it there so that the running worker runs it again after (never two at once).
            // An ordered queue skips this (as __queue_work() does): its items always go to the newest
            // pwq, which stays plugged until the older ones, the running item's included, drained.
            WorkerPool last = work.lastPool;
            if (last != null && last != pwq.pool && !ordered) {
                last.lock.lock();
                try {
                    Worker running = last.findWorkerExecutingLocked(work);
                    if (running != null && running.currentPwq() != null && running.currentPwq().wq == this) {
                        pwq = running.currentPwq();
                    }
                } finally {
                    last.lock.unlock();
                }
            }
            WorkerPool pool = pwq.pool;
            // A per-CPU pool whose lock is free: the locked tail at once (cheaper than a push and a
            // drain; the queuer and the pool's workers share a CPU). Otherwise never wait for the
            // lock: push on the intake. (Unbound pools always push: a queuer that takes their lock
            // makes the workers of the other CPUs queue for it; measured 25 % slower.)
            boolean locked = !pool.isUnbound() && !TestHooks.forceIntake() && pool.lock.tryLockAndDrain();
            if (!locked && !pwq.dead && acceptingPlainly()) {
                // An unbound queue's item takes a free max_active slot now, lock-free, so that free
                // slots go in queueing order across pods, as in __queue_work(). At max_active it
                // goes without: its pool's drain queues its pwq for the next slot, as the locked
                // path would (the kernel serves waiting pwqs in turn, not in item order).
                work.slotHeld = pwq.shared != null && pwq.shared.tryInc();
                // Push on the pool's intake without its lock (see WorkerPool), then re-check what a
                // push does not: a teardown or shutdown that began, or the pwq's release. Each of
                // those writes its flag before it inspects the pool under its lock, which drains
                // the intake; so either it finds the item, or we see the flag here.
                int gen = work.queuedGen;
                work.setPwqForPush(pwq);
                TraceEvents.queueWork(work, pwq, reqCpu);
                TestHooks.beforeIntakePush(work);
                pool.pushIntake(work);
                TestHooks.afterIntakePush(work);
                if (!pwq.dead && acceptingPlainly()) {
                    return;
                }
                pool.lock.lock(); // drains: the item is now inserted, bounced, or already taken
                try {
                    if (work.bounced) {
                        // its pwq was released, or the queue destroyed (the drain passed the slot
                        // on): look again, on the locked path, which refuses it if it must
                        work.bounced = false;
                        refusal = null;
                    } else {
                        refusal = refusal(work, accepted, false);
                        if (refusal == null) {
                            if (engine.runState == Workqueues.SHUTTING_DOWN) {
                                engine.queuedDuringShutdown.incrementAndGet();
                            }
                            return;
                        }
                        if (work.startedGen - gen >= 0 || work.cancelledGen - gen >= 0 || work.list == null) {
                            return; // it started, or a canceller took it: it was accepted after all
                        }
                        work.pwq.cancelLocked(work); // refused: it must not run (nor be waited for)
                    }
                } finally {
                    pool.lock.unlock();
                }
                if (refusal == null) {
                    continue;
                }
                break;
            }
            if (!locked) {
                pool.lock.lock();
            }
            try {
                refusal = refusal(work, accepted, false);
                if (refusal == null) {
                    if (pwq.dead) {
                        continue; // released by a change of attributes since we looked: look again
                    }
                    if (engine.runState == Workqueues.SHUTTING_DOWN) {
                        engine.queuedDuringShutdown.incrementAndGet();
                    }
                    TraceEvents.queueWork(work, pwq, reqCpu);
                    pwq.insertLocked(work, 0); // reads the clock if the item is timed
                }
            } finally {
                pool.lock.unlock();
            }
            break;
        }
        if (refusal != null) {
            work.cancelledGen = work.queuedGen; // this queueing will never run: flushers must not wait for it
            work.clearPending();
            work.wakeFlushers();
            throw new IllegalStateException(refusal);
        }
    }

    /**
     * The engine runs and the queue is alive and not draining: every caller may queue, so the
     * lock-free intake may take the item (three volatile reads). Otherwise the locked path decides.
     */
    private boolean acceptingPlainly() {
        return engine.runState == Workqueues.RUNNING && state == ALIVE && !draining;
    }

    // ---- delayed work -----------------------------------------------------------------------

    /**
     * {@code queue_delayed_work()}: queues {@code dwork} after {@code delay} (at once if zero or
     * negative). The engine has one timer for all delayed items.
     *
     * @return false if it was already pending (or disabled), true if queued or armed
     */
    public boolean queueDelayed(DelayedWork dwork, Duration delay) {
        return queueDelayedOn(Workqueues.WORK_CPU_UNBOUND, dwork, delay);
    }

    /** {@code queue_delayed_work_on()}: like {@link #queueDelayed} but on {@code cpu}'s pool when it fires. */
    public boolean queueDelayedOn(int cpu, DelayedWork dwork, Duration delay) {
        checkCpu(cpu);
        checkAccepting(dwork, !delay.isNegative() && !delay.isZero());
        if (!dwork.testAndSetPending()) {
            return false;
        }
        queueDelayedOwned(cpu, dwork, delay);
        return true;
    }

    /**
     * {@code mod_delayed_work()}: the debounce primitive. If {@code dwork} is pending (armed or
     * queued), its timer is moved to {@code delay} from now; if it is idle (or running), it is
     * queued with that delay.
     *
     * @return true if it was pending, false if it was idle or disabled (and then only queued if enabled)
     */
    public boolean modDelayed(DelayedWork dwork, Duration delay) {
        return modDelayedOn(Workqueues.WORK_CPU_UNBOUND, dwork, delay);
    }

    /** {@code mod_delayed_work_on()}. */
    public boolean modDelayedOn(int cpu, DelayedWork dwork, Duration delay) {
        checkCpu(cpu);
        checkAccepting(dwork, !delay.isNegative() && !delay.isZero());
        boolean wasPending = dwork.grabPending();
        if (dwork.isDisabled()) {
            dwork.clearPending();
            return wasPending;
        }
        dwork.queuedGen = dwork.queuedGen + 1;
        queueDelayedOwned(cpu, dwork, delay);
        return wasPending;
    }

    /** {@code __queue_delayed_work()}: PENDING is owned by the caller. */
    private void queueDelayedOwned(int cpu, DelayedWork dwork, Duration delay) {
        dwork.wq = this;
        dwork.cpu = cpu;
        long nanos = delay.isNegative() ? 0 : saturatedNanos(delay);
        if (nanos == 0) {
            queueWork(cpu, dwork);
        } else {
            engine.timer().arm(dwork, System.nanoTime() + nanos);
        }
    }

    private static long saturatedNanos(Duration d) {
        try {
            return d.toNanos();
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE / 4;
        }
    }

    private void checkCpu(int cpu) {
        if (cpu != Workqueues.WORK_CPU_UNBOUND && (cpu < 0 || cpu >= engine.cpus)) {
            throw new IllegalArgumentException("cpu " + cpu + " out of range; this engine has CPUs 0.." + (engine.cpus - 1));
        }
    }

    // ---- flush and drain --------------------------------------------------------------------

    /**
     * {@code flush_workqueue()}: waits until every item queued on this workqueue before the call
     * has finished; items queued after the call are not waited for. Many threads may flush at
     * once; each returns as soon as its own items are done.
     *
     * @return true if there was something to wait for
     * @throws IllegalStateException if called from one of this queue's own items (it would wait
     *                               for itself)
     */
    public boolean flush() {
        if (isChainedWork()) {
            throw new IllegalStateException("flush of workqueue '" + name + "' from its own work item '"
                    + Worker.CURRENT.get().currentWork().name() + "' would deadlock: the flush waits for that item to finish");
        }
        Flusher f = new Flusher(Thread.currentThread());
        boolean waited = false;
        boolean interrupted = false;
        // The engine's own waits count as sleeping, as the kernel's schedule() does.
        try (Blocking b = Workqueues.beginBlocking()) {
            flushLock.lock();
            try {
                // All colors in use (15 flushes in progress): wait for the oldest to finish. The
                // items queued before this call are then waited for, even if they are gone by now.
                while (!flushers.isEmpty() && next(workColor) == flushers.peekFirst().color) {
                    waited = true;
                    colorFreed.awaitUninterruptibly();
                }
                f.color = workColor;
                int nextColor = next(workColor);
                workColor = nextColor;
                for (PoolWorkqueue pwq : pwqs()) {
                    pwq.pool.lock.lock();
                    try {
                        pwq.workColor = nextColor;
                        // in flight with an older color: queued before this call
                        waited |= pwq.nrInFlightTotal > pwq.nrInFlight[nextColor];
                    } finally {
                        pwq.pool.lock.unlock();
                    }
                }
                flushers.addLast(f);
                if (flushers.size() == 1) {
                    startFlushLocked(f);
                }
                while (!f.released) {
                    if (f.colorDone && flushers.peekFirst() == f) {
                        advanceLocked();
                        continue;
                    }
                    flushLock.unlock();
                    try {
                        LockSupport.park(this);
                        interrupted |= Thread.interrupted(); // park returns at once while interrupted
                    } finally {
                        flushLock.lock();
                    }
                }
            } finally {
                flushLock.unlock();
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        return waited;
    }

    private static int next(int color) {
        return (color + 1) % PoolWorkqueue.NR_COLORS;
    }

    /** The first flusher starts flushing its color; flushLock held. */
    private void startFlushLocked(Flusher f) {
        firstFlusher = f;
        nrPwqsToFlush.set(1); // bias, dropped below
        for (PoolWorkqueue pwq : pwqs()) {
            pwq.pool.lock.lock();
            try {
                if (pwq.nrInFlight[f.color] > 0) {
                    pwq.flushColor = f.color;
                    nrPwqsToFlush.incrementAndGet();
                }
            } finally {
                pwq.pool.lock.unlock();
            }
        }
        if (nrPwqsToFlush.decrementAndGet() == 0) {
            f.colorDone = true;
        }
    }

    /** Releases finished flushers in order and starts the next one's color; flushLock held. */
    private void advanceLocked() {
        Flusher head;
        while ((head = flushers.peekFirst()) != null && head.colorDone) {
            flushers.pollFirst();
            head.released = true;
            LockSupport.unpark(head.thread);
            colorFreed.signalAll();
            Flusher next = flushers.peekFirst();
            if (next != null) {
                startFlushLocked(next);
            } else {
                firstFlusher = null;
            }
        }
    }

    /** A pwq's flush color drained (pool lock held): wake the first flusher if it was the last. */
    void flushPwqDone() {
        if (nrPwqsToFlush.decrementAndGet() == 0) {
            Flusher f = firstFlusher;
            if (f != null) {
                f.colorDone = true;
                LockSupport.unpark(f.thread);
            }
        }
    }

    /** A thread in {@link #flush()}. Fields written under flushLock except {@code colorDone}. */
    private static final class Flusher {
        final Thread thread;
        int color;
        volatile boolean colorDone;
        volatile boolean released;

        Flusher(Thread thread) {
            this.thread = thread;
        }
    }

    /**
     * {@code drain_workqueue()}: waits until the queue is empty, armed delayed items included
     * (their timers fire at once). While draining, only the queue's own items may queue more on
     * it (chained work); anyone else is refused with an {@link IllegalStateException}.
     *
     * @throws IllegalStateException if called from one of this queue's own items
     */
    public void drain() {
        if (!drain(System.nanoTime() + (Long.MAX_VALUE >> 2))) {
            throw new IllegalStateException("drain of workqueue '" + name + "' interrupted");
        }
    }

    /** Drains until empty or the deadline (nanoTime); false if items remain. */
    private boolean drain(long deadlineNanos) {
        if (isChainedWork()) {
            throw new IllegalStateException("drain of workqueue '" + name + "' from its own work item would deadlock");
        }
        beginDraining(false);
        try {
            return drainLoop(deadlineNanos, false);
        } finally {
            endDraining(false);
        }
    }

    /** {@code nr_drainers++}: from now on only the queue's own items may queue on it. */
    private void beginDraining(boolean forDestroy) {
        flushLock.lock();
        try {
            if (forDestroy) {
                if (state == DESTROYED || destroying) {
                    throw new IllegalStateException("workqueue '" + name + "' is already "
                            + (destroying ? "being destroyed" : "destroyed"));
                }
                destroying = true;
            }
            if (nrDrainers++ == 0) {
                draining = true;
            }
        } finally {
            flushLock.unlock();
        }
    }

    private void endDraining(boolean forDestroy) {
        flushLock.lock();
        try {
            if (forDestroy) {
                destroying = false; // done (state is DESTROYED) or failed (the queue stays alive)
            }
            if (--nrDrainers == 0) {
                draining = false;
            }
        } finally {
            flushLock.unlock();
        }
    }

    /**
     * Fires this queue's armed timers, waits for the pwqs to empty, and repeats until a check under
     * all of the queue's pool locks finds nothing in flight (then optionally marks it destroyed).
     */
    private boolean drainLoop(long deadlineNanos, boolean destroy) {
        for (int round = 1; ; round++) {
            engine.timer().fireAll(this);
            boolean idle;
            try (Blocking b = Workqueues.beginBlocking()) {
                idle = awaitIdle(deadlineNanos);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
            if (!idle) {
                return false;
            }
            if (emptyUnderLocks(destroy)) {
                return true;
            }
            if (round % 100 == 0) {
                LOG.warn("workqueue {}: drain_workqueue() isn't complete after {} tries", name, round);
            }
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
            if (nrActiveShared != null) {
                for (PoolWorkqueue p : nrActiveShared.setMax(n)) { // a higher limit: slots for waiting pwqs
                    p.pool.lock.lock();
                    try {
                        p.activateInactiveLocked();
                    } finally {
                        p.pool.lock.unlock();
                    }
                }
            }
        } finally {
            engine.poolsLock.unlock();
        }
    }

    // ---- teardown ---------------------------------------------------------------------------

    /**
     * {@code destroy_workqueue()}: drains the queue (without a time limit), then releases its pools
     * and its name. Queueing on it afterwards throws.
     *
     * @throws IllegalStateException for a system workqueue, or if already destroyed
     */
    public void destroy() {
        destroy(Duration.ofSeconds(Long.MAX_VALUE / 4_000_000_000L));
    }

    /**
     * Like {@link #destroy()}, but gives up after {@code timeout}: then it throws naming the items
     * still in flight, and the queue stays alive and usable (nothing is lost).
     */
    public void destroy(Duration timeout) {
        if (alias != null) {
            throw new IllegalStateException("workqueue '" + name + "' (" + alias + ") is a system workqueue and lives as long as the engine");
        }
        if (isChainedWork()) {
            throw new IllegalStateException("destroy of workqueue '" + name + "' from its own work item would deadlock");
        }
        beginDraining(true);
        boolean done;
        try {
            done = drainLoop(System.nanoTime() + saturatedNanos(timeout), true);
        } finally {
            endDraining(true);
        }
        if (!done) {
            throw new IllegalStateException("workqueue '" + name + "' not destroyed: items still in flight after " + timeout + ": "
                    + describeInFlight());
        }
        engine.unregister(this);
    }

    /**
     * With every pool of the queue locked (in pool id order; only this path holds more than one
     * pool lock, so it cannot deadlock), checks that nothing is in flight anywhere and, for
     * destroy, marks the queue destroyed. Holding all the locks makes the check atomic: no item of
     * the queue runs, so no chained work can appear, and outsiders are already refused.
     */
    private boolean emptyUnderLocks(boolean destroy) {
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
                if (pwq.nrInFlightTotal > 0) {
                    return false;
                }
            }
            return engine.timer().markIfNoneArmed(this, destroy);
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

    /** The queue's waiting and running items (see {@link WorkerPool#collectInFlight}). */
    void collectInFlight(List<Work> queued, List<Work> running) {
        for (PoolWorkqueue pwq : pwqs()) {
            pwq.pool.collectInFlight(pwq, queued, running);
        }
    }

    /** Interrupts the workers running an item of this queue that {@code which} accepts (see {@link WorkerPool#interruptRunning}). */
    void interruptRunning(Predicate<Work> which) {
        for (PoolWorkqueue pwq : pwqs()) {
            pwq.pool.interruptRunning(pwq, which);
        }
    }

    /** Every pwq of the queue, retired ones still draining included. */
    List<PoolWorkqueue> pwqs() {
        return allPwqs;
    }

    /** Unbound queues: the pwq of CPU 0's pod (the only one when the scope has one pod). */
    PoolWorkqueue unboundPwq() {
        return podPwqs[0];
    }

    // ---- attributes ---------------------------------------------------------------------------

    /**
     * {@code apply_workqueue_attrs()}: moves this unbound queue to the pools for {@code attrs}
     * (nice, cpumask within the engine's unbound cpumask, affinity scope and strictness). New items
     * go to the new pools at once; items already queued or running finish where they are; an
     * ordered queue keeps its order across the move.
     *
     * @throws IllegalArgumentException if the queue is bound, or the cpumask has no online CPU (the
     *                                  kernel's EINVAL); nothing changes then
     * @throws IllegalStateException    if the queue is destroyed, or a pool's first worker can't
     *                                  be created (nothing changes then either)
     */
    public void applyAttrs(WorkqueueAttrs attrs) {
        Objects.requireNonNull(attrs, "attrs");
        if (!unbound) {
            throw new IllegalArgumentException("workqueue '" + name + "' is bound (per-CPU): attributes (nice, cpumask, affinity scope) "
                    + "apply only to unbound workqueues (the kernel's EINVAL)");
        }
        if (attrs.cpumask() != null) { // CPUs beyond the engine's are dropped, as cpu_possible_mask does
            attrs = attrs.withCpumask(engine.checkCpumask(attrs.cpumask(), "workqueue '" + name + "': cpumask"));
        }
        engine.poolsLock.lock();
        try {
            engine.checkRunning("change workqueue '" + name + "'");
            if (state == DESTROYED) {
                throw new IllegalStateException("workqueue '" + name + "' is destroyed; its attributes can't change");
            }
            preparePwqsLocked(attrs).commitLocked();
        } finally {
            engine.poolsLock.unlock();
        }
    }

    /** {@code wqattrs_actualize_cpumask()}: the cpumask within the unbound cpumask, or all of it if they don't meet. */
    private CpuMask actualCpumask(WorkqueueAttrs a) {
        CpuMask unboundMask = engine.unboundCpumask();
        CpuMask req = a.cpumask() == null ? engine.possibleCpus() : a.cpumask().and(engine.possibleCpus());
        CpuMask m = req.and(unboundMask);
        return m.isEmpty() ? unboundMask : m;
    }

    /**
     * {@code apply_wqattrs_prepare()}: the pwq of every CPU's pod for {@code a}, reusing current
     * pwqs whose pool stays the same and taking references on the pools of new ones. Engine pools
     * lock held. On failure nothing is left changed.
     */
    PwqPlan preparePwqsLocked(WorkqueueAttrs a) {
        CpuMask effective = actualCpumask(a);
        AffinityScope scope = a.affinityScope() != null ? a.affinityScope() : engine.defaultAffinityScope;
        int n = engine.cpus;
        PoolWorkqueue[] table = new PoolWorkqueue[n];
        // the pwq for each pool key: the current ones are reused, new ones made once per pod
        Map<Workqueues.UnboundPoolKey, PoolWorkqueue> byKey = new HashMap<>();
        if (podPwqs != null) {
            for (PoolWorkqueue p : podPwqs) {
                byKey.put((Workqueues.UnboundPoolKey) p.pool.key, p);
            }
        }
        PwqPlan plan = new PwqPlan(a, table, new ArrayList<>());
        try {
            for (int cpu = 0; cpu < n; cpu++) {
                CpuMask pod = ordered ? effective : engine.topology.podOf(scope, cpu).and(effective);
                if (pod.isEmpty()) {
                    pod = effective; // the kernel's dfl_pwq: a CPU whose pod has none of the queue's CPUs
                }
                table[cpu] = byKey.computeIfAbsent(new Workqueues.UnboundPoolKey(a.nice(), effective, pod, a.affinityStrict()), key -> {
                    PoolWorkqueue pwq = new PoolWorkqueue(this, engine.getUnboundPool(key), maxActive, 0);
                    plan.created.add(pwq);
                    return pwq;
                });
            }
        } catch (RuntimeException | Error e) {
            plan.abortLocked();
            throw e;
        }
        return plan;
    }

    /** A prepared pwq table: committed, or aborted (which drops the new pools' references). */
    final class PwqPlan {
        private final WorkqueueAttrs attrs;
        private final PoolWorkqueue[] table;
        private final List<PoolWorkqueue> created;

        PwqPlan(WorkqueueAttrs attrs, PoolWorkqueue[] table, List<PoolWorkqueue> created) {
            this.attrs = attrs;
            this.table = table;
            this.created = created;
        }

        void abortLocked() {
            for (PoolWorkqueue p : created) {
                engine.putUnboundPool(p.pool);
            }
        }

        /** {@code apply_wqattrs_commit()}: installs the table; pwqs left out are retired. Engine pools lock held. */
        void commitLocked() {
            List<PoolWorkqueue> retiring = new ArrayList<>();
            flushLock.lock();
            try {
                // An ordered queue's new pwq starts plugged behind the older ones; releasing the
                // oldest unplugs the next (below, or when it drains).
                boolean plug = ordered && !allPwqs.isEmpty();
                for (PoolWorkqueue p : created) {
                    p.workColor = workColor; // link_pwq(): new items take the queue's current color
                    p.frozen = freezable && engine.frozen;
                    p.plugged = plug;
                    allPwqs.add(p);
                }
                PoolWorkqueue[] old = podPwqs;
                podPwqs = table;
                PoolWorkqueue single = table[0];
                for (PoolWorkqueue p : table) {
                    if (p != single) {
                        single = null;
                        break;
                    }
                }
                singlePwq = single;
                requestedAttrs = attrs;
                if (old != null) {
                    Set<PoolWorkqueue> kept = Collections.newSetFromMap(new IdentityHashMap<>());
                    kept.addAll(List.of(table));
                    for (PoolWorkqueue p : old) {
                        if (kept.add(p)) { // in the old table only, counted once
                            retiring.add(p);
                        }
                    }
                }
                for (PoolWorkqueue p : retiring) {
                    p.pool.lock.lock();
                    try {
                        p.retired = true;
                    } finally {
                        p.pool.lock.unlock();
                    }
                }
            } finally {
                flushLock.unlock();
            }
            if (!retiring.isEmpty()) {
                reclaimRetiredLocked();
            }
        }
    }

    /** A retired pwq emptied (its pool lock held): release it off the pool locks. */
    void retiredPwqDrained() {
        engine.timer().armInternal(reclaimTimer, System.nanoTime());
    }

    /** The reclaim timer: needs the engine pools lock, which may be held long (thread creation), so it only tries. */
    private void reclaimRetired() {
        if (!engine.poolsLock.tryLock()) {
            engine.timer().armInternal(reclaimTimer, System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(10));
            return;
        }
        try {
            if (state != DESTROYED) {
                reclaimRetiredLocked();
            }
        } finally {
            engine.poolsLock.unlock();
        }
    }

    /**
     * Releases the retired pwqs that are empty ({@code pwq_release()}), keeping their statistics,
     * and for an ordered queue unplugs the oldest pwq left ({@code unplug_oldest_pwq()}). Engine
     * pools lock held.
     */
    private void reclaimRetiredLocked() {
        flushLock.lock();
        try {
            for (PoolWorkqueue p : allPwqs) {
                if (!p.retired) {
                    continue;
                }
                boolean empty;
                p.pool.lock.lock();
                try {
                    empty = p.nrInFlightTotal == 0 && !p.dead;
                    if (empty) {
                        // A producer that picked p before it retired may have pushed on the intake
                        // after the lock's drain. It re-reads dead after its push: so set dead first,
                        // then drain once more, taking any such item into p (which then lives on).
                        p.dead = true;
                        p.pool.drainIntakeLocked(p);
                        if (p.nrInFlightTotal > 0) {
                            p.dead = false;
                            empty = false;
                        }
                    }
                    if (empty) {
                        for (int i = 0; i < releasedStats.length; i++) {
                            releasedStats[i] += p.stats[i];
                        }
                        releasedLatency.add(p.queueLatency);
                        releasedRunTime.add(p.runTime);
                        allPwqs.remove(p);
                    }
                } finally {
                    p.pool.lock.unlock();
                }
                if (empty) {
                    engine.putUnboundPool(p.pool);
                }
            }
            if (ordered && !allPwqs.isEmpty()) {
                PoolWorkqueue oldest = allPwqs.get(0);
                oldest.pool.lock.lock();
                try {
                    if (oldest.plugged) {
                        oldest.unplugLocked();
                    }
                } finally {
                    oldest.pool.lock.unlock();
                }
            }
        } finally {
            flushLock.unlock();
        }
    }

    /** The queue is gone (drained) or never came to be: drop every pool reference. Engine pools lock held. */
    void releasePwqsLocked() {
        engine.timer().disarm(reclaimTimer);
        for (PoolWorkqueue p : allPwqs) {
            p.pool.lock.lock();
            try {
                p.dead = true;
                // An item pushed after the lock's drain is bounced: its producer sees the queue
                // refusing (it is destroyed) or dead, and settles it under this lock.
                p.pool.drainIntakeLocked(null);
            } finally {
                p.pool.lock.unlock();
            }
            engine.timer().disarm(p.activator);
            engine.putUnboundPool(p.pool);
        }
    }

    // ---- executor view ----------------------------------------------------------------------

    /**
     * An {@link ExecutorService} whose tasks run as fresh work items on this queue (equal tasks are
     * not absorbed). Cancelling a future of a task that has not started removes it from the
     * queue. Shutting the view down waits for its own tasks only; it never destroys the queue.
     */
    public ExecutorService asExecutor() {
        return new WorkqueueExecutor(this);
    }

    // ---- statistics -------------------------------------------------------------------------

    public WorkqueueStats stats() {
        long[] sum = new long[PoolWorkqueue.NR_STATS];
        Histogram latency = new Histogram();
        Histogram run = new Histogram();
        int inFlight = 0;
        int active = 0;
        int inactive = 0;
        int running = 0;
        flushLock.lock(); // against a pwq being released (its numbers move to releasedStats)
        try {
            for (int i = 0; i < sum.length; i++) {
                sum[i] += releasedStats[i];
            }
            latency.add(releasedLatency);
            run.add(releasedRunTime);
            for (PoolWorkqueue pwq : pwqs()) {
                pwq.pool.lock.lock();
                try {
                    for (int i = 0; i < sum.length; i++) {
                        sum[i] += pwq.stats[i];
                    }
                    latency.add(pwq.queueLatency);
                    run.add(pwq.runTime);
                    inFlight += pwq.nrInFlightTotal;
                    active += pwq.nrActive;
                    inactive += pwq.inactive.size();
                    for (Worker w : pwq.pool.workers) {
                        if (w.currentPwq() == pwq) {
                            running++;
                        }
                    }
                } finally {
                    pwq.pool.lock.unlock();
                }
            }
        } finally {
            flushLock.unlock();
        }
        return new WorkqueueStats(sum[PoolWorkqueue.STAT_STARTED], sum[PoolWorkqueue.STAT_COMPLETED],
                sum[PoolWorkqueue.STAT_FAILED], sum[PoolWorkqueue.STAT_CPU_TIME], sum[PoolWorkqueue.STAT_CPU_INTENSIVE],
                sum[PoolWorkqueue.STAT_CM_WAKEUP], sum[PoolWorkqueue.STAT_REPATRIATED], sum[PoolWorkqueue.STAT_MAYDAY],
                sum[PoolWorkqueue.STAT_RESCUED], inFlight, active, inactive, inFlight - running,
                latency.snapshot(), run.snapshot());
    }

    @Override
    public String toString() {
        return "workqueue " + name + " " + flags + (ordered ? " ordered" : "") + " max_active=" + maxActive;
    }
}
